// Case "stored chat": the whole product path. 50 senders write into 200
// conversations of 2–20 members, every member online; each message goes
// plugin → bridge → PostgreSQL → bridge → every member, and is acked.
//
//  - stored_chat_rate: messages stored and acked per second at saturation
//    (every sender keeps a few un-acked messages in flight), against bare
//    mosquitto's QoS 1 publish→subscribe rate in the same run.
//  - stored_chat_p50/p99/p999_ms: send → delivery latency to every member at
//    half that rate (open loop); also a sweep of offered rates for the chart.
//  - where the time goes: CPU seconds of broker, bridge, PostgreSQL and the
//    load generator per 1,000 messages at saturation.

#include <mosquitto.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "bench.hpp"
#include "client_pool.hpp"
#include "pubsub.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

struct chat_world {
    int users = 0, senders = 0;
    std::vector<std::int64_t> convs;                // conversation ids
    std::vector<std::vector<std::size_t>> members;  // per conversation: user indexes
    std::vector<std::vector<std::size_t>> sends_to; // per sender: conversation indexes
};

chat_world build_world(pg::connection& db, int users, int senders, int conversations) {
    chat_world w;
    w.users = users;
    w.senders = senders;
    add_users(db, "u", users, cheap_hash("pw"));
    std::mt19937 rng(42);
    w.sends_to.resize(static_cast<std::size_t>(senders));
    for (int c = 0; c < conversations; ++c) {
        const int size = 2 + static_cast<int>(rng() % 19);
        std::vector<std::size_t> m{static_cast<std::size_t>(c % senders)};
        while (static_cast<int>(m.size()) < size) {
            const std::size_t u = static_cast<std::size_t>(senders) + rng() % static_cast<std::size_t>(users - senders);
            if (std::find(m.begin(), m.end(), u) == m.end()) m.push_back(u);
        }
        std::vector<std::string> names;
        for (auto u : m) names.push_back("u" + std::to_string(u));
        w.convs.push_back(add_conversation(db, names));
        w.members.push_back(m);
        w.sends_to[static_cast<std::size_t>(c % senders)].push_back(static_cast<std::size_t>(c));
    }
    return w;
}

/// Reads the integer after `key` in a compact JSON payload (no full parse: the
/// generator must stay cheaper than what it measures).
bool field_after(const mosquitto_message& m, const char* key, std::string_view& out) {
    const std::string_view p(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
    const auto at = p.find(key);
    if (at == std::string_view::npos) return false;
    out = p.substr(at + std::strlen(key));
    return true;
}

} // namespace

