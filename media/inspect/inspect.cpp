// inspect(): the order of the checks, cheapest and surest first — size,
// the sniffed type against the policy and the uploader's claims, then per
// kind: markup for active content, raster images for structure, foreign
// markers, pixel budget and a full decode. Each concern lives in its own
// file (sniff, markup, structure, image); this one only sequences them.

#include "media/inspect/inspect.hpp"

#include "media/inspect/image.hpp"
#include "media/inspect/markup.hpp"
#include "media/inspect/sniff.hpp"
#include "media/inspect/structure.hpp"

#include <vips/vips.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>

namespace mqchat::media {
namespace {

std::atomic<bool> initialised{false};

inspection refuse(inspection r, std::string_view code, std::string message) {
    r.refusal = code;
    r.message = std::move(message);
    return r;
}

std::string read_all(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("media inspect: cannot read " + file.string());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const std::filesystem::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("media inspect: cannot write " + file.string());
}

std::string_view extension_for(std::string_view mime) {
    if (mime == "image/jpeg") return ".jpg";
    if (mime == "image/png") return ".png";
    if (mime == "image/gif") return ".gif";
    return ".webp";
}

/// Anything that is not a raster image is stored as it came.
inspection as_file(inspection r, const std::filesystem::path& upload) {
    r.stored = upload;
    r.stored_mime = r.mime;
    return r;
}

inspection inspect_markup(inspection r, std::string_view bytes, const std::filesystem::path& upload) {
    // An SVG is drawn as a picture, so anything it fetches is a reference
    // out of the conversation; an HTML document may link to the web.
    const std::string_view why = detail::active_content(bytes, r.mime == "image/svg+xml");
    if (!why.empty()) return refuse(std::move(r), refusal::active_content, "the file holds " + std::string(why));
    return as_file(std::move(r), upload);
}

inspection inspect_image(inspection r, std::string_view bytes, const inspect_policy& policy,
                         const std::filesystem::path& workdir) {
    using status = detail::image_extent::status;
    const detail::image_extent extent = detail::find_image_end(r.mime, bytes);
    if (extent.outcome == status::truncated) return refuse(std::move(r), refusal::truncated, "the image's data ends early");
    if (extent.outcome == status::malformed)
        return refuse(std::move(r), refusal::undecodable, "the image's structure is broken");
    // Another file hidden behind the image, or inside it, is what a
    // polyglot is; re-encoding would drop it, but such an upload is not an
    // accident and is refused whole.
    if (!detail::trailing_is_padding(bytes.substr(extent.end)))
        return refuse(std::move(r), refusal::polyglot,
                      std::to_string(bytes.size() - extent.end) + " bytes follow the end of the image");
    if (const std::string_view marker = detail::foreign_marker(bytes); !marker.empty())
        return refuse(std::move(r), refusal::polyglot, "the image also holds " + std::string(marker));

    detail::image_output out = detail::process_image(r.mime, bytes, extent.lossless, policy);
    if (!out.refusal.empty()) return refuse(std::move(r), out.refusal, std::move(out.message));
    r.width = out.width;
    r.height = out.height;
    r.stored = workdir / ("stored" + std::string(extension_for(r.mime)));
    r.stored_mime = r.mime;
    write_all(r.stored, out.stored);
    r.thumb = workdir / ("thumb" + std::string(extension_for(out.thumb_mime)));
    r.thumb_mime = out.thumb_mime;
    write_all(r.thumb, out.thumb);
    return r;
}

} // namespace

void init_inspection(int threads) {
    static std::once_flag once;
    static std::string failure;
    std::call_once(once, [] {
        if (VIPS_INIT("mqchat-media") != 0) failure = vips_error_buffer();
    });
    if (!failure.empty()) throw std::runtime_error("libvips does not start: " + failure);
    // Only the loaders libvips calls trusted (fuzzed, for hostile input);
    // ImageMagick, PDF, SVG and the like stay out even if someone asks.
    vips_block_untrusted_set(TRUE);
    // Every upload is new: a cache would only hold memory and descriptors.
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    // The service's workers are the parallelism; each operation stays small.
    vips_concurrency_set(threads < 1 ? 1 : threads);
    initialised = true;
}

inspection inspect(const std::filesystem::path& upload, std::string_view declared_name,
                   std::string_view declared_type, const inspect_policy& policy,
                   const std::filesystem::path& workdir) {
    if (!initialised) throw std::logic_error("media inspect: init_inspection() was not called");
    inspection r;
    const std::uintmax_t size = std::filesystem::file_size(upload);
    if (size == 0) return refuse(std::move(r), refusal::empty, "the file is empty");
    if (size > policy.max_bytes)
        return refuse(std::move(r), refusal::too_large,
                      "the file has " + std::to_string(size) + " bytes; at most " +
                          std::to_string(policy.max_bytes) + " are accepted");
    const std::string bytes = read_all(upload);

    // The bytes say what the file is; the name and the declared type only
    // have to agree with them.
    r.mime = detail::sniff_mime(bytes);
    if (!detail::type_allowed(r.mime, policy.allowed_types))
        return refuse(std::move(r), refusal::type_not_allowed, r.mime + " files are not accepted here");
    if (!detail::declared_type_fits(r.mime, declared_type))
        return refuse(std::move(r), refusal::type_mismatch,
                      "declared as " + std::string(declared_type) + " but the file is " + r.mime);
    if (!detail::name_fits(r.mime, declared_name))
        return refuse(std::move(r), refusal::type_mismatch,
                      "the name " + std::string(declared_name) + " does not fit a file of type " + r.mime);

    if (detail::is_markup(r.mime)) return inspect_markup(std::move(r), bytes, upload);
    if (detail::is_raster(r.mime)) return inspect_image(std::move(r), bytes, policy, workdir);
    return as_file(std::move(r), upload);
}

bool safe_inline_image(std::string_view mime) { return detail::is_raster(mime); }

} // namespace mqchat::media
