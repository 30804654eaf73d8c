#include "sentiment.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>
#include <vector>

namespace mqchat::bot {

extern const char* const vader_lexicon_tsv; // generated from bot/lexicon/vader_lexicon.tsv

namespace {

// VADER's constants.
constexpr double booster_step = 0.293, caps_step = 0.733, negation_factor = -0.74, exclamation_step = 0.292;
constexpr double normalisation_alpha = 15, scale = 5;

const std::set<std::string>& boosters() {
    static const std::set<std::string> words = {"absolutely", "completely", "extremely", "incredibly", "really",
                                                "so",         "totally",    "very",      "super",      "utterly",
                                                "deeply",     "especially", "hugely",    "highly",     "most"};
    return words;
}

bool negation(const std::string& w) {
    static const std::set<std::string> words = {"not",   "no",      "never",  "none",   "nothing", "nobody",
                                                "nor",   "neither", "cannot", "without", "aint",   "dont",
                                                "doesnt", "didnt",  "isnt",   "wasnt",  "cant",    "wont"};
    return words.count(w) > 0 || (w.size() > 3 && w.compare(w.size() - 3, 3, "n't") == 0);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// A word with the punctuation around it taken off ("great!!" -> "great").
std::string bare(const std::string& token) {
    const auto is_punct = [](char c) { return std::ispunct(static_cast<unsigned char>(c)) && c != '\''; };
    std::size_t b = 0, e = token.size();
    while (b < e && is_punct(token[b])) ++b;
    while (e > b && is_punct(token[e - 1])) --e;
    return token.substr(b, e - b);
}

bool shouted(const std::string& token) {
    int letters = 0;
    for (char c : token) {
        if (std::islower(static_cast<unsigned char>(c))) return false;
        letters += std::isupper(static_cast<unsigned char>(c)) != 0;
    }
    return letters > 1;
}

double sign(double v) { return v < 0 ? -1 : 1; }

} // namespace

sentiment_scorer::sentiment_scorer(std::string_view lexicon_tsv) {
    std::istringstream in{std::string(lexicon_tsv)};
    std::string line;
    while (std::getline(in, line)) {
        const auto tab = line.find('\t');
        if (tab == std::string::npos || tab == 0) continue;
        try {
            valence_[line.substr(0, tab)] = std::stod(line.substr(tab + 1));
        } catch (const std::exception&) {
            // a malformed line is skipped
        }
    }
}

const sentiment_scorer& sentiment_scorer::english() {
    static const sentiment_scorer shipped(vader_lexicon_tsv);
    return shipped;
}

double sentiment_scorer::score(std::string_view text) const {
    std::vector<std::string> raw;
    {
        std::istringstream in{std::string(text)};
        std::string t;
        while (in >> t) raw.push_back(t);
    }
    // A message all in capitals is not shouting any single word.
    const bool all_caps = std::all_of(raw.begin(), raw.end(), [](const std::string& t) { return shouted(t) || bare(t).empty(); });
    std::vector<std::string> words(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) words[i] = lower(bare(raw[i]));

    std::vector<double> valences(raw.size(), 0.0);
    std::size_t but_at = raw.size();
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (words[i] == "but" && but_at == raw.size()) but_at = i;
        double v = 0;
        bool found = false;
        std::size_t span = 1;
        // A two-word entry ("fed up"), an emoticon as written (":("), then the word.
        if (i + 1 < raw.size()) {
            if (const auto it = valence_.find(words[i] + " " + words[i + 1]); it != valence_.end()) {
                v = it->second;
                found = true;
                span = 2;
            }
        }
        if (!found)
            for (const std::string& key : {lower(raw[i]), words[i]}) {
                const auto it = valence_.find(key);
                if (it != valence_.end()) {
                    v = it->second;
                    found = true;
                    break;
                }
            }
        if (!found || v == 0 || boosters().count(words[i])) continue;
        if (!all_caps && shouted(bare(raw[i]))) v += sign(v) * caps_step;
        for (std::size_t back = 1; back <= 3 && back <= i; ++back) {
            const std::string& before = words[i - back];
            if (boosters().count(before)) v += sign(v) * booster_step * (back == 1 ? 1.0 : back == 2 ? 0.95 : 0.9);
        }
        for (std::size_t back = 1; back <= 3 && back <= i; ++back)
            if (negation(words[i - back])) {
                v *= negation_factor;
                break;
            }
        valences[i] = v;
        i += span - 1;
    }
    double sum = 0;
    for (std::size_t i = 0; i < valences.size(); ++i)
        sum += valences[i] * (but_at == raw.size() ? 1.0 : i < but_at ? 0.5 : 1.5);
    if (sum != 0) {
        const auto marks = std::count(text.begin(), text.end(), '!');
        sum += sign(sum) * exclamation_step * static_cast<double>(std::min<std::ptrdiff_t>(marks, 4));
    }
    const double compound = sum / std::sqrt(sum * sum + normalisation_alpha);
    return std::round(compound * scale * 100) / 100;
}

} // namespace mqchat::bot
