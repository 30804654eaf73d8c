#pragma once
/// Real image files for tests and benchmarks, made at run time with libvips
/// (a gradient, so that every size gives different bytes).

#include <string>

namespace mqchat::test {

/// A JPEG of w × h pixels; `quality` as libvips takes it (1–100).
std::string make_jpeg(int w, int h, int quality = 75);

} // namespace mqchat::test
