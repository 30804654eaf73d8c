#pragma once
/// `GET|HEAD /media/{id}?exp&sig` and `/media/{id}/thumb?exp&sig`
/// (docs/media.md, "Downloading"): the signature (purpose "media" or
/// "thumb") is checked without the database; then the row must be ready,
/// its conversation still there and its message (if it has one yet) not
/// deleted. The bytes stream from storage with headers that keep a browser
/// from running them: the stored type, nosniff, a sandboxing CSP, inline
/// only for the raster images the service re-encoded, an attachment with
/// the declared name (percent-encoded) otherwise. One byte range
/// (`Range: bytes=…`) is honoured, If-None-Match against the ETag (the
/// blob's SHA-256) answers 304.

#include <optional>
#include <string>

#include "service.hpp"

namespace mqchat::media {

struct download_request {
    std::string id;
    bool thumb = false;
    bool head = false;
    std::string exp, sig;
    std::optional<std::string> range;         ///< the Range header
    std::optional<std::string> if_none_match; ///< the If-None-Match header
};

reply download(service& svc, const download_request& request);

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` for any
/// declared name: quotes, CR/LF, slashes and non-ASCII never break out.
std::string attachment_disposition(const std::string& declared_name);

/// A single range of a `size`-byte body: "bytes=a-b", "bytes=a-", "bytes=-n".
/// nullopt: not one we understand (the whole body is sent). `unsatisfiable`
/// is set for a range that starts past the end (416).
struct byte_range {
    std::uint64_t first = 0, length = 0;
};
std::optional<byte_range> parse_range(const std::string& header, std::uint64_t size, bool& unsatisfiable);

} // namespace mqchat::media
