#pragma once
/// Every metric the bridge keeps, in one place: names, help texts and label
/// sets (docs/operations.md, "Metrics", lists them for operators). Parts
/// count through bridge_metrics(); the HTTP endpoint (observe/health.hpp)
/// serves the process's registry.

#include "common/metrics.hpp"

namespace mqchat::bridge {

struct bridge_metrics_set {
    bridge_metrics_set();

    metrics::counter& messages_stored;
    metrics::counter& messages_duplicate;
    /// Refused after the plugin let them through, by error code.
    metrics::family<metrics::counter>& messages_refused;
    /// Stored messages the broker acknowledged on their conversation's topic.
    metrics::counter& messages_delivered;
    metrics::counter& messages_republished;
    metrics::histogram& store_batch_messages;
    metrics::histogram& store_batch_seconds;
    metrics::counter& store_retries;
    metrics::counter& store_lingered;
    metrics::counter& store_batches_split;

    /// By method: the methods the bridge answers; anything else is "unknown"
    /// (request_handler::answers), so a client cannot grow the label set.
    metrics::family<metrics::histogram>& request_seconds;
    metrics::counter& requests_overloaded;
    metrics::counter& requests_failed;

    /// Provider (fcm, apns) and outcome (sent, retried, failed, invalid_token).
    metrics::family<metrics::counter>& pushes;
    /// Kind (digest, desk) and outcome (sent, retried, failed).
    metrics::family<metrics::counter>& emails;

    metrics::counter& receipts;
    metrics::counter& presence_updates;
};

bridge_metrics_set& bridge_metrics();

} // namespace mqchat::bridge
