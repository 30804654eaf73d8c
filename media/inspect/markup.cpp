#include "media/inspect/markup.hpp"
#include "media/inspect/text.hpp"

#include <array>
#include <string>

namespace mqchat::media::detail {
namespace {

/// Lower case, with whitespace and control characters dropped: what a
/// browser reads in "Java\tScript :" is what we compare.
std::string folded(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (static_cast<unsigned char>(c) <= ' ') continue;
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    }
    return out;
}

/// Character references resolved as a browser would inside an attribute
/// ("&#106;", "&#x6A", "&colon;"), so that they hide nothing from folded().
std::string decoded(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out.push_back(s[i]);
            continue;
        }
        static constexpr std::pair<std::string_view, char> named[] = {{"&colon;", ':'}, {"&tab;", '\t'}, {"&newline;", '\n'}};
        bool done = false;
        for (const auto& [name, c] : named)
            if (s.substr(i, name.size()) == name) {
                out.push_back(c), i += name.size() - 1, done = true;
                break;
            }
        if (done) continue;
        std::size_t j = i + 1;
        const bool hex = j + 1 < s.size() && s[j] == '#' && s[j + 1] == 'x';
        if (j >= s.size() || s[j] != '#') {
            out.push_back('&');
            continue;
        }
        j += hex ? 2 : 1;
        unsigned long code = 0;
        std::size_t digits = 0;
        for (; j < s.size() && digits < 8; ++j, ++digits) {
            const char c = s[j];
            const int v = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (v < 0) break;
            code = code * (hex ? 16 : 10) + static_cast<unsigned long>(v);
        }
        if (digits == 0) {
            out.push_back('&');
            continue;
        }
        if (j < s.size() && s[j] == ';') ++j;
        out.push_back(code < 128 ? static_cast<char>(code) : '?');
        i = j - 1;
    }
    return out;
}

bool inline_raster(std::string_view url) {
    for (std::string_view t : {"data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp"})
        if (url.starts_with(t)) return true;
    return false;
}

/// A URL that runs something when followed. Character references ("&#…",
/// "&colon;") are how "javascript:" is hidden; an ordinary link needs none.
bool runs(std::string_view url) {
    if (url.starts_with("javascript:") || url.starts_with("vbscript:")) return true;
    for (std::string_view hidden : {"&#", "&colon", "&tab", "&newline"})
        if (url.find(hidden) != std::string_view::npos) return true;
    return url.starts_with("data:") && !inline_raster(url);
}

bool leaves_document(std::string_view url) { return !url.starts_with("#") && !inline_raster(url); }

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' || c == '.';
}

bool is_event_handler(std::string_view name) {
    if (const auto colon = name.rfind(':'); colon != std::string_view::npos) name = name.substr(colon + 1);
    if (name.size() <= 2 || !name.starts_with("on")) return false;
    for (char c : name)
        if (c < 'a' || c > 'z') return false;
    return true;
}

bool is_link(std::string_view name) {
    return name == "href" || name == "src" || name == "action" || name == "formaction" ||
           name == "data" || name == "poster" ||
           (name.size() > 5 && name.substr(name.size() - 5) == ":href");
}

/// Every name=value pair in the (lower-cased) text, attributes or not: an
/// over-approximation that errs on the side of refusing.
template <class F> std::string_view each_attribute(const std::string& t, F&& check) {
    for (std::size_t eq = t.find('='); eq != std::string::npos; eq = t.find('=', eq + 1)) {
        std::size_t end = eq;
        while (end > 0 && (t[end - 1] == ' ' || t[end - 1] == '\t' || t[end - 1] == '\n' || t[end - 1] == '\r')) --end;
        std::size_t begin = end;
        while (begin > 0 && is_name_char(t[begin - 1])) --begin;
        if (begin == end) continue;
        std::size_t v = eq + 1;
        while (v < t.size() && static_cast<unsigned char>(t[v]) <= ' ') ++v;
        std::size_t value_end;
        if (v < t.size() && (t[v] == '"' || t[v] == '\'')) {
            value_end = t.find(t[v], v + 1);
            ++v;
        } else {
            value_end = t.find_first_of(" \t\r\n>", v);
        }
        if (value_end == std::string::npos) value_end = t.size();
        const std::string_view why = check(std::string_view(t).substr(begin, end - begin),
                                           std::string_view(t).substr(v, value_end - v));
        if (!why.empty()) return why;
    }
    return {};
}

/// CSS url(…) that leaves the document (in <style> or a style attribute).
bool css_fetches(const std::string& t) {
    if (t.find("@import") != std::string::npos) return true;
    for (std::size_t p = t.find("url("); p != std::string::npos; p = t.find("url(", p + 4)) {
        const std::string target = folded(std::string_view(t).substr(p + 4, 64));
        const std::string_view url = target.starts_with("\"") || target.starts_with("'")
                                         ? std::string_view(target).substr(1)
                                         : std::string_view(target);
        if (leaves_document(url)) return true;
    }
    return false;
}

} // namespace

std::string_view active_content(std::string_view text, bool links_are_references) {
    const std::string t = ascii_lower(text);
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> elements{{
        {"<script", "a <script> element"},  {"<foreignobject", "a <foreignObject> element"},
        {"<iframe", "an <iframe> element"}, {"<embed", "an <embed> element"},
        {"<object", "an <object> element"}, {"<handler", "a <handler> element"},
        {"<!entity", "a DTD entity"},
    }};
    for (const auto& [tag, why] : elements)
        if (t.find(tag) != std::string::npos) return why;
    const std::string_view why = each_attribute(t, [&](std::string_view name, std::string_view value) -> std::string_view {
        if (is_event_handler(name)) return "an event handler attribute";
        if (name == "attributename" && value.find("href") != std::string_view::npos) return "an animated link";
        // In any attribute (an animation's values=, a style's url()), not
        // only in links; in text ("JavaScript: the good parts") it is words.
        const std::string url = folded(decoded(value));
        if (url.find("javascript:") != std::string::npos || url.find("vbscript:") != std::string::npos)
            return "a javascript: URL";
        if (!is_link(name)) return {};
        if (runs(url)) return "a link that runs code";
        if (links_are_references && leaves_document(url)) return "an external reference";
        return {};
    });
    if (!why.empty()) return why;
    if (links_are_references && css_fetches(t)) return "an external reference in CSS";
    return {};
}

} // namespace mqchat::media::detail
