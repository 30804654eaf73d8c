// Case "brokers": mqchat over several brokers (docs/architecture.md,
// "Several brokers"), as examples/fabric/ sets them up.
//
//  - brokers_N_stored_chat_rate / _p99_ms: stored_chat's world and traffic
//    (same users, conversations, window and payloads) with the users spread
//    evenly over N brokers (1, 3, 5) linked by the Mosquitto hub, so most
//    conversations have members on several brokers; against the same world
//    on one broker without a hub (baseline). The hub's CPU per 1,000
//    messages is the fabric's cost.
//  - failover_s: 3 brokers behind HAProxy, clients connected through it,
//    each with a persistent session; kill -9 of one broker; the time until
//    every client it held has reconnected through HAProxy and had its
//    `sync` answered (caught up), and how many that was.

#include <mosquitto.h>
#include <sodium.h>
#include <signal.h>

#include <deque>
#include <set>

#include "bench.hpp"
#include "chat_traffic.hpp"
#include "client_pool.hpp"
#include "common/password.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

struct chat_figures {
    double rate = 0, p50 = 0, p99 = 0, hub_ms = 0;
};

chat_figures measure_chat(const settings& s, const chat_world& w, const std::vector<int>& ports, pid_t hub) {
    const auto run_time = std::chrono::milliseconds(s.quick ? 2000 : 6000);
    const auto latency_time = std::chrono::milliseconds(s.quick ? 2000 : 4000);
    chat_traffic traffic(w, ports, chat_path::stored);
    traffic.keep_full(run_time / 4);
    const double hub0 = hub ? cpu_seconds(hub) : 0;
    const saturation sat = traffic.keep_full(run_time);
    chat_figures f;
    f.rate = sat.acked_per_s;
    f.hub_ms = hub ? ms_per_1000(hub0, cpu_seconds(hub), sat.acked) : 0;
    traffic.drain();
    const latency half = traffic.offer(sat.acked_per_s / 2, latency_time);
    f.p50 = half.p50_ms;
    f.p99 = half.p99_ms;
    note(s, "brokers: " + std::to_string(ports.size()) + (hub ? " behind a hub: " : " alone: ") +
                std::to_string(f.rate) + " msg/s at saturation, p50/p99 " + std::to_string(f.p50) + "/" +
                std::to_string(f.p99) + " ms at half; " + traffic.counts());
    return f;
}

chat_world seeded_world(const std::string& conninfo, const settings& s) {
    pg::connection c(conninfo);
    return build_world(c, s.quick ? 80 : 300, s.quick ? 10 : 50, s.quick ? 40 : 200);
}

