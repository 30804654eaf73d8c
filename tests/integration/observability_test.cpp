// What an operator sees of a running stack (docs/operations.md, "Watching
// it run"): the plugin's and the bridge's Prometheus metrics, checked by
// Debian's promtool and scraped by a real Prometheus server; the bridge's
// liveness and readiness following the database and the broker; log lines
// in Mosquitto's shape without secrets or message bodies, at the level the
// config sets.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/http_get.hpp"
#include "support/mqtt_client.hpp"
#include "support/process.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret_body = "zebra-quartz-7731 is the body nobody may log";
constexpr const char* alice_pw = "alice-pw-never-logged";

broker_options with_plugin_options(std::vector<std::string> options) {
    broker_options o;
    o.plugin_options = std::move(options);
    return o;
}

struct fixture {
    int plugin_metrics_port = free_port();
    int bridge_metrics_port = free_port();
    chat_stack stack{"observe", with_plugin_options({"metrics_listen 127.0.0.1:" + std::to_string(plugin_metrics_port)})};
    std::int64_t conv = 0;
    fixture() {
        stack.add_user("alice", alice_pw);
        stack.add_user("bob", "bob-pw");
        conv = stack.create_conv({"alice", "bob"});
        stack.restart_bridge(bridge_settings());
    }
    /// The bridge's settings in this suite (more may follow).
    std::vector<std::string> bridge_settings(std::vector<std::string> more = {}) const {
        more.insert(more.begin(), {"metrics_listen 127.0.0.1:" + std::to_string(bridge_metrics_port),
                                   "ready_store_lag_ms 1500"});
        return more;
    }
    std::string bridge_url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(bridge_metrics_port) + path;
    }
    std::string plugin_url() const { return "http://127.0.0.1:" + std::to_string(plugin_metrics_port) + "/metrics"; }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

std::string json_out(const Json::Value& v) {
    Json::StreamWriterBuilder b;
    b["indentation"] = "";
    return Json::writeString(b, v);
}

std::string send_topic(std::int64_t conv) { return "chat/conv/" + std::to_string(conv) + "/send"; }

/// Waits until `url` answers with `status`; returns the last answer.
http_answer wait_status(const std::string& url, long status, std::chrono::milliseconds timeout = 30s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    http_answer a;
    do {
        a = http_get(url);
        if (a.status == status) return a;
        std::this_thread::sleep_for(200ms);
    } while (std::chrono::steady_clock::now() < until);
    return a;
}

/// Waits until the sample in the exposition at `url` is at least `at_least`.
double wait_sample(const std::string& url, const std::string& series, double at_least) {
    double v = -1;
    for (int i = 0; i < 150; ++i) {
        v = sample_value(http_get(url).body, series);
        if (v >= at_least) return v;
        std::this_thread::sleep_for(100ms);
    }
    return v;
}

/// promtool check metrics: exit code and what it said.
std::pair<int, std::string> promtool_check(const std::string& exposition, const temp_dir& dir, const std::string& name) {
    const std::string file = dir.path() + "/" + name + ".prom";
    write_file(file, exposition);
    std::string out;
    const int rc = run_command({"/bin/sh", "-c", "promtool check metrics < " + file}, out);
    return {rc, out};
}

class observability_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(observability_test);
    CPPUNIT_TEST(metrics_count_what_happened_and_pass_promtool);
    CPPUNIT_TEST(prometheus_scrapes_both_endpoints);
    CPPUNIT_TEST(every_metric_is_documented);
    CPPUNIT_TEST(readiness_follows_the_database_and_the_broker);
    CPPUNIT_TEST(logs_are_shaped_like_mosquittos_and_hold_no_secrets);
    CPPUNIT_TEST(database_notices_go_to_the_handler_not_stderr);
    CPPUNIT_TEST(log_level_and_bad_options);
    CPPUNIT_TEST(admin_status_sums_it_up);
    CPPUNIT_TEST_SUITE_END();

