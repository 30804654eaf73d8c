// Case "fan-out": one message to a 1,000-member group with every member
// online. The figure is the time from sending until the last member has it,
// p50/p99 over 100 messages sent 100 ms apart.

#include <mosquitto.h>

#include <charconv>
#include <cstring>
#include <map>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

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
        for (int i = 0; i <= members; ++i) names.push_back("f" + std::to_string(i));
        conv = add_conversation(c, names);
    }
    test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
    mqtt.start();
    test::bridge bridge(dir, db.conninfo(), mqtt.port(), "bridge-pw");
    bridge.start();

    client_pool pool("127.0.0.1", mqtt.port());
    for (int i = 0; i <= members; ++i) pool.add({"f" + std::to_string(i), "f" + std::to_string(i), "pw", 5, ""});
    std::size_t subacks = 0, refused = 0;
    pool.on().on_connect = [&](int, int rc) { refused += rc != 0; };
    pool.on().on_subscribe = [&](int, int, int granted) { subacks += granted == 1; };
    pool.connect_all();
    if (!pool.run([&] { return pool.connected() == pool.size() || refused; }, std::chrono::seconds(120)) || refused)
        throw std::runtime_error("fan-out members could not connect");
    const std::string topic = "chat/conv/" + std::to_string(conv) + "/msg";
    for (int i = 1; i <= members; ++i) pool.subscribe(i, topic, 1);
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
        pool.publish(0, "chat/conv/" + std::to_string(conv) + "/send", payload.data(), static_cast<int>(payload.size()), 1);
        ++sent;
    });
    pool.run([&] {
        for (const auto& [n, pr] : by_message)
            if (pr.received < members) return false;
        return true;
    }, std::chrono::seconds(30));

    std::vector<double> last;
    int complete = 0;
    for (const auto& [n, pr] : by_message) {
        if (pr.received < members) continue;
        ++complete;
        last.push_back(static_cast<double>(pr.last_ns - pr.sent_ns) / 1e6);
    }
    if (complete < messages) note(s, "fan-out: only " + std::to_string(complete) + " of " + std::to_string(messages) +
                                         " messages reached every member");
    const std::string n = s.quick ? "quick: " + std::to_string(members) + " members" : "";
    report("fanout_1000_p50_ms", percentile(last, 50), "ms", std::nullopt, n);
    report("fanout_1000_p99_ms", percentile(last, 99), "ms", std::nullopt, n);
    pool.disconnect_all();
}

} // namespace mqchat::bench
