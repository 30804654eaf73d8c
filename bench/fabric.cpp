// Case "fabric": what it costs to get a stored message to every broker, as
// brokers are added — the figure issue #15 decides the fabric by
// (docs/architecture.md, "Several brokers").
//
// The publisher stands for mqchat-bridge with a stored message in hand; each
// broker has one subscriber standing for that broker's members. Brokers are
// bare Mosquitto (no plugin): the plugin's own cost per message is the same
// whatever the fabric, and is measured by the overhead case. Three fabrics:
//   hub     — every broker's Mosquitto bridge to a hub (`topic … in 1`, as
//             examples/fabric/edge-bridge.conf); the publisher publishes on the hub.
//   direct  — no fabric: the publisher is connected to every broker and
//             publishes each message once per broker (delivery driven by the
//             bridge itself).
//   redis   — Redis 7 pub/sub: the publisher PUBLISHes to redis-server; next
//             to every broker a relay (what we would have to write: a Redis
//             subscriber that publishes into its broker, QoS 1) passes it on.
// For each, at a fixed rate, over 1, 3 and 5 brokers: CPU per 1,000 messages
// of the brokers, of the fabric (hub, or redis-server and the relays), and of
// the publisher; the latency from publish to each broker's subscriber; and
// that every subscriber got every message.

#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "bench.hpp"
#include "support/environment.hpp"
#include "support/process.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

constexpr const char* topic = "bench/conv/1/msg";

double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

/// A libmosquitto client driven by whoever owns it (mosquitto_loop), so
/// that its CPU is that thread's.
struct mqtt_handle {
    mosquitto* m = nullptr;
    explicit mqtt_handle(int port, const std::string& id) {
        m = mosquitto_new(id.c_str(), true, this);
        mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 65535);
        if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
            throw std::runtime_error("cannot connect to port " + std::to_string(port));
        for (int i = 0; i < 100; ++i) mosquitto_loop(m, 10, 1);
    }
    ~mqtt_handle() {
        mosquitto_disconnect(m);
        mosquitto_destroy(m);
    }
    void publish(const std::string& payload) {
        mosquitto_publish(m, nullptr, topic, static_cast<int>(payload.size()), payload.data(), 1, false);
    }
    void pump() { mosquitto_loop(m, 0, 1); }
};

/// One subscriber per broker, on libmosquitto's own threads; counts and times
/// what arrives (the payload starts with the send time; 0 marks a warm-up probe).
struct subscribers {
    struct slot {
        subscribers* all = nullptr;
        mosquitto* client = nullptr;
        std::atomic<std::uint64_t> probes{0};
    };
    std::vector<std::unique_ptr<slot>> slots;
    std::atomic<std::uint64_t> received{0};
    std::mutex lock;
    std::vector<double> latency_ms;

    static void on_message(mosquitto*, void* user, const mosquitto_message* m) {
        auto& sl = *static_cast<slot*>(user);
        std::int64_t sent = 0;
        if (m->payloadlen >= 8) std::memcpy(&sent, m->payload, 8);
        if (sent == 0) {
            ++sl.probes;
            return;
        }
        const double ms = static_cast<double>(now_ns() - sent) / 1e6;
        ++sl.all->received;
        std::lock_guard<std::mutex> g(sl.all->lock);
        sl.all->latency_ms.push_back(ms);
    }
    static void on_connect(mosquitto* m, void*, int rc) {
        if (rc == 0) mosquitto_subscribe(m, nullptr, topic, 1);
    }
    explicit subscribers(const std::vector<int>& ports) {
        for (std::size_t i = 0; i < ports.size(); ++i) {
            auto sl = std::make_unique<slot>();
            sl->all = this;
            sl->client = mosquitto_new(numbered("sub", i).c_str(), true, sl.get());
            mosquitto_message_callback_set(sl->client, on_message);
            mosquitto_connect_callback_set(sl->client, on_connect);
            if (mosquitto_connect(sl->client, "127.0.0.1", ports[i], 30) != MOSQ_ERR_SUCCESS)
                throw std::runtime_error("subscriber cannot connect");
            mosquitto_loop_start(sl->client);
            slots.push_back(std::move(sl));
        }
    }
    bool all_probed() const {
        for (const auto& sl : slots)
            if (sl->probes == 0) return false;
        return true;
    }
    ~subscribers() {
        for (auto& sl : slots) {
            mosquitto_disconnect(sl->client);
            mosquitto_loop_stop(sl->client, true);
            mosquitto_destroy(sl->client);
        }
    }
};

