// Case "desks": a support desk with automatic assignment under a rush of
// visitors (docs/desks.md, "Routing"). 20 agents (capacity 100 each) are
// online; 2,000 visitors (200 with --quick) arrive at 200 a second, each
// asking desk.start; the desk router assigns each to the least busy agent.
//
//  - desk_assign_p50_ms / p99: from a visitor's desk.start to the
//    desk.assigned notice on its inbox.
//  - desk_message_p50_ms / p99: a visitor's first message, from its send to
//    the assigned agent (who subscribed on its own desk.assigned notice).
//
// MQTT over TCP for now: the widget's WebSocket transport comes with the
// widget (issue #13). No baseline: bare Mosquitto has no desks.

#include <mosquitto.h>

#include <atomic>
#include <cstring>
#include <map>
#include <thread>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

constexpr int agents = 20;

std::string_view text_of(const mosquitto_message& m) {
    return {static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen)};
}

/// The integer after `"key":` in a compact JSON payload, or -1.
std::int64_t int_after(std::string_view text, std::string_view key) {
    std::string k(1, '"');
    k.append(key).append("\":");
    const auto at = text.find(k);
    if (at == std::string_view::npos) return -1;
    std::int64_t v = 0;
    bool any = false;
    for (std::size_t i = at + k.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        v = v * 10 + (text[i] - '0');
        any = true;
    }
    return any ? v : -1;
}

/// Adds `n` clients prefix0 … (password "pw") to `pool`, each subscribing
/// to its own inbox once connected. `subscribed` counts the granted ones.
void add_inbox_listeners(client_pool& pool, const std::string& prefix, int n, int protocol, int& subscribed) {
    for (int i = 0; i < n; ++i) pool.add({"", numbered(prefix, static_cast<std::uint64_t>(i)), "pw", protocol, ""});
    pool.on().on_connect = [&pool, prefix](int c, int rc) {
        if (rc == 0) pool.subscribe(c, "chat/user/" + numbered(prefix, static_cast<std::uint64_t>(c)) + "/inbox", 1);
    };
    pool.on().on_subscribe = [&subscribed](int, int, int granted) { subscribed += granted == 1; };
}

} // namespace

