#pragma once
/// Checks an uploaded file before the media service stores it
/// (docs/media.md, "Checks"): the type is sniffed from the bytes (libmagic)
/// and must agree with what the uploader declared and with the policy;
/// images are decoded (libvips) within a pixel budget, re-encoded — which
/// drops their metadata, EXIF location included — and given a thumbnail.
/// Runs on the media service's worker threads, never on a chat path; every
/// function here is safe to call from several threads at once.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mqchat::media {

/// Why an upload is refused: the `code` of the service's error reply.
namespace refusal {
inline constexpr std::string_view empty = "empty";                       ///< zero bytes
inline constexpr std::string_view too_large = "too_large";               ///< more than the policy's max_bytes
inline constexpr std::string_view type_not_allowed = "type_not_allowed"; ///< sniffed type not in the policy
inline constexpr std::string_view type_mismatch = "type_mismatch";       ///< declared type or name's extension disagrees with the bytes
inline constexpr std::string_view truncated = "truncated";               ///< an image whose data ends early
inline constexpr std::string_view undecodable = "undecodable";           ///< an image that does not decode
inline constexpr std::string_view too_many_pixels = "too_many_pixels";   ///< beyond max_pixels: a decompression bomb or just too big
inline constexpr std::string_view polyglot = "polyglot";                 ///< an image that is also something else (trailing archive, markup)
inline constexpr std::string_view active_content = "active_content";     ///< SVG with script, event handlers or external references
inline constexpr std::string_view infected = "infected";                 ///< the virus scanner found something
inline constexpr std::string_view scan_unavailable = "scan_unavailable"; ///< the scanner did not answer and the policy fails closed
} // namespace refusal

struct inspect_policy {
    std::uint64_t max_bytes = 25u << 20;
    /// Exact MIME types ("image/jpeg") or a family ("image/*").
    std::vector<std::string> allowed_types;
    /// Width × height at most (checked from the header, before decoding).
    std::uint64_t max_pixels = 40'000'000;
    int thumb_max_side = 320;
    int jpeg_quality = 85;
};

struct inspection {
    std::string refusal; ///< "" when accepted, otherwise one of `refusal`
    std::string message; ///< for people: what is wrong
    std::string mime;    ///< sniffed from the bytes, e.g. "image/jpeg", "application/pdf"
    int width = 0, height = 0; ///< images only
    /// What to store: the re-encoded image, or the upload itself for other files.
    std::filesystem::path stored;
    std::string stored_mime; ///< the type of `stored` (an image keeps its type)
    std::filesystem::path thumb; ///< empty when there is none
    std::string thumb_mime;
    bool ok() const { return refusal.empty(); }
};

/// Once per process, before any inspect(): starts libvips (untrusted
/// loaders blocked, no operation cache), with `threads` worker threads of
/// its own per operation. Throws std::runtime_error if it cannot.
void init_inspection(int threads = 1);

/// Inspects `upload`. `declared_name` and `declared_type` are what the
/// uploader said (media.upload); new files (the re-encoded image, the
/// thumbnail) are written under `workdir`, which the caller removes.
inspection inspect(const std::filesystem::path& upload, std::string_view declared_name,
                   std::string_view declared_type, const inspect_policy& policy,
                   const std::filesystem::path& workdir);

/// Is a type one a browser may show inline when served with nosniff and a
/// sandbox CSP: the raster types the service re-encodes (JPEG, PNG, GIF, WebP).
bool safe_inline_image(std::string_view mime);

/// The optional virus scan (clamd's INSTREAM command).
struct clamd_settings {
    std::string address;  ///< "unix:/run/clamav/clamd.ctl" or "tcp:HOST:PORT"; empty: no scan
    int timeout_ms = 30000;
    bool fail_closed = true; ///< scanner unreachable or erring: refuse (true) or store unscanned (false)
};
struct scan_result {
    enum class verdict { clean, infected, unavailable } outcome = verdict::clean;
    std::string detail; ///< the signature name, or why the scanner was unavailable
};
scan_result clamd_scan(const std::filesystem::path& file, const clamd_settings& settings);

} // namespace mqchat::media
