#pragma once
/// HMAC-SHA256 and hex, on libsodium: for signatures that a site's backend
/// or another mqchat process checks (visitors' identities, media URLs).

#include <cstddef>
#include <string>
#include <string_view>

namespace mqchat {

/// Lowercase hex of `size` bytes.
std::string hex(const unsigned char* bytes, std::size_t size);

/// HMAC-SHA256 of `message` under `key`, as lowercase hex (what a site's
/// backend computes: hash_hmac('sha256', $id, $secret) and the like).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

} // namespace mqchat
