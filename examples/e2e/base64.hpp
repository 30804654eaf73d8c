// Base64 as libolm writes it (standard alphabet, no padding), over libsodium.
#pragma once

#include <sodium.h>

#include <string>
#include <vector>

namespace e2e {

inline std::string to_base64(const unsigned char* bytes, std::size_t n) {
    std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes, n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    out.resize(out.size() - 1); // the NUL
    return out;
}

/// False when `text` is not strict unpadded base64.
inline bool from_base64(const std::string& text, std::vector<unsigned char>& out) {
    out.assign(text.size(), 0);
    std::size_t n = 0;
    if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &n, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
        return false;
    out.resize(n);
    return true;
}

} // namespace e2e
