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
    /// Exact MIME types ("image/jpeg") or a family ("image/*", "*/*"),
    /// aliases accepted (image/jpg). A family never admits markup a browser
    /// would run: image/svg+xml, text/html and application/xhtml+xml are
    /// allowed only when listed by name.
    std::vector<std::string> allowed_types;
    /// Width × height at most (checked from the header, before decoding);
    /// for an animated GIF or WebP, summed over its frames.
    std::uint64_t max_pixels = 40'000'000;
    int thumb_max_side = 320;
    int jpeg_quality = 85; ///< also lossy WebP's
};

struct inspection {
    std::string refusal; ///< "" when accepted, otherwise one of `refusal`
    std::string message; ///< for people: what is wrong
    std::string mime;    ///< sniffed from the bytes, e.g. "image/jpeg", "application/pdf"; "" if refused before
    int width = 0, height = 0; ///< images only: upright (EXIF orientation applied); an animation's frame
    /// What to store: the re-encoded image (workdir/stored.jpg|png|gif|webp),
    /// or the upload itself for other files, SVG and HTML included.
    std::filesystem::path stored;
    std::string stored_mime; ///< the type of `stored` (an image keeps its type; a file its sniffed type)
    std::filesystem::path thumb; ///< images only (workdir/thumb.jpg|webp); empty otherwise
    std::string thumb_mime;      ///< image/jpeg, or image/webp when the image has alpha (PNG, GIF, WebP)
    bool ok() const { return refusal.empty(); }
};

/// Once per process, before any inspect() (which throws std::logic_error
/// otherwise): starts libvips (untrusted loaders blocked, no operation
/// cache), with `threads` worker threads of its own per operation. Throws
/// std::runtime_error if it cannot. Calling it again only changes `threads`.
void init_inspection(int threads = 1);

/// Inspects `upload`. `declared_name` and `declared_type` are what the
/// uploader said (media.upload); new files (the re-encoded image, the
/// thumbnail) are written under `workdir` with fixed names (stored.*,
/// thumb.*), so give each upload its own; the caller removes it.
///
/// The declared type must name the sniffed one (aliases and parameters
/// aside), except application/octet-stream, which browsers send for what
/// they do not know and which claims nothing; a text type may be declared
/// as another (text/x-c as text/plain), a ZIP as a format built on it
/// (.docx), an OLE file as .doc/.xls/.ppt. A name without extension, or
/// with one the type table does not know, fits anything.
///
/// Images (JPEG, PNG, GIF, WebP) are re-encoded to their own type without
/// metadata, upright; an animated GIF or WebP stays animated (GIF through
/// libvips' gifsave, which Debian's build has). SVG and HTML are never
/// decoded as images: refused for active content, else stored as files.
///
/// A refusal is an answer, never an exception. Throws (std::runtime_error,
/// std::filesystem::filesystem_error) only for the service's own trouble:
/// the upload unreadable, `workdir` unwritable, libmagic without database.
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
/// Streams `file` to clamd (INSTREAM). timeout_ms bounds the whole scan:
/// connecting, sending, the answer. No address: clean, detail "not
/// scanned…". Unreachable, timed out, closed early or an ERROR answer:
/// unavailable, detail says which. Throws std::runtime_error only when
/// `file` cannot be read.
scan_result clamd_scan(const std::filesystem::path& file, const clamd_settings& settings);

/// What a scan means for the upload: "" (store it), refusal::infected, or
/// refusal::scan_unavailable when the scanner did not answer and the
/// settings fail closed (fail_closed false: "" — stored unscanned).
std::string_view scan_refusal(const scan_result& result, const clamd_settings& settings);

} // namespace mqchat::media
