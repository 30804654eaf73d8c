#include "test_images.hpp"

#include <vips/vips.h>

#include <mutex>
#include <stdexcept>

namespace mqchat::test {

std::string make_jpeg(int w, int h, int quality) {
    static const bool started = VIPS_INIT("mqchat-test") == 0;
    if (!started) throw std::runtime_error("libvips did not start");
    VipsImage *xy = nullptr, *rgb = nullptr, *u8 = nullptr;
    void* buf = nullptr;
    std::size_t len = 0;
    const bool ok = vips_xyz(&xy, w, h, nullptr) == 0 && [&] {
        VipsImage* bands[3] = {xy, xy, xy};
        return vips_bandjoin(bands, &rgb, 2, nullptr) == 0; // x, y
    }() && vips_cast_uchar(rgb, &u8, nullptr) == 0 && vips_jpegsave_buffer(u8, &buf, &len, "Q", quality, nullptr) == 0;
    std::string out = ok ? std::string(static_cast<const char*>(buf), len) : std::string();
    g_free(buf);
    for (VipsImage* i : {u8, rgb, xy})
        if (i) g_object_unref(i);
    if (!ok) throw std::runtime_error(std::string("libvips could not make a JPEG: ") + vips_error_buffer());
    return out;
}

namespace {

/// The images make_photo makes on the way, unreferenced whatever happens.
struct photo_steps {
    VipsImage *xy = nullptr, *x = nullptr, *y = nullptr, *red = nullptr, *green = nullptr, *sum = nullptr;
    VipsImage *blue = nullptr, *rgb = nullptr, *grainy = nullptr, *u8 = nullptr;
    photo_steps() = default;
    photo_steps(const photo_steps&) = delete;
    photo_steps& operator=(const photo_steps&) = delete;
    ~photo_steps() {
        for (VipsImage* i : {u8, grainy, rgb, blue, sum, green, red, y, x, xy})
            if (i) g_object_unref(i);
    }
};

} // namespace

std::string make_photo(int w, int h, int quality, int variant) {
    static const bool started = VIPS_INIT("mqchat-test") == 0;
    if (!started) throw std::runtime_error("libvips did not start");
    // The grain of the last size asked for, kept in memory: making it is
    // most of the work (≈ 1.5 s for 12 megapixels), saving a variant the rest.
    static std::mutex lock;
    static VipsImage* grain = nullptr;
    static int grain_w = 0, grain_h = 0;
    const std::lock_guard<std::mutex> hold(lock);
    if (!grain || grain_w != w || grain_h != h) {
        VipsImage* noise = nullptr;
        if (vips_gaussnoise(&noise, w, h, "mean", 0.0, "sigma", 12.0, "seed", 17, nullptr) != 0)
            throw std::runtime_error(std::string("libvips could not make grain: ") + vips_error_buffer());
        VipsImage* kept = vips_image_copy_memory(noise);
        g_object_unref(noise);
        if (!kept) throw std::runtime_error(std::string("libvips could not keep grain: ") + vips_error_buffer());
        if (grain) g_object_unref(grain);
        grain = kept;
        grain_w = w;
        grain_h = h;
    }
    photo_steps i;
    const double shift_red = variant % 64, shift_blue = (variant / 64) % 64;
    bool ok = vips_xyz(&i.xy, w, h, nullptr) == 0 && vips_extract_band(i.xy, &i.x, 0, nullptr) == 0 &&
              vips_extract_band(i.xy, &i.y, 1, nullptr) == 0 &&
              vips_linear1(i.x, &i.red, 180.0 / w, shift_red, nullptr) == 0 &&
              vips_linear1(i.y, &i.green, 230.0 / h, 10.0, nullptr) == 0 &&
              vips_add(i.red, i.green, &i.sum, nullptr) == 0 &&
              vips_linear1(i.sum, &i.blue, 0.4, shift_blue, nullptr) == 0;
    if (ok) {
        VipsImage* bands[3] = {i.red, i.green, i.blue};
        ok = vips_bandjoin(bands, &i.rgb, 3, nullptr) == 0 && vips_add(i.rgb, grain, &i.grainy, nullptr) == 0 &&
             vips_cast_uchar(i.grainy, &i.u8, nullptr) == 0;
    }
    void* buf = nullptr;
    std::size_t len = 0;
    if (!ok || vips_jpegsave_buffer(i.u8, &buf, &len, "Q", quality, nullptr) != 0)
        throw std::runtime_error(std::string("libvips could not make a photo: ") + vips_error_buffer());
    std::string out(static_cast<const char*>(buf), len);
    g_free(buf);
    return out;
}

} // namespace mqchat::test
