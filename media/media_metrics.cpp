#include "media_metrics.hpp"

namespace mqchat::media {

namespace {
metrics::registry& reg() { return metrics::default_registry(); }
} // namespace

media_metrics::media_metrics()
    : uploads_(reg().counters("mqchat_media_uploads_total",
                              "Uploads by outcome: stored, or the refusal or error code (docs/media.md).", {"outcome"})),
      downloads_(reg().counters("mqchat_media_downloads_total",
                                "Downloads (media and thumbnails) by outcome: ok, partial, not_modified, not_found, "
                                "bad_signature, expired, error.",
                                {"outcome"})),
      received_bytes(reg().single_counter("mqchat_media_received_bytes_total", "Upload body bytes received.")),
      sent_bytes(reg().single_counter("mqchat_media_sent_bytes_total", "Download body bytes handed to clients.")),
      inspect_seconds(reg().histograms("mqchat_media_inspect_seconds",
                                       "Time to inspect one upload (type sniffing, decoding, re-encoding, thumbnail).",
                                       metrics::latency_buckets())
                          .get()),
      upload_seconds(reg().histograms("mqchat_media_processing_seconds",
                                      "From the last byte of an upload to its reply: queue, inspection, scan, storage.",
                                      metrics::latency_buckets())
                         .get()),
      swept_(reg().counters("mqchat_media_swept_total", "What the sweeper removed: rows, blobs, and blobs no row named (found by the storage walk).", {"what"})),
      sweep_errors(reg().single_counter("mqchat_media_sweep_errors_total", "Sweeper rounds that ended in an error.")) {
    for (const char* o : {"stored", "too_large", "type_not_allowed", "infected", "scan_unavailable"}) uploads_.with({o});
    for (const char* o : {"ok", "not_found"}) downloads_.with({o});
    swept_.with({"rows"});
    swept_.with({"blobs"});
    swept_.with({"unnamed_blobs"});
}

} // namespace mqchat::media
