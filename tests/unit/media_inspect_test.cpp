// The media service's file inspection (media/inspect): real files of each
// kind, made here at run time with libvips or written byte by byte, and
// every refusal. clamd_scan against a fake clamd this test runs itself.

#include <cppunit/extensions/HelperMacros.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vips/vips8>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <thread>

#include "media/inspect/inspect.hpp"
#include "media/inspect/markup.hpp"
#include "media/inspect/sniff.hpp"
#include "media/inspect/structure.hpp"
#include "support/environment.hpp"

using namespace mqchat;
using namespace mqchat::media;
using vips::VImage;

namespace {

// --- fixtures: files of each kind ------------------------------------------

std::string take(VipsBlob* blob) {
    std::size_t length = 0;
    const void* data = vips_blob_get(blob, &length);
    std::string out(static_cast<const char*>(data), length);
    vips_area_unref(VIPS_AREA(blob));
    return out;
}

/// A picture with detail (noise over a gradient), so it compresses like a
/// photo and half of it is really half. `bands` 4: half transparent.
VImage picture(int width, int height, int bands = 3, double noise = 30) {
    const auto band = [&](double ramp) {
        return (VImage::gaussnoise(width, height, VImage::option()->set("sigma", noise)) +
                VImage::xyz(width, height)[0] * (ramp / width))
            .cast(VIPS_FORMAT_UCHAR);
    };
    VImage img = band(200).bandjoin(band(100)).bandjoin(band(50));
    if (bands == 4) img = img.bandjoin((VImage::black(width, height) + 128).cast(VIPS_FORMAT_UCHAR));
    return img.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

/// A JPEG as a phone writes it: EXIF with the camera, where it was taken
/// (GPS) and how to turn it (orientation 6: rotate 90° clockwise).
/// `tiles`: the picture repeated tiles × tiles times — as costly to compress
/// as one that size, much cheaper to make.
std::string photo_with_gps(int width, int height, int quality = 90, double noise = 30, int tiles = 1) {
    VImage img = picture(width / tiles, height / tiles, 3, noise).replicate(tiles, tiles).copy();
    img.set("orientation", 6);
    img.set("exif-ifd0-Make", "Acme Phone");
    img.set("exif-ifd3-GPSLatitudeRef", "N");
    img.set("exif-ifd3-GPSLatitude", "48/1 51/1 29/1");
    img.set("exif-ifd3-GPSLongitudeRef", "E");
    img.set("exif-ifd3-GPSLongitude", "2/1 17/1 40/1");
    return take(img.jpegsave_buffer(VImage::option()->set("Q", quality)));
}

std::string jpeg(int width, int height) { return take(picture(width, height).jpegsave_buffer()); }
std::string png(int width, int height, int bands = 3) { return take(picture(width, height, bands).pngsave_buffer()); }
std::string webp(int width, int height) { return take(picture(width, height).webpsave_buffer()); }

/// Two frames of 60×40, stacked as libvips holds animations.
std::string animated_gif() {
    VImage frames = picture(60, 80).copy();
    frames.set("page-height", 40);
    frames.set("delay", std::vector<int>{100, 100});
    frames.set("loop", 0);
    return take(frames.gifsave_buffer());
}

/// 20000 × 20000 of one colour, one bit per pixel: 400 million pixels in
/// a file of a few tens of KB — a decompression bomb.
std::string png_bomb() {
    return take((VImage::black(20000, 20000) > 0)
                    .pngsave_buffer(VImage::option()->set("bitdepth", 1)->set("compression", 9)));
}

std::string pdf() {
    return "%PDF-1.4\n"
           "1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
           "2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n"
           "3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 200 200]>> endobj\n"
           "trailer <</Root 1 0 R>>\n%%EOF\n";
}

std::uint32_t crc32(std::string_view data) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/// A PNG chunk: length, type, data, CRC of type and data.
std::string png_chunk(const std::string& type, const std::string& data) {
    std::string out;
    const auto be = [&](std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
    };
    be(static_cast<std::uint32_t>(data.size()));
    out += type + data;
    be(crc32(type + data));
    return out;
}

void le(std::string& out, std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

/// A ZIP of one stored (uncompressed) file: local header, data, central
/// directory, end record.
std::string zip(const std::string& name, const std::string& data) {
    const std::uint32_t crc = crc32(data), size = static_cast<std::uint32_t>(data.size());
    const auto name_length = static_cast<std::uint32_t>(name.size());
    std::string z = std::string("PK\x03\x04", 4);
    le(z, 20, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2);
    le(z, crc, 4), le(z, size, 4), le(z, size, 4), le(z, name_length, 2), le(z, 0, 2);
    z += name + data;
    const auto central = static_cast<std::uint32_t>(z.size());
    z += std::string("PK\x01\x02", 4);
    le(z, 20, 2), le(z, 20, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2);
    le(z, crc, 4), le(z, size, 4), le(z, size, 4), le(z, name_length, 2);
    le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 4), le(z, 0, 4);
    z += name;
    const auto central_size = static_cast<std::uint32_t>(z.size()) - central;
    z += std::string("PK\x05\x06", 4);
    le(z, 0, 2), le(z, 0, 2), le(z, 1, 2), le(z, 1, 2), le(z, central_size, 4), le(z, central, 4), le(z, 0, 2);
    return z;
}

const std::string clean_svg =
    "<?xml version=\"1.0\"?>\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"20\" height=\"20\">\n"
    "  <defs><linearGradient id=\"g\"><stop offset=\"0\" stop-color=\"red\"/></linearGradient></defs>\n"
    "  <rect id=\"r\" width=\"20\" height=\"20\" fill=\"url(#g)\"/>\n"
    "  <use xlink:href=\"#r\"/>\n"
    "</svg>\n";

std::string svg_with(const std::string& inside) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">" + inside +
           "</svg>\n";
}

// --- looking into outputs ---------------------------------------------------

std::vector<std::string> fields(const VImage& img) {
    std::vector<std::string> out;
    char** names = vips_image_get_fields(img.get_image());
    for (char** n = names; *n; ++n) out.emplace_back(*n);
    g_strfreev(names);
    return out;
}

bool has_field_containing(const VImage& img, const std::string& part) {
    for (const std::string& f : fields(img))
        if (f.find(part) != std::string::npos) return true;
    return false;
}

void write(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

const std::string eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

} // namespace

class media_inspect_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(media_inspect_test);
    CPPUNIT_TEST(photo_is_upright_and_loses_its_location);
    CPPUNIT_TEST(png_with_alpha_gets_a_webp_thumbnail);
    CPPUNIT_TEST(animated_gif_stays_animated);
    CPPUNIT_TEST(webp_is_reencoded);
    CPPUNIT_TEST(progressive_jpeg_and_lossless_webp);
    CPPUNIT_TEST(files_are_stored_as_they_came);
    CPPUNIT_TEST(empty_and_too_large);
    CPPUNIT_TEST(type_must_be_allowed);
    CPPUNIT_TEST(declared_type_and_name_must_fit);
    CPPUNIT_TEST(decompression_bomb_is_refused_from_its_header);
    CPPUNIT_TEST(truncated_images);
    CPPUNIT_TEST(undecodable_image);
    CPPUNIT_TEST(polyglots);
    CPPUNIT_TEST(svg_and_html);
    CPPUNIT_TEST(type_table);
    CPPUNIT_TEST(timing_of_a_5mb_photo);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        init_inspection(1);
        dir_ = std::make_unique<test::temp_dir>("inspect-test");
        policy_ = inspect_policy{};
        policy_.allowed_types = {"image/*", "application/pdf", "text/plain", "application/zip"};
        policy_.thumb_max_side = 320;
    }
    void tearDown() override {
        std::filesystem::remove_all(dir_->path());
        dir_.reset();
    }

    void photo_is_upright_and_loses_its_location() {
        const std::string photo = photo_with_gps(800, 400);
        // The fixture really carries a location and an orientation.
        const VImage original = VImage::new_from_buffer(photo, "");
        CPPUNIT_ASSERT(has_field_containing(original, "GPSLatitude"));
        CPPUNIT_ASSERT_EQUAL(6, original.get_int("orientation"));

        const inspection r = run(photo, "IMG_0001.JPG", "image/jpg");
        CPPUNIT_ASSERT_MESSAGE(r.refusal + ": " + r.message, r.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), r.mime);
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), r.stored_mime);
        // Turned upright: 800×400 with orientation 6 is 400 wide, 800 high.
        CPPUNIT_ASSERT_EQUAL(400, r.width);
        CPPUNIT_ASSERT_EQUAL(800, r.height);
        CPPUNIT_ASSERT(r.stored.parent_path() == dir_->path());

        const std::string stored = test::read_file(r.stored.string());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), detail::sniff_mime(stored));
        const VImage clean = VImage::new_from_buffer(stored, "");
        CPPUNIT_ASSERT_EQUAL(400, clean.width());
        CPPUNIT_ASSERT_EQUAL(800, clean.height());
        CPPUNIT_ASSERT(!has_field_containing(clean, "GPS"));
        CPPUNIT_ASSERT(!has_field_containing(clean, "exif"));
        CPPUNIT_ASSERT_EQUAL(0UL, static_cast<unsigned long>(clean.get_typeof("orientation")));
        // No EXIF APP1 segment at all, nor the camera's name.
        CPPUNIT_ASSERT(stored.find(std::string("Exif\0\0", 6)) == std::string::npos);
        CPPUNIT_ASSERT(stored.find("Acme") == std::string::npos);

        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), r.thumb_mime);
        const VImage thumb = VImage::new_from_file(r.thumb.c_str());
        CPPUNIT_ASSERT_EQUAL(320, thumb.height()); // the longer side, upright
        CPPUNIT_ASSERT_EQUAL(160, thumb.width());
        CPPUNIT_ASSERT(!has_field_containing(thumb, "exif"));
    }

    void png_with_alpha_gets_a_webp_thumbnail() {
        const inspection r = run(png(640, 200, 4), "logo.png", "image/png");
        CPPUNIT_ASSERT_MESSAGE(r.message, r.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/png"), r.stored_mime);
        CPPUNIT_ASSERT_EQUAL(640, r.width);
        CPPUNIT_ASSERT_EQUAL(200, r.height);
        const VImage stored = VImage::new_from_file(r.stored.c_str());
        CPPUNIT_ASSERT(stored.has_alpha());
        CPPUNIT_ASSERT_EQUAL(std::string("image/webp"), r.thumb_mime);
        const VImage thumb = VImage::new_from_file(r.thumb.c_str());
        CPPUNIT_ASSERT(thumb.has_alpha());
        CPPUNIT_ASSERT_EQUAL(320, thumb.width());
        CPPUNIT_ASSERT_EQUAL(100, thumb.height());

        // A small image keeps its size: the thumbnail is never enlarged.
        const inspection small = run(png(100, 50), "small.png", "image/png");
        CPPUNIT_ASSERT(small.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), small.thumb_mime);
        CPPUNIT_ASSERT_EQUAL(100, VImage::new_from_file(small.thumb.c_str()).width());
    }

    void animated_gif_stays_animated() {
        const inspection r = run(animated_gif(), "party.gif", "image/gif");
        CPPUNIT_ASSERT_MESSAGE(r.message, r.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/gif"), r.stored_mime);
        CPPUNIT_ASSERT_EQUAL(60, r.width);
        CPPUNIT_ASSERT_EQUAL(40, r.height); // a frame
        const VImage stored = VImage::new_from_file(r.stored.c_str(), VImage::option()->set("n", -1));
        CPPUNIT_ASSERT_EQUAL(2, stored.get_int("n-pages"));
        CPPUNIT_ASSERT_EQUAL(80, stored.height());
        const VImage thumb = VImage::new_from_file(r.thumb.c_str());
        CPPUNIT_ASSERT_EQUAL(40, thumb.height()); // the first frame, not the strip
    }

    void progressive_jpeg_and_lossless_webp() {
        // Several scans, each with its own entropy-coded data, before EOI.
        const std::string progressive =
            take(picture(300, 200).jpegsave_buffer(VImage::option()->set("interlace", true)));
        const inspection p = run(progressive, "p.jpg", "image/jpeg");
        CPPUNIT_ASSERT_MESSAGE(p.message, p.ok());
        CPPUNIT_ASSERT_EQUAL(300, p.width);
        // A lossless WebP stays lossless (VP8L).
        const std::string lossless = take(picture(64, 64).webpsave_buffer(VImage::option()->set("lossless", true)));
        const inspection w = run(lossless, "l.webp", "image/webp");
        CPPUNIT_ASSERT_MESSAGE(w.message, w.ok());
        CPPUNIT_ASSERT(detail::find_image_end("image/webp", lossless).lossless);
        CPPUNIT_ASSERT(test::read_file(w.stored.string()).find("VP8L") != std::string::npos);
        CPPUNIT_ASSERT(!detail::find_image_end("image/webp", webp(64, 64)).lossless);
    }

    void webp_is_reencoded() {
        const inspection r = run(webp(1000, 500), "x.webp", "image/webp");
        CPPUNIT_ASSERT_MESSAGE(r.message, r.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/webp"), r.stored_mime);
        CPPUNIT_ASSERT_EQUAL(std::string("image/webp"), detail::sniff_mime(test::read_file(r.stored.string())));
        CPPUNIT_ASSERT_EQUAL(1000, r.width);
        const VImage thumb = VImage::new_from_file(r.thumb.c_str());
        CPPUNIT_ASSERT(std::max(thumb.width(), thumb.height()) <= 320);
    }

    void files_are_stored_as_they_came() {
        const struct {
            std::string bytes, name, declared, mime;
        } files[] = {
            {pdf(), "invoice.pdf", "application/pdf", "application/pdf"},
            {"hello, world\nsecond line\n", "notes.txt", "text/plain; charset=utf-8", "text/plain"},
            {zip("a.txt", "some text inside"), "bundle.zip", "application/zip", "application/zip"},
            // A .docx that libmagic sees only as a ZIP is the ZIP it is.
            {zip("a.txt", "text"), "report.docx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"},
            // One it recognises is what it is (and must be allowed as such).
            {zip("word/document.xml", "<w:document/>"), "report.docx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
            // Browsers send octet-stream for what they do not know: no claim.
            {pdf(), "scan", "application/octet-stream", "application/pdf"},
        };
        policy_.allowed_types.push_back("application/vnd.openxmlformats-officedocument.wordprocessingml.document");
        for (const auto& f : files) {
            const std::string upload = dir_->file("upload-" + f.name);
            write(upload, f.bytes);
            const inspection r = inspect(upload, f.name, f.declared, policy_, dir_->path());
            CPPUNIT_ASSERT_MESSAGE(f.name + ": " + r.refusal + " " + r.message, r.ok());
            CPPUNIT_ASSERT_EQUAL(f.mime, r.mime);
            CPPUNIT_ASSERT_EQUAL(f.mime, r.stored_mime);
            CPPUNIT_ASSERT(r.stored == upload);
            CPPUNIT_ASSERT(r.thumb.empty());
            CPPUNIT_ASSERT_EQUAL(0, r.width);
        }
        CPPUNIT_ASSERT(safe_inline_image("image/png"));
        CPPUNIT_ASSERT(!safe_inline_image("image/svg+xml"));
        CPPUNIT_ASSERT(!safe_inline_image("application/pdf"));
    }

    void empty_and_too_large() {
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::empty), run("", "a.txt", "text/plain").refusal);
        policy_.max_bytes = 100;
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::too_large), run(std::string(101, 'a'), "a.txt", "text/plain").refusal);
        CPPUNIT_ASSERT(run(std::string(100, 'a'), "a.txt", "text/plain").ok());
    }

    void type_must_be_allowed() {
        policy_.allowed_types = {"image/*"};
        const inspection r = run(pdf(), "a.pdf", "application/pdf");
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::type_not_allowed), r.refusal);
        CPPUNIT_ASSERT_EQUAL(std::string("application/pdf"), r.mime);
        // "image/*" is pictures; SVG must be named to be allowed.
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::type_not_allowed), run(clean_svg, "a.svg", "image/svg+xml").refusal);
        policy_.allowed_types = {"IMAGE/JPG"}; // an alias, in capitals
        CPPUNIT_ASSERT(run(jpeg(50, 50), "a.jpg", "image/jpeg").ok());
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::type_not_allowed), run(png(50, 50), "a.png", "image/png").refusal);
    }

    void declared_type_and_name_must_fit() {
        const std::string mismatch(refusal::type_mismatch);
        CPPUNIT_ASSERT_EQUAL(mismatch, run(pdf(), "a.pdf", "image/png").refusal);
        CPPUNIT_ASSERT_EQUAL(mismatch, run(pdf(), "holiday.jpg", "application/pdf").refusal);
        CPPUNIT_ASSERT_EQUAL(mismatch, run(png(40, 40), "a.jpeg", "image/png").refusal);
        CPPUNIT_ASSERT_EQUAL(mismatch, run(jpeg(40, 40), "a.jpg", "image/png").refusal);
        CPPUNIT_ASSERT_EQUAL(mismatch, run("just text\n", "a.zip", "text/plain").refusal);
        // No extension, an unknown one, an alias, another case: fine.
        CPPUNIT_ASSERT(run(pdf(), "README", "application/pdf").ok());
        CPPUNIT_ASSERT(run(pdf(), "scan.2024", "application/x-pdf").ok());
        CPPUNIT_ASSERT(run(jpeg(40, 40), "PHOTO.JPEG", "image/pjpeg").ok());
    }

    void decompression_bomb_is_refused_from_its_header() {
        const std::string bomb = png_bomb();
        CPPUNIT_ASSERT_MESSAGE(std::to_string(bomb.size()), bomb.size() < 200 * 1024);
        const inspection r = run(bomb, "bomb.png", "image/png");
        // Refused from the header: nothing decoded, nothing written (no
        // timing asserted here: this machine is shared and noisy).
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::too_many_pixels), r.refusal);
        CPPUNIT_ASSERT(!std::filesystem::exists(dir_->file("stored.png")));

        // The budget counts every frame of an animation.
        policy_.max_pixels = 60 * 40 + 10;
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::too_many_pixels), run(animated_gif(), "a.gif", "image/gif").refusal);
    }

    void truncated_images() {
        const std::string j = jpeg(600, 400), p = png(600, 400);
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::truncated), run(j.substr(0, j.size() / 2), "a.jpg", "image/jpeg").refusal);
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::truncated), run(p.substr(0, p.size() / 2), "a.png", "image/png").refusal);
        // Only the last two bytes (EOI) missing is truncated too.
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::truncated), run(j.substr(0, j.size() - 2), "a.jpg", "image/jpeg").refusal);
        const std::string g = animated_gif();
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::truncated), run(g.substr(0, g.size() - 1), "a.gif", "image/gif").refusal);
    }

    void undecodable_image() {
        // The chunk structure is intact, the compressed pixels are not.
        std::string p = png(300, 200);
        const std::size_t idat = p.find("IDAT");
        CPPUNIT_ASSERT(idat != std::string::npos);
        for (std::size_t i = idat + 4; i < idat + 400; ++i) p[i] = 'x';
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::undecodable), run(p, "a.png", "image/png").refusal);
        // A JPEG whose frame header says it has no height.
        std::string j = jpeg(100, 100);
        const std::size_t sof = j.find("\xFF\xC0");
        CPPUNIT_ASSERT(sof != std::string::npos);
        j[sof + 5] = 0, j[sof + 6] = 0;
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::undecodable), run(j, "a.jpg", "image/jpeg").refusal);
    }

    void polyglots() {
        const std::string polyglot(refusal::polyglot);
        // A JPEG with a ZIP behind its end.
        const std::string j = jpeg(200, 200);
        CPPUNIT_ASSERT_EQUAL(polyglot, run(j + zip("evil.js", "alert(1)"), "a.jpg", "image/jpeg").refusal);
        // A GIF that is also JavaScript: its width is "/*", the script
        // follows the trailer ("*/=alert(1)").
        std::string g = take(picture(8, 8).gifsave_buffer());
        g[6] = '/', g[7] = '*';
        CPPUNIT_ASSERT_EQUAL(polyglot, run(g + "*/=alert(document.domain);", "a.gif", "image/gif").refusal);
        // Markup hidden inside: a GIF comment, a PNG text chunk.
        std::string commented = take(picture(8, 8).gifsave_buffer());
        const std::string comment = "<script>alert('gif')</script>";
        const auto flags = static_cast<unsigned char>(commented[10]); // global colour table?
        const std::size_t blocks = 13 + ((flags & 0x80) ? 3u * (2u << (flags & 7)) : 0u);
        commented.insert(blocks, "\x21\xFE" + std::string(1, static_cast<char>(comment.size())) + comment +
                                     std::string(1, '\0'));
        CPPUNIT_ASSERT_EQUAL(polyglot, run(commented, "a.gif", "image/gif").refusal);
        std::string php = png(20, 20);
        php.insert(php.size() - 12, png_chunk("tEXt", std::string("Comment\0<?php system($_GET['c']); ?>", 37)));
        CPPUNIT_ASSERT_EQUAL(polyglot, run(php, "a.png", "image/png").refusal); // before IEND
        // Data after a PNG's IEND.
        CPPUNIT_ASSERT_EQUAL(polyglot, run(png(20, 20) + "trailing payload", "a.png", "image/png").refusal);
        // A PDF hidden in a JPEG comment (readers look for %PDF- in the
        // first KB).
        std::string with_pdf = j;
        const std::string pdf_start = pdf().substr(0, 60);
        with_pdf.insert(2, std::string("\xFF\xFE\x00", 3) + static_cast<char>(pdf_start.size() + 2) + pdf_start);
        CPPUNIT_ASSERT_EQUAL(polyglot, run(with_pdf, "a.jpg", "image/jpeg").refusal);
        // A little padding, as some cameras leave, is not a second file;
        // nor is the trailer of Samsung's cameras (data, "SEFH" directory,
        // its length, "SEFT").
        CPPUNIT_ASSERT(run(j + std::string(64, '\0'), "a.jpg", "image/jpeg").ok());
        std::string seft = "\x00\x00\x01\x0AImage_UTC_Data1700000000000";
        const std::string directory = std::string("SEFH\x6A\x00\x00\x00\x01\x00\x00\x00", 12) + std::string(12, '\x01');
        seft += directory;
        le(seft, static_cast<std::uint32_t>(directory.size()), 4);
        seft += "SEFT";
        const inspection samsung = run(j + seft, "20240101_120000.jpg", "image/jpeg");
        CPPUNIT_ASSERT_MESSAGE(samsung.message, samsung.ok());
        CPPUNIT_ASSERT(test::read_file(samsung.stored.string()).find("SEF") == std::string::npos);
        // A fake one that is a ZIP is still a ZIP.
        CPPUNIT_ASSERT_EQUAL(polyglot, run(j + zip("x.js", "alert(1)") + directory + seft.substr(seft.size() - 8),
                                           "a.jpg", "image/jpeg").refusal);
    }

    void svg_and_html() {
        policy_.allowed_types = {"image/*", "image/svg+xml", "text/html"};
        const inspection clean = run(clean_svg, "drawing.svg", "image/svg+xml");
        CPPUNIT_ASSERT_MESSAGE(clean.message, clean.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("image/svg+xml"), clean.stored_mime);
        CPPUNIT_ASSERT(clean.stored == dir_->file("upload"));
        CPPUNIT_ASSERT(clean.thumb.empty());
        CPPUNIT_ASSERT_EQUAL(0, clean.width);
        CPPUNIT_ASSERT(!safe_inline_image(clean.stored_mime));

        const std::string active(refusal::active_content);
        const char* bad[] = {
            "<script>alert(1)</script>",
            "<rect width=\"5\" height=\"5\" onload=\"alert(1)\"/>",
            "<rect width='5' OnMouseOver = 'alert(1)'/>",
            "<a xlink:href=\"javascript:alert(1)\"><text>x</text></a>",
            "<a href=\"java&#x09;script:alert(1)\"><text>x</text></a>",
            "<foreignObject><div xmlns=\"http://www.w3.org/1999/xhtml\">x</div></foreignObject>",
            "<image href=\"https://tracker.example/pixel.png\" width=\"1\" height=\"1\"/>",
            "<use xlink:href=\"http://example.com/sprite.svg#a\"/>",
            "<image href=\"data:text/html;base64,PHNjcmlwdD4=\"/>",
            "<style>rect { fill: url(https://example.com/x) }</style>",
            "<set attributeName=\"href\" to=\"x\"/>",
            "<animate attributeName=\"fill\" values=\"red; Java Script:alert(1)\"/>",
            "<animate attributeName=\"fill\" values=\"red;&#106;ava&#X73;cript&colon;alert(1)\"/>",
        };
        for (const char* inside : bad)
            CPPUNIT_ASSERT_EQUAL_MESSAGE(inside, active, run(svg_with(inside), "a.svg", "image/svg+xml").refusal);
        // An inline raster picture inside an SVG is not a reference.
        CPPUNIT_ASSERT(run(svg_with("<image href=\"data:image/png;base64,iVBORw0KGgo=\"/>"), "a.svg",
                           "image/svg+xml").ok());

        const std::string page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>t</title></head><body>"
                                 "<p>See <a href=\"https://example.com/?a=1&b=2\">JavaScript: the good parts</a>.</p>"
                                 "</body></html>\n";
        const inspection html = run(page, "page.html", "text/html");
        CPPUNIT_ASSERT_MESSAGE(html.message, html.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("text/html"), html.stored_mime);
        CPPUNIT_ASSERT_EQUAL(active, run("<!DOCTYPE html>\n<html><body><script>x()</script></body></html>\n",
                                         "page.html", "text/html").refusal);
        CPPUNIT_ASSERT_EQUAL(active, run("<!DOCTYPE html>\n<html><body onload=\"x()\">hi</body></html>\n",
                                         "page.html", "text/html").refusal);
        // HTML is never allowed through "text/*", nor passed off as text.
        policy_.allowed_types = {"text/*"};
        CPPUNIT_ASSERT_EQUAL(std::string(refusal::type_not_allowed), run(page, "page.html", "text/html").refusal);
        CPPUNIT_ASSERT(!detail::declared_type_fits("text/html", "text/plain"));
    }

    void type_table() {
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), detail::normalize_mime(" Image/JPG ; q=1"));
        CPPUNIT_ASSERT(detail::name_fits("image/jpeg", "a.b.JPEG"));
        CPPUNIT_ASSERT(detail::name_fits("image/jpeg", ".hidden"));
        CPPUNIT_ASSERT(!detail::name_fits("image/jpeg", "dir.png/photo.pdf"));
        CPPUNIT_ASSERT(detail::name_fits("text/x-c", "main.txt"));
        CPPUNIT_ASSERT(detail::declared_type_fits("audio/mpeg", "audio/mp3"));
        // libmagic not knowing a format cannot back a claim of one it knows.
        CPPUNIT_ASSERT(!detail::declared_type_fits("application/octet-stream", "image/png"));
        CPPUNIT_ASSERT(detail::declared_type_fits("application/octet-stream", "application/x-sketch"));
        CPPUNIT_ASSERT(detail::type_allowed("video/mp4", {"*/*"}));
        CPPUNIT_ASSERT(!detail::type_allowed("image/svg+xml", {"*/*"}));
        // A ZIP header in compressed pixels by chance is not a ZIP.
        CPPUNIT_ASSERT(detail::foreign_marker(std::string("\x01PK\x03\x04\xF7\x93", 7) + std::string(40, '\xEE')).empty());
        CPPUNIT_ASSERT(!detail::foreign_marker(zip("a", "b")).empty());
        // Nor is "<svg" among compressed pixels (about one 5 MB photo in a
        // hundred holds it in some case): markup is a tag, its name ended,
        // text up to its '>'.
        const std::string pixels("\x93\x01\xC7\xFF\x10", 5);
        CPPUNIT_ASSERT(detail::foreign_marker(pixels + "<sVg" + pixels).empty());
        CPPUNIT_ASSERT(detail::foreign_marker(pixels + "<svg " + pixels + ">").empty());
        CPPUNIT_ASSERT(detail::foreign_marker(pixels + "<svgx onload=alert(1)>").empty()); // another tag
        CPPUNIT_ASSERT(detail::foreign_marker(pixels + "<svg onload=alert(1)" + pixels).empty());
        CPPUNIT_ASSERT_EQUAL(std::string("<svg"), std::string(detail::foreign_marker(pixels + "<SVG/onload=alert(1)>" + pixels)));
        CPPUNIT_ASSERT_EQUAL(std::string("<svg"), std::string(detail::foreign_marker(pixels + "<svg>" + pixels)));
        CPPUNIT_ASSERT_EQUAL(std::string("<script"),
                             std::string(detail::foreign_marker(pixels + "<script\n  src=x.js>" + pixels)));
        CPPUNIT_ASSERT_EQUAL(std::string("<?php"), std::string(detail::foreign_marker(pixels + "<?php\tsystem('id'); ?>")));
        CPPUNIT_ASSERT_EQUAL(std::string("<!doctype html"), std::string(detail::foreign_marker("<!DOCTYPE html>" + pixels)));
    }

    void timing_of_a_5mb_photo() {
        const std::string photo = photo_with_gps(4000, 3000, 85, 24, 10);
        policy_.max_pixels = 40'000'000;
        const auto started = std::chrono::steady_clock::now();
        const inspection r = run(photo, "big.jpg", "image/jpeg");
        const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - started;
        std::printf(" [%.1f MB 4000x3000 JPEG: inspect %.0f ms] ", static_cast<double>(photo.size()) / 1e6, took.count());
        CPPUNIT_ASSERT_MESSAGE(r.message, r.ok());
        CPPUNIT_ASSERT_EQUAL(3000, r.width);
        CPPUNIT_ASSERT_EQUAL(4000, r.height);
    }

