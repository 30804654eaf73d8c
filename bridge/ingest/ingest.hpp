#pragma once
/// The bridge's one loop: take stamped sends from the broker, store them in
/// batches, and only after commit publish each stored message to its
/// conversation and acknowledge it to its sender. Requests that arrive in
/// between go to the request threads (request_pool); receipts, presence and
/// the pushes of stored messages to the deferred_writer: neither is waited
/// for here.
///
///   receive ─▶ batch (up to batch_max: what is queued; while the store
///              cannot keep up, a small batch waits up to store_linger_us
///              for more — batch_pacer)
///           ─▶ store in one transaction (seq assigned there)
///           ─▶ publish .../msg (QoS 1) + ack on the sender's inbox
///           ─▶ when the broker has acknowledged .../msg, record published_seq
///              (deferred_writer: after the message's pushes are queued, so
///              a crash in between republishes and queues them again)
///
/// What can go wrong and what happens:
///  - the database goes away: the batch is kept and retried with backoff;
///    after reconnecting everything stored but unpublished is republished.
///    The same when it cannot store anything for now (disk full, out of
///    memory, read-only): the sender hears nothing until its ack.
///  - the database refuses one message: the batch is stored one by one and
///    only that one is refused (internal_error, with its id, on the inbox).
///  - the broker goes away: publishes fail or are lost; after reconnecting
///    the outbox (seq > published_seq) is republished in seq order.
///  - the bridge dies: clients resend what was not acked; resends come back
///    as duplicates and are acked with their original seq; at start the
///    outbox is republished. Members may see a seq twice and drop it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "common/pg.hpp"
#include "common/topics.hpp"
#include "common/rpc.hpp"
#include "batch_pacer.hpp"
#include "deferred_writer.hpp"
#include "message_store.hpp"
#include "link/mqtt_link.hpp"
#include "observe/health.hpp"
#include "requests/request_pool.hpp"

namespace mqchat::bridge {

class ingest {
public:
    ingest(message_store& store, mqtt_link& link, request_pool& requests, deferred_writer& deferred,
           const topic_names& topics, std::size_t batch_max, std::chrono::microseconds store_linger);

    /// Runs until `stop` is set.
    void run(const std::atomic<bool>& stop);
    /// For the health checks: the loop's last turn, and the batch being stored.
    const loop_heartbeat& heartbeat() const { return heartbeat_; }

private:
    void collect(std::vector<send_request>& batch);
    bool parse(const incoming& in, send_request& out);
    /// A stamped send this bridge cannot read: tells the sender it names, with
    /// `id` (the valid id parse_stamped found, or "") and `conv`.
    void refuse_unreadable(std::int64_t conv, std::string_view payload, const std::string& id,
                           const envelope_error& error);
    std::vector<store_result> store_with_retry(const std::vector<send_request>& batch, const std::atomic<bool>& stop);
    std::vector<store_result> store_one_by_one(const std::vector<send_request>& batch, const pg::sql_error& error,
                                               const std::atomic<bool>& stop);
    void deliver(const std::vector<send_request>& batch, const std::vector<store_result>& results);
    void publish_stored(const stored_message& m);
    void republish_outbox(const std::atomic<bool>& stop);
    void track_publishes();
    void hand_over_published();

    message_store& store_;
    mqtt_link& link_;
    request_pool& requests_;
    deferred_writer& deferred_; ///< receipts, presence and pushes, written on its own thread
    const topic_names& topics_;
    std::size_t batch_max_;
    batch_pacer pacer_;

    struct in_flight {
        std::int64_t conv;
        std::int64_t seq;
        std::shared_ptr<publish_handle> handle;
    };
    std::deque<in_flight> in_flight_;               ///< .../msg publishes in send order
    std::map<std::int64_t, std::int64_t> published_; ///< acknowledged, not yet handed over
    bool resync_ = true; ///< republish the outbox before the next batch
    loop_heartbeat heartbeat_;
};

} // namespace mqchat::bridge
