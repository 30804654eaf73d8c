#include "media/inspect/structure.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mqchat::media::detail {
namespace {

using status = image_extent::status;

/// More padding than this after the end is not padding but a payload.
constexpr std::size_t max_padding = 4096;

std::uint8_t at(std::string_view b, std::size_t i) { return static_cast<std::uint8_t>(b[i]); }
std::uint32_t be16(std::string_view b, std::size_t i) { return std::uint32_t{at(b, i)} << 8 | at(b, i + 1); }
std::uint32_t be32(std::string_view b, std::size_t i) { return be16(b, i) << 16 | be16(b, i + 2); }
std::uint32_t le16(std::string_view b, std::size_t i) { return std::uint32_t{at(b, i + 1)} << 8 | at(b, i); }
std::uint32_t le32(std::string_view b, std::size_t i) { return le16(b, i + 2) << 16 | le16(b, i); }

image_extent done(std::size_t end) { return {status::complete, end, false}; }
image_extent truncated() { return {status::truncated, 0, false}; }
image_extent malformed() { return {status::malformed, 0, false}; }

/// From just past SOS's header to the next marker that is not a restart
/// marker or a stuffed 0xFF00 (the entropy-coded data in between).
/// Returns the marker's offset, or b.size() when the data runs out.
std::size_t skip_entropy_coded(std::string_view b, std::size_t pos) {
    while (pos < b.size()) {
        const void* ff = std::memchr(b.data() + pos, 0xFF, b.size() - pos);
        if (!ff) return b.size();
        pos = static_cast<std::size_t>(static_cast<const char*>(ff) - b.data());
        if (pos + 1 >= b.size()) return b.size();
        const std::uint8_t next = at(b, pos + 1);
        if (next == 0xFF) ++pos;                                      // fill byte before a marker
        else if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) pos += 2; // stuffing, RSTn
        else return pos;
    }
    return b.size();
}

image_extent jpeg_end(std::string_view b) {
    if (b.size() < 2 || at(b, 0) != 0xFF || at(b, 1) != 0xD8) return malformed();
    std::size_t pos = 2;
    for (;;) {
        if (pos >= b.size()) return truncated();
        if (at(b, pos) != 0xFF) return malformed();
        while (pos < b.size() && at(b, pos) == 0xFF) ++pos;
        if (pos >= b.size()) return truncated();
        const std::uint8_t marker = at(b, pos++);
        if (marker == 0xD9) return done(pos);                            // EOI
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue; // no length
        if (marker == 0xD8 || marker == 0x00) return malformed();
        if (pos + 2 > b.size()) return truncated();
        const std::size_t length = be16(b, pos);
        if (length < 2) return malformed();
        if (pos + length > b.size()) return truncated();
        pos += length;
        if (marker == 0xDA) { // SOS: the scan's data follows its header
            pos = skip_entropy_coded(b, pos);
            if (pos >= b.size()) return truncated();
        }
    }
}

image_extent png_end(std::string_view b) {
    static constexpr std::string_view signature{"\x89PNG\r\n\x1a\n", 8};
    if (b.substr(0, 8) != signature) return b.size() < 8 ? truncated() : malformed();
    std::size_t pos = 8;
    for (;;) {
        if (pos + 8 > b.size()) return truncated();
        const std::uint64_t length = be32(b, pos);
        if (length > 0x7FFFFFFFu) return malformed();
        const std::string_view type = b.substr(pos + 4, 4);
        if (pos + 12 + length > b.size()) return truncated();
        pos += 12 + length; // length, type, data, CRC
        if (type == "IEND") return done(pos);
    }
}

/// GIF data sub-blocks: a size byte, that many bytes, until a zero size.
bool skip_sub_blocks(std::string_view b, std::size_t& pos) {
    for (;;) {
        if (pos >= b.size()) return false;
        const std::size_t size = at(b, pos++);
        if (size == 0) return true;
        pos += size;
    }
}

std::size_t colour_table_size(std::uint8_t flags) {
    return (flags & 0x80) ? 3u * (2u << (flags & 7)) : 0;
}

image_extent gif_end(std::string_view b) {
    if (b.size() < 13) return truncated();
    if (b.substr(0, 6) != "GIF87a" && b.substr(0, 6) != "GIF89a") return malformed();
    std::size_t pos = 13 + colour_table_size(at(b, 10));
    for (;;) {
        if (pos >= b.size()) return truncated();
        const std::uint8_t block = at(b, pos++);
        if (block == 0x3B) return done(pos); // trailer
        if (block == 0x21) {                 // extension: label, sub-blocks
            ++pos;
        } else if (block == 0x2C) { // image descriptor, local colour table, LZW code size
            if (pos + 9 > b.size()) return truncated();
            pos += 9 + colour_table_size(at(b, pos + 8)) + 1;
        } else {
            return malformed();
        }
        if (!skip_sub_blocks(b, pos)) return truncated();
    }
}

