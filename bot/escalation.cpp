#include "escalation.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <sstream>

namespace mqchat::bot {

namespace {

constexpr std::size_t summary_messages = 3, sentiment_window = 3, card_sentiment = 10, summary_chars = 300;

char fold(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool word_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || u >= 0x80; // UTF-8 letters belong to words
}

/// How much a message says: its words of three letters or more, a question counting double.
double weight(const std::string& text) {
    std::istringstream in(text);
    std::string w;
    double n = 0;
    while (in >> w) n += std::count_if(w.begin(), w.end(), word_byte) >= 3;
    return text.find('?') != std::string::npos ? 2 * n : n;
}

} // namespace

bool contains_phrase(std::string_view text, std::string_view phrase) {
    if (phrase.empty() || phrase.size() > text.size()) return false;
    for (std::size_t at = 0; at + phrase.size() <= text.size(); ++at) {
        bool same = true;
        for (std::size_t i = 0; i < phrase.size() && same; ++i) same = fold(text[at + i]) == fold(phrase[i]);
        if (!same) continue;
        const bool starts = at == 0 || !word_byte(text[at - 1]) || !word_byte(phrase.front());
        const bool ends = at + phrase.size() == text.size() || !word_byte(text[at + phrase.size()]) ||
                          !word_byte(phrase.back());
        if (starts && ends) return true;
    }
    return false;
}

std::string rule_at_start(const assistant_rules& rules, const Json::Value& details) {
    if (!details.isObject()) return "";
    for (const auto& [key, values] : rules.attributes) {
        const Json::Value& v = details[key];
        if (!v.isString()) continue;
        for (const auto& wanted : values)
            if (v.asString().size() == wanted.size() &&
                std::equal(wanted.begin(), wanted.end(), v.asString().begin(), [](char a, char b) { return fold(a) == fold(b); }))
                return "attribute";
    }
    return "";
}

std::string rule_for_message(const assistant_rules& rules, const conversation_state& state, std::string_view text) {
    for (const auto& k : rules.keywords)
        if (contains_phrase(text, k)) return "keyword";
    if (!state.sentiment.empty()) {
        if (state.sentiment.back() <= rules.sentiment_single) return "sentiment";
        const std::size_t n = std::min(state.sentiment.size(), sentiment_window);
        if (n == sentiment_window) {
            const double average = std::accumulate(state.sentiment.end() - static_cast<std::ptrdiff_t>(n),
                                                   state.sentiment.end(), 0.0) / static_cast<double>(n);
            if (average <= rules.sentiment_average) return "sentiment";
        }
    }
    if (state.turns > rules.max_turns) return "length";
    return "";
}

answer_decision decide(const assistant_rules& rules, conversation_state& state, const std::string& best_key,
                       double confidence) {
    if (!best_key.empty() && confidence >= rules.threshold) {
        if (!state.answered.empty() && state.answered.back() == best_key) return {answer_decision::escalate, "rephrase"};
        state.failures = 0;
        state.answered.push_back(best_key);
        return {answer_decision::answer, ""};
    }
    if (++state.failures >= rules.max_failures) return {answer_decision::escalate, "failures"};
    return {answer_decision::unsure, ""};
}

answer_decision declined(const assistant_rules& rules, conversation_state& state) {
    if (!state.answered.empty()) state.answered.pop_back();
    if (++state.failures >= rules.max_failures) return {answer_decision::escalate, "failures"};
    return {answer_decision::unsure, ""};
}

Json::Value handoff_card(const conversation_state& state) {
    Json::Value card(Json::objectValue);
    card["turns"] = state.turns;
    card["failures"] = state.failures;
    card["sentiment"] = Json::Value(Json::arrayValue);
    const std::size_t from = state.sentiment.size() > card_sentiment ? state.sentiment.size() - card_sentiment : 0;
    for (std::size_t i = from; i < state.sentiment.size(); ++i) card["sentiment"].append(state.sentiment[i]);
    // The messages that say most, in the order written.
    std::vector<std::size_t> order(state.messages.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return weight(state.messages[a]) > weight(state.messages[b]); });
    order.resize(std::min(order.size(), summary_messages));
    std::sort(order.begin(), order.end());
    card["summary"] = Json::Value(Json::arrayValue);
    for (std::size_t i : order) {
        std::string text = state.messages[i];
        if (text.size() > summary_chars) {
            text.resize(summary_chars);
            while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back(); // whole characters
            if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
            text += "…";
        }
        card["summary"].append(text);
    }
    card["answers"] = Json::Value(Json::arrayValue);
    for (const auto& key : state.answered) card["answers"].append(key);
    return card;
}

} // namespace mqchat::bot