/// A relay of the redis fabric: a Redis subscriber that publishes what it
/// gets into its broker. Its thread's CPU is the relay's whole cost.
class redis_relay {
public:
    redis_relay(int redis_port, int broker_port, std::size_t index) {
        thread_ = std::thread([this, redis_port, broker_port, index] { run(redis_port, broker_port, index); });
        while (!ready_ && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (failed_) throw std::runtime_error("redis relay could not start");
    }
    ~redis_relay() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    double cpu_seconds() const { return cpu_.load(); }

private:
    void run(int redis_port, int broker_port, std::size_t index) {
        redisContext* sub = redisConnect("127.0.0.1", redis_port);
        if (!sub || sub->err) {
            failed_ = true;
            return;
        }
        timeval tv{0, 100000};
        redisSetTimeout(sub, tv); // so that stop_ is seen
        auto* r = static_cast<redisReply*>(redisCommand(sub, "SUBSCRIBE chat"));
        if (r) freeReplyObject(r);
        mqtt_handle out(broker_port, numbered("relay", index));
        ready_ = true;
        while (!stop_) {
            void* reply = nullptr;
            if (redisGetReply(sub, &reply) == REDIS_OK && reply) {
                auto* m = static_cast<redisReply*>(reply);
                if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING)
                    out.publish(std::string(m->element[2]->str, m->element[2]->len));
                freeReplyObject(m);
            } else if (sub->err) {
                sub->err = 0; // a read timeout: look at stop_ and carry on
                std::memset(sub->errstr, 0, sizeof sub->errstr);
            }
            out.pump();
            cpu_ = thread_cpu_seconds();
        }
        redisFree(sub);
    }
    std::thread thread_;
    std::atomic<bool> ready_{false}, failed_{false}, stop_{false};
    std::atomic<double> cpu_{0};
};

struct fabric_result {
    double brokers_ms = 0, fabric_ms = 0, publisher_ms = 0; ///< CPU per 1,000 messages sent
    double p50 = 0, p99 = 0;
    std::uint64_t expected = 0, received = 0;
};

