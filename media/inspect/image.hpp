#pragma once
/// Raster images through libvips: the pixel budget from the header, a full
/// decode, the re-encoded image without metadata, the thumbnail. Internal
/// to mqchat_media_inspect; here for the unit tests.

#include "media/inspect/inspect.hpp"

#include <string>
#include <string_view>

namespace mqchat::media::detail {

struct image_output {
    std::string refusal, message; ///< refusal "" when the image is accepted
    int width = 0, height = 0;    ///< upright; an animation's frame
    std::string stored;           ///< the re-encoded image, the upload's type
    std::string thumb;            ///< longer side <= thumb_max_side
    std::string thumb_mime;       ///< image/jpeg, or image/webp when it has alpha
};

/// `bytes` are a complete image of type `mime` (detail::is_raster; the
/// structure checks passed). `lossless`: a WebP to keep lossless.
image_output process_image(std::string_view mime, std::string_view bytes, bool lossless,
                           const inspect_policy& policy);

} // namespace mqchat::media::detail