/// Failover: clients through HAProxy, one broker killed; seconds until every
/// client it held is back and caught up, and how many those were.
std::pair<double, std::size_t> measure_failover(const settings& s) {
    const int clients = s.quick ? 300 : 3000;
    test::fabric_stack st("bench-failover", 3, 1);
    {
        pg::connection c(st.conninfo());
        add_users(c, "f", clients, cheap_hash("pw"));
    }
    st.start_load_balancer();
    client_pool pool("127.0.0.1", st.load_balancer_port());
    for (int i = 0; i < clients; ++i) pool.add({numbered("f", i), numbered("f", i), "pw", 5, ""});
    std::size_t refused = 0;
    std::vector<bool> ready(static_cast<std::size_t>(clients), false);
    std::size_t ready_count = 0;
    bool failing_over = false;
    std::set<int> dropped;                                     // lost their broker
    std::deque<std::pair<clock::time_point, int>> reconnects; // when to try again
    std::set<int> caught_up;
    auto inbox = [](int i) { return "chat/user/" + numbered("f", i) + "/inbox"; };
    auto ask_sync = [&](int i) {
        const std::string body = "{\"corr\":\"sync-" + std::to_string(i) + "\",\"cursors\":{}}";
        pool.publish(i, "chat/rpc/sync", body.data(), static_cast<int>(body.size()), 1);
    };
    pool.on().on_connect = [&](int i, int rc) {
        if (rc != 0) {
            ++refused;
            return;
        }
        pool.subscribe(i, inbox(i), 1);
    };
    pool.on().on_subscribe = [&](int i, int, int) {
        if (!failing_over) {
            if (!ready[static_cast<std::size_t>(i)]) ++ready_count;
            ready[static_cast<std::size_t>(i)] = true;
        } else if (dropped.count(i)) {
            ask_sync(i); // back: what did I miss?
        }
    };
    pool.on().on_message = [&](int i, const mosquitto_message& m) {
        const std::string_view p(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
        if (failing_over && dropped.count(i) && p.find("\"result\"") != std::string_view::npos) caught_up.insert(i);
    };
    pool.on().on_disconnect = [&](int i) {
        if (!failing_over) return;
        dropped.insert(i);
        reconnects.emplace_back(clock::now() + std::chrono::milliseconds(100 + std::rand() % 400), i);
    };
    pool.connect_all();
    if (!pool.run([&] { return ready_count == static_cast<std::size_t>(clients) || refused; }, std::chrono::seconds(120)) ||
        refused)
        throw std::runtime_error("failover clients could not connect through HAProxy");

    // Where HAProxy put them (each broker logs its new clients).
    std::string spread;
    for (auto& b : st.brokers) {
        const std::string log = b->log();
        std::size_t count = 0;
        for (std::size_t at = log.find(" as f"); at != std::string::npos; at = log.find(" as f", at + 1)) ++count;
        if (!spread.empty()) spread += '/';
        spread.append(std::to_string(count));
    }
    note(s, "failover: " + std::to_string(clients) + " clients through HAProxy, per broker " + spread);
    failing_over = true;
    st.brokers[1]->stop(SIGKILL);
    const auto killed = clock::now();
    // Disconnects are noticed at once (the socket closes); apps then retry
    // every 100–500 ms as a well-behaved app does, each retry landing on a
    // live broker once HAProxy's checks have taken the dead one out.
    pool.run([&] { return !dropped.empty() && caught_up.size() == dropped.size() && reconnects.empty(); },
             std::chrono::seconds(120), [&] {
                 while (!reconnects.empty() && reconnects.front().first <= clock::now()) {
                     const int i = reconnects.front().second;
                     reconnects.pop_front();
                     pool.connect_one(i);
                 }
             });
    const double seconds = std::chrono::duration<double>(clock::now() - killed).count();
    if (caught_up.size() != dropped.size())
        throw std::runtime_error("failover: " + std::to_string(caught_up.size()) + " of " +
                                 std::to_string(dropped.size()) + " clients caught up");
    const std::size_t moved = dropped.size();
    failing_over = false; // what follows is the bench letting go
    pool.disconnect_all();
    return {seconds, moved};
}

/// 100,000 connections over 5 brokers, as near as descriptors allow: each
/// broker process may hold 20,000 here, some of them its own (listeners,
/// the hub link, the workers' pipes, its log), so 19,950 clients each.
void measure_many_connections(const settings& s) {
    const int brokers = 5, per_broker = s.quick ? 1000 : 19950, n = brokers * per_broker;
    test::temp_dir options_dir("bench-many-options");
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(options_dir);
    test::fabric_stack st("bench-many", brokers, 1, o);
    {
        // Users who logged in before: their remembered-login digests are in
        // the database (plugin_opt_login_key_file), as after a restart of
        // the brokers, so no login runs Argon2id. (100,000 first logins are
        // 100,000 Argon2id checks: login_storm measures that cost.)
        pg::connection c(st.conninfo());
        const std::string hash = cheap_hash("pw");
        add_users(c, "m", n, hash);
        const auto key = password::remember_key::from_file(options_dir.file("login.key"));
        std::string names = "{", digests = "{";
        char hex[65];
        for (int i = 0; i < n; ++i) {
            const std::string name = numbered("m", static_cast<std::uint64_t>(i));
            const std::string d = password::remember_digest(key, name, "pw", hash);
            sodium_bin2hex(hex, sizeof hex, reinterpret_cast<const unsigned char*>(d.data()), d.size());
            names.append(i ? "," : "").append(name);
            digests.append(i ? "," : "").append(hex);
        }
        c.exec("INSERT INTO login_digests (user_id, digest) SELECT u.id, decode(x.d, 'hex')"
               " FROM unnest($1::text[], $2::text[]) AS x(name, d) JOIN users u ON u.name = x.name",
               {names + "}", digests + "}"});
    }
    // Brokers that load their users at start, as after a restart: a user
    // created a moment before its login is another matter (on a shared
    // broker it is left to the broker's other auth until the plugin's
    // lookup answers; docs/operations.md), and not what this measures.
    for (std::size_t i = 0; i < st.brokers.size(); ++i) {
        st.brokers[i]->stop();
        st.restart_broker(i);
    }
    std::vector<test::broker*> targets;
    for (auto& b : st.brokers) targets.push_back(b.get());
    const storm_result r = connect_storm(targets, "m", n, 2000);
    report("connections_5_brokers", static_cast<double>(r.connected), "clients", std::nullopt,
           std::to_string(per_broker) + " per broker (20,000 descriptors per process here)");
    report("connections_5_brokers_s", r.seconds, "s", std::nullopt,
           std::to_string(static_cast<int>(static_cast<double>(r.connected) / r.seconds)) + " connects/s, at most 2,000 under way");
    report("connections_5_brokers_rss_per_conn_kb", r.rss_per_conn_kib, "KiB", std::nullopt,
           "the brokers' resident memory per connection");
}

} // namespace

void run_brokers(const settings& s) {
    // One broker, no hub: the baseline.
    double one_rate = 0, one_p99 = 0;
    {
        test::temp_dir dir("bench-brokers-1");
        test::pg_cluster db(dir);
        test::admin_ok(db.conninfo(), {"migrate"});
        test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", "bridge-pw", "--bridge"});
        const chat_world w = seeded_world(db.conninfo(), s);
        test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
        mqtt.start();
        test::bridge bridge(dir, db.conninfo(), mqtt.port(), "bridge-pw");
        bridge.start();
        const chat_figures f = measure_chat(s, w, {mqtt.port()}, 0);
        one_rate = f.rate;
        one_p99 = f.p99;
    }
    for (const int n : s.quick ? std::vector<int>{3} : std::vector<int>{1, 3, 5}) {
        test::fabric_stack st("bench-brokers", n, 1);
        const chat_world w = seeded_world(st.conninfo(), s);
        std::vector<int> ports;
        for (std::size_t i = 0; i < st.brokers.size(); ++i) ports.push_back(st.port(i));
        const chat_figures f = measure_chat(s, w, ports, st.hub->pid());
        const std::string name = "brokers_" + std::to_string(n);
        report(name + "_stored_chat_rate", f.rate, "msg/s", one_rate,
               "users spread over " + std::to_string(n) + " brokers and a hub; baseline: one broker, no hub");
        report(name + "_stored_chat_p99_ms", f.p99, "ms", one_p99, "at half the saturation rate (p50 " +
                                                                       std::to_string(f.p50) + " ms)");
        report(name + "_hub_cpu_ms_per_1000", f.hub_ms, "ms", std::nullopt, "the fabric's cost");
    }
    measure_many_connections(s);
    const auto [seconds, clients] = measure_failover(s);
    report("failover_s", seconds, "s", std::nullopt,
           std::to_string(clients) + " clients of the killed broker (of 3) back through HAProxy and caught up");
}

} // namespace mqchat::bench
