#pragma once
/// The type of an upload: what libmagic finds in its bytes, and whether what
/// the uploader claimed (a MIME type, a file name) and the policy agree.
/// Internal to mqchat_media_inspect (inspect.cpp); here for the unit tests.

#include <string>
#include <string_view>
#include <vector>

namespace mqchat::media::detail {

/// libmagic's MIME type of `bytes` (MAGIC_MIME_TYPE), e.g. "image/png".
/// Throws std::runtime_error when libmagic cannot start (no database).
std::string sniff_mime(std::string_view bytes);

/// Lower case, parameters dropped ("; charset=…"), common aliases mapped to
/// the name libmagic gives (image/jpg → image/jpeg, audio/mp3 → audio/mpeg).
std::string normalize_mime(std::string_view mime);

/// Is the sniffed type in the policy: an exact entry or its family
/// ("image/*"). A family never admits markup a browser would run
/// (image/svg+xml, text/html, …): those must be listed by their own name.
bool type_allowed(std::string_view sniffed, const std::vector<std::string>& allowed);

/// May a file whose bytes are `sniffed` be called `claimed`: the same type,
/// or one container in another's name (a .docx is a ZIP), or text by another
/// text name (text/x-c as text/plain). Markup is never interchangeable.
bool types_agree(std::string_view sniffed, std::string_view claimed);

/// The declared type agrees with the bytes; application/octet-stream (what
/// browsers send for anything they do not know) claims nothing and fits all.
bool declared_type_fits(std::string_view sniffed, std::string_view declared);

/// The name's extension is one known for the sniffed type, or unknown to
/// the table, or absent. Only an extension known for another type fails.
bool name_fits(std::string_view sniffed, std::string_view name);

/// Markup a browser would run when shown inline: checked for active content.
bool is_markup(std::string_view mime);

/// A raster image the service decodes and re-encodes (JPEG, PNG, GIF, WebP).
bool is_raster(std::string_view mime);

} // namespace mqchat::media::detail
