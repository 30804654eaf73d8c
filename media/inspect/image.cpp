#include "media/inspect/image.hpp"

#include <vips/vips8>

#include <memory>
#include <stdexcept>

namespace mqchat::media::detail {
namespace {

using vips::VImage;

/// A VipsBlob over bytes we own (no copy; they outlive every image made
/// from it), or over bytes libvips gave us.
struct blob_unref {
    void operator()(VipsBlob* b) const { vips_area_unref(VIPS_AREA(b)); }
};
using blob_ptr = std::unique_ptr<VipsBlob, blob_unref>;

blob_ptr borrow(std::string_view bytes) { return blob_ptr(vips_blob_new(nullptr, bytes.data(), bytes.size())); }

std::string take(VipsBlob* raw) {
    const blob_ptr b(raw);
    std::size_t length = 0;
    const void* data = vips_blob_get(b.get(), &length);
    return std::string(static_cast<const char*>(data), length);
}

bool animated_type(std::string_view mime) { return mime == "image/gif" || mime == "image/webp"; }

/// Only the loader of the sniffed type runs (never libvips' guess), and it
/// fails on a decoding error instead of filling in grey. Reads the header
/// only; pixels are decoded when something asks for them. Every frame of
/// an animation, stacked (page-height).
VImage load(std::string_view mime, VipsBlob* blob) {
    auto* opts = VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR);
    if (animated_type(mime)) opts->set("n", -1);
    if (mime == "image/jpeg") return VImage::jpegload_buffer(blob, opts);
    if (mime == "image/png") return VImage::pngload_buffer(blob, opts);
    if (mime == "image/gif") return VImage::gifload_buffer(blob, opts);
    if (mime == "image/webp") return VImage::webpload_buffer(blob, opts);
    delete opts;
    throw std::logic_error("process_image: not a raster type");
}

/// Colours as the camera meant them once the profile is stripped.
VImage to_srgb(const VImage& in) {
    if (in.get_typeof(VIPS_META_ICC_NAME) == 0) return in;
    return in.icc_transform("srgb", VImage::option()->set("embedded", true));
}

/// The same type, no metadata (EXIF, XMP, IPTC, ICC: strip), which is what
/// drops a photo's location. Decoding happens here: a bad image throws.
std::string encode(std::string_view mime, const VImage& img, bool lossless, const inspect_policy& policy) {
    if (mime == "image/jpeg")
        return take(img.jpegsave_buffer(VImage::option()
                                            ->set("strip", true)
                                            ->set("Q", policy.jpeg_quality)
                                            ->set("optimize_coding", true)));
    if (mime == "image/png") return take(img.pngsave_buffer(VImage::option()->set("strip", true)));
    if (mime == "image/webp")
        return take(img.webpsave_buffer(
            VImage::option()->set("strip", true)->set("Q", policy.jpeg_quality)->set("lossless", lossless)));
    // GIF: Debian's libvips 8.14 has gifsave (cgif); an animation stays one.
    return take(img.gifsave_buffer(VImage::option()->set("strip", true)));
}

/// Decoded, upright, re-encoded. A broken colour profile is no reason to
/// refuse a photo: without the transform it is stored as it is.
std::string reencode(std::string_view mime, const VImage& loaded, bool lossless, const inspect_policy& policy) {
    // autorot applies EXIF orientation and removes the tag: the photo stays
    // upright after its metadata is gone.
    const VImage upright = mime == "image/jpeg" ? loaded.autorot() : loaded;
    if (mime != "image/gif" && upright.get_typeof(VIPS_META_ICC_NAME) != 0) {
        try {
            return encode(mime, to_srgb(upright), lossless, policy);
        } catch (const vips::VError&) {
            vips_error_clear();
        }
    }
    return encode(mime, upright, lossless, policy);
}

/// From the stored image (clean, upright; an animation's first frame),
/// shrunk to fit a square of thumb_max_side, never enlarged.
void thumbnail(const std::string& stored, const inspect_policy& policy, image_output& out) {
    const blob_ptr blob = borrow(stored);
    const VImage thumb = VImage::thumbnail_buffer(
        blob.get(), policy.thumb_max_side,
        VImage::option()->set("height", policy.thumb_max_side)->set("size", VIPS_SIZE_DOWN));
    // JPEG is smallest for photos; JPEG has no alpha, WebP does and every
    // browser the widget supports shows it.
    if (thumb.has_alpha()) {
        out.thumb = take(thumb.webpsave_buffer(VImage::option()->set("strip", true)->set("Q", 80)));
        out.thumb_mime = "image/webp";
    } else {
        out.thumb = take(thumb.jpegsave_buffer(VImage::option()->set("strip", true)->set("Q", 80)));
        out.thumb_mime = "image/jpeg";
    }
}

image_output refuse(std::string_view code, std::string message) {
    image_output out;
    out.refusal = code;
    out.message = std::move(message);
    return out;
}

bool says_truncated(const std::string& error) {
    return error.find("truncated") != std::string::npos || error.find("premature end") != std::string::npos ||
           error.find("Premature end") != std::string::npos;
}

} // namespace

image_output process_image(std::string_view mime, std::string_view bytes, bool lossless,
                           const inspect_policy& policy) {
    const blob_ptr blob = borrow(bytes);
    image_output out;
    try {
        const VImage loaded = load(mime, blob.get());
        // Width × height (× frames) from the header, before a pixel is
        // decoded: a decompression bomb is a few KB that would be gigabytes.
        const std::uint64_t pixels = std::uint64_t(loaded.width()) * std::uint64_t(loaded.height());
        if (pixels > policy.max_pixels)
            return refuse(refusal::too_many_pixels,
                          "the image has " + std::to_string(pixels) + " pixels; at most " +
                              std::to_string(policy.max_pixels) + " are accepted");
        out.stored = reencode(mime, loaded, lossless, policy);
    } catch (const vips::VError& e) {
        const std::string why = e.what();
        vips_error_clear();
        if (says_truncated(why)) return refuse(refusal::truncated, "the image's data ends early");
        return refuse(refusal::undecodable, "the image could not be decoded");
    }
    try {
        const VImage clean = VImage::new_from_buffer(out.stored.data(), out.stored.size(), "");
        out.width = clean.width();
        out.height = vips_image_get_page_height(clean.get_image());
        thumbnail(out.stored, policy, out);
    } catch (const vips::VError& e) {
        // Our own output that does not load again is our bug, not the upload's.
        vips_error_clear();
        throw std::runtime_error(std::string("media inspect: cannot thumbnail a re-encoded image: ") + e.what());
    }
    return out;
}

} // namespace mqchat::media::detail
