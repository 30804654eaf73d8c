#pragma once
/// The media service's Prometheus series (docs/media.md, "Metrics"), in the
/// process's registry, served on metrics_listen. Labels take values from
/// fixed sets only: upload outcomes are `stored` or a refusal / error code
/// of docs/media.md, download outcomes a short fixed list.

#include <string_view>

#include "common/metrics.hpp"

namespace mqchat::media {

struct media_metrics {
    media_metrics();
    void upload(std::string_view outcome) { uploads_.with({std::string(outcome)}).inc(); }
    void download(std::string_view outcome) { downloads_.with({std::string(outcome)}).inc(); }

    metrics::family<metrics::counter>& uploads_;
    metrics::family<metrics::counter>& downloads_;
    metrics::counter& received_bytes;
    metrics::counter& sent_bytes;
    metrics::histogram& inspect_seconds;
    metrics::histogram& upload_seconds; ///< body received → reply (inspect, scan, store)
    metrics::family<metrics::counter>& swept_;
    metrics::counter& sweep_errors;
};

} // namespace mqchat::media
