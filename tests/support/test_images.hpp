#pragma once
/// Real image files for tests and benchmarks, made at run time with libvips
/// (a gradient, so that every size gives different bytes).

#include <string>

namespace mqchat::test {

/// A JPEG of w × h pixels; `quality` as libvips takes it (1–100).
std::string make_jpeg(int w, int h, int quality = 75);

/// A JPEG that compresses like a camera's photo: a colour gradient with
/// grain (Gaussian noise, σ 12, on all three bands alike). 4000 × 3000 at
/// quality 90 is about 5 MB (3.3 bits a pixel), where make_jpeg's bare
/// gradient of that size is 0.4 MB. Each `variant` (0 … 4095) shifts the
/// gradient, so its pixels — and the bytes a re-encoding of it gives —
/// differ from every other variant's; the grain is made once per size.
std::string make_photo(int w, int h, int quality = 90, int variant = 0);

} // namespace mqchat::test
