#include "test_images.hpp"

#include <vips/vips.h>

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

} // namespace mqchat::test