private:
    inspection run(const std::string& bytes, const std::string& name, const std::string& declared) {
        const std::string upload = dir_->file("upload");
        write(upload, bytes);
        return inspect(upload, name, declared, policy_, dir_->path());
    }

    std::unique_ptr<test::temp_dir> dir_;
    inspect_policy policy_;
};
CPPUNIT_TEST_SUITE_REGISTRATION(media_inspect_test);

// --- clamd -------------------------------------------------------------------

namespace {

/// A clamd that speaks INSTREAM on a unix socket or a loopback TCP port:
/// "stream: Eicar-Test-Signature FOUND" when the stream holds EICAR,
/// "stream: OK" otherwise — or, as told, hangs up mid-stream or never answers.
class fake_clamd {
public:
    enum class mode { answer, hang_up_mid_stream, silent };

    fake_clamd(mode m, const std::string& unix_path = "") : mode_(m) {
        if (unix_path.empty()) {
            listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            check(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
            socklen_t length = sizeof addr;
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length);
            address_ = "tcp:127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
        } else {
            listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::strncpy(addr.sun_path, unix_path.c_str(), sizeof addr.sun_path - 1);
            check(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
            address_ = "unix:" + unix_path;
        }
        check(::listen(listener_, 8));
        thread_ = std::thread([this] { serve(); });
    }
    ~fake_clamd() {
        stop_ = true;
        thread_.join();
        ::close(listener_);
    }
    const std::string& address() const { return address_; }
    std::size_t bytes_received() const { return received_; }

private:
    static void check(int rc) {
        if (rc != 0) throw std::runtime_error(std::string("fake clamd: ") + std::strerror(errno));
    }

    bool read_exactly(int fd, char* out, std::size_t n) {
        while (n > 0) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) == 0) {
                if (stop_) return false;
                continue;
            }
            const ssize_t got = ::recv(fd, out, n, 0);
            if (got <= 0) return false;
            out += got;
            n -= static_cast<std::size_t>(got);
        }
        return true;
    }

    void serve() {
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            converse(fd);
            ::close(fd);
        }
    }

    void converse(int fd) {
        char command[10];
        if (!read_exactly(fd, command, sizeof command) || std::string(command, 10) != std::string("zINSTREAM\0", 10))
            return;
        std::string stream;
        for (;;) {
            unsigned char length[4];
            if (!read_exactly(fd, reinterpret_cast<char*>(length), 4)) return;
            const std::size_t n = std::size_t{length[0]} << 24 | std::size_t{length[1]} << 16 |
                                  std::size_t{length[2]} << 8 | length[3];
            if (n == 0) break;
            std::string chunk(n, '\0');
            if (!read_exactly(fd, chunk.data(), n)) return;
            stream += chunk;
            received_ = stream.size();
            if (mode_ == mode::hang_up_mid_stream) return;
        }
        if (mode_ == mode::silent) {
            while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return;
        }
        const std::string reply = stream.find(eicar) != std::string::npos ? "stream: Eicar-Test-Signature FOUND"
                                                                            : "stream: OK";
        ::send(fd, reply.c_str(), reply.size() + 1, MSG_NOSIGNAL);
    }

    mode mode_;
    int listener_ = -1;
    std::string address_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> received_{0};
    std::thread thread_;
};

} // namespace

