#include "media/inspect/sniff.hpp"
#include "media/inspect/text.hpp"

#include <magic.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <utility>

namespace mqchat::media::detail {
namespace {

using pair = std::pair<std::string_view, std::string_view>;

/// Names clients send for a type, and the one libmagic gives.
constexpr std::array aliases{
    pair{"image/jpg", "image/jpeg"},          pair{"image/pjpeg", "image/jpeg"},
    pair{"image/x-png", "image/png"},         pair{"image/x-ms-bmp", "image/bmp"},
    pair{"image/x-icon", "image/vnd.microsoft.icon"},
    pair{"application/x-zip-compressed", "application/zip"},
    pair{"application/x-zip", "application/zip"}, pair{"application/x-pdf", "application/pdf"},
    pair{"audio/mp3", "audio/mpeg"},          pair{"audio/x-mp3", "audio/mpeg"},
    pair{"audio/x-mpeg", "audio/mpeg"},       pair{"audio/wav", "audio/x-wav"},
    pair{"audio/wave", "audio/x-wav"},        pair{"audio/x-flac", "audio/flac"},
    pair{"application/xml", "text/xml"},      pair{"application/x-gzip", "application/gzip"},
    pair{"application/javascript", "text/javascript"},
    pair{"application/x-javascript", "text/javascript"},
    pair{"application/x-rar-compressed", "application/x-rar"},
    pair{"application/vnd.rar", "application/x-rar"},
};

/// Extensions people give these types. An extension may name several types
/// (rows of the same extension); one that fits is enough.
constexpr std::array extensions{
    pair{"jpg", "image/jpeg"}, pair{"jpeg", "image/jpeg"}, pair{"jpe", "image/jpeg"},
    pair{"jfif", "image/jpeg"}, pair{"png", "image/png"}, pair{"gif", "image/gif"},
    pair{"webp", "image/webp"}, pair{"svg", "image/svg+xml"}, pair{"bmp", "image/bmp"},
    pair{"tif", "image/tiff"}, pair{"tiff", "image/tiff"}, pair{"heic", "image/heic"},
    pair{"heif", "image/heif"}, pair{"avif", "image/avif"},
    pair{"ico", "image/vnd.microsoft.icon"}, pair{"pdf", "application/pdf"},
    pair{"txt", "text/plain"}, pair{"text", "text/plain"}, pair{"log", "text/plain"},
    pair{"md", "text/markdown"}, pair{"csv", "text/csv"}, pair{"json", "application/json"},
    pair{"xml", "text/xml"}, pair{"html", "text/html"}, pair{"htm", "text/html"},
    pair{"xhtml", "application/xhtml+xml"}, pair{"js", "text/javascript"},
    pair{"rtf", "text/rtf"}, pair{"zip", "application/zip"}, pair{"gz", "application/gzip"},
    pair{"tar", "application/x-tar"}, pair{"7z", "application/x-7z-compressed"},
    pair{"rar", "application/x-rar"}, pair{"mp4", "video/mp4"}, pair{"m4v", "video/mp4"},
    pair{"m4a", "audio/mp4"}, pair{"m4a", "audio/x-m4a"}, pair{"mov", "video/quicktime"},
    pair{"webm", "video/webm"}, pair{"mkv", "video/x-matroska"}, pair{"mp3", "audio/mpeg"},
    pair{"ogg", "audio/ogg"}, pair{"oga", "audio/ogg"}, pair{"opus", "audio/ogg"},
    pair{"wav", "audio/x-wav"}, pair{"flac", "audio/flac"}, pair{"doc", "application/msword"},
    pair{"xls", "application/vnd.ms-excel"}, pair{"ppt", "application/vnd.ms-powerpoint"},
    pair{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    pair{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    pair{"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    pair{"odt", "application/vnd.oasis.opendocument.text"},
    pair{"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    pair{"odp", "application/vnd.oasis.opendocument.presentation"},
    pair{"epub", "application/epub+zip"}, pair{"exe", "application/x-dosexec"},
    pair{"exe", "application/vnd.microsoft.portable-executable"},
};

/// Formats built inside a container libmagic may name instead: a .docx
/// without "[Content_Types].xml" first is just a ZIP to it; an old .doc is
/// often only an OLE compound file.
constexpr std::array containers{
    pair{"application/zip", "application/vnd.openxmlformats-officedocument."},
    pair{"application/zip", "application/vnd.oasis.opendocument."},
    pair{"application/zip", "application/epub+zip"},
    pair{"application/zip", "application/java-archive"},
    pair{"application/x-ole-storage", "application/msword"},
    pair{"application/x-ole-storage", "application/vnd.ms-"},
    pair{"application/cdfv2", "application/msword"},
    pair{"application/cdfv2", "application/vnd.ms-"},
    pair{"audio/x-m4a", "audio/mp4"},
    pair{"video/mp4", "audio/mp4"},
};

constexpr std::array markup{std::string_view{"image/svg+xml"}, std::string_view{"text/html"},
                            std::string_view{"application/xhtml+xml"}};

constexpr std::string_view octet_stream = "application/octet-stream";

/// Text libmagic may name by its language (text/x-c, text/x-shellscript…):
/// interchangeable with any other text name, markup excepted.
bool textual(std::string_view mime) {
    return !is_markup(mime) &&
           (mime.starts_with("text/") || mime == "application/json" || mime == "text/javascript");
}

/// A type libmagic recognises from its bytes: when it answers
/// application/octet-stream ("do not know"), a claim of one of these is false.
bool recognisable(std::string_view mime) {
    return std::any_of(extensions.begin(), extensions.end(),
                       [&](const pair& e) { return e.second == mime; });
}

std::string_view extension_of(std::string_view name) {
    const auto slash = name.find_last_of("/\\");
    if (slash != std::string_view::npos) name = name.substr(slash + 1);
    const auto dot = name.rfind('.');
    // ".bashrc" is a name, not an extension.
    if (dot == std::string_view::npos || dot == 0) return {};
    return name.substr(dot + 1);
}

/// libmagic's cookie is not thread-safe: one per thread, opened on first use.
struct magic_closer {
    void operator()(magic_t m) const { magic_close(m); }
};
using magic_ptr = std::unique_ptr<std::remove_pointer_t<magic_t>, magic_closer>;

magic_t thread_magic() {
    thread_local magic_ptr cookie = [] {
        // No decompression (MAGIC_COMPRESS off): the type of what was sent,
        // not of what it unpacks to. MAGIC_ERROR: a database problem is an
        // error, not a silent "data".
        magic_ptr m(magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR));
        if (!m) throw std::runtime_error("libmagic: magic_open failed");
        if (magic_load(m.get(), nullptr) != 0)
            throw std::runtime_error(std::string("libmagic: cannot load its database: ") +
                                     (magic_error(m.get()) ? magic_error(m.get()) : "?"));
        return m;
    }();
    return cookie.get();
}

} // namespace

std::string sniff_mime(std::string_view bytes) {
    magic_t m = thread_magic();
    const char* type = magic_buffer(m, bytes.data(), bytes.size());
    if (!type) throw std::runtime_error(std::string("libmagic: ") + (magic_error(m) ? magic_error(m) : "?"));
    return normalize_mime(type);
}

std::string normalize_mime(std::string_view mime) {
    mime = mime.substr(0, mime.find(';'));
    while (!mime.empty() && (mime.back() == ' ' || mime.back() == '\t')) mime.remove_suffix(1);
    while (!mime.empty() && (mime.front() == ' ' || mime.front() == '\t')) mime.remove_prefix(1);
    std::string out = ascii_lower(mime);
    for (const auto& [alias, name] : aliases)
        if (out == alias) return std::string(name);
    return out;
}

bool is_markup(std::string_view mime) {
    return std::find(markup.begin(), markup.end(), mime) != markup.end();
}

bool is_raster(std::string_view mime) {
    return mime == "image/jpeg" || mime == "image/png" || mime == "image/gif" || mime == "image/webp";
}

bool type_allowed(std::string_view sniffed, const std::vector<std::string>& allowed) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& entry) {
        const std::string want = normalize_mime(entry);
        if (want == sniffed) return true;
        if (is_markup(sniffed)) return false;
        if (want == "*/*") return true;
        return want.size() > 2 && want.substr(want.size() - 2) == "/*" &&
               sniffed.starts_with(std::string_view(want).substr(0, want.size() - 1));
    });
}

bool types_agree(std::string_view sniffed, std::string_view claimed) {
    if (sniffed == claimed) return true;
    if (textual(sniffed) && textual(claimed)) return true;
    if (sniffed == octet_stream) return !recognisable(claimed) && !is_markup(claimed);
    for (const auto& [outer, inner] : containers)
        if ((sniffed == outer && claimed.starts_with(inner)) || (claimed == outer && sniffed.starts_with(inner)))
            return true;
    return false;
}

bool declared_type_fits(std::string_view sniffed, std::string_view declared) {
    const std::string claimed = normalize_mime(declared);
    return claimed == octet_stream || types_agree(sniffed, claimed);
}

bool name_fits(std::string_view sniffed, std::string_view name) {
    const std::string ext = ascii_lower(extension_of(name));
    if (ext.empty()) return true;
    bool known = false;
    for (const auto& [e, mime] : extensions) {
        if (e != ext) continue;
        known = true;
        if (types_agree(sniffed, mime)) return true;
    }
    return !known;
}

} // namespace mqchat::media::detail
