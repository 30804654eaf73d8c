#pragma once
/// Signed, expiring URLs for the media service (docs/media.md): the bridge
/// hands them out (`media.upload`, `media.url`), the media service checks
/// them. Both hold the same secret (media_url_secret_file); a URL carries
/// its expiry (Unix seconds) and an HMAC-SHA256 of purpose, media id and
/// expiry, so the service needs no database lookup to refuse a forged or
/// expired one.
///
///   PUT  {base}/upload/{id}?exp=E&sig=S     purpose "upload" (single use)
///   GET  {base}/media/{id}?exp=E&sig=S      purpose "media"
///   GET  {base}/media/{id}/thumb?exp=E&sig=S purpose "thumb"

#include <cstdint>
#include <string>
#include <string_view>

namespace mqchat::media_url {

inline constexpr std::string_view upload = "upload";
inline constexpr std::string_view media = "media";
inline constexpr std::string_view thumb = "thumb";

/// A new media id: 32 lowercase hex digits, 128 random bits (libsodium).
std::string new_media_id();
/// 32 lowercase hex digits, nothing else.
bool valid_media_id(std::string_view id);

/// HMAC-SHA256("{purpose}\n{id}\n{expires}") under `secret`, lowercase hex.
std::string signature(std::string_view secret, std::string_view purpose, std::string_view id,
                      std::int64_t expires_unix_s);

/// "/upload/{id}?exp=…&sig=…", "/media/{id}?…", "/media/{id}/thumb?…": the
/// path and query to append to the service's public base URL.
std::string signed_path(std::string_view secret, std::string_view purpose, std::string_view id,
                        std::int64_t expires_unix_s);

enum class check { ok, bad_signature, expired };
/// Compares in constant time; `exp` and `sig` as they came in the query.
check verify(std::string_view secret, std::string_view purpose, std::string_view id, std::string_view exp,
             std::string_view sig, std::int64_t now_unix_s);

} // namespace mqchat::media_url
