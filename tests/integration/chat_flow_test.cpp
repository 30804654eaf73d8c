// Messages end to end through the real stack: stored once, numbered without
// gaps, delivered once and in the same order to every member, acked to the
// sender with the seq that members see.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt/async_client.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/environment.hpp"
#include "support/http_get.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<mqtt_client> member(chat_stack& s, const std::string& user, std::int64_t conv) {
    auto c = std::make_unique<mqtt_client>(s.port(), client_options{"", user, "pw-" + user});
    if (c->connect() != 0) throw std::runtime_error("login of " + user + " failed");
    if (subscribe_as_member(*c, "chat/conv/" + std::to_string(conv) + "/msg") != 1 ||
        c->subscribe("chat/user/" + user + "/inbox") != 1)
        throw std::runtime_error("subscribe failed for " + user);
    return c;
}

/// Connects a Paho client as an app would: a connection the broker closes
/// without a CONNACK (the plugin still checking a first login) is tried again.
void paho_connect(mqtt::async_client& client, const mqtt::connect_options& options) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (auto pause = 10ms;; pause = std::min(pause * 2, 200ms)) {
        try {
            client.connect(options)->wait();
            return;
        } catch (const mqtt::exception& e) {
            // A refusal is final (Paho puts a refused CONNACK's code in the return code).
            const bool refused = e.get_reason_code() >= 0x80 || e.get_return_code() >= 0x80;
            if (refused || std::chrono::steady_clock::now() + pause >= until) throw;
        }
        std::this_thread::sleep_for(pause);
    }
}

std::vector<outgoing> numbered(const std::string& prefix, std::size_t n) {
    std::vector<outgoing> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), prefix + " says " + std::to_string(i)});
    return out;
}

} // namespace

class chat_flow_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(chat_flow_test);
    CPPUNIT_TEST(two_members_exchange_1000_messages_once_in_order);
    CPPUNIT_TEST(resend_is_acked_with_the_original_seq_and_not_delivered_again);
    CPPUNIT_TEST(a_resend_inside_a_batch_is_acked_and_the_rest_stored_once_gapless);
    CPPUNIT_TEST(a_full_inbox_stops_the_bridge_reading_and_loses_nothing);
    CPPUNIT_TEST(conversations_are_numbered_independently);
    CPPUNIT_TEST(example_cli_sends_and_is_acked);
    CPPUNIT_TEST(example_cli_lists_opens_scrolls_and_searches);
    CPPUNIT_TEST(websocket_client_chats_with_tcp_client);
    CPPUNIT_TEST(tls_and_secure_websocket_listeners);
    CPPUNIT_TEST_SUITE_END();

