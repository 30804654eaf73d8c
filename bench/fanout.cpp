// Case "fan-out": one message to a 1,000-member group with every member
// online. The figure is the time from sending until the last member has it,
// p50/p99 over 100 messages sent 100 ms apart.
//
// The baseline, in the same run, is bare Mosquitto (no plugin, no bridge, no
// database) with the same 1,000 subscribers QoS 1 on one topic and one
// publisher sending the same 100 messages QoS 1 straight to it, 100 ms apart.

#include <mosquitto.h>

#include <charconv>
#include <cstring>
#include <map>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

struct fanout_times {
    std::vector<double> last_member_ms; ///< per message that reached every member
    int complete = 0;                   ///< how many did
};

/// Clients f0 … f{members} log in to the broker at `port`; f1 … subscribe
/// QoS 1 to `group_topic`; f0 sends `messages` messages QoS 1 to
/// `send_topic`, 100 ms apart. For each message: how long until the last
/// member had it.
fanout_times time_fanout(int port, int members, int messages, const std::string& send_topic,
                         const std::string& group_topic) {
    client_pool pool("127.0.0.1", port);
    for (int i = 0; i <= members; ++i) pool.add({numbered("f", i), numbered("f", i), "pw", 5, ""});
    std::size_t subacks = 0, refused = 0;
    pool.on().on_connect = [&](int, int rc) { refused += rc != 0; };
    pool.on().on_subscribe = [&](int, int, int granted) { subacks += granted == 1; };
    pool.connect_all();
    if (!pool.run([&] { return pool.connected() == pool.size() || refused; }, std::chrono::seconds(120)) || refused)
        throw std::runtime_error("fan-out members could not connect");
    for (int i = 1; i <= members; ++i) pool.subscribe(i, group_topic, 1);
    if (!pool.run([&] { return subacks == static_cast<std::size_t>(members); }, std::chrono::seconds(60)))
        throw std::runtime_error("fan-out subscriptions were refused");

    struct progress {
        std::int64_t sent_ns = 0, last_ns = 0;
        int received = 0;
    };
    std::map<int, progress> by_message;
    pool.on().on_message = [&](int, const mosquitto_message& m) {
        const std::string_view p(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
        const auto at = p.find("\"body\":\"n");
        if (at == std::string_view::npos) return;
        int n = 0;
        std::from_chars(p.data() + at + 9, p.data() + p.size(), n);
        auto& pr = by_message[n];
        ++pr.received;
        pr.last_ns = now_ns();
    };
    int sent = 0;
    const auto start = clock::now();
    const auto interval = std::chrono::milliseconds(100);
    pool.run([&] { return sent == messages; }, std::chrono::seconds(messages), [&] {
        if (clock::now() < start + sent * interval) return;
        const std::string payload = "{\"id\":\"fan-" + std::to_string(sent) + "\",\"body\":\"n" + std::to_string(sent) + "\"}";
        by_message[sent].sent_ns = now_ns();
        pool.publish(0, send_topic, payload.data(), static_cast<int>(payload.size()), 1);
        ++sent;
    });
    pool.run([&] {
        for (const auto& [n, pr] : by_message)
            if (pr.received < members) return false;
        return true;
    }, std::chrono::seconds(30));
    pool.disconnect_all();

    fanout_times t;
    for (const auto& [n, pr] : by_message) {
        if (pr.received < members) continue;
        ++t.complete;
        t.last_member_ms.push_back(static_cast<double>(pr.last_ns - pr.sent_ns) / 1e6);
    }
    return t;
}

} // namespace

void run_fanout(const settings& s) {
    const int members = s.quick ? 200 : 1000, messages = s.quick ? 20 : 100;
    test::temp_dir dir("bench-fanout");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", "bridge-pw", "--bridge"});
    std::int64_t conv = 0;
    {
        pg::connection c(db.conninfo());
        add_users(c, "f", members + 1, cheap_hash("pw"));
        std::vector<std::string> names;
        for (int i = 0; i <= members; ++i) names.push_back(numbered("f", i));
        conv = add_conversation(c, names);
    }
    const std::string conv_topic = "chat/conv/" + std::to_string(conv);

    // The baseline first: bare Mosquitto, the publisher straight to the group topic.
    fanout_times bare_times;
    {
        test::broker_options bare_opts;
        bare_opts.with_plugin = false;
        bare_opts.allow_anonymous = true;
        test::broker bare(dir, "", bare_opts, "bare");
        bare.start();
        bare_times = time_fanout(bare.port(), members, messages, conv_topic + "/msg", conv_topic + "/msg");
    }

    test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
    mqtt.start();
    test::bridge bridge(dir, db.conninfo(), mqtt.port(), "bridge-pw");
    bridge.start();
    fanout_times times = time_fanout(mqtt.port(), members, messages, conv_topic + "/send", conv_topic + "/msg");

    auto note_incomplete = [&](const std::string& who, const fanout_times& t) {
        if (t.complete < messages)
            note(s, "fan-out (" + who + "): only " + std::to_string(t.complete) + " of " + std::to_string(messages) +
                        " messages reached every member");
    };
    note_incomplete("mqchat", times);
    note_incomplete("bare Mosquitto", bare_times);
    const std::string about = (s.quick ? "quick: " + std::to_string(members) + " members; " : std::string()) +
                              "bare = Mosquitto alone, same subscribers and messages";
    report("fanout_1000_p50_ms", percentile(times.last_member_ms, 50), "ms", percentile(bare_times.last_member_ms, 50),
           about);
    report("fanout_1000_p99_ms", percentile(times.last_member_ms, 99), "ms", percentile(bare_times.last_member_ms, 99),
           about);
}

} // namespace mqchat::bench