/// Which bitstreams a WebP's chunks hold (an animation's frames too).
void webp_bitstreams(std::string_view b, std::size_t pos, std::size_t end, bool& lossless, bool& lossy) {
    while (pos + 8 <= end) {
        const std::string_view fourcc = b.substr(pos, 4);
        const std::uint64_t size = le32(b, pos + 4);
        if (fourcc == "VP8L") lossless = true;
        if (fourcc == "VP8 ") lossy = true;
        if (fourcc == "ANMF" && size >= 16) webp_bitstreams(b, pos + 8 + 16, std::min<std::uint64_t>(end, pos + 8 + size), lossless, lossy);
        pos += 8 + size + (size & 1);
    }
}

image_extent webp_end(std::string_view b) {
    if (b.size() < 16) return truncated();
    if (b.substr(0, 4) != "RIFF" || b.substr(8, 4) != "WEBP") return malformed();
    const std::uint64_t end = 8 + std::uint64_t{le32(b, 4)};
    if (end > b.size()) return truncated();
    bool lossless = false, lossy = false;
    webp_bitstreams(b, 12, static_cast<std::size_t>(end), lossless, lossy);
    return {status::complete, static_cast<std::size_t>(end), lossless && !lossy};
}

bool iequals_at(std::string_view hay, std::size_t pos, std::string_view lower_needle) {
    if (pos + lower_needle.size() > hay.size()) return false;
    for (std::size_t i = 0; i < lower_needle.size(); ++i) {
        char c = hay[pos + i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != lower_needle[i]) return false;
    }
    return true;
}

/// A local file header whose version and name length are what zip tools
/// write, and whose name fits in the bytes: four bytes "PK\3\4" alone turn
/// up in a few megabytes of compressed pixels by chance.
bool plausible_zip_header(std::string_view b, std::size_t pos) {
    if (pos + 30 > b.size()) return false;
    const std::uint32_t version = le16(b, pos + 4), name_length = le16(b, pos + 26);
    return version <= 63 && name_length >= 1 && name_length <= 1024 && pos + 30 + name_length <= b.size();
}

} // namespace

image_extent find_image_end(std::string_view mime, std::string_view bytes) {
    if (mime == "image/jpeg") return jpeg_end(bytes);
    if (mime == "image/png") return png_end(bytes);
    if (mime == "image/gif") return gif_end(bytes);
    if (mime == "image/webp") return webp_end(bytes);
    return malformed();
}

namespace {
bool samsung_trailer(std::string_view t) {
    if (t.size() < 12 || t.substr(t.size() - 4) != "SEFT") return false;
    const std::uint64_t directory = le32(t, t.size() - 8);
    return directory + 8 <= t.size() && t.substr(t.size() - 8 - directory, 4) == "SEFH";
}
} // namespace

bool trailing_is_tolerated(std::string_view mime, std::string_view trailing) {
    if (mime == "image/jpeg" && samsung_trailer(trailing)) return true;
    return trailing.size() <= max_padding &&
           std::all_of(trailing.begin(), trailing.end(),
                       [](char c) { return c == '\0' || static_cast<std::uint8_t>(c) == 0xFF; });
}

namespace {
/// `name` at `pos` as markup is written: the name ends as a tag's name ends
/// (whitespace, '/' or '>'; PHP's opening tag, whitespace) and the tag is
/// text up to its '>'. The name alone is not enough: compressed pixels
/// hold "<svg" in some case by chance in about one 5 MB photo in a hundred
/// (unit_media_test refused its own noise photo so, 2026-12-03), followed by
/// a delimiter and text up to a '>' in about one in a million.
bool markup_at(std::string_view bytes, std::size_t pos, std::string_view name) {
    if (!iequals_at(bytes, pos, name)) return false;
    constexpr std::size_t longest_tag = 4096;
    const auto text = [](char c) { return (c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\n' || c == '\r'; };
    std::size_t i = pos + name.size();
    if (i >= bytes.size()) return false;
    const char after = bytes[i];
    if (!(after == ' ' || after == '\t' || after == '\n' || after == '\r' || after == '/' || after == '>')) return false;
    for (; i < bytes.size() && i < pos + longest_tag; ++i) {
        if (bytes[i] == '>') return true;
        if (!text(bytes[i])) return false;
    }
    return false;
}
} // namespace

std::string_view foreign_marker(std::string_view bytes) {
    static constexpr std::array<std::string_view, 7> markup{"<script", "<html", "<body", "<iframe",
                                                            "<?php",   "<svg",  "<!doctype html"};
    for (std::size_t pos = bytes.find('<'); pos != std::string_view::npos; pos = bytes.find('<', pos + 1))
        for (std::string_view m : markup)
            if (markup_at(bytes, pos, m)) return m;
    if (bytes.find("%PDF-") != std::string_view::npos) return "a PDF document";
    static constexpr std::string_view zip{"PK\x03\x04", 4};
    for (std::size_t pos = bytes.find(zip); pos != std::string_view::npos; pos = bytes.find(zip, pos + 1))
        if (plausible_zip_header(bytes, pos)) return "a ZIP archive";
    return {};
}

} // namespace mqchat::media::detail
