// mqchat-gateway (docs/gateway.md) between WebSocket clients and a real
// broker with the plugin, the bridge and PostgreSQL: MQTT over WebSocket
// both ways (a hand-framed client that splits its CONNECT across messages,
// and Paho over TLS), a visitor's own address reaching the plugin's knock
// cap, forged addresses refused, the web files served and nothing outside
// them, hostile clients closed with nothing changed, a broker that is not
// there, bad settings, and a gateway killed mid-conversation losing and
// doubling nothing.

#include <cppunit/extensions/HelperMacros.h>
#include <mqtt/async_client.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/environment.hpp"
#include "support/http_get.hpp"
#include "support/mqtt_client.hpp"
#include "support/process.hpp"
#include "support/raw_mqtt.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

const std::string token_secret = "gateway-test-secret-of-more-than-32-bytes";

struct fixture {
    temp_dir keys{"gateway-keys"}, web{"gateway-web"}, certs{"gateway-tls"};
    std::string secret_file = write_secret(keys.file("token.secret"));
    chat_stack stack{"gateway", plugin_options(secret_file)};
    std::int64_t conv = 0;
    std::string site_key;
    int tls_port = free_port();
    std::unique_ptr<web_gateway> gateway;

    static std::string write_secret(const std::string& path) {
        write_secret_file(path, token_secret + "\n");
        return path;
    }
    /// Three knocks a minute from one address; the gateway's address is believed.
    static broker_options plugin_options(const std::string& secret_file) {
        broker_options o;
        o.plugin_options = {"jwt_hs256_secret_file " + secret_file, "knocks_per_minute_per_address 3",
                            "knocks_per_minute_per_site_key 1000", "forwarded_by 127.0.0.1"};
        return o;
    }
    fixture() {
        stack.restart_bridge({"visitor_token_secret_file " + secret_file});
        stack.add_user("alice", "pw-alice");
        stack.add_user("bob", "pw-bob");
        conv = stack.create_conv({"alice", "bob"});
        admin_ok(stack.conninfo(), {"desk", "create", "shop"});
        site_key = last_word(admin_ok(stack.conninfo(), {"site-key", "create", "shop", "--label", "shop.example",
                                                         "--secret-file", secret_file}));
        write_file(web.file("index.html"), "<!doctype html><title>demo</title>\n");
        write_file(web.file("mqchat-widget.js"), "console.log('widget');\n");
        write_file(keys.file("outside.txt"), "not for the web\n");
        std::string out;
        if (run_command({"bash", source_dir() + "/scripts/make-certs", certs.path()}, out) != 0)
            throw std::runtime_error("make-certs failed: " + out);
        gateway = std::make_unique<web_gateway>(
            stack.dir, stack.port(),
            std::vector<std::string>{"http_dir " + web.path(), "max_message_bytes 65536", "handshake_timeout_s 2",
                                     "listen_tls 127.0.0.1:" + std::to_string(tls_port),
                                     "certfile " + certs.file("server.crt"), "keyfile " + certs.file("server.key")});
        gateway->start();
    }
    raw_websocket ws(const std::string& from = "127.0.0.1") const {
        raw_websocket w;
        w.port = gateway->port();
        w.from = from;
        return w;
    }
    std::string topic(const char* what) const { return "chat/conv/" + std::to_string(conv) + "/" + what; }
    /// A series of the gateway's /metrics (-1 when it is not there).
    double metric(const std::string& series) const {
        return sample_value(http_get("http://127.0.0.1:" + std::to_string(gateway->metrics_port()) + "/metrics").body,
                            series);
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

/// Logs in over WebSocket as a client would: a connection closed without a
/// CONNACK (the plugin asking it to come back) is tried again. Null when
/// refused or not accepted within 10 s; the CONNACK's code in `code`.
std::unique_ptr<raw_mqtt> ws_login(const raw_websocket& ws, const raw_connect& c, int* code = nullptr) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        auto client = std::make_unique<raw_mqtt>(ws, c.protocol);
        const int rc = client->connect(c, 5s);
        if (code) *code = rc;
        if (rc == 0) return client;
        if (rc > 0) return nullptr;
        std::this_thread::sleep_for(100ms);
    }
    return nullptr;
}

