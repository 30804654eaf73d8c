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
// Case "desks_ws": the same rush as the web sees it, over MQTT over
// WebSocket with MQTT.js (bench/desk_visitors.mjs): each visitor knocks with
// the site key, asks desk.visit, logs in again with its guest token and
// writes; the agents are consoles on WebSocket too.
//
//  - desk_ws_assign_p50_ms / p99: from the visitor's desk.visit to the
//    routing's desk.assigned notice at the agent.
//  - desk_ws_message_p50_ms / p99: the visitor's first message, widget to console.
//
// No baseline: bare Mosquitto has no desks.

#include <mosquitto.h>

#include <atomic>
#include <cstring>
#include <map>
#include <sstream>
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

/// The schema, the bridge identity, and desk "bench": least_busy routing,
/// agents agent0 … agent19 (password "pw") of capacity 100.
void make_bench_desk(const std::string& conninfo) {
    test::admin_ok(conninfo, {"migrate"});
    {
        pg::connection c(conninfo);
        add_bridge_user(c);
        add_users(c, "agent", agents, cheap_hash("pw"));
    }
    test::admin_ok(conninfo, {"desk", "create", "bench"});
    test::admin_ok(conninfo, {"desk", "routing", "bench", "least_busy"});
    for (int a = 0; a < agents; ++a)
        test::admin_ok(conninfo, {"desk", "add-agent", "bench", numbered("agent", static_cast<std::uint64_t>(a)),
                                  "--capacity", "100"});
}

} // namespace

