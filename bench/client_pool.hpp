#pragma once
/// Many MQTT clients on one thread: libmosquitto's non-threaded API driven by
/// one epoll loop. A load generator that spends its CPU on MQTT, not on
/// thousands of threads, so the broker is what gets measured.
///
/// Everything (publish, subscribe, callbacks, timers) happens on the thread
/// that calls run(); the pool is not thread-safe and does not need to be.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench.hpp"

struct mosquitto;
struct mosquitto_message;
struct mqtt5__property;

namespace mqchat::bench {



struct pool_client_options {
    std::string client_id; ///< empty: random
    std::string username;
    std::string password;
    int protocol = 5;
    std::string bind_address; ///< source address, e.g. 127.0.0.2, for more than ~28k ports
    int port = 0;             ///< 0: the pool's port
};

class client_pool {
public:
    struct handlers {
        std::function<void(int client, int rc)> on_connect;
        std::function<void(int client, const mosquitto_message& msg)> on_message;
        std::function<void(int client, int mid, int reason)> on_publish;
        std::function<void(int client, int mid, int granted)> on_subscribe;
        std::function<void(int client)> on_disconnect;
    };

    client_pool(std::string host, int port);
    ~client_pool();
    client_pool(const client_pool&) = delete;
    client_pool& operator=(const client_pool&) = delete;

    handlers& on() { return handlers_; }

    /// Adds a client (not yet connected); returns its index.
    int add(const pool_client_options& options);
    /// Starts connecting every client added and not yet connecting.
    void connect_all();
    /// Starts connecting one client.
    void connect_one(int client);
    std::size_t size() const { return clients_.size(); }
    std::size_t connected() const { return connected_; }
    /// Connections closed before a CONNACK and tried again (a broker that
    /// asks a login to come back, or a full accept queue).
    std::size_t come_backs() const { return come_backs_; }

    /// QoS 1/2 message ids come back through on_publish. Returns the mid.
    int publish(int client, const std::string& topic, const void* payload, int len, int qos);
    int subscribe(int client, const std::string& filter, int qos);
    void disconnect_all();

    /// Records when the kernel queued the bytes each client reads next
    /// (SO_TIMESTAMPNS, peeked before every read): arrival_ns() during an
    /// on_message is when that delivery reached its member's socket, not
    /// when this one thread got round to it.
    void record_arrivals(bool on) { record_arrivals_ = on; }
    /// steady_clock ns (now_ns()) of the bytes being read; 0 when unknown.
    std::int64_t arrival_ns() const { return arrival_ns_; }

    /// Runs the loop until `done()` is true or `timeout` passes; returns done().
    /// `tick` (optional) runs at least every millisecond while waiting.
    bool run(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             const std::function<void()>& tick = {});

private:
    struct entry;
    void arm(entry& e);
    void peek_arrival(entry& e);
    static void cb_connect(mosquitto*, void*, int, int, const mqtt5__property*);
    static void cb_message(mosquitto*, void*, const mosquitto_message*, const mqtt5__property*);
    static void cb_publish(mosquitto*, void*, int, int, const mqtt5__property*);
    static void cb_subscribe(mosquitto*, void*, int, int, const int*, const mqtt5__property*);
    static void cb_disconnect(mosquitto*, void*, int, const mqtt5__property*);

    std::string host_;
    int port_;
    int epoll_ = -1;
    std::vector<entry*> clients_;
    /// Clients closed before a CONNACK, and when each tries again.
    std::vector<std::pair<clock::time_point, entry*>> retries_;
    std::size_t connected_ = 0;
    std::size_t come_backs_ = 0;
    bool stopping_ = false;
    bool record_arrivals_ = false;
    std::int64_t arrival_ns_ = 0;
    handlers handlers_;
    clock::time_point last_misc_ = clock::now();
};

} // namespace mqchat::bench
