#pragma once
// Small text helpers the inspection's parts share.

#include <string>
#include <string_view>

namespace mqchat::media::detail {

/// ASCII letters to lower case; every other byte as it is (MIME types,
/// file extensions and markup names are ASCII, and a locale must not
/// change what a check sees).
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    return out;
}

} // namespace mqchat::media::detail
