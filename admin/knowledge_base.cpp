#include "knowledge_base.hpp"

#include <json/json.h>

#include <regex>
#include <set>
#include <sstream>

#include "common/json.hpp"
#include "common/names.hpp"

namespace mqchat::admin {

namespace {

constexpr std::size_t max_entries = 5000, max_questions = 20, max_question = 500, max_answer = 4000, max_links = 10;

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool valid_key(const std::string& key) {
    static const std::regex shape("^[a-z0-9][a-z0-9_-]{0,79}$");
    return std::regex_match(key, shape);
}

bool valid_url(const std::string& url) {
    return (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) && url.size() <= 2000 &&
           url.find_first_of(" \t\r\n\"<>") == std::string::npos;
}

/// Checks one entry (and fills in its key); "" when it is fine.
std::string check(kb_entry& e) {
    if (e.questions.empty() || e.questions.size() > max_questions) return "needs 1 to 20 questions";
    for (auto& q : e.questions) {
        q = trim(q);
        if (q.empty() || q.size() > max_question || !valid_utf8(q)) return "each question must be a text of 1 to 500 bytes";
    }
    e.answer = trim(e.answer);
    if (e.answer.empty() || e.answer.size() > max_answer || !valid_utf8(e.answer)) return "the answer must be a text of 1 to 4000 bytes";
    if (e.key.empty()) e.key = key_from_question(e.questions.front());
    if (!valid_key(e.key)) return "key '" + e.key + "' must be 1-80 characters from a-z 0-9 _ -";
    if (e.links.size() > max_links) return "at most 10 links";
    for (const auto& l : e.links)
        if (l.title.empty() || l.title.size() > 200 || !valid_utf8(l.title) || !valid_url(l.url))
            return "each link needs a title (up to 200 bytes) and an http(s) URL";
    return "";
}

bool parse_json(const std::string& text, std::vector<kb_entry>& out, std::string& error) {
    Json::Value doc;
    std::string why;
    if (!json::parse(text, doc, why) || !doc.isArray()) {
        error = "not a JSON list of entries: " + (why.empty() ? std::string("expected [ … ]") : why);
        return false;
    }
    for (Json::ArrayIndex i = 0; i < doc.size(); ++i) {
        const Json::Value& v = doc[i];
        const std::string where = "entry " + std::to_string(i + 1);
        auto bad = [&](const char* what) {
            error = where + ": " + what;
            return false;
        };
        if (!v.isObject()) return bad("must be an object");
        kb_entry e;
        if (v.isMember("key")) {
            if (!v["key"].isString()) return bad("key must be a text");
            e.key = v["key"].asString();
        }
        const Json::Value& qs = v["questions"];
        if (!qs.isArray()) return bad("questions must be a list of texts");
        for (const auto& q : qs) {
            if (!q.isString()) return bad("questions must be a list of texts");
            e.questions.push_back(q.asString());
        }
        if (!v["answer"].isString()) return bad("answer must be a text");
        e.answer = v["answer"].asString();
        if (v.isMember("links")) {
            if (!v["links"].isArray()) return bad("links must be a list of {title, url}");
            for (const auto& l : v["links"]) {
                if (!l.isObject() || !l["title"].isString() || !l["url"].isString())
                    return bad("links must be a list of {title, url}");
                e.links.push_back({l["title"].asString(), l["url"].asString()});
            }
        }
        out.push_back(std::move(e));
    }
    return true;
}

// ## First question
// key: optional-key
// ? another phrasing
// The answer, any number of lines.
// - [A link](https://example.com/page)
bool parse_markdown(const std::string& text, std::vector<kb_entry>& out, std::string& error) {
    static const std::regex link_line(R"(^\s*[-*]\s*\[([^\]]+)\]\(([^)\s]+)\)\s*$)");
    std::istringstream in(text);
    std::string line;
    kb_entry* e = nullptr;
    std::string answer;
    bool start_of_entry = false;
    auto finish = [&] {
        if (e) e->answer = answer;
        answer.clear();
    };
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("## ", 0) == 0) {
            finish();
            out.push_back({});
            e = &out.back();
            e->questions.push_back(line.substr(3));
            start_of_entry = true;
            continue;
        }
        if (!e) continue; // a title or introduction before the first entry
        std::smatch m;
        if (start_of_entry && line.rfind("key:", 0) == 0) {
            e->key = trim(line.substr(4));
        } else if (line.rfind("? ", 0) == 0) {
            e->questions.push_back(line.substr(2));
        } else if (std::regex_match(line, m, link_line)) {
            e->links.push_back({trim(m[1].str()), m[2].str()});
        } else {
            answer += line + "\n";
        }
        start_of_entry = false;
    }
    finish();
    if (out.empty()) {
        error = "no entries: each starts with a line '## question'";
        return false;
    }
    return true;
}

} // namespace

std::string key_from_question(const std::string& question) {
    std::string key;
    for (unsigned char c : question) {
        if (std::isalnum(c) && c < 0x80) key += static_cast<char>(std::tolower(c));
        else if (!key.empty() && key.back() != '-') key += '-';
        if (key.size() >= 80) break;
    }
    while (!key.empty() && key.back() == '-') key.pop_back();
    return key;
}

bool parse_knowledge_base(const std::string& text, std::vector<kb_entry>& out, std::string& error) {
    out.clear();
    const auto first = text.find_first_not_of(" \t\r\n");
    const bool is_json = first != std::string::npos && text[first] == '[';
    if (!(is_json ? parse_json(text, out, error) : parse_markdown(text, out, error))) return false;
    if (out.size() > max_entries) {
        error = "more than 5000 entries";
        return false;
    }
    std::set<std::string> keys;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::string problem = check(out[i]);
        const std::string name = out[i].key.empty() ? std::string() : " (" + out[i].key + ")";
        if (!problem.empty()) {
            error = "entry " + std::to_string(i + 1) + name + ": " + problem;
            return false;
        }
        if (!keys.insert(out[i].key).second) {
            error = "entry " + std::to_string(i + 1) + name + ": another entry has this key; give one a 'key'";
            return false;
        }
    }
    return true;
}

} // namespace mqchat::admin
