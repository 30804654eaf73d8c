#include "media_url.hpp"

#include "hmac.hpp"

#include <sodium.h>

#include <charconv>

namespace mqchat::media_url {

std::string new_media_id() {
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    return hex(raw, sizeof raw);
}

bool valid_media_id(std::string_view id) {
    if (id.size() != 32) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string signature(std::string_view secret, std::string_view purpose, std::string_view id,
                      std::int64_t expires_unix_s) {
    std::string message(purpose);
    message += '\n';
    message += id;
    message += '\n';
    message += std::to_string(expires_unix_s);
    return hmac_sha256_hex(secret, message);
}

std::string signed_path(std::string_view secret, std::string_view purpose, std::string_view id,
                        std::int64_t expires_unix_s) {
    std::string path = purpose == upload ? "/upload/" : "/media/";
    path += id;
    if (purpose == thumb) path += "/thumb";
    path += "?exp=";
    path += std::to_string(expires_unix_s);
    path += "&sig=";
    path += signature(secret, purpose, id, expires_unix_s);
    return path;
}

check verify(std::string_view secret, std::string_view purpose, std::string_view id, std::string_view exp,
             std::string_view sig, std::int64_t now_unix_s) {
    std::int64_t expires = 0;
    const auto [end, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expires);
    if (exp.empty() || ec != std::errc() || end != exp.data() + exp.size() || expires <= 0)
        return check::bad_signature;
    const std::string expected = signature(secret, purpose, id, expires);
    if (sig.size() != expected.size() || sodium_memcmp(sig.data(), expected.data(), expected.size()) != 0)
        return check::bad_signature;
    return expires < now_unix_s ? check::expired : check::ok;
}

} // namespace mqchat::media_url