void run_desks(const settings& s) {
    const int visitors = s.quick ? 200 : 2000;
    const double arrivals_per_s = 200;

    test::temp_dir dir("bench-desks");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    {
        pg::connection c(db.conninfo());
        add_bridge_user(c);
        add_users(c, "agent", agents, cheap_hash("pw"));
        add_users(c, "visitor", visitors, cheap_hash("pw"));
    }
    test::admin_ok(db.conninfo(), {"desk", "create", "bench"});
    test::admin_ok(db.conninfo(), {"desk", "routing", "bench", "least_busy"});
    for (int a = 0; a < agents; ++a)
        test::admin_ok(db.conninfo(), {"desk", "add-agent", "bench", numbered("agent", static_cast<std::uint64_t>(a)),
                                       "--capacity", "100"});
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(dir);
    test::broker b(dir, db.conninfo(), o, "desks");
    b.start();
    test::bridge store(dir, db.conninfo(), b.port(), bridge_password, "desks-bridge");
    store.start();

    // The agents: online, listening on their inboxes; on desk.assigned they
    // subscribe to the conversation and time the visitor's first message.
    std::atomic<bool> agents_ready{false}, agents_failed{false}, stop{false};
    std::vector<double> message_ms;
    std::thread agent_side([&] {
        client_pool pool("127.0.0.1", b.port());
        int subscribed = 0;
        add_inbox_listeners(pool, "agent", agents, 5, subscribed);
        pool.on().on_message = [&](int c, const mosquitto_message& m) {
            const std::string_view t = text_of(m);
            if (t.find("\"notice\":\"desk.assigned\"") != std::string_view::npos) {
                const std::int64_t conv = int_after(t, "conv");
                if (conv > 0) pool.subscribe(c, "chat/conv/" + std::to_string(conv) + "/msg", 1);
            } else if (std::strncmp(m.topic, "chat/conv/", 10) == 0) {
                // The visitor's body is its send time in ns.
                const auto at = t.find("\"body\":\"");
                if (at != std::string_view::npos) {
                    const std::int64_t sent = std::atoll(std::string(t.substr(at + 8, 20)).c_str());
                    message_ms.push_back(static_cast<double>(now_ns() - sent) / 1e6);
                }
            }
        };
        pool.connect_all();
        if (!pool.run([&] { return subscribed == agents; }, std::chrono::seconds(60))) {
            agents_failed = true;
            return;
        }
        // Online as far as routing knows: the bridge stored their presence.
        pg::connection c(db.conninfo());
        for (int i = 0; i < 200 && c.exec("SELECT count(*) FROM presence WHERE devices > 0").int64(0, 0) < agents; ++i)
            pool.run([] { return false; }, std::chrono::milliseconds(50));
        agents_ready = true;
        pool.run([&] { return stop.load(); }, std::chrono::minutes(5));
        pool.disconnect_all();
    });
    while (!agents_ready) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (agents_failed) {
            agent_side.join();
            throw std::runtime_error("agents could not log in");
        }
    }

    client_pool pool("127.0.0.1", b.port());
    int subscribed = 0;
    add_inbox_listeners(pool, "visitor", visitors, 4, subscribed);
    std::vector<std::int64_t> started_ns(static_cast<std::size_t>(visitors), 0), conv_of(static_cast<std::size_t>(visitors), 0);
    std::vector<clock::time_point> say_at(static_cast<std::size_t>(visitors), clock::time_point::max());
    std::vector<double> assign_ms, reply_ms;
    pool.on().on_message = [&](int c, const mosquitto_message& m) {
        const std::string_view t = text_of(m);
        if (t.find("\"method\":\"desk.start\"") != std::string_view::npos) {
            reply_ms.push_back(static_cast<double>(now_ns() - started_ns[static_cast<std::size_t>(c)]) / 1e6);
            return;
        }
        if (t.find("\"notice\":\"desk.assigned\"") == std::string_view::npos) return;
        const auto i = static_cast<std::size_t>(c);
        if (conv_of[i] != 0) return;
        assign_ms.push_back(static_cast<double>(now_ns() - started_ns[i]) / 1e6);
        conv_of[i] = int_after(t, "conv");
        // Time for the agent to subscribe on its own notice, then the first message.
        say_at[i] = clock::now() + std::chrono::milliseconds(300);
    };
    pool.connect_all();
    if (!pool.run([&] { return subscribed == visitors; }, std::chrono::seconds(120)))
        throw std::runtime_error("visitors could not log in and subscribe");

    const auto t0 = clock::now();
    int started = 0, said = 0;
    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / arrivals_per_s));
    pool.run([&] { return said == visitors; }, std::chrono::seconds(s.quick ? 30 : 90), [&] {
        const auto now = clock::now();
        while (started < visitors && now >= t0 + period * started) {
            const std::string body = "{\"corr\":\"s\",\"desk\":\"bench\"}";
            started_ns[static_cast<std::size_t>(started)] = now_ns();
            pool.publish(started, "chat/rpc/desk.start", body.data(), static_cast<int>(body.size()), 1);
            ++started;
        }
        for (int v = 0; v < visitors; ++v) {
            auto& at = say_at[static_cast<std::size_t>(v)];
            if (now < at) continue;
            at = clock::time_point::max();
            const std::string body = "{\"id\":\"first\",\"body\":\"" + std::to_string(now_ns()) + "\"}";
            pool.publish(v, "chat/conv/" + std::to_string(conv_of[static_cast<std::size_t>(v)]) + "/send", body.data(),
                         static_cast<int>(body.size()), 1);
            ++said;
        }
    });
    pool.run([&] { return message_ms.size() >= static_cast<std::size_t>(said); }, std::chrono::seconds(10));
    stop = true;
    agent_side.join();
    pool.disconnect_all();
    if (assign_ms.size() != static_cast<std::size_t>(visitors))
        throw std::runtime_error(std::to_string(assign_ms.size()) + " of " + std::to_string(visitors) + " visitors assigned");

    // least_busy with equal capacities: the agents' loads differ by one at most.
    const auto spread = pg::connection(db.conninfo())
                            .exec("SELECT max(n) - min(n), count(*) FROM (SELECT count(*) n FROM support_conversations"
                                  " WHERE status = 'assigned' GROUP BY assignee_id) x");
    const std::string arrivals = std::to_string(visitors) + " visitors at " + std::to_string(int(arrivals_per_s)) +
                                 "/s, " + std::to_string(agents) + " agents (least_busy, capacity 100), MQTT over TCP; " +
                                 std::to_string(spread.int64(0, 1)) + " agents got conversations, loads differing by " +
                                 std::to_string(spread.int64(0, 0)) + " at most";
    report("desk_assign_p50_ms", percentile(assign_ms, 50), "ms", std::nullopt, arrivals);
    report("desk_assign_p99_ms", percentile(assign_ms, 99), "ms", std::nullopt, "desk.start to the desk.assigned notice");
    report("desk_start_reply_p50_ms", percentile(reply_ms, 50), "ms", std::nullopt, "desk.start to its reply");
    report("desk_start_reply_p99_ms", percentile(reply_ms, 99), "ms");
    report("desk_message_p50_ms", percentile(message_ms, 50), "ms", std::nullopt,
           std::to_string(message_ms.size()) + " first messages, visitor to its agent");
    report("desk_message_p99_ms", percentile(message_ms, 99), "ms");
}

} // namespace mqchat::bench
