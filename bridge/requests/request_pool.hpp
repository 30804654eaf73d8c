#pragma once
/// Answers requests on threads of their own, each with its own handler (and
/// so its own PostgreSQL connection), off the loop that stores and delivers
/// messages: a burst of requests — thousands of apps reconnecting after a
/// deploy, each asking `sync` and `conv.list` — never holds up live chat.
///
/// Bounded: at most `max_queued` requests wait. One more is not queued; the
/// caller answers it at once with `overloaded` and a retry hint
/// (overloaded_reply), so a client learns to come back instead of waiting
/// without end. Requests come in on the bridge's request link, a connection
/// of their own, so they never queue in front of a chat message at the
/// broker either; replies and notices go out on it from the worker threads
/// (mqtt_link::publish is thread-safe).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/topics.hpp"
#include "link/mqtt_link.hpp"
#include "request_handler.hpp"

namespace mqchat::bridge {

class request_pool {
public:
    using handler_factory = std::function<std::unique_ptr<request_handler>()>;

    /// Reads stamped requests from `link` (the bridge's request link) on a
    /// thread of its own, answers them on `threads` threads, and publishes
    /// the replies on the same link.
    request_pool(const handler_factory& make_handler, mqtt_link& link, const topic_names& topics, int threads,
                 std::size_t max_queued);
    ~request_pool();
    request_pool(const request_pool&) = delete;
    request_pool& operator=(const request_pool&) = delete;

    /// A stamped request as it came from the broker (on the request link,
    /// or — left in its session by an older bridge — on the chat link):
    /// queued, or answered at once with `overloaded` when the queue is full.
    void take(const incoming& in);

    std::size_t queued() const;

private:
    /// Queues a request (taking it); false, leaving it to the caller, when
    /// `max_queued` already wait.
    bool submit(rpc::request&& r);
    /// The reply to a request that was not queued: `overloaded`, with
    /// `retry_after_ms` — how long the queue takes to drain at the current
    /// pace, at least 100 ms.
    outgoing_message overloaded_reply(const rpc::request& r, const std::string& inbox) const;
    void run(request_handler& handler);
    void intake();

    mqtt_link& link_;
    const topic_names& topics_;
    const std::size_t max_queued_;
    std::vector<std::unique_ptr<request_handler>> handlers_;
    std::vector<std::thread> threads_;
    std::thread intake_;
    mutable std::mutex mutex_;
    std::condition_variable work_;
    std::deque<rpc::request> queue_;
    bool stop_ = false;
    /// Requests answered, and when counting began: the pace for retry hints.
    std::uint64_t answered_ = 0;
    std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

} // namespace mqchat::bridge