void run_stored_chat(const settings& s) {
    const int users = s.quick ? 80 : 300, senders = s.quick ? 10 : 50, conversations = s.quick ? 40 : 200;
    test::temp_dir dir("bench-chat");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", "bridge-pw", "--bridge"});
    chat_world w;
    {
        pg::connection c(db.conninfo());
        w = build_world(c, users, senders, conversations);
    }
    test::broker_options opts;
    test::broker mqtt(dir, db.conninfo(), opts, "mosquitto");
    mqtt.start();
    test::bridge bridge(dir, db.conninfo(), mqtt.port(), "bridge-pw");
    bridge.start();

    // Bare mosquitto's QoS 1 rate with envelope-sized messages, same run.
    double bare_qos1 = 0;
    {
        test::broker_options bare_opts;
        bare_opts.with_plugin = false;
        bare_opts.extra_lines = {"allow_anonymous true"};
        test::broker bare(dir, "", bare_opts, "bare");
        bare.start();
        pubsub_setup p;
        p.port = bare.port();
        p.broker = bare.pid();
        p.qos = 1;
        p.payload_bytes = 128;
        p.topic = "bench/qos1";
        p.throughput_time = std::chrono::milliseconds(s.quick ? 800 : 3000);
        p.latency_time = std::chrono::milliseconds(200);
        bare_qos1 = measure_pubsub(p).rate;
    }

    client_pool pool("127.0.0.1", mqtt.port());
    for (int u = 0; u < users; ++u) pool.add({"u" + std::to_string(u), "u" + std::to_string(u), "pw", 5, ""});
    std::size_t subacks = 0, expected_subacks = 0, refused = 0;
    pool.on().on_connect = [&](int, int rc) { refused += rc != 0; };
    pool.on().on_subscribe = [&](int, int, int granted) { subacks += granted == 1; };
    pool.connect_all();
    if (!pool.run([&] { return pool.connected() == static_cast<std::size_t>(users) || refused; }, std::chrono::seconds(60)) || refused)
        throw std::runtime_error("chat users could not connect");
    for (std::size_t c = 0; c < w.convs.size(); ++c)
        for (auto u : w.members[c]) {
            pool.subscribe(static_cast<int>(u), "chat/conv/" + std::to_string(w.convs[c]) + "/msg", 1);
            ++expected_subacks;
        }
    for (int u = 0; u < senders; ++u) {
        pool.subscribe(u, "chat/user/u" + std::to_string(u) + "/inbox", 1);
        ++expected_subacks;
    }
    if (!pool.run([&] { return subacks == expected_subacks; }, std::chrono::seconds(60)))
        throw std::runtime_error("subscriptions were refused");

    // Traffic.
    std::vector<int> outstanding(static_cast<std::size_t>(senders), 0);
    std::vector<std::size_t> next_conv(static_cast<std::size_t>(senders), 0);
    std::uint64_t counter = 0, acked = 0, delivered = 0, errors = 0;
    bool measure = false;
    std::vector<double> latencies;
    pool.on().on_message = [&](int, const mosquitto_message& m) {
        const std::string_view topic(m.topic);
        std::string_view rest;
        if (topic.size() > 6 && topic.substr(topic.size() - 6) == "/inbox") {
            if (field_after(m, "\"ack\":\"s", rest)) {
                std::size_t sender = 0;
                std::from_chars(rest.data(), rest.data() + rest.size(), sender);
                if (sender < outstanding.size()) --outstanding[sender];
                ++acked;
            } else {
                ++errors;
            }
        } else if (field_after(m, "\"body\":\"t", rest)) {
            ++delivered;
            if (measure) {
                std::int64_t stamp = 0;
                std::from_chars(rest.data(), rest.data() + rest.size(), stamp);
                latencies.push_back(static_cast<double>(now_ns() - stamp) / 1e6);
            }
        }
    };
    auto send = [&](std::size_t sender) {
        auto& list = w.sends_to[sender];
        const std::size_t c = list[next_conv[sender]++ % list.size()];
        const std::string payload = "{\"id\":\"s" + std::to_string(sender) + "-" + std::to_string(++counter) +
                                    "\",\"body\":\"t" + std::to_string(now_ns()) + "\"}";
        pool.publish(static_cast<int>(sender), "chat/conv/" + std::to_string(w.convs[c]) + "/send", payload.data(),
                     static_cast<int>(payload.size()), 1);
        ++outstanding[sender];
    };
    auto drain = [&] {
        pool.run([&] { return std::all_of(outstanding.begin(), outstanding.end(), [](int o) { return o <= 0; }); },
                 std::chrono::seconds(60));
        pool.run([] { return false; }, std::chrono::milliseconds(300)); // late deliveries
    };

    // 1. Saturation: each sender keeps `window` messages un-acked.
    const int window = 8;
    auto fill = [&] {
        for (std::size_t k = 0; k < outstanding.size(); ++k)
            while (outstanding[k] < window) send(k);
    };
    const auto run_time = std::chrono::milliseconds(s.quick ? 2000 : 8000);
    pool.run([] { return false; }, run_time / 4, fill); // warm up: caches, batches, plans
    const std::uint64_t a0 = acked, d0 = delivered;
    const double cpu_broker0 = cpu_seconds(mqtt.pid()), cpu_bridge0 = cpu_seconds(bridge.pid()),
                 cpu_pg0 = cpu_seconds(db.pid(), true), cpu_self0 = self_cpu_seconds();
    const auto t0 = clock::now();
    pool.run([] { return false; }, run_time, fill);
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    const double stored_rate = static_cast<double>(acked - a0) / secs;
    const double delivery_rate = static_cast<double>(delivered - d0) / secs;
    const double per_k = 1000.0 / static_cast<double>(acked - a0);
    const double ms_broker = (cpu_seconds(mqtt.pid()) - cpu_broker0) * 1000 * per_k;
    const double ms_bridge = (cpu_seconds(bridge.pid()) - cpu_bridge0) * 1000 * per_k;
    const double ms_pg = (cpu_seconds(db.pid(), true) - cpu_pg0) * 1000 * per_k;
    const double ms_self = (self_cpu_seconds() - cpu_self0) * 1000 * per_k;
    drain();

    report("stored_chat_rate", stored_rate, "msg/s", bare_qos1, "bare = QoS 1 pub/sub, 128 B");
    report("stored_chat_deliveries", delivery_rate, "msg/s", std::nullopt, "to every online member");
    note(s, "stored chat at saturation: CPU ms per 1000 messages: broker " + std::to_string(ms_broker) + ", bridge " +
                std::to_string(ms_bridge) + ", PostgreSQL " + std::to_string(ms_pg) + ", load generator " +
                std::to_string(ms_self) + " (" + std::to_string(stored_rate) + " msg/s, " +
                std::to_string(delivery_rate) + " deliveries/s)");

    // 2. Latency at offered rates below saturation (open loop).
    std::ofstream sweep(s.out_dir + "/stored_chat_sweep.csv");
    sweep << "offered_rate,achieved_rate,p50_ms,p99_ms,p999_ms\n";
    const std::vector<double> fractions = s.quick ? std::vector<double>{0.5} : std::vector<double>{0.1, 0.25, 0.5, 0.75, 0.9};
    for (const double f : fractions) {
        const double rate = stored_rate * f;
        latencies.clear();
        measure = true;
        std::uint64_t sent = 0;
        std::size_t rr = 0;
        const std::uint64_t acked_before = acked;
        const auto l0 = clock::now();
        const auto l_time = std::chrono::milliseconds(s.quick ? 2000 : 5000);
        pool.run([] { return false; }, l_time, [&] {
            const auto due = static_cast<std::uint64_t>(std::chrono::duration<double>(clock::now() - l0).count() * rate);
            while (sent < due) {
                send(rr++ % outstanding.size());
                ++sent;
            }
        });
        drain();
        measure = false;
        const double achieved = static_cast<double>(acked - acked_before) /
                                std::chrono::duration<double>(l_time).count();
        std::vector<double> l = latencies;
        const double p50 = percentile(l, 50), p99 = percentile(l, 99), p999 = percentile(l, 99.9);
        sweep << rate << "," << achieved << "," << p50 << "," << p99 << "," << p999 << "\n";
        if (f == 0.5) {
            report("stored_chat_p50_ms", p50, "ms", std::nullopt, "at half the saturation rate");
            report("stored_chat_p99_ms", p99, "ms");
            report("stored_chat_p999_ms", p999, "ms");
        }
    }
    note(s, "stored chat: " + std::to_string(counter) + " sent, " + std::to_string(acked) + " acked, " + std::to_string(errors) + " error notices");
    pool.disconnect_all();
}

} // namespace mqchat::bench