void run_desks(const settings& s) {
    const int visitors = s.quick ? 200 : 2000;
    const double arrivals_per_s = 200;

    test::temp_dir dir("bench-desks");
    test::pg_cluster db(dir);
    make_bench_desk(db.conninfo());
    {
        pg::connection c(db.conninfo());
        add_users(c, "visitor", visitors, cheap_hash("pw"));
    }
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

void run_desks_ws(const settings& s) {
    const int visitors = s.quick ? 200 : 2000;
    // MQCHAT_BENCH_DESKS_RATE: another arrival rate; MQCHAT_BENCH_DESKS_TRANSPORT=tcp: the
    // visitors over plain MQTT (the same knock, visit and login), to tell the
    // WebSocket listener's share from the rest.
    const char* rate_env = std::getenv("MQCHAT_BENCH_DESKS_RATE");
    const int arrivals_per_s = rate_env && std::atoi(rate_env) > 0 ? std::atoi(rate_env) : 200;
    const char* transport_env = std::getenv("MQCHAT_BENCH_DESKS_TRANSPORT");
    const bool tcp = transport_env && std::string(transport_env) == "tcp";
    // MQCHAT_BENCH_DESKS_BROKERS=N: N brokers linked by a hub (docs/operations.md,
    // "More than one broker") behind HAProxy, visitors and agents spread over them.
    const char* brokers_env = std::getenv("MQCHAT_BENCH_DESKS_BROKERS");
    const int broker_count = brokers_env && std::atoi(brokers_env) > 1 ? std::atoi(brokers_env) : 1;
    // MQCHAT_BENCH_DESKS_FRONT=mosquitto: the WebSocket clients on Mosquitto's
    // own WebSocket listener instead of mqchat-gateway (docs/gateway.md).
    const char* front_env = std::getenv("MQCHAT_BENCH_DESKS_FRONT");
    const bool through_gateway = broker_count == 1 && !(front_env && std::string(front_env) == "mosquitto");

    test::temp_dir dir("bench-desks-ws");
    const std::string secret_file = dir.file("token.secret");
    test::write_secret_file(secret_file, "desks-ws-bench-secret-of-more-than-32-bytes\n");

    const int ws_port = test::free_port();
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(dir);
    o.plugin_options.push_back("jwt_hs256_secret_file " + secret_file);
    // Every visitor knocks from 127.0.0.1: the per-address cap would measure itself.
    o.plugin_options.push_back("knocks_per_minute_per_address 0");
    o.plugin_options.push_back("knocks_per_minute_per_site_key 0");
    o.plugin_options.push_back("forwarded_by 127.0.0.1");
    const std::vector<std::string> ws_listener = {"listener " + std::to_string(ws_port) + " 127.0.0.1",
                                                  "protocol websockets", "socket_domain ipv4"};
    // One broker with a WebSocket listener, or several behind HAProxy; the
    // visitors' and agents' WebSocket and MQTT ports either way.
    std::unique_ptr<test::pg_cluster> own_db;
    std::unique_ptr<test::broker> b;
    std::unique_ptr<test::fabric_stack> fabric;
    std::unique_ptr<test::bridge> store;
    std::unique_ptr<test::web_gateway> gateway;
    int visitor_ws_port = ws_port, mqtt_port = 0;
    std::string conninfo;
    if (broker_count == 1) {
        own_db = std::make_unique<test::pg_cluster>(dir);
        conninfo = own_db->conninfo();
        make_bench_desk(conninfo);
        o.extra_lines = ws_listener;
        b = std::make_unique<test::broker>(dir, conninfo, o, "desks-ws");
        b->start();
        mqtt_port = b->port();
        store = std::make_unique<test::bridge>(dir, conninfo, mqtt_port, bridge_password, "desks-ws-bridge",
                                               std::vector<std::string>{"visitor_token_secret_file " + secret_file});
        if (through_gateway) {
            gateway = std::make_unique<test::web_gateway>(dir, mqtt_port);
            gateway->start();
            visitor_ws_port = gateway->port();
        }
    } else {
        fabric = std::make_unique<test::fabric_stack>("bench-desks-ws-fabric", broker_count, 0, o, true);
        conninfo = fabric->conninfo();
        make_bench_desk(conninfo);
        fabric->start_load_balancer();
        visitor_ws_port = fabric->load_balancer_ws_port();
        mqtt_port = fabric->load_balancer_port();
        store = std::make_unique<test::bridge>(fabric->dir, conninfo, fabric->hub->port(),
                                               test::fabric_stack::bridge_password, "desks-ws-bridge",
                                               std::vector<std::string>{"visitor_token_secret_file " + secret_file});
    }
    store->start();
    const std::string key = test::last_word(
        test::admin_ok(conninfo, {"site-key", "create", "bench", "--label", "bench", "--secret-file", secret_file}));

    // bench/desk_visitors.mjs with these settings; its figures by name.
    auto drive = [&](int port, std::vector<std::string> env) {
        env.insert(env.end(), {"MQCHAT_WS=ws://127.0.0.1:" + std::to_string(port) + "/mqtt",
                               "MQCHAT_VISITORS=" + std::to_string(visitors), "MQCHAT_RATE=" + std::to_string(arrivals_per_s)});
        std::string out;
        const int rc = test::run_command({"node", test::source_dir() + "/bench/desk_visitors.mjs"}, out, env);
        std::map<std::string, double> figure;
        std::istringstream lines(out);
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind("error ", 0) == 0) throw std::runtime_error(line.substr(6));
            if (line.rfind("figure ", 0) != 0) continue;
            const auto space = line.find(' ', 7);
            figure[line.substr(7, space - 7)] = std::atof(line.c_str() + space + 1);
        }
        if (rc != 0 || figure.size() < 11) throw std::runtime_error("bench/desk_visitors.mjs failed:\n" + out);
        return figure;
    };
    auto figure = drive(visitor_ws_port, {"MQCHAT_SITE_KEY=" + key, "MQCHAT_AGENTS=" + std::to_string(agents),
                                          tcp ? "MQCHAT_VISITOR_URL=mqtt://127.0.0.1:" + std::to_string(mqtt_port)
                                              : "MQCHAT_VISITOR_URL="});
    if (gateway) gateway->stop();
    store->stop();
    if (b) b->stop();
    fabric.reset();

    // The baseline: bare Mosquitto with the same listeners, the same
    // connections at the same pace, a round trip in place of desk.visit.
    test::broker_options bare_options;
    bare_options.with_plugin = false;
    bare_options.allow_anonymous = true;
    bare_options.extra_lines = ws_listener;
    test::broker bare(dir, conninfo, bare_options, "desks-ws-bare");
    bare.start();
    auto baseline = drive(ws_port, {"MQCHAT_BARE=1", "MQCHAT_AGENTS=0",
                                    tcp ? "MQCHAT_VISITOR_URL=mqtt://127.0.0.1:" + std::to_string(bare.port()) : "MQCHAT_VISITOR_URL="});
    bare.stop();

    if (figure["assigned"] != visitors || figure["messages"] != visitors)
        throw std::runtime_error(std::to_string(int(figure["assigned"])) + " of " + std::to_string(visitors) +
                                 " assigned, " + std::to_string(int(figure["messages"])) + " first messages arrived");
    const std::string what = std::to_string(visitors) + " web visitors at " + std::to_string(arrivals_per_s) + "/s, " +
                             std::to_string(agents) +
                             " agents (least_busy, capacity 100), MQTT.js over " +
                             (tcp ? "TCP" : through_gateway ? "WebSocket through mqchat-gateway" : "WebSocket (Mosquitto's listener)") +
                             ": knock, desk.visit, guest login" +
                             (broker_count > 1 ? "; " + std::to_string(broker_count) + " brokers behind HAProxy" : "");
    report("desk_ws_assign_p50_ms", figure["assign_p50_ms"], "ms", std::nullopt, what);
    report("desk_ws_assign_p99_ms", figure["assign_p99_ms"], "ms", std::nullopt, "desk.visit to the agent's desk.assigned");
    report("desk_ws_visit_p50_ms", figure["visit_p50_ms"], "ms", baseline["visit_p50_ms"],
           "desk.visit to its answer with the token; bare: a round trip through bare Mosquitto, same connections and pace");
    report("desk_ws_visit_p99_ms", figure["visit_p99_ms"], "ms", baseline["visit_p99_ms"]);
    report("desk_ws_message_p50_ms", figure["message_p50_ms"], "ms", std::nullopt, "first message, widget to console");
    report("desk_ws_message_p99_ms", figure["message_p99_ms"], "ms");
    report("desk_ws_loadgen_delay_p99_ms", figure["loadgen_delay_p99_ms"], "ms", std::nullopt,
           "how late the load generator's own event loop ran (its CPU: " +
               std::to_string(static_cast<int>(figure["loadgen_cpu_s"] + 0.5)) + " s)");
}

} // namespace mqchat::bench