public:
    void two_members_exchange_1000_messages_once_in_order() {
        chat_stack s("flow");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t conv = s.create_conv({"alice", "bob"});
        auto alice = member(s, "alice", conv);
        auto bob = member(s, "bob", conv);

        const auto from_alice = numbered("a-", 500), from_bob = numbered("b-", 500);
        chat_sender alice_sends(*alice, "alice", conv), bob_sends(*bob, "bob", conv);
        bool alice_done = false, bob_done = false;
        // Both at once; every 10th message deliberately sent twice (a resend).
        std::thread t([&] { alice_done = alice_sends.send_all(from_alice, 20, 5s, 120s, 10); });
        bob_done = bob_sends.send_all(from_bob, 20, 5s, 120s, 10);
        t.join();
        CPPUNIT_ASSERT(alice_done && bob_done);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), alice_sends.conflicting_acks + bob_sends.conflicting_acks);
        CPPUNIT_ASSERT(alice_sends.errors.empty() && bob_sends.errors.empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(550), alice_sends.publishes);

        const std::string topic = "chat/conv/" + std::to_string(conv) + "/msg";
        delivery_log at_alice, at_bob;
        at_alice.collect(*alice, topic, 1000, 60s);
        at_bob.collect(*bob, topic, 1000, 60s);
        std::this_thread::sleep_for(500ms); // anything doubled would arrive right behind
        for (const auto& r : alice->take_all(topic)) at_alice.add(r);
        for (const auto& r : bob->take_all(topic)) at_bob.add(r);

        CPPUNIT_ASSERT_EQUAL_MESSAGE(at_alice.check_gapless(1000), std::string(), at_alice.check_gapless(1000));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(at_bob.check_gapless(1000), std::string(), at_bob.check_gapless(1000));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1000), at_alice.raw.size()); // the deliberate resends were not delivered
        CPPUNIT_ASSERT_EQUAL(std::size_t(1000), at_bob.raw.size());

        std::map<std::string, std::int64_t> last_index_of; // per sender: seq order follows send order
        for (std::size_t i = 0; i < 1000; ++i) {
            const delivered& a = at_alice.first_seen[i];
            const delivered& b = at_bob.first_seen[i];
            CPPUNIT_ASSERT_EQUAL(a.id, b.id); // the same order for every member
            const auto& acks = a.sender == "alice" ? alice_sends.acked : bob_sends.acked;
            CPPUNIT_ASSERT_EQUAL(a.seq, acks.at(a.id)); // the ack named the seq members got
            CPPUNIT_ASSERT(a.id.rfind(a.sender == "alice" ? "a-" : "b-", 0) == 0);
            const std::int64_t n = std::stoll(a.id.substr(2));
            CPPUNIT_ASSERT(last_index_of.count(a.sender) == 0 || last_index_of[a.sender] < n);
            last_index_of[a.sender] = n;
        }

        pg::connection db(s.conninfo());
        const auto r = db.exec("SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT client_id)"
                               " FROM messages WHERE conv_id = $1",
                               {std::to_string(conv)});
        for (int col : {0, 1, 3, 4}) CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), r.int64(0, col));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), r.int64(0, 2));
    }

    void resend_is_acked_with_the_original_seq_and_not_delivered_again() {
        chat_stack s("resend");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t conv = s.create_conv({"alice", "bob"});
        auto alice = member(s, "alice", conv);
        auto bob = member(s, "bob", conv);
        const std::string send = "chat/conv/" + std::to_string(conv) + "/send";
        const std::string msg = "chat/conv/" + std::to_string(conv) + "/msg";
        auto ack_seq = [&] {
            received r;
            CPPUNIT_ASSERT(alice->wait_message(r, 10s, "chat/user/alice/inbox"));
            Json::Value v;
            std::istringstream(r.payload) >> v;
            return v["seq"].asInt64();
        };
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"once","body":"first"})"));
        const std::int64_t seq = ack_seq();
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"once","body":"first"})"));
        CPPUNIT_ASSERT_EQUAL(seq, ack_seq());
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"once","body":"a different body, same id"})"));
        CPPUNIT_ASSERT_EQUAL(seq, ack_seq());
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"twice","body":"second"})"));
        CPPUNIT_ASSERT_EQUAL(seq + 1, ack_seq());

        received r;
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT_EQUAL(std::string("once"), parse_delivered(r.payload).id);
        CPPUNIT_ASSERT_EQUAL(std::string("first"), parse_delivered(r.payload).body);
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT_EQUAL(std::string("twice"), parse_delivered(r.payload).id); // nothing in between
        CPPUNIT_ASSERT_EQUAL(seq + 1, parse_delivered(r.payload).seq);

        // The same client id from another sender is another message.
        CPPUNIT_ASSERT_EQUAL(0, bob->publish(send, R"({"id":"once","body":"bob's own"})"));
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), parse_delivered(r.payload).sender);
        CPPUNIT_ASSERT_EQUAL(seq + 2, parse_delivered(r.payload).seq);
    }

    /// A batch's plain messages go in with one INSERT; a resend among them
    /// fails it on the unique key (schema/functions/mqchat_store_batch.sql)
    /// and the bridge stores that batch again one message at a time. The
    /// batch is made by holding the conversation's row while the messages
    /// reach the bridge: its store call waits, they queue behind it.
    void a_resend_inside_a_batch_is_acked_and_the_rest_stored_once_gapless() {
        chat_stack s("batchresend");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t conv = s.create_conv({"alice", "bob"});
        const int metrics_port = free_port();
        s.restart_bridge({"metrics_listen 127.0.0.1:" + std::to_string(metrics_port)});
        const auto metric = [&](const std::string& series) {
            return sample_value(http_get("http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics").body, series);
        };
        auto alice = member(s, "alice", conv);
        auto bob = member(s, "bob", conv);
        const std::string send = "chat/conv/" + std::to_string(conv) + "/send";
        std::map<std::string, std::vector<std::int64_t>> acks; // by message id, in the order they came
        const auto await_acks = [&](std::size_t n) {
            for (std::size_t got = 0; got < n; ++got) {
                received r;
                CPPUNIT_ASSERT_MESSAGE("ack " + std::to_string(got + 1) + " of " + std::to_string(n),
                                       alice->wait_message(r, 10s, "chat/user/alice/inbox"));
                Json::Value v;
                std::istringstream(r.payload) >> v;
                CPPUNIT_ASSERT_MESSAGE(r.payload, v["seq"].isInt64());
                acks[v["ack"].asString()].push_back(v["seq"].asInt64());
            }
        };
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"b0","body":"before"})"));
        await_acks(1);
        const std::int64_t first = acks["b0"].at(0);

        pg::connection holder(s.conninfo());
        holder.exec("BEGIN");
        holder.exec("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"b1","body":"waits for the row"})"));
        CPPUNIT_ASSERT_MESSAGE("the bridge's store call waits for the conversation's row",
                               eventually([&] {
                                   pg::connection c(s.conninfo());
                                   // The store call itself: the bridge's other connection may wait too
                                   // (marking b0 published checks the conversation's key).
                                   return c.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                                 "'mqchat-bridge-store' AND wait_event_type = 'Lock'"
                                                 " AND query LIKE '%mqchat_store_batch%'")
                                              .int64(0, 0) == 1;
                               }, 10s));
        for (const char* payload : {R"({"id":"b2","body":"two"})", R"({"id":"b3","body":"three"})",
                                    R"({"id":"b2","body":"two, sent again"})", R"({"id":"b4","body":"four"})"})
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, payload));
        CPPUNIT_ASSERT_MESSAGE("the four wait at the bridge, behind the call",
                               eventually([&] { return metric("mqchat_bridge_inbox_messages{link=\"chat\"}") == 4; }, 10s));
        holder.exec("ROLLBACK");

        await_acks(5);
        CPPUNIT_ASSERT_EQUAL(1.0, metric("mqchat_store_batches_split_total"));
        const auto seqs = [&](const std::string& id) {
            std::string out;
            for (const auto seq : acks[id]) out += (out.empty() ? "" : ",") + std::to_string(seq);
            return out;
        };
        CPPUNIT_ASSERT_EQUAL(std::to_string(first + 1), seqs("b1"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(first + 2) + "," + std::to_string(first + 2), seqs("b2")); // the resend: its original seq
        CPPUNIT_ASSERT_EQUAL(std::to_string(first + 3), seqs("b3"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(first + 4), seqs("b4"));
        // Members get each once, in order, nothing in between.
        std::string delivered;
        std::int64_t next = first;
        for (received r; next <= first + 4 && bob->wait_message(r, 10s, "chat/conv/" + std::to_string(conv) + "/msg"); ++next) {
            const auto d = parse_delivered(r.payload);
            CPPUNIT_ASSERT_EQUAL(next, d.seq);
            delivered += d.id + " ";
        }
        CPPUNIT_ASSERT_EQUAL(std::string("b0 b1 b2 b3 b4 "), delivered);
        received extra;
        CPPUNIT_ASSERT(!bob->wait_message(extra, 500ms, "chat/conv/" + std::to_string(conv) + "/msg"));
        pg::connection c(s.conninfo());
        CPPUNIT_ASSERT_EQUAL(first + 4, c.exec("SELECT last_seq FROM conversations WHERE id = $1", {std::to_string(conv)}).int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), c.exec("SELECT count(*) FROM messages WHERE conv_id = $1", {std::to_string(conv)}).int64(0, 0));
    }

    // The bridge's inbox is bounded (inbox_max): while the store cannot keep
    // up, the bridge stops reading, the broker holds what follows in the
    // bridge's session, and when the store catches up every message is
    // stored once, numbered without a gap and delivered in order.
    void a_full_inbox_stops_the_bridge_reading_and_loses_nothing() {
        chat_stack s("inboxfull");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t conv = s.create_conv({"alice", "bob"});
        const int metrics_port = free_port();
        s.restart_bridge({"metrics_listen 127.0.0.1:" + std::to_string(metrics_port), "inbox_max 100"});
        const auto in_inbox = [&] {
            return sample_value(http_get("http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics").body,
                                "mqchat_bridge_inbox_messages{link=\"chat\"}");
        };
        auto alice = member(s, "alice", conv);
        auto bob = member(s, "bob", conv);
        const std::string send = "chat/conv/" + std::to_string(conv) + "/send";
        const std::string topic = "chat/conv/" + std::to_string(conv) + "/msg";

        // The conversation's row held: the first store call waits for it.
        pg::connection holder(s.conninfo());
        holder.exec("BEGIN");
        holder.exec("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", {std::to_string(conv)});
        constexpr int total = 400;
        for (int i = 0; i < total; ++i)
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(send, R"({"id":"m)" + std::to_string(i) + R"(","body":"held back"})"));
        CPPUNIT_ASSERT_MESSAGE("the inbox fills up to its bound",
                               eventually([&] { return in_inbox() == 100; }, 20s));
        double most = 0;
        for (int i = 0; i < 10; ++i) {
            most = std::max(most, in_inbox());
            std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE("no further while the store waits", 100.0, most);
        holder.exec("ROLLBACK");

        delivery_log at_bob;
        at_bob.collect(*bob, topic, total, 60s);
        std::this_thread::sleep_for(500ms); // anything doubled would arrive right behind
        for (const auto& r : bob->take_all(topic)) at_bob.add(r);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(at_bob.check_gapless(total), std::string(), at_bob.check_gapless(total));
        CPPUNIT_ASSERT_EQUAL(std::size_t(total), at_bob.raw.size());
        for (int i = 0; i < total; ++i) CPPUNIT_ASSERT_EQUAL("m" + std::to_string(i), at_bob.first_seen[static_cast<std::size_t>(i)].id);
        pg::connection c(s.conninfo());
        const auto r = c.exec("SELECT count(*), count(DISTINCT seq), count(DISTINCT client_id) FROM messages WHERE conv_id = $1",
                              {std::to_string(conv)});
        for (int col : {0, 1, 2}) CPPUNIT_ASSERT_EQUAL(std::int64_t(total), r.int64(0, col));
    }

    void conversations_are_numbered_independently() {
        chat_stack s("convs");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t c1 = s.create_conv({"alice", "bob"});
        const std::int64_t c2 = s.create_conv({"alice", "bob"});
        auto alice = member(s, "alice", c1);
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*alice, "chat/conv/" + std::to_string(c2) + "/msg"));
        chat_sender one(*alice, "alice", c1), two(*alice, "alice", c2);
        CPPUNIT_ASSERT(one.send_all(numbered("x-", 30), 10, 5s, 60s));
        CPPUNIT_ASSERT(two.send_all(numbered("x-", 20), 10, 5s, 60s)); // same ids, other conversation
        delivery_log l1, l2;
        l1.collect(*alice, "chat/conv/" + std::to_string(c1) + "/msg", 30, 30s);
        l2.collect(*alice, "chat/conv/" + std::to_string(c2) + "/msg", 20, 30s);
        CPPUNIT_ASSERT_EQUAL(std::string(), l1.check_gapless(30));
        CPPUNIT_ASSERT_EQUAL(std::string(), l2.check_gapless(20));
    }

    void example_cli_sends_and_is_acked() {
        chat_stack s("cli");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::int64_t conv = s.create_conv({"alice", "bob"});
        auto bob = member(s, "bob", conv);
        const std::string uri = "tcp://127.0.0.1:" + std::to_string(s.port());
        std::string out;
        const int rc = run_command({bin_dir() + "/chat_cli", "--uri", uri, "--user", "alice", "--password", "pw-alice",
                                    "--conv", std::to_string(conv), "send", "hello from the example"},
                                   out);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("stored as #1 in conversation") != std::string::npos);
        received r;
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, "chat/conv/" + std::to_string(conv) + "/msg"));
        CPPUNIT_ASSERT_EQUAL(std::string("hello from the example"), parse_delivered(r.payload).body);
        CPPUNIT_ASSERT_EQUAL(1, run_command({bin_dir() + "/chat_cli", "--uri", uri, "--user", "carol", "--password",
                                             "x", "--conv", std::to_string(conv), "send", "nope"},
                                            out));
    }

    void example_cli_lists_opens_scrolls_and_searches() {
        chat_stack s("cli-rpc");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        const std::string uri = "tcp://127.0.0.1:" + std::to_string(s.port());
        auto cli = [&](std::vector<std::string> args, std::string& out) {
            std::vector<std::string> argv{bin_dir() + "/chat_cli", "--uri", uri, "--user", "alice", "--password", "pw-alice"};
            argv.insert(argv.end(), args.begin(), args.end());
            return run_command(argv, out);
        };
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, cli({"create", "--member", "bob", "--title", "cli"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("created conversation ") != std::string::npos);
        const std::string conv = out.substr(out.find("conversation ") + 13, out.find('\n') - out.find("conversation ") - 13);
        auto bob = member(s, "bob", std::stoll(conv));
        chat_sender b(*bob, "bob", std::stoll(conv));
        std::vector<outgoing> many;
        for (int i = 1; i <= 30; ++i) many.push_back({"b" + std::to_string(i), "note number " + std::to_string(i)});
        CPPUNIT_ASSERT(b.send_all(many, 10, 5s, 60s));

        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, cli({"list"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find(conv + "\tcli\t30 unread\t#30 bob: note number 30") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, cli({"history", "--conv", conv, "--before", "11", "--limit", "5"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("#6 bob: note number 6\n") != std::string::npos &&
                                        out.find("#10 bob: note number 10\n") != std::string::npos &&
                                        out.find("#11 ") == std::string::npos && out.find("#5 ") == std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, cli({"search", "number", "--conv", conv}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("«number»") != std::string::npos);
        // open: the newest page, /more scrolls up, a typed line is sent and acked, /quit leaves.
        std::string script = "sleep 1; printf 'hi from the terminal\\n/more\\n'; sleep 2; printf '/quit\\n'";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(
            out, 0,
            run_command({"bash", "-c", "(" + script + ") | " + bin_dir() + "/chat_cli --uri " + uri +
                                           " --user alice --password pw-alice --limit 10 --conv " + conv + " open"},
                        out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("#30 bob: note number 30") != std::string::npos); // newest page
        CPPUNIT_ASSERT_MESSAGE(out, out.find("#11 bob: note number 11") != std::string::npos); // after /more
        CPPUNIT_ASSERT_MESSAGE(out, out.find("#31 alice: hi from the terminal") != std::string::npos); // live, own
        delivery_log at_bob; // his own 30, then alice's line
        at_bob.collect(*bob, "chat/conv/" + conv + "/msg", 31, 10s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(31), at_bob.first_seen.size());
        CPPUNIT_ASSERT_EQUAL(std::string("hi from the terminal"), at_bob.first_seen.back().body);
    }

    void websocket_client_chats_with_tcp_client() {
        // The listener block the shipped mosquitto.conf uses for browsers.
        const int ws_port = free_port();
        broker_options o;
        o.extra_lines = {"listener " + std::to_string(ws_port) + " 127.0.0.1", "protocol websockets",
                         "socket_domain ipv4"};
        chat_stack s("websocket", o);
        s.add_user("visitor", "pw-visitor");
        s.add_user("agent", "pw-agent");
        const std::int64_t conv = s.create_conv({"visitor", "agent"});
        auto agent = member(s, "agent", conv);

        mqtt::async_client ws("ws://127.0.0.1:" + std::to_string(ws_port) + "/mqtt", "visitor-browser",
                              mqtt::create_options(MQTTVERSION_5));
        ws.start_consuming();
        paho_connect(ws, mqtt::connect_options_builder()
                             .mqtt_version(MQTTVERSION_5)
                             .user_name("visitor")
                             .password("pw-visitor")
                             .finalize());
        ws.subscribe("chat/user/visitor/inbox", 1)->wait();
        ws.publish("chat/conv/" + std::to_string(conv) + "/send", R"({"id":"w1","body":"hello over WebSocket"})", 1,
                   false)
            ->wait();
        auto ack = ws.try_consume_message_for(std::chrono::seconds(10));
        CPPUNIT_ASSERT(ack);
        CPPUNIT_ASSERT_MESSAGE(ack->to_string(), ack->to_string().find(R"("ack":"w1")") != std::string::npos);
        received r;
        CPPUNIT_ASSERT(agent->wait_message(r, 10s, "chat/conv/" + std::to_string(conv) + "/msg"));
        CPPUNIT_ASSERT_EQUAL(std::string("visitor"), parse_delivered(r.payload).sender);

        mqtt::async_client wrong("ws://127.0.0.1:" + std::to_string(ws_port) + "/mqtt", "intruder",
                                 mqtt::create_options(MQTTVERSION_5));
        bool refused = false;
        try {
            paho_connect(wrong, mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).user_name("visitor")
                                    .password("wrong").finalize());
        } catch (const mqtt::exception&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
        ws.disconnect()->wait();
    }

    void tls_and_secure_websocket_listeners() {
        // The TLS and wss listener blocks of the shipped mosquitto.conf, with
        // certificates from the same script scripts/run uses.
        temp_dir certs("tls"), other_ca("tls-other");
        std::string out;
        for (const auto* d : {&certs, &other_ca})
            CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"bash", source_dir() + "/scripts/make-certs", d->path()}, out));
        const std::string crt = certs.file("server.crt"), key = certs.file("server.key"), ca = certs.file("ca.crt");
        const int tls_port = free_port(), wss_port = free_port();
        broker_options o;
        o.extra_lines = {"listener " + std::to_string(tls_port) + " 127.0.0.1", "certfile " + crt, "keyfile " + key,
                         "listener " + std::to_string(wss_port) + " 127.0.0.1", "protocol websockets",
                         "socket_domain ipv4", "certfile " + crt, "keyfile " + key};
        chat_stack s("tls", o);
        s.add_user("visitor", "pw-visitor");
        s.add_user("agent", "pw-agent");
        const std::int64_t conv = s.create_conv({"visitor", "agent"});
        const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";

        mqtt_client agent(tls_port, {"agent-tls", "agent", "pw-agent", 5, true, 0, ca});
        CPPUNIT_ASSERT_EQUAL(0, agent.connect());
        CPPUNIT_ASSERT_EQUAL(1, agent.subscribe(msg_topic));

        mqtt::async_client browser("wss://127.0.0.1:" + std::to_string(wss_port) + "/mqtt", "visitor-wss",
                                   mqtt::create_options(MQTTVERSION_5));
        browser.start_consuming();
        paho_connect(browser, mqtt::connect_options_builder()
                                  .mqtt_version(MQTTVERSION_5)
                                  .user_name("visitor")
                                  .password("pw-visitor")
                                  .ssl(mqtt::ssl_options_builder().trust_store(ca).finalize())
                                  .finalize());
        browser.subscribe("chat/user/visitor/inbox", 1)->wait();
        browser.publish("chat/conv/" + std::to_string(conv) + "/send", R"({"id":"s1","body":"hello over wss"})", 1, false)
            ->wait();
        auto ack = browser.try_consume_message_for(std::chrono::seconds(10));
        CPPUNIT_ASSERT(ack);
        CPPUNIT_ASSERT_MESSAGE(ack->to_string(), ack->to_string().find(R"("ack":"s1")") != std::string::npos);
        received r;
        CPPUNIT_ASSERT(agent.wait_message(r, 10s, msg_topic));
        CPPUNIT_ASSERT_EQUAL(std::string("hello over wss"), parse_delivered(r.payload).body);
        CPPUNIT_ASSERT_EQUAL(std::string("visitor"), parse_delivered(r.payload).sender);
        browser.disconnect()->wait();

        // Plain MQTT on the TLS port, and TLS trusting another CA, get nowhere.
        mqtt_client plain(tls_port, {"agent-plain", "agent", "pw-agent"});
        plain.retry_when_closed(false); // closed without a CONNACK is the answer here, not "come back later"
        CPPUNIT_ASSERT(plain.connect(5s) != 0);
        mqtt_client wrong_ca(tls_port, {"agent-wrong-ca", "agent", "pw-agent", 5, true, 0, other_ca.file("ca.crt")});
        CPPUNIT_ASSERT(wrong_ca.connect(5s) != 0);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(chat_flow_test);
