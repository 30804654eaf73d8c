#pragma once
/// mqtt_link on libmosquitto (the broker project's own client library):
/// MQTT 5, a persistent session, shared subscriptions on
/// {prefix}conv/+/stamped and {prefix}rpc/+/stamped, reconnection by the library's network thread.
///
/// Why not Paho: Paho MQTT C 1.3.12 (Debian 12) frees a QoS 1 publish's
/// topic and payload when a write fails as the connection drops, then
/// resends that message after reconnecting from freed memory. AddressSanitizer
/// caught it in failure_test (heap-use-after-free in libpaho-mqtt3as, send
/// thread frees, receive thread reads) and members received corrupted
/// messages. docs/architecture.md has the details.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/topics.hpp"
#include "mqtt_link.hpp"

struct mosquitto;
struct mosquitto_message;
typedef struct mqtt5__property mosquitto_property;

namespace mqchat::bridge {

/// Host and port of a broker URI: tcp://HOST:PORT or mqtt://HOST:PORT
/// (port 1883 when left out). Throws std::invalid_argument otherwise.
struct broker_address {
    std::string host;
    int port = 1883;
};
broker_address parse_broker_uri(const std::string& uri);

/// What the link needs of the bridge's settings (config.hpp maps them).
/// A bridge has two links: one for chat (stamped sends, receipts, presence)
/// and one for requests, so that a flood of requests never queues in front
/// of a chat message, neither at the broker nor here.
struct link_settings {
    std::string uri;          ///< tcp://HOST:PORT
    std::string username, password, client_id;
    std::string share_group;  ///< bridges in one group share the load
    int session_expiry_s = 0; ///< how long the broker queues for a stopped bridge
    /// Messages held in memory at most: when the loop falls this far behind,
    /// the link stops reading (its network thread, or its caller) until it
    /// catches up, and the broker keeps the rest in the session's queue.
    /// Nothing is dropped.
    std::size_t inbox_max = 20000;
    /// Filters subscribed to (shared subscriptions) on every connection, and
    /// filters unsubscribed from (what an older bridge's session had here).
    std::vector<std::string> filters, unsubscribe = {};
    std::string name = "the broker"; ///< in log lines: "connected to the broker (requests)"
    /// No network thread: the thread that calls next() and idle() reads
    /// all that is there at each turn, and a publish is written by the
    /// thread that publishes. For the store loop's link: what came during a
    /// store call is read in one go after it, instead of a wake-up for each
    /// packet on a thread that hands it over (docs/architecture.md, "Threads").
    bool read_by_caller = false;
};

class mosquitto_link : public mqtt_link {
public:
    explicit mosquitto_link(link_settings settings);
    ~mosquitto_link() override;
    mosquitto_link(const mosquitto_link&) = delete;
    mosquitto_link& operator=(const mosquitto_link&) = delete;

    /// Connects, retrying until it succeeds or `stop` becomes true; from then
    /// on the library's thread reconnects by itself.
    void connect(const std::atomic<bool>& stop);
    void disconnect();

    bool next(incoming& out, std::chrono::milliseconds wait) override;
    std::shared_ptr<publish_handle> publish(const std::string& topic, const std::string& payload,
                                            const publish_extras& extras = {}) override;
    bool take_reconnected() override { return reconnected_.exchange(false); }
    void idle(std::chrono::milliseconds how_long) override;
    void read_waiting() override;

    /// Subscribes to one more filter (QoS 1), now and after every
    /// reconnection. A filter the broker refuses is dropped and handed back
    /// by take_refused(): a chat user's new conversation may be refused until
    /// the plugin has heard of the membership, so the caller tries again.
    void subscribe(const std::string& filter);
    /// Stops receiving a filter subscribe() added.
    void unsubscribe(const std::string& filter);
    std::vector<std::string> take_refused();
    /// subscribe()'s filters the broker has granted since the last call:
    /// each once when it first takes, and again after a reconnection the
    /// broker kept no session for. What was published to it before that
    /// moment never came here: the caller reads it from history.
    std::vector<std::string> take_granted();

    /// For health checks and metrics (any thread).
    bool connected() const;
    std::size_t queued() const; ///< messages received, not yet taken by next()
    /// How long the oldest message not yet taken has waited (zero: none waits).
    std::chrono::steady_clock::duration oldest_waiting() const;
    std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }
    std::uint64_t disconnects() const { return disconnects_.load(std::memory_order_relaxed); }

private:
    class handle;
    static void on_connect(mosquitto*, void* self, int rc, int flags, const mosquitto_property*);
    static void on_disconnect(mosquitto*, void* self, int rc, const mosquitto_property*);
    static void on_message(mosquitto*, void* self, const mosquitto_message*, const mosquitto_property*);
    static void on_publish(mosquitto*, void* self, int mid, int reason, const mosquitto_property*);
    static void on_subscribe(mosquitto*, void* self, int mid, int count, const int* granted, const mosquitto_property*);

    const link_settings settings_;
    const broker_address address_;
    mosquitto* mosq_ = nullptr;
    bool loop_running_ = false;

    // read_by_caller: only the reading thread touches these.
    void read_some(int timeout_ms);
    /// Waits for the socket up to timeout_ms, reads what is there, writes
    /// what is queued; a libmosquitto result code.
    int read_available(int timeout_ms);
    static constexpr int max_packets_a_read = 1000;
    /// Callbacks run (counted on the thread that reads): whether a read took a packet.
    std::uint64_t callbacks_ = 0;
    bool take_front(incoming& out); ///< with mutex_ held
    std::chrono::steady_clock::time_point last_read_{}, reconnect_at_{};
    int reconnect_failures_ = 0;

    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::condition_variable room_; ///< the inbox has room again
    bool stopping_ = false;
    std::deque<incoming> inbox_;
    std::unordered_map<int, std::shared_ptr<handle>> pending_; ///< by message id
    bool connected_ = false;
    std::vector<int> subscribe_mids_; ///< of the last connection, not yet acknowledged
    std::vector<std::string> added_filters_;           ///< subscribe()'s, renewed on every connection
    struct added_subscription {
        std::string filter;
        bool report_grant = true; ///< false: a renewal in a session the broker kept
    };
    std::unordered_map<int, added_subscription> added_mids_; ///< subscribe()'s, not yet acknowledged
    std::vector<std::string> refused_, granted_;
    bool subscribed_ = false;
    std::atomic<bool> reconnected_{false};
    std::atomic<std::uint64_t> connects_{0}, disconnects_{0};
};

} // namespace mqchat::bridge
