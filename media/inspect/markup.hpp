#pragma once
/// Active content in markup (SVG, HTML): what a browser would run or fetch
/// if the file were ever shown inline. The service serves such files only
/// as attachments; refusing them is the second wall. Internal to
/// mqchat_media_inspect; here for the unit tests.

#include <string_view>

namespace mqchat::media::detail {

/// What makes `text` active, or "" for nothing. Always refused: <script>,
/// on…= event handlers, javascript:/vbscript: URLs, <foreignObject>,
/// embedded frames and objects, DTD entities (they can hide the rest), an
/// animation of a link. When `links_are_references` (SVG, which a browser
/// renders as a picture), also any href/src or CSS url() that leaves the
/// document, except inline raster data: URLs — an image that fetches is a
/// tracking pixel or worse. HTML keeps its ordinary http(s) links.
std::string_view active_content(std::string_view text, bool links_are_references);

} // namespace mqchat::media::detail