fabric_result run_one(const settings& s, const std::string& fabric, int broker_count, double rate,
                      std::chrono::milliseconds duration) {
    test::temp_dir dir("bench-fabric");
    std::unique_ptr<test::broker> hub;
    std::unique_ptr<test::child_process> redis;
    int redis_port = 0;
    test::broker_options bare;
    bare.with_plugin = false;
    bare.allow_anonymous = true;
    if (fabric == "hub") {
        hub = std::make_unique<test::broker>(dir, "", bare, "hub");
        hub->start();
    } else if (fabric == "redis") {
        redis_port = test::free_port();
        redis = std::make_unique<test::child_process>(
            std::vector<std::string>{"redis-server", "--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--save",
                                     "", "--appendonly", "no"},
            dir.file("redis.log"));
        if (!test::wait_port(redis_port, 10000)) throw std::runtime_error("redis-server did not start");
    }
    std::vector<std::unique_ptr<test::broker>> brokers;
    std::vector<int> ports;
    for (int i = 0; i < broker_count; ++i) {
        test::broker_options o = bare;
        if (hub) {
            const std::string n = numbered("b", i);
            o.extra_lines = {"connection fabric", "address 127.0.0.1:" + std::to_string(hub->port()),
                             "remote_clientid fabric-" + n, "local_clientid fabric-" + n,
                             "bridge_protocol_version mqttv50", "cleansession false", "try_private true",
                             std::string("topic ") + topic + " in 1"};
        }
        brokers.push_back(std::make_unique<test::broker>(dir, "", o, numbered("b", i)));
        brokers.back()->start();
        ports.push_back(brokers.back()->port());
    }
    std::vector<std::unique_ptr<redis_relay>> relays;
    for (int i = 0; redis && i < broker_count; ++i)
        relays.push_back(std::make_unique<redis_relay>(redis_port, ports[static_cast<std::size_t>(i)],
                                                       static_cast<std::size_t>(i)));
    subscribers subs(ports);

    // The publisher: one thread, its own CPU measured.
    fabric_result r;
    std::vector<pid_t> broker_pids;
    for (auto& b : brokers) broker_pids.push_back(b->pid());
    auto brokers_cpu = [&] {
        double c = 0;
        for (pid_t p : broker_pids) c += cpu_seconds(p);
        return c;
    };
    auto fabric_cpu = [&] {
        double c = hub ? cpu_seconds(hub->pid()) : redis ? cpu_seconds(redis->pid()) : 0;
        for (auto& relay : relays) c += relay->cpu_seconds();
        return c;
    };
    double brokers0 = 0, fabric0 = 0;
    bool warmed_up = true;
    std::uint64_t sent = 0;
    double publisher_s = 0;
    std::thread publisher([&] {
        std::vector<std::unique_ptr<mqtt_handle>> outs;
        redisContext* rc = nullptr;
        if (hub) outs.push_back(std::make_unique<mqtt_handle>(hub->port(), "publisher"));
        else if (redis) rc = redisConnect("127.0.0.1", redis_port);
        else
            for (std::size_t i = 0; i < ports.size(); ++i)
                outs.push_back(std::make_unique<mqtt_handle>(ports[i], numbered("publisher", i)));
        std::string payload(200, 'x'); // a chat message's size
        auto send = [&] {
            if (rc) {
                auto* reply = static_cast<redisReply*>(redisCommand(rc, "PUBLISH chat %b", payload.data(), payload.size()));
                if (reply) freeReplyObject(reply);
            } else {
                for (auto& o : outs) o->publish(payload);
            }
        };
        // Warm-up: probes until every broker's subscriber has one (bridges
        // linked and subscribed, relays listening), then the measured run.
        std::memset(payload.data(), 0, 8);
        for (int i = 0; i < 400 && !subs.all_probed(); ++i) {
            send();
            for (int k = 0; k < 20; ++k) {
                for (auto& o : outs) o->pump();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
        if (!subs.all_probed()) {
            warmed_up = false;
            return;
        }
        for (int k = 0; k < 100; ++k) {
            for (auto& o : outs) o->pump();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        const double brokers0_in = brokers_cpu(), fabric0_in = fabric_cpu();
        brokers0 = brokers0_in;
        fabric0 = fabric0_in;
        const double cpu0 = thread_cpu_seconds();
        const auto start = clock::now();
        while (clock::now() - start < duration) {
            const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * static_cast<double>(sent) / rate));
            if (clock::now() >= due) {
                const std::int64_t stamp = now_ns();
                std::memcpy(payload.data(), &stamp, 8);
                send();
                ++sent;
            }
            for (auto& o : outs) o->pump();
            if (clock::now() < due) std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        for (int i = 0; i < 50; ++i)
            for (auto& o : outs) o->pump();
        publisher_s = thread_cpu_seconds() - cpu0;
        if (rc) redisFree(rc);
    });
    publisher.join();
    if (!warmed_up) throw std::runtime_error(fabric + ": not every broker's subscriber got a probe in 8 s");
    r.expected = sent * static_cast<std::uint64_t>(broker_count);
    const auto wait_until = clock::now() + std::chrono::seconds(10);
    while (subs.received < r.expected && clock::now() < wait_until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r.received = subs.received;
    const double per_thousand = 1000.0 / static_cast<double>(sent);
    r.brokers_ms = (brokers_cpu() - brokers0) * 1000 * per_thousand;
    r.fabric_ms = (fabric_cpu() - fabric0) * 1000 * per_thousand;
    r.publisher_ms = publisher_s * 1000 * per_thousand;
    {
        std::lock_guard<std::mutex> g(subs.lock);
        r.p50 = percentile(subs.latency_ms, 50);
        r.p99 = percentile(subs.latency_ms, 99);
    }
    relays.clear();
    if (redis) redis->stop(SIGTERM);
    (void)s;
    return r;
}

} // namespace

void run_fabric(const settings& s) {
    const double rate = s.quick ? 1000 : 3000;
    const auto duration = std::chrono::milliseconds(s.quick ? 2000 : 8000);
    note(s, "fabric: " + std::to_string(static_cast<int>(rate)) + " messages/s of 200 bytes for " +
                std::to_string(duration.count() / 1000) +
                " s, one subscriber per broker; CPU per 1,000 messages sent (each reaching every broker)");
    for (const char* fabric : {"direct", "hub", "redis"}) {
        for (int brokers : {1, 3, 5}) {
            const fabric_result r = run_one(s, fabric, brokers, rate, duration);
            const std::string name = std::string("fabric_") + fabric + "_" + std::to_string(brokers);
            report(name + "_fabric_cpu_ms_per_1000", r.fabric_ms, "ms");
            report(name + "_brokers_cpu_ms_per_1000", r.brokers_ms, "ms");
            report(name + "_publisher_cpu_ms_per_1000", r.publisher_ms, "ms");
            report(name + "_p99_ms", r.p99, "ms", std::nullopt,
                   "p50 " + std::to_string(r.p50) + " ms; received " + std::to_string(r.received) + " of " +
                       std::to_string(r.expected));
            if (r.received != r.expected)
                throw std::runtime_error(name + ": " + std::to_string(r.expected - r.received) + " deliveries missing");
        }
    }
}

} // namespace mqchat::bench
