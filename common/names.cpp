#include "common/names.hpp"

namespace mqchat {

bool valid_user_name(std::string_view name) {
    if (name.empty() || name.size() > max_user_name_length) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) continue;
        if (i > 0 && (c == '.' || c == '_' || c == '@' || c == '-')) continue;
        return false;
    }
    return true;
}

bool valid_desk_name(std::string_view name) {
    if (name.empty() || name.size() > max_desk_name_length) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) continue;
        if (i > 0 && (c == '_' || c == '-')) continue;
        return false;
    }
    return true;
}

namespace {
/// `prefix` and 16–62 characters from [A-Za-z0-9_-]: a name a browser made at random.
bool random_name_with(std::string_view name, std::string_view prefix) {
    if (name.size() < prefix.size() + 16 || name.size() > max_user_name_length || name.substr(0, prefix.size()) != prefix)
        return false;
    for (const char c : name.substr(prefix.size()))
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}
} // namespace

bool valid_knock_name(std::string_view name) { return random_name_with(name, "k-"); }

bool valid_anonymous_visitor_name(std::string_view name) { return random_name_with(name, "v-"); }

bool valid_email_address(std::string_view s) {
    const auto at = s.find('@');
    if (s.size() > 254 || at == std::string_view::npos || at == 0 || at + 1 == s.size() ||
        s.find('@', at + 1) != std::string_view::npos)
        return false;
    for (const char c : s)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>') return false;
    return true;
}

bool valid_utf8(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        if (c == 0) return false;
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned int cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false; // continuation byte, overlong lead (C0/C1) or > F4
        }
        if (i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0u) != 0x80u) return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false; // overlong
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;                         // surrogate
        if (cp > 0x10FFFF) return false;
        i += len;
    }
    return true;
}

} // namespace mqchat
