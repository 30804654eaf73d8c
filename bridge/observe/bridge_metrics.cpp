#include "bridge_metrics.hpp"

namespace mqchat::bridge {

namespace {
using metrics::default_registry;
} // namespace

bridge_metrics_set::bridge_metrics_set()
    : messages_stored(default_registry().single_counter("mqchat_messages_stored_total",
                                                  "Chat messages stored (each gets its seq).")),
      messages_duplicate(default_registry().single_counter(
          "mqchat_messages_duplicate_total", "Sends of a message id already stored: acked again, not stored twice.")),
      messages_refused(default_registry().counters("mqchat_messages_refused_total",
                                                   "Sends the bridge refused, by the error code the sender got.",
                                                   {"code"}, 16)),
      messages_delivered(default_registry().single_counter(
          "mqchat_messages_delivered_total",
          "Stored messages the broker acknowledged on their conversation's topic (once per publish).")),
      messages_republished(default_registry().single_counter(
          "mqchat_messages_republished_total", "Stored messages published again after a lost broker or a restart.")),
      store_batch_messages(default_registry()
                               .histograms("mqchat_store_batch_messages", "Messages per store transaction.",
                                           metrics::size_buckets(10000))
                               .get()),
      store_batch_seconds(default_registry()
                              .histograms("mqchat_store_batch_duration_seconds",
                                          "Time to store one batch in PostgreSQL, retries included.",
                                          metrics::latency_buckets())
                              .get()),
      store_retries(default_registry().single_counter("mqchat_store_retries_total",
                                                "Store transactions tried again (database away, busy or in conflict).")),
      store_lingered(default_registry().single_counter(
          "mqchat_store_lingered_total",
          "Small batches that waited up to store_linger_us for more messages (the store was not keeping up).")),
      store_batches_split(default_registry().single_counter(
          "mqchat_store_batches_split_total",
          "Batches with a resend among their plain messages, stored again one message per transaction.")),
      request_seconds(default_registry().histograms("mqchat_request_duration_seconds",
                                                    "Time from a request's turn on a request thread to its reply.",
                                                    metrics::latency_buckets(), {"method"}, 64)),
      requests_overloaded(default_registry().single_counter("mqchat_requests_overloaded_total",
                                                      "Requests answered `overloaded` (the request queue was full).")),
      requests_failed(default_registry().single_counter("mqchat_requests_failed_total",
                                                  "Requests that ended in an internal error (no reply sent).")),
      pushes(default_registry().counters("mqchat_pushes_total", "Push notifications by provider and outcome.",
                                         {"provider", "outcome"}, 16)),
      emails(default_registry().counters("mqchat_emails_total", "E-mails (digests, desk mail) by kind and outcome.",
                                         {"kind", "outcome"}, 16)),
      receipts(default_registry().single_counter("mqchat_receipts_total", "Delivery and read receipts taken in.")),
      presence_updates(default_registry().single_counter("mqchat_presence_updates_total",
                                                   "Presence changes taken in from the brokers.")) {}

bridge_metrics_set& bridge_metrics() {
    static bridge_metrics_set m;
    return m;
}

} // namespace mqchat::bridge
