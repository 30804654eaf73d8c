#include "assistant_rules.hpp"

#include <set>

#include "names.hpp"

namespace mqchat {

namespace {

constexpr std::size_t max_keywords = 200, max_keyword_length = 100, max_text_length = 1000;
constexpr std::size_t max_attribute_keys = 20, max_attribute_values = 50;

bool text(const Json::Value& v, std::size_t max) {
    return v.isString() && !v.asString().empty() && v.asString().size() <= max && valid_utf8(v.asString());
}

bool number_in(const Json::Value& v, double lo, double hi, double& out) {
    if (!v.isNumeric() || v.asDouble() < lo || v.asDouble() > hi) return false;
    out = v.asDouble();
    return true;
}

bool integer_in(const Json::Value& v, int lo, int hi, int& out) {
    if (!v.isIntegral() || v.asInt64() < lo || v.asInt64() > hi) return false;
    out = v.asInt();
    return true;
}

} // namespace

bool parse_assistant_rules(const Json::Value& rules, assistant_rules& out, std::string& error) {
    if (!rules.isObject()) {
        error = "the rules must be a JSON object";
        return false;
    }
    static const std::set<std::string> known = {"threshold",        "keywords",          "max_failures", "max_turns",
                                                "sentiment_single", "sentiment_average", "attributes",   "greeting",
                                                "unsure",           "handoff"};
    for (const auto& key : rules.getMemberNames())
        if (!known.count(key)) {
            error = "unknown rule '" + key + "'";
            return false;
        }
    assistant_rules r;
    if (rules.isMember("threshold") && !number_in(rules["threshold"], 0, 1, r.threshold)) {
        error = "threshold must be a number from 0 to 1";
        return false;
    }
    if (rules.isMember("keywords")) {
        const Json::Value& k = rules["keywords"];
        if (!k.isArray() || k.size() > max_keywords) {
            error = "keywords must be a list of at most 200 words or phrases";
            return false;
        }
        r.keywords.clear();
        for (const auto& word : k) {
            if (!text(word, max_keyword_length)) {
                error = "keywords: each one a text of 1 to 100 bytes";
                return false;
            }
            r.keywords.push_back(word.asString());
        }
    }
    if (rules.isMember("max_failures") && !integer_in(rules["max_failures"], 1, 100, r.max_failures)) {
        error = "max_failures must be a whole number from 1 to 100";
        return false;
    }
    if (rules.isMember("max_turns") && !integer_in(rules["max_turns"], 1, 1000, r.max_turns)) {
        error = "max_turns must be a whole number from 1 to 1000";
        return false;
    }
    if (rules.isMember("sentiment_single") && !number_in(rules["sentiment_single"], -5, 5, r.sentiment_single)) {
        error = "sentiment_single must be a number from -5 to 5";
        return false;
    }
    if (rules.isMember("sentiment_average") && !number_in(rules["sentiment_average"], -5, 5, r.sentiment_average)) {
        error = "sentiment_average must be a number from -5 to 5";
        return false;
    }
    if (rules.isMember("attributes")) {
        const Json::Value& a = rules["attributes"];
        if (!a.isObject() || a.size() > max_attribute_keys) {
            error = "attributes must be an object of at most 20 detail names, each with a list of values";
            return false;
        }
        for (const auto& key : a.getMemberNames()) {
            const Json::Value& values = a[key];
            if (!text(Json::Value(key), 64) || !values.isArray() || values.empty() || values.size() > max_attribute_values) {
                error = "attributes: '" + key + "' must have a list of 1 to 50 values";
                return false;
            }
            for (const auto& v : values) {
                if (!text(v, max_text_length)) {
                    error = "attributes: the values of '" + key + "' must be texts";
                    return false;
                }
                r.attributes[key].push_back(v.asString());
            }
        }
    }
    for (auto [key, field] : {std::pair{"greeting", &r.greeting}, std::pair{"unsure", &r.unsure},
                              std::pair{"handoff", &r.handoff}}) {
        if (!rules.isMember(key)) continue;
        if (!text(rules[key], max_text_length)) {
            error = std::string(key) + " must be a text of 1 to 1000 bytes";
            return false;
        }
        *field = rules[key].asString();
    }
    out = std::move(r);
    return true;
}

Json::Value assistant_rules_json(const assistant_rules& r) {
    Json::Value v(Json::objectValue);
    v["threshold"] = r.threshold;
    v["keywords"] = Json::Value(Json::arrayValue);
    for (const auto& k : r.keywords) v["keywords"].append(k);
    v["max_failures"] = r.max_failures;
    v["max_turns"] = r.max_turns;
    v["sentiment_single"] = r.sentiment_single;
    v["sentiment_average"] = r.sentiment_average;
    v["attributes"] = Json::Value(Json::objectValue);
    for (const auto& [key, values] : r.attributes) {
        v["attributes"][key] = Json::Value(Json::arrayValue);
        for (const auto& value : values) v["attributes"][key].append(value);
    }
    v["greeting"] = r.greeting;
    v["unsure"] = r.unsure;
    v["handoff"] = r.handoff;
    return v;
}

} // namespace mqchat
