#include "media/inspect/markup.hpp"

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

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool inline_raster(std::string_view url) {
    for (std::string_view t : {"data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp"})
        if (starts_with(url, t)) return true;
    return false;
}

/// A URL that runs something when followed. Character references ("&#…",
/// "&colon;") are how "javascript:" is hidden; an ordinary link needs none.
bool runs(std::string_view url) {
    if (starts_with(url, "javascript:") || starts_with(url, "vbscript:")) return true;
    for (std::string_view hidden : {"&#", "&colon", "&tab", "&newline"})
        if (url.find(hidden) != std::string_view::npos) return true;
    return starts_with(url, "data:") && !inline_raster(url);
}

bool leaves_document(std::string_view url) { return !starts_with(url, "#") && !inline_raster(url); }

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' || c == '.';
}

bool is_event_handler(std::string_view name) {
    if (const auto colon = name.rfind(':'); colon != std::string_view::npos) name = name.substr(colon + 1);
    if (name.size() <= 2 || !starts_with(name, "on")) return false;
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
        const std::string_view url = starts_with(target, "\"") || starts_with(target, "'")
                                         ? std::string_view(target).substr(1)
                                         : std::string_view(target);
        if (leaves_document(url)) return true;
    }
    return false;
}

} // namespace

std::string_view active_content(std::string_view text, bool links_are_references) {
    const std::string t = lower(text);
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> elements{{
        {"<script", "a <script> element"},  {"<foreignobject", "a <foreignObject> element"},
        {"<iframe", "an <iframe> element"}, {"<embed", "an <embed> element"},
        {"<object", "an <object> element"}, {"<handler", "a <handler> element"},
        {"<!entity", "a DTD entity"},
    }};
    for (const auto& [tag, why] : elements)
        if (t.find(tag) != std::string::npos) return why;
    const std::string all = folded(t);
    if (all.find("javascript:") != std::string::npos || all.find("vbscript:") != std::string::npos)
        return "a javascript: URL";
    const std::string_view why = each_attribute(t, [&](std::string_view name, std::string_view value) -> std::string_view {
        if (is_event_handler(name)) return "an event handler attribute";
        if (name == "attributename" && value.find("href") != std::string_view::npos) return "an animated link";
        if (!is_link(name)) return {};
        const std::string url = folded(value);
        if (runs(url)) return "a link that runs code";
        if (links_are_references && leaves_document(url)) return "an external reference";
        return {};
    });
    if (!why.empty()) return why;
    if (links_are_references && css_fetches(t)) return "an external reference in CSS";
    return {};
}

} // namespace mqchat::media::detail
