#pragma once
/// Where a raster image's bytes end, walked from its container structure
/// (markers, chunks, blocks) without decoding a pixel, and whether the bytes
/// also carry another format. Internal to mqchat_media_inspect; here for the
/// unit tests.

#include <cstddef>
#include <string_view>

namespace mqchat::media::detail {

struct image_extent {
    enum class status { complete, truncated, malformed } outcome = status::malformed;
    std::size_t end = 0;   ///< complete: the offset just past the image's last byte
    bool lossless = false; ///< WebP only: a VP8L (lossless) bitstream
};

/// JPEG: up to EOI past the last scan (an EXIF thumbnail's own EOI does not
/// count); PNG: past IEND; GIF: past the trailer; WebP: the RIFF size.
/// `mime` is one of detail::is_raster's.
image_extent find_image_end(std::string_view mime, std::string_view bytes);

/// What may follow an image's end without making it a polyglot: a little
/// padding (0x00 or 0xFF, as some cameras and editors leave), or — after a
/// JPEG — the trailer Samsung's cameras append (a directory "SEFH", its
/// length, "SEFT"), which is on most of their photos. Nothing else. (The
/// markers below are still looked for in it, and re-encoding drops it.)
bool trailing_is_tolerated(std::string_view mime, std::string_view trailing);

/// Markers of another format anywhere in the bytes: HTML or PHP that a
/// browser or server might run (`<script`, `<html`, `<?php`, …, any case;
/// the name ending as a tag's name ends, the tag text up to its `>`),
/// a PDF header (readers find one anywhere in the first KB), or a ZIP local file header that looks real (not four random bytes of
/// compressed pixels). Returns what was found, or "" for nothing.
std::string_view foreign_marker(std::string_view bytes);

} // namespace mqchat::media::detail