class clamd_scan_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(clamd_scan_test);
    CPPUNIT_TEST(clean_and_infected_over_unix_and_tcp);
    CPPUNIT_TEST(unreachable_is_unavailable);
    CPPUNIT_TEST(hang_up_and_silence_are_unavailable);
    CPPUNIT_TEST(refusal_follows_the_settings);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        dir_ = std::make_unique<test::temp_dir>("clamd-test");
        // Several chunks' worth: 200 KB with EICAR in the middle, and without.
        std::string filler(100 * 1024, 'a');
        test::write_file(dir_->file("clean.bin"), filler + filler);
        test::write_file(dir_->file("eicar.bin"), filler + eicar + filler);
    }
    void tearDown() override {
        std::filesystem::remove_all(dir_->path());
        dir_.reset();
    }

    void clean_and_infected_over_unix_and_tcp() {
        for (const std::string& unix_path : {dir_->file("clamd.ctl"), std::string()}) {
            const fake_clamd clamd(fake_clamd::mode::answer, unix_path);
            const clamd_settings settings{clamd.address(), 5000, true};
            const scan_result clean = clamd_scan(dir_->file("clean.bin"), settings);
            CPPUNIT_ASSERT_MESSAGE(clean.detail, clean.outcome == scan_result::verdict::clean);
            CPPUNIT_ASSERT_EQUAL(std::size_t{200 * 1024}, clamd.bytes_received());
            const scan_result found = clamd_scan(dir_->file("eicar.bin"), settings);
            CPPUNIT_ASSERT_MESSAGE(found.detail, found.outcome == scan_result::verdict::infected);
            CPPUNIT_ASSERT_EQUAL(std::string("Eicar-Test-Signature"), found.detail);
        }
    }

    void unreachable_is_unavailable() {
        // A port nobody listens on: bound, then closed again.
        std::string closed_port;
        {
            const fake_clamd gone(fake_clamd::mode::answer);
            closed_port = gone.address();
        }
        for (const std::string& address : {"unix:" + dir_->file("nobody.ctl"), closed_port, std::string("carrier-pigeon")}) {
            const scan_result r = clamd_scan(dir_->file("clean.bin"), {address, 2000, true});
            CPPUNIT_ASSERT_MESSAGE(address, r.outcome == scan_result::verdict::unavailable);
            CPPUNIT_ASSERT_MESSAGE(address, !r.detail.empty());
        }
        // No address: not scanned, and said so.
        const scan_result none = clamd_scan(dir_->file("clean.bin"), {});
        CPPUNIT_ASSERT(none.outcome == scan_result::verdict::clean);
        CPPUNIT_ASSERT(none.detail.find("not scanned") != std::string::npos);
    }

    void hang_up_and_silence_are_unavailable() {
        {
            const fake_clamd clamd(fake_clamd::mode::hang_up_mid_stream, dir_->file("hangup.ctl"));
            const scan_result r = clamd_scan(dir_->file("eicar.bin"), {clamd.address(), 5000, true});
            CPPUNIT_ASSERT_MESSAGE(r.detail, r.outcome == scan_result::verdict::unavailable);
        }
        const fake_clamd clamd(fake_clamd::mode::silent);
        const auto started = std::chrono::steady_clock::now();
        const scan_result r = clamd_scan(dir_->file("clean.bin"), {clamd.address(), 300, true});
        const auto took = std::chrono::steady_clock::now() - started;
        CPPUNIT_ASSERT(r.outcome == scan_result::verdict::unavailable);
        CPPUNIT_ASSERT_MESSAGE(r.detail, r.detail.find("timed out") != std::string::npos);
        CPPUNIT_ASSERT(took >= std::chrono::milliseconds(250)); // it waited for the timeout, not less
    }

    void refusal_follows_the_settings() {
        const scan_result clean{scan_result::verdict::clean, {}};
        const scan_result infected{scan_result::verdict::infected, "Eicar"};
        const scan_result down{scan_result::verdict::unavailable, "connect: refused"};
        const clamd_settings closed{"unix:/x", 1000, true}, open{"unix:/x", 1000, false};
        CPPUNIT_ASSERT(scan_refusal(clean, closed).empty());
        CPPUNIT_ASSERT(scan_refusal(infected, open) == refusal::infected);
        CPPUNIT_ASSERT(scan_refusal(down, closed) == refusal::scan_unavailable);
        CPPUNIT_ASSERT(scan_refusal(down, open).empty());
    }

private:
    std::unique_ptr<test::temp_dir> dir_;
};
CPPUNIT_TEST_SUITE_REGISTRATION(clamd_scan_test);