public:
    void metrics_count_what_happened_and_pass_promtool() {
        auto& f = shared();
        const std::string plugin_before = http_get(f.plugin_url()).body;
        CPPUNIT_ASSERT_MESSAGE(plugin_before, !plugin_before.empty());
        const double sends_before =
            std::max(0.0, sample_value(plugin_before, "mqchat_plugin_messages_total{kind=\"send\"}"));

        auto alice = login(f.stack.port(), "alice", alice_pw, "alice-phone");
        auto bob = login(f.stack.port(), "bob", "bob-pw", "bob-phone");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox"));
        for (int i = 0; i < 5; ++i) {
            Json::Value env;
            env["id"] = "obs-" + std::to_string(i);
            env["body"] = secret_body;
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(send_topic(f.conv), json_out(env)));
        }
        // A malformed send (refused by the plugin) and a wrong password.
        alice->publish(send_topic(f.conv), "{\"id\":\"broken\",");
        mqtt_client wrong(f.stack.port(), client_options{"bob-wrong", "bob", "not-bobs-password"});
        wrong.retry_when_closed(false);
        CPPUNIT_ASSERT(wrong.connect() != 0);

        CPPUNIT_ASSERT(wait_sample(f.bridge_url("/metrics"), "mqchat_messages_stored_total", 5) >= 5);
        CPPUNIT_ASSERT(wait_sample(f.bridge_url("/metrics"), "mqchat_messages_delivered_total", 5) >= 5);
        // Their search entries, merged into the index in the background (within a second).
        CPPUNIT_ASSERT(wait_sample(f.bridge_url("/metrics"), "mqchat_search_index_merged_pages_total", 1) >= 1);
        const std::string bridge = http_get(f.bridge_url("/metrics")).body;
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_store_batch_messages_count") >= 1);
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_broker_connected{link=\"chat\"}") == 1);
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_broker_connected{link=\"requests\"}") == 1);
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_database_up") == 1);
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_store_lag_seconds") >= 0);
        // A request, timed by method.
        rpc_caller carol_like(f.stack.port(), "bob", "bob-pw");
        const Json::Value page = carol_like.call("history", params({{"conv", Json::Int64(f.conv)}}));
        CPPUNIT_ASSERT_MESSAGE(json_out(page), page.isMember("result"));
        CPPUNIT_ASSERT(wait_sample(f.bridge_url("/metrics"),
                                   "mqchat_request_duration_seconds_count{method=\"history\"}", 1) >= 1);
        // Users and conversations from the database (every 15 s, the first at start).
        CPPUNIT_ASSERT(wait_sample(f.bridge_url("/metrics"), "mqchat_users", 3) >= 3);

        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_plugin_messages_total{kind=\"send\"}", sends_before + 5) >=
                       sends_before + 5);
        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_publishes_refused_total{code=\"invalid_json\"}", 1) >= 1);
        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_logins_refused_total{reason=\"wrong_password\"}", 1) >= 1);
        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_logins_total{outcome=\"accepted\"}", 2) >= 2);
        // Gauges come from TICK (once a second): two chat clients and the bridge's two (not counted).
        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_connections", 2) >= 2);
        CPPUNIT_ASSERT(wait_sample(f.plugin_url(), "mqchat_broker_users_online", 2) >= 2);

        const auto plugin_check = promtool_check(http_get(f.plugin_url()).body, f.stack.dir, "plugin");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(plugin_check.second, 0, plugin_check.first);
        const auto bridge_answer = http_get(f.bridge_url("/metrics"));
        CPPUNIT_ASSERT(bridge_answer.content_type.find("text/plain; version=0.0.4") == 0);
        const auto bridge_check = promtool_check(bridge_answer.body, f.stack.dir, "bridge");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bridge_check.second, 0, bridge_check.first);
        // Anything but the three paths is not there; only GET.
        CPPUNIT_ASSERT_EQUAL(404L, http_get(f.bridge_url("/metrics/../etc/passwd")).status);
        CPPUNIT_ASSERT_EQUAL(404L, http_get(f.plugin_url() + "x").status);
    }

    /// docs/operations.md lists what an operator can watch: every metric
    /// family either endpoint exposes (its `# HELP` line) is named there.
    void every_metric_is_documented() {
        auto& f = shared();
        const std::string docs = read_file(source_dir() + "/docs/operations.md");
        std::vector<std::string> names;
        for (const std::string& endpoint : {f.plugin_url(), f.bridge_url("/metrics")}) {
            const std::string body = http_get(endpoint).body;
            std::istringstream lines(body);
            for (std::string line; std::getline(lines, line);) {
                if (line.rfind("# HELP ", 0) != 0) continue;
                const std::string name = line.substr(7, line.find(' ', 7) - 7);
                names.push_back(name);
                CPPUNIT_ASSERT_MESSAGE(name + " (from " + endpoint + ") is not in docs/operations.md",
                                       docs.find("`" + name + "`") != std::string::npos ||
                                           docs.find("`" + name + "{") != std::string::npos);
            }
        }
        // Both endpoints answered with their families, the retention job's among them
        // (retention_interval_s is 60 by default).
        CPPUNIT_ASSERT(std::find(names.begin(), names.end(), "mqchat_plugin_messages_total") != names.end());
        CPPUNIT_ASSERT(std::find(names.begin(), names.end(), "mqchat_retention_purged_rows_total") != names.end());
    }

    void prometheus_scrapes_both_endpoints() {
        auto& f = shared();
        const int port = free_port();
        const std::string dir = f.stack.dir.path() + "/prometheus";
        std::filesystem::create_directories(dir + "/data");
        write_file(dir + "/prometheus.yml",
                   "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n"
                   "  - job_name: mqchat-bridge\n    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(f.bridge_metrics_port) +
                       "']\n"
                       "  - job_name: mqchat-plugin\n    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(f.plugin_metrics_port) + "']\n");
        child_process prometheus({"prometheus", "--config.file=" + dir + "/prometheus.yml",
                                  "--storage.tsdb.path=" + dir + "/data",
                                  "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                                 dir + "/prometheus.log");
        CPPUNIT_ASSERT_MESSAGE(read_file(dir + "/prometheus.log"), wait_port(port, 30000));
        const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query?query=";
        // Both targets up, and a counter of each as the server stored it.
        auto value_of = [&](const std::string& query) {
            const auto a = http_get(api + query);
            Json::Value v;
            Json::Reader().parse(a.body, v);
            double total = -1;
            for (const auto& r : v["data"]["result"]) total = std::max(total, std::stod(r["value"][1].asString()));
            return std::make_pair(total, a.body + "\n" + read_file(dir + "/prometheus.log"));
        };
        std::pair<double, std::string> up, stored, logins;
        for (int i = 0; i < 60; ++i) {
            up = value_of("sum(up)");
            stored = value_of("mqchat_messages_stored_total");
            logins = value_of("sum(mqchat_logins_total)");
            if (up.first == 2 && stored.first >= 5 && logins.first >= 2) break;
            std::this_thread::sleep_for(500ms);
        }
        CPPUNIT_ASSERT_MESSAGE(up.second, up.first == 2);
        CPPUNIT_ASSERT_MESSAGE(stored.second, stored.first >= 5);
        CPPUNIT_ASSERT_MESSAGE(logins.second, logins.first >= 2);
        // Every query of the shipped Grafana dashboard is one this Prometheus accepts.
        Json::Value dashboard;
        CPPUNIT_ASSERT(Json::Reader().parse(read_file(source_dir() + "/docs/grafana/mqchat.json"), dashboard));
        int queries = 0;
        for (const auto& panel : dashboard["panels"])
            for (const auto& target : panel["targets"]) {
                const auto a = http_get(api + url_encode(target["expr"].asString()));
                CPPUNIT_ASSERT_MESSAGE(target["expr"].asString() + ": " + a.body,
                                       a.status == 200 && a.body.find("\"status\":\"success\"") != std::string::npos);
                ++queries;
            }
        CPPUNIT_ASSERT(queries >= 20);
        prometheus.stop();
    }

    void readiness_follows_the_database_and_the_broker() {
        auto& f = shared();
        auto live = http_get(f.bridge_url("/healthz"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(live.body, 200L, live.status);
        auto ready = wait_status(f.bridge_url("/readyz"), 200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);
        CPPUNIT_ASSERT(ready.content_type == "application/json");
        Json::Value v;
        Json::Reader().parse(ready.body, v);
        CPPUNIT_ASSERT_MESSAGE(ready.body, v["checks"]["database"]["ok"].asBool());
        CPPUNIT_ASSERT_MESSAGE(ready.body, v["checks"]["broker"]["ok"].asBool());
        CPPUNIT_ASSERT_MESSAGE(ready.body, v["checks"]["store_lag"]["ok"].asBool());

        // The database frozen (a stalled disk): messages wait, the probe gets no answer.
        auto alice = login(f.stack.port(), "alice", alice_pw, "alice-ready");
        f.stack.db.freeze();
        Json::Value env;
        env["id"] = "during-freeze";
        env["body"] = "waits for the database";
        alice->publish(send_topic(f.conv), json_out(env));
        ready = wait_status(f.bridge_url("/readyz"), 503);
        f.stack.db.thaw();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 503L, ready.status);
        Json::Reader().parse(ready.body, v);
        CPPUNIT_ASSERT_MESSAGE(ready.body, !v["checks"]["database"]["ok"].asBool() ||
                                               !v["checks"]["store_lag"]["ok"].asBool());
        // Still alive: the loop turns (it retries), a restart would mend nothing.
        live = http_get(f.bridge_url("/healthz"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(live.body, 200L, live.status);
        ready = wait_status(f.bridge_url("/readyz"), 200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);

        // PostgreSQL stopped: not ready, naming the database; back when it is.
        f.stack.db.stop();
        ready = wait_status(f.bridge_url("/readyz"), 503);
        Json::Reader().parse(ready.body, v);
        CPPUNIT_ASSERT_MESSAGE(ready.body, !v["checks"]["database"]["ok"].asBool());
        f.stack.db.start();
        ready = wait_status(f.bridge_url("/readyz"), 200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);

        // The broker killed: not ready (broker down) until it is back.
        f.stack.mqtt->stop(9);
        ready = wait_status(f.bridge_url("/readyz"), 503);
        Json::Reader().parse(ready.body, v);
        CPPUNIT_ASSERT_MESSAGE(ready.body, !v["checks"]["broker"]["ok"].asBool());
        std::string stood_still; // asserted once the broker is back (a client of this test cannot go while it is away)
        {
            // Its host then answers no connection attempt (gone behind a
            // firewall): the store loop's link reconnects (after 1, 2, 4, 5 s)
            // without waiting out the handshake, and the loop goes on turning.
            const silent_port gone(f.stack.port());
            const auto last_turn = [&] { // when the loop last turned, by /healthz ("last turn N ms ago")
                const auto asked = std::chrono::steady_clock::now();
                Json::Value h;
                Json::Reader().parse(http_get(f.bridge_url("/healthz")).body, h);
                std::smatch ago;
                const std::string said = h["checks"]["loop"]["detail"].asString();
                if (!std::regex_search(said, ago, std::regex("last turn ([0-9]+) ms ago")))
                    throw std::runtime_error("/healthz says " + said);
                return asked - std::chrono::milliseconds(std::stoll(ago[1]));
            };
            auto before = last_turn();
            for (int second = 1; second <= 7 && stood_still.empty(); ++second) { // a reconnect attempt comes within 5 s
                std::this_thread::sleep_for(1s);
                const auto now = last_turn();
                if (now <= before) stood_still = "the store loop stood still in second " + std::to_string(second);
                before = now;
            }
        }
        f.stack.mqtt->start();
        CPPUNIT_ASSERT_EQUAL(std::string(), stood_still);
        ready = wait_status(f.bridge_url("/readyz"), 200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);
        const std::string bridge = http_get(f.bridge_url("/metrics")).body;
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_broker_disconnects_total{link=\"chat\"}") >= 1);
        // The stopped database shows as lost connections and failed connects, then new ones.
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_database_errors_total{kind=\"connection_lost\"}") +
                                               sample_value(bridge, "mqchat_database_connects_total{outcome=\"failed\"}") >=
                                           1);
        CPPUNIT_ASSERT_MESSAGE(bridge, sample_value(bridge, "mqchat_database_connects_total{outcome=\"ok\"}") >= 2);
    }

    void logs_are_shaped_like_mosquittos_and_hold_no_secrets() {
        auto& f = shared();
        const std::string bridge_log = f.stack.store->log();
        const std::string broker_log = f.stack.mqtt->log();
        for (const auto* log : {&bridge_log, &broker_log}) {
            CPPUNIT_ASSERT(log->find("zebra-quartz-7731") == std::string::npos);
            CPPUNIT_ASSERT(log->find(alice_pw) == std::string::npos);
            CPPUNIT_ASSERT(log->find("not-bobs-password") == std::string::npos);
            CPPUNIT_ASSERT(log->find(chat_stack::bridge_password) == std::string::npos);
        }
        // Every line of the bridge's own log: "<epoch seconds>: mqchat-bridge: …",
        // warnings and errors saying so. (The first lines may be the
        // settings' check from before the logger runs: none here.)
        const std::regex shape(R"(^\d{10}: mqchat-bridge: .+$)");
        std::istringstream lines(bridge_log);
        std::string line;
        int checked = 0;
        while (std::getline(lines, line)) {
            CPPUNIT_ASSERT_MESSAGE(line, std::regex_match(line, shape));
            ++checked;
        }
        CPPUNIT_ASSERT(checked >= 3);
        CPPUNIT_ASSERT_MESSAGE(bridge_log, bridge_log.find(": mqchat-bridge: running (broker") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(bridge_log, bridge_log.find(": mqchat-bridge: warning: ") != std::string::npos);
    }

    /// What the server says outside a query's result (a notice; on shutdown, "FATAL: terminating
    /// connection due to administrator command" to every idle connection) reaches the handler a
    /// daemon set — its log, in its shape — never raw on stderr, where CI once found such a line in
    /// the bridge's log.
    void database_notices_go_to_the_handler_not_stderr() {
        auto& f = shared();
        static std::vector<std::string> heard;
        pg::set_notice_handler([](const char* message) { heard.emplace_back(message); });
        {
            pg::connection db(f.stack.conninfo());
            db.exec("DO $$ BEGIN RAISE NOTICE 'the database speaks'; END $$");
        }
        pg::set_notice_handler(nullptr);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), heard.size());
        CPPUNIT_ASSERT_EQUAL(std::string("NOTICE:  the database speaks\n"), heard[0]);
        // The bridge's own log after its connections were ended by the server: still one shape.
        {
            pg::connection admin(f.stack.conninfo());
            admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE application_name LIKE 'mqchat-bridge%'");
        }
        auto ready = wait_status(f.bridge_url("/readyz"), 200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);
        const std::regex shape(R"(^\d{10}: mqchat-bridge: .+$)");
        std::istringstream lines(f.stack.store->log());
        for (std::string line; std::getline(lines, line);) CPPUNIT_ASSERT_MESSAGE(line, std::regex_match(line, shape));
    }

    void log_level_and_bad_options() {
        auto& f = shared();
        // debug: one line per stored batch; info (the default) has none.
        CPPUNIT_ASSERT(f.stack.store->log().find("debug:") == std::string::npos);
        f.stack.restart_bridge(f.bridge_settings({"log_level debug"}));
        auto alice = login(f.stack.port(), "alice", alice_pw, "alice-debug");
        Json::Value env;
        env["id"] = "debug-1";
        env["body"] = secret_body;
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send_topic(f.conv), json_out(env)));
        std::string log;
        for (int i = 0; i < 100 && (log = f.stack.store->log()).find("debug: stored a batch") == std::string::npos; ++i)
            std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("mqchat-bridge: debug: stored a batch of 1") != std::string::npos);
        CPPUNIT_ASSERT(log.find("zebra-quartz-7731") == std::string::npos);

        // Bad values are startup errors naming the option.
        const std::string conf = f.stack.dir.path() + "/bad-observe.conf";
        write_file(conf, "db_conninfo " + f.stack.conninfo() + "\nmqtt_password_file /dev/null\n"
                         "log_level loud\nmetrics_listen 999999\n");
        std::string out;
        CPPUNIT_ASSERT(run_command({bin_dir() + "/mqchat-bridge", "--check", conf}, out) != 0);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("log_level 'loud' is not a log level") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("metrics_listen '999999' is not a listen address") != std::string::npos);
        const broker_options bad = with_plugin_options({"metrics_listen localhost:80x"});
        broker b(f.stack.dir, f.stack.conninfo(), bad, "bad-metrics");
        CPPUNIT_ASSERT(b.start_expecting_exit() != 0);
        CPPUNIT_ASSERT_MESSAGE(b.log(), b.log().find("plugin_opt_metrics_listen") != std::string::npos);
        // The port in use: the plugin cannot start its endpoint, and says where.
        const broker_options taken =
            with_plugin_options({"metrics_listen 127.0.0.1:" + std::to_string(f.plugin_metrics_port)});
        broker c(f.stack.dir, f.stack.conninfo(), taken, "taken-metrics");
        CPPUNIT_ASSERT(c.start_expecting_exit() != 0);
        CPPUNIT_ASSERT_MESSAGE(c.log(), c.log().find("cannot listen on 127.0.0.1:" +
                                                     std::to_string(f.plugin_metrics_port)) != std::string::npos);
    }

    void admin_status_sums_it_up() {
        auto& f = shared();
        const std::string bridge = "127.0.0.1:" + std::to_string(f.bridge_metrics_port);
        std::string out;
        // Everything up (the bridge may still be connecting after the last
        // case, whose refused brokers' worker processes may still be ending).
        int rc = 1;
        for (int i = 0; i < 100; ++i) {
            rc = admin(f.stack.conninfo(), {"status", "--bridge", bridge}, out);
            if (rc == 0 && out.find("1 broker with the plugin") != std::string::npos) break;
            std::this_thread::sleep_for(200ms);
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        for (const char* line : {"database     ok    PostgreSQL 15", "brokers      ok    1 broker with the plugin",
                                 "bridges      ok    1 bridge running", "outbox       ok", "users        ok    3 users"})
            CPPUNIT_ASSERT_MESSAGE(out, out.find(line) != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("bridge       ok    http://" + bridge + "/readyz: ") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("FAIL") == std::string::npos);
        // Read-only: not in the audit log.
        CPPUNIT_ASSERT(admin_ok(f.stack.conninfo(), {"audit"}).find("status") == std::string::npos);

        // The bridge stopped: both its lines FAIL, and the command says so by its exit code.
        f.stack.store->stop();
        rc = admin(f.stack.conninfo(), {"status", "--bridge", bridge}, out);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("bridges      FAIL  no mqchat-bridge is connected") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("bridge       FAIL  http://" + bridge + "/readyz: no answer") !=
                                        std::string::npos);
        // A message sent meanwhile waits in the broker's queue for the bridge, not in the outbox.
        f.stack.store->start();

        // The database stopped: said in one line; the bridge is still asked (not ready).
        f.stack.db.stop();
        rc = admin(f.stack.conninfo(), {"status", "--bridge", bridge}, out);
        f.stack.db.start();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("database     FAIL  cannot be reached: ") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("bridge       ") != std::string::npos);
        // Installed: no MQCHAT_DB, no scripts/run directory; the bridge's
        // config names the database (MQCHAT_CONF_DIR stands in for /etc/mqchat).
        const std::string etc = f.stack.dir.file("etc-mqchat");
        std::filesystem::create_directories(etc);
        write_file(etc + "/bridge.conf", "# as installed\ndb_conninfo " + f.stack.conninfo() + "\n");
        rc = run_command({bin_dir() + "/mqchat-admin", "status"}, out,
                         {"MQCHAT_DB=", "MQCHAT_VAR=", "MQCHAT_CONF_DIR=" + etc});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("database     ok") != std::string::npos);
        rc = run_command({bin_dir() + "/mqchat-admin", "status"}, out,
                         {"MQCHAT_DB=", "MQCHAT_VAR=", "MQCHAT_CONF_DIR=" + etc + "/none"});
        CPPUNIT_ASSERT_MESSAGE(out, rc != 0 && out.find("no database: set MQCHAT_DB") != std::string::npos);
        // The admin tool's own log: on stderr, in the same shape, at MQCHAT_LOG_LEVEL.
        rc = run_command({bin_dir() + "/mqchat-admin", "conv", "list", "alice"}, out,
                         {"MQCHAT_DB=" + f.stack.conninfo(), "MQCHAT_LOG_LEVEL=debug"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, std::regex_search(out, std::regex(R"(\d{10}: mqchat-admin: debug: conv list exited 0 after \d+ ms)")));
        rc = admin(f.stack.conninfo(), {"conv", "list", "alice"}, out);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("debug:") == std::string::npos);
        rc = admin(f.stack.conninfo(), {"conv", "list", "nobody-here"}, out);
        CPPUNIT_ASSERT_MESSAGE(out, rc == 1 && std::regex_search(out, std::regex(R"(\d{10}: mqchat-admin: error: )")));
        rc = run_command({bin_dir() + "/mqchat-admin", "conv", "list", "alice"}, out,
                         {"MQCHAT_DB=" + f.stack.conninfo(), "MQCHAT_LOG_LEVEL=chatty"});
        CPPUNIT_ASSERT_MESSAGE(out, rc == 2 && out.find("MQCHAT_LOG_LEVEL 'chatty' is not a log level") != std::string::npos);
        // Bad arguments: usage, exit 2.
        CPPUNIT_ASSERT_EQUAL(2, admin(f.stack.conninfo(), {"status", "--bridges", bridge}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("unexpected argument '--bridges'") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(observability_test);

} // namespace