raw_connect login_as(const std::string& user, const std::string& password, const std::string& id = "") {
    raw_connect c;
    c.client_id = id.empty() ? user + "-" + random_text(8) : id;
    c.username = user;
    c.password = password;
    return c;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

class gateway_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(gateway_test);
    CPPUNIT_TEST(chat_over_websocket_both_ways);
    CPPUNIT_TEST(secure_websocket_with_another_client);
    CPPUNIT_TEST(knocks_are_counted_by_the_visitors_own_address);
    CPPUNIT_TEST(forwarded_addresses_are_believed_from_the_gateway_only);
    CPPUNIT_TEST(files_are_served_and_nothing_outside_them);
    CPPUNIT_TEST(hostile_clients_are_closed_and_change_nothing);
    CPPUNIT_TEST(a_broker_that_is_not_there_is_a_503);
    CPPUNIT_TEST(metrics_pass_promtool_and_health_answers);
    CPPUNIT_TEST(bad_settings_stop_it_naming_the_option);
    CPPUNIT_TEST(a_gateway_killed_mid_conversation_loses_and_doubles_nothing);
    CPPUNIT_TEST_SUITE_END();

public:
    void chat_over_websocket_both_ways() {
        auto& f = shared();
        mqtt_client bob(f.stack.port(), {"bob-tcp", "bob", "pw-bob"});
        CPPUNIT_ASSERT_EQUAL(0, bob.connect());
        CPPUNIT_ASSERT_EQUAL(1, bob.subscribe(f.topic("msg")));

        // The CONNECT in three-byte WebSocket messages: the gateway joins them.
        raw_websocket split = f.ws();
        split.frame_max = 3;
        auto alice = ws_login(split, login_as("alice", "pw-alice"));
        CPPUNIT_ASSERT_MESSAGE(f.gateway->log(), alice);
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe(f.topic("msg"), 1));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish({f.topic("send"), R"({"id":"w1","body":"hello through the gateway"})", 1}));
        received r;
        CPPUNIT_ASSERT(bob.wait_message(r, 10s, f.topic("msg")));
        CPPUNIT_ASSERT_EQUAL(std::string("hello through the gateway"), parse_delivered(r.payload).body);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), parse_delivered(r.payload).sender);

        // The other way, and a body larger than one read of the gateway's buffer.
        const std::string big(15000, 'x');
        bob.publish(f.topic("send"), R"({"id":"t1","body":")" + big + R"("})", 1);
        const auto* got = alice->wait_for(
            [](const mqtt_packet& p) { return p.type == PUBLISH && contains(p.payload, "\"t1\""); }, 10s);
        CPPUNIT_ASSERT(got);
        CPPUNIT_ASSERT_EQUAL(big, parse_delivered(got->payload).body);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), parse_delivered(got->payload).sender);
        CPPUNIT_ASSERT(f.metric("mqchat_gateway_websockets_total") >= 1);
    }

    void secure_websocket_with_another_client() {
        auto& f = shared();
        mqtt::async_client browser("wss://127.0.0.1:" + std::to_string(f.tls_port) + "/mqtt", "alice-wss",
                                   mqtt::create_options(MQTTVERSION_5));
        browser.start_consuming();
        browser
            .connect(mqtt::connect_options_builder()
                         .mqtt_version(MQTTVERSION_5)
                         .user_name("alice")
                         .password("pw-alice")
                         .ssl(mqtt::ssl_options_builder().trust_store(f.certs.file("ca.crt")).finalize())
                         .finalize())
            ->wait();
        browser.subscribe("chat/user/alice/inbox", 1)->wait();
        browser.publish(f.topic("send"), R"({"id":"s1","body":"hello over wss"})", 1, false)->wait();
        auto ack = browser.try_consume_message_for(std::chrono::seconds(10));
        CPPUNIT_ASSERT(ack);
        CPPUNIT_ASSERT_MESSAGE(ack->to_string(), contains(ack->to_string(), R"("ack":"s1")"));
        browser.disconnect()->wait();
        // Plain WebSocket on the TLS port gets nowhere.
        raw_websocket plain = f.ws();
        plain.port = f.tls_port;
        CPPUNIT_ASSERT_THROW(raw_mqtt(plain, 5), std::runtime_error);
    }

    void knocks_are_counted_by_the_visitors_own_address() {
        auto& f = shared();
        // Three knocks a minute from one address: the plugin counts the
        // visitor's address, not the gateway's, so another visitor still gets in.
        for (int i = 0; i < 3; ++i) {
            auto k = ws_login(f.ws("127.0.0.2"), login_as("k-" + random_text(22), f.site_key));
            CPPUNIT_ASSERT_MESSAGE(f.stack.mqtt->log(), k);
        }
        int code = 0;
        const std::string fourth = "k-" + random_text(22);
        CPPUNIT_ASSERT(!ws_login(f.ws("127.0.0.2"), login_as(fourth, f.site_key), &code));
        CPPUNIT_ASSERT(code > 0);
        CPPUNIT_ASSERT(ws_login(f.ws("127.0.0.3"), login_as("k-" + random_text(22), f.site_key)));
        const std::string broker_log = f.stack.mqtt->log();
        CPPUNIT_ASSERT_MESSAGE(broker_log, contains(broker_log, "refused login of " + fourth + " from 127.0.0.2"));
        CPPUNIT_ASSERT(contains(broker_log, "from 127.0.0.3 knocks with site key"));
        // The gateway says whose login the broker refused, and from where.
        const std::string gateway_log = f.gateway->log();
        CPPUNIT_ASSERT_MESSAGE(gateway_log, contains(gateway_log, "login of " + fourth + " from 127.0.0.2 refused by the broker"));
    }

    void forwarded_addresses_are_believed_from_the_gateway_only() {
        auto& f = shared();
        // Straight to the broker from an address plugin_opt_forwarded_by does not name.
        const std::string name = "k-" + random_text(22);
        mqtt_client direct(f.stack.port(), {"", name, "mqchat-from:198.51.100.7;" + f.site_key, 5, true, 0, "", "127.0.0.9"});
        CPPUNIT_ASSERT(direct.connect(5s) != 0);
        CPPUNIT_ASSERT(contains(f.stack.mqtt->log(),
                                "refused login of " + name + " from 127.0.0.9: a forwarded address from 127.0.0.9, "
                                "which plugin_opt_forwarded_by does not name"));
        // Through the gateway, an address the client wrote itself stays the
        // client's password: the plugin sees the real address in front of it.
        int code = 0;
        CPPUNIT_ASSERT(!ws_login(f.ws("127.0.0.4"), login_as("alice", "mqchat-from:198.51.100.7;pw-alice"), &code));
        CPPUNIT_ASSERT(code > 0);
        const std::string log = f.stack.mqtt->log();
        CPPUNIT_ASSERT_MESSAGE(log, contains(log, "refused login of alice from 127.0.0.4: wrong password"));
        CPPUNIT_ASSERT(!contains(log, "from 198.51.100.7"));
    }

    void files_are_served_and_nothing_outside_them() {
        auto& f = shared();
        const std::string base = "http://127.0.0.1:" + std::to_string(f.gateway->port());
        const auto index = http_request("GET", base + "/");
        CPPUNIT_ASSERT_EQUAL(200L, index.status);
        CPPUNIT_ASSERT(contains(index.body, "<title>demo</title>"));
        CPPUNIT_ASSERT_EQUAL(std::string("text/html; charset=utf-8"), index.headers.at("content-type"));
        CPPUNIT_ASSERT_EQUAL(std::string("nosniff"), index.headers.at("x-content-type-options"));
        const auto js = http_request("GET", base + "/mqchat-widget.js?v=3");
        CPPUNIT_ASSERT_EQUAL(200L, js.status);
        CPPUNIT_ASSERT_EQUAL(std::string("console.log('widget');\n"), js.body);
        CPPUNIT_ASSERT_EQUAL(std::string("text/javascript; charset=utf-8"), js.headers.at("content-type"));
        const auto head = http_request("HEAD", base + "/mqchat-widget.js");
        CPPUNIT_ASSERT_EQUAL(200L, head.status);
        CPPUNIT_ASSERT_EQUAL(std::string("23"), head.headers.at("content-length"));
        CPPUNIT_ASSERT(head.body.empty());
        CPPUNIT_ASSERT_EQUAL(404L, http_request("GET", base + "/missing.js").status);
        // Out of the directory, however it is spelled (curl would tidy "..",
        // so the raw target goes through a socket).
        for (const char* target : {"/../gateway-keys/outside.txt", "/%2e%2e/outside.txt", "/a/%2E%2E/%2e%2e/x",
                                   "/%00", "/..%5coutside.txt", "/%zz"}) {
            const std::string answer = raw_http(f.gateway->port(), std::string("GET ") + target +
                                                                     " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            CPPUNIT_ASSERT_MESSAGE(target + std::string(": ") + answer,
                                   answer.rfind("HTTP/1.1 400", 0) == 0 || answer.rfind("HTTP/1.1 404", 0) == 0);
            CPPUNIT_ASSERT(!contains(answer, "not for the web"));
        }
        CPPUNIT_ASSERT(http_request("POST", base + "/index.html", {}, std::string("x=1")).status >= 400);
        CPPUNIT_ASSERT(http_request("DELETE", base + "/index.html").status == 405);
        CPPUNIT_ASSERT(f.metric("mqchat_gateway_http_responses_total{status=\"404\"}") >= 1);
    }

    void hostile_clients_are_closed_and_change_nothing() {
        auto& f = shared();
        const auto count_messages = [&] {
            return pg::connection(f.stack.conninfo()).exec("SELECT count(*) FROM messages").int64(0, 0);
        };
        const std::int64_t before = count_messages();
        // A first packet that is no CONNECT: closed before the broker hears of it.
        {
            raw_mqtt c(f.ws(), 5);
            c.send_publish({f.topic("send"), R"({"id":"h1","body":"no login"})", 0});
            CPPUNIT_ASSERT(c.wait_closed(5s));
        }
        // A message beyond max_message_bytes (64 KiB here), as the CONNECT or later.
        {
            raw_mqtt c(f.ws(), 5);
            c.send_bytes(std::string("\x10\xff\xff\x7f", 4) + std::string(70000, 'a'));
            CPPUNIT_ASSERT(c.wait_closed(5s));
        }
        {
            auto alice = ws_login(f.ws(), login_as("alice", "pw-alice"));
            CPPUNIT_ASSERT(alice);
            alice->send_publish({f.topic("send"), R"({"id":"h2","body":")" + std::string(70000, 'b') + R"("})", 1});
            CPPUNIT_ASSERT(alice->wait_closed(5s));
        }
        // An upgrade and then silence: closed once the handshake time (2 s here) is up.
        {
            raw_mqtt c(f.ws(), 5);
            CPPUNIT_ASSERT(c.wait_closed(10s));
        }
        // Bytes that are not even a WebSocket upgrade.
        CPPUNIT_ASSERT(raw_http(f.gateway->port(), "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00").rfind("HTTP/1.1 400", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(before, count_messages());
        CPPUNIT_ASSERT(f.metric("mqchat_gateway_refused_total{reason=\"not_mqtt\"}") >= 1);
        CPPUNIT_ASSERT(f.metric("mqchat_gateway_refused_total{reason=\"too_big\"}") >= 2);
        CPPUNIT_ASSERT(f.metric("mqchat_gateway_refused_total{reason=\"no_connect\"}") >= 1);
        // And it goes on serving.
        CPPUNIT_ASSERT(ws_login(f.ws(), login_as("bob", "pw-bob")));
    }

    void a_broker_that_is_not_there_is_a_503() {
        auto& f = shared();
        web_gateway lonely(f.stack.dir, free_port(), {}, "gateway-lonely");
        lonely.start();
        raw_websocket w;
        w.port = lonely.port();
        try {
            raw_mqtt c(w, 5);
            CPPUNIT_FAIL("the upgrade was accepted with no broker behind it");
        } catch (const std::runtime_error& e) {
            CPPUNIT_ASSERT_MESSAGE(e.what(), contains(e.what(), "HTTP/1.1 503"));
        }
        CPPUNIT_ASSERT_MESSAGE(lonely.log(), contains(lonely.log(), "cannot reach the broker at 127.0.0.1:"));
    }

    void metrics_pass_promtool_and_health_answers() {
        auto& f = shared();
        const std::string base = "http://127.0.0.1:" + std::to_string(f.gateway->metrics_port());
        const auto scrape = http_get(base + "/metrics");
        CPPUNIT_ASSERT_EQUAL(200L, scrape.status);
        CPPUNIT_ASSERT(scrape.content_type.find("text/plain; version=0.0.4") == 0);
        CPPUNIT_ASSERT_MESSAGE(scrape.body, contains(scrape.body, "\nmqchat_gateway_connections "));
        const std::string file = f.stack.dir.file("gateway.prom");
        write_file(file, scrape.body);
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"/bin/sh", "-c", "promtool check metrics < " + file}, out));
        CPPUNIT_ASSERT_EQUAL(200L, http_get(base + "/healthz").status);
        CPPUNIT_ASSERT_EQUAL(404L, http_get(base + "/readyz").status);
    }

    void bad_settings_stop_it_naming_the_option() {
        auto& f = shared();
        const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
            {{"max_connections 0"}, "max_connections"},
            {{"broker localhost"}, "broker 'localhost' is not HOST:PORT"},
            {{"listen_tls 127.0.0.1:1"}, "listen_tls needs certfile"},
            {{"http_dir relative/dir"}, "http_dir 'relative/dir'"},
            {{"log_level chatty"}, "log_level"},
            {{"listen_everything yes"}, "listen_everything"},
        };
        int n = 0;
        for (const auto& [lines, expected] : cases) {
            web_gateway bad(f.stack.dir, f.stack.port(), lines, "gateway-bad-" + std::to_string(n++));
            CPPUNIT_ASSERT(bad.start_expecting_exit() != 0);
            CPPUNIT_ASSERT_MESSAGE(bad.log(), contains(bad.log(), expected));
        }
        // A port in use names the option.
        web_gateway clash(f.stack.dir, f.stack.port(), {"listen 127.0.0.1:" + std::to_string(f.gateway->port())},
                          "gateway-clash");
        CPPUNIT_ASSERT(clash.start_expecting_exit() != 0);
        CPPUNIT_ASSERT_MESSAGE(clash.log(), contains(clash.log(), "listen 127.0.0.1:" + std::to_string(f.gateway->port())));
    }

    void a_gateway_killed_mid_conversation_loses_and_doubles_nothing() {
        auto& f = shared();
        const std::int64_t conv = f.stack.create_conv({"alice", "bob"});
        const std::string send = "chat/conv/" + std::to_string(conv) + "/send",
                          msg = "chat/conv/" + std::to_string(conv) + "/msg";
        mqtt_client bob(f.stack.port(), {"bob-count", "bob", "pw-bob"});
        CPPUNIT_ASSERT_EQUAL(0, bob.connect());
        CPPUNIT_ASSERT_EQUAL(1, bob.subscribe(msg, 1));

        // alice sends 60 messages through the gateway, which is killed
        // during the first 30; she comes back through a new one and, as the
        // client rules say, sends again every message whose ack she has not read.
        constexpr int total = 60;
        std::set<int> acked;
        const auto read_acks = [&](raw_mqtt& c, std::size_t from) {
            for (const auto& p : c.publishes(from))
                for (int i = 1; i <= total; ++i)
                    if (contains(p.payload, "\"ack\":\"k" + std::to_string(i) + "\"")) acked.insert(i);
        };
        const auto envelope = [](int i) { return "{\"id\":\"k" + std::to_string(i) + "\",\"body\":\"m" + std::to_string(i) + "\"}"; };
        {
            auto alice = ws_login(f.ws(), login_as("alice", "pw-alice", "alice-kill"));
            CPPUNIT_ASSERT(alice);
            CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox", 1));
            for (int i = 1; i <= 30; ++i) alice->send_publish({send, envelope(i), 1});
            // Killed once half of them are stored: the rest are on their way
            // through it. Her phone loses the connection at the same moment,
            // before reading a single ack.
            const auto stored = [&] {
                return pg::connection(f.stack.conninfo())
                    .exec("SELECT count(*) FROM messages WHERE conv_id = $1", {std::to_string(conv)})
                    .int64(0, 0);
            };
            const auto until = std::chrono::steady_clock::now() + 10s;
            while (stored() < 15 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
            kill(f.gateway->pid(), SIGKILL);
            alice->drop();
            CPPUNIT_ASSERT(stored() >= 15);
        }
        f.gateway->stop(SIGKILL);
        f.gateway->start();
        auto alice = ws_login(f.ws(), login_as("alice", "pw-alice", "alice-kill"));
        CPPUNIT_ASSERT_MESSAGE(f.gateway->log(), alice);
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox", 1));
        for (int i = 1; i <= total; ++i)
            if (!acked.count(i)) alice->send_publish({send, envelope(i), 1});
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (acked.size() < total && std::chrono::steady_clock::now() < until) {
            alice->pump(200ms);
            read_acks(*alice, 0);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(total), acked.size());

        // Each stored once, seqs 1..60 without a gap, each delivered to bob once.
        delivery_log seen;
        seen.collect(bob, msg, total, 20s);
        CPPUNIT_ASSERT_EQUAL(std::string(), seen.check_gapless(total));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), seen.duplicates);
        std::set<std::string> bodies;
        for (const auto& d : seen.first_seen) bodies.insert(d.body);
        CPPUNIT_ASSERT_EQUAL(std::size_t(total), bodies.size());
        const auto stored = pg::connection(f.stack.conninfo())
                                .exec("SELECT count(*), count(DISTINCT seq), max(seq) FROM messages WHERE conv_id = $1",
                                      {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(total), stored.int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(total), stored.int64(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(total), stored.int64(0, 2));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(gateway_test);
