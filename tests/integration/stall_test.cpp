// The broker's thread never waits on PostgreSQL or on Argon2id (issue #11):
// with the database frozen (SIGSTOP, like a stalled disk or a long GC pause
// on its host), members already in keep typing and reading, made-up user
// names are refused, and a message sent meanwhile is stored and delivered
// once when the database wakes; a storm of first logins is checked off the
// broker's thread and the clients come back; a message held for a
// membership change holds up nobody else. Timings are measured by
// `scripts/bench db_stall`; here only outcomes are asserted.

#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = 0x87;

struct fixture {
    chat_stack stack{"stall"};
    std::int64_t conv = 0;      ///< alice, bob, carol
    std::int64_t other = 0;     ///< alice, carol
    fixture() {
        for (const char* u : {"alice", "bob", "carol"}) stack.add_user(u, std::string("pw-") + u);
        conv = stack.create_conv({"alice", "bob", "carol"}, "stall");
        other = stack.create_conv({"alice", "carol"}, "other");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

std::unique_ptr<mqtt_client> login(const std::string& user, const std::string& password = "") {
    auto c = std::make_unique<mqtt_client>(shared().stack.port(),
                                           client_options{"", user, password.empty() ? "pw-" + user : password});
    const int rc = c->connect();
    if (rc != 0) throw std::runtime_error("login of " + user + " refused: " + std::to_string(rc));
    return c;
}

std::string topic(std::int64_t conv, const std::string& leaf) { return "chat/conv/" + std::to_string(conv) + "/" + leaf; }

/// `writer` logged in and listening on its inbox, `reader` on the
/// conversation's messages. The conversation is new: while its news reaches
/// the plugin, and the database was frozen a moment ago (the lookup budget
/// spent), a subscription may be refused; the reader subscribes again
/// (plugin/acl.cpp: "the client may subscribe again").
struct writer_and_reader {
    std::unique_ptr<mqtt_client> writer, reader;
};
writer_and_reader log_in_pair(std::int64_t conv, const std::string& writer, const std::string& reader) {
    writer_and_reader p{login(writer), login(reader)};
    CPPUNIT_ASSERT_EQUAL(1, p.writer->subscribe("chat/user/" + writer + "/inbox"));
    int granted = -1;
    for (int i = 0; i < 50 && granted != 1; ++i) {
        granted = p.reader->subscribe(topic(conv, "msg"));
        if (granted != 1) std::this_thread::sleep_for(100ms);
    }
    CPPUNIT_ASSERT_EQUAL(1, granted);
    return p;
}

} // namespace

class stall_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(stall_test);
    CPPUNIT_TEST(a_frozen_database_stalls_nobody);
    CPPUNIT_TEST(first_logins_are_checked_off_the_broker_thread);
    CPPUNIT_TEST(a_message_held_for_a_removal_holds_up_no_other_conversation);
    CPPUNIT_TEST(an_exclusive_broker_asks_undecided_logins_to_come_back);
    CPPUNIT_TEST(a_send_the_plugin_cannot_judge_in_time_is_judged_by_the_bridge);
    CPPUNIT_TEST(recording_what_was_published_never_holds_up_a_store);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_frozen_database_stalls_nobody() {
        auto& s = shared();
        auto alice = login("alice");
        auto bob = login("bob");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(topic(s.conv, "typing")));
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(topic(s.conv, "msg")));
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox"));

        s.stack.db.freeze();
        // Made-up names arrive while alice types: every one is refused, and
        // every typing message still reaches bob.
        std::atomic<int> refused{0}, other{0};
        std::thread storm([&] {
            for (int i = 0; i < 40; ++i) {
                mqtt_client ghost(s.stack.port(), {"", "ghost-" + std::to_string(i), "guess"});
                const int rc = ghost.connect(10s);
                (rc == not_authorized ? refused : other)++;
            }
        });
        int typed = 0, seen = 0;
        for (int i = 0; i < 10; ++i) {
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(topic(s.conv, "typing"), i % 2 ? R"({"typing":false})"
                                                                                    : R"({"typing":true})"));
            ++typed;
            received r;
            if (bob->wait_message(r, 10s, topic(s.conv, "typing"))) ++seen;
            std::this_thread::sleep_for(250ms); // under typing_per_s
        }
        storm.join();
        CPPUNIT_ASSERT_EQUAL(typed, seen);
        CPPUNIT_ASSERT_EQUAL(40, refused.load());
        CPPUNIT_ASSERT_EQUAL(0, other.load());

        // A message sent during the freeze is accepted by the plugin from
        // memory, and stored and delivered once when the database wakes.
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(topic(s.conv, "send"), R"({"id":"frozen-1","body":"still here"})"));
        std::this_thread::sleep_for(300ms);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), bob->take_all(topic(s.conv, "msg")).size()); // not stored yet
        s.stack.db.thaw();
        delivery_log at_bob;
        at_bob.collect(*bob, topic(s.conv, "msg"), 1, 30s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), at_bob.first_seen.size());
        CPPUNIT_ASSERT_EQUAL(std::string("frozen-1"), at_bob.first_seen[0].id);
        received ack;
        CPPUNIT_ASSERT(alice->wait_message(ack, 10s, "chat/user/alice/inbox"));
        CPPUNIT_ASSERT_EQUAL(std::string("frozen-1"), json_of(ack.payload)["ack"].asString());
        std::this_thread::sleep_for(300ms);
        for (const auto& r : bob->take_all(topic(s.conv, "msg"))) at_bob.add(r);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), at_bob.duplicates);
        pg::connection db(s.stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.exec("SELECT count(*) FROM messages WHERE client_id = 'frozen-1'").int64(0, 0));
    }

    void first_logins_are_checked_off_the_broker_thread() {
        // 24 users log in for the first time at once: more Argon2id runs than
        // the wait budget covers. Some are told to come back; all get in, a
        // wrong password among them is refused, and a member already in keeps
        // getting typing while the checks run.
        auto& s = shared();
        const int n = 24;
        for (int i = 0; i < n; ++i) s.stack.add_user("new-" + std::to_string(i), "pw-new-" + std::to_string(i));
        auto alice = login("alice");
        auto carol = login("carol");
        CPPUNIT_ASSERT_EQUAL(1, carol->subscribe(topic(s.other, "typing")));
        std::atomic<int> in{0}, came_back{0};
        std::vector<std::thread> storm;
        for (int i = 0; i < n; ++i)
            storm.emplace_back([&, i] {
                mqtt_client c(s.stack.port(), {"", "new-" + std::to_string(i), "pw-new-" + std::to_string(i)});
                if (c.connect(30s) == 0) ++in;
                came_back += c.come_backs();
            });
        int seen = 0;
        for (int i = 0; i < 8; ++i) {
            alice->publish(topic(s.other, "typing"), R"({"typing":true})");
            received r;
            if (carol->wait_message(r, 10s, topic(s.other, "typing"))) ++seen;
            std::this_thread::sleep_for(250ms);
        }
        for (auto& t : storm) t.join();
        CPPUNIT_ASSERT_EQUAL(n, in.load());
        CPPUNIT_ASSERT_EQUAL(8, seen);
        CPPUNIT_ASSERT_MESSAGE("no login was told to come back", came_back.load() > 0);
        const std::string log = s.stack.mqtt->log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("logins told to come back") != std::string::npos);
        // A wrong first password: checked off the thread too, then refused.
        s.stack.add_user("late", "pw-late");
        mqtt_client wrong(s.stack.port(), {"", "late", "not-it"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, wrong.connect(30s));
        mqtt_client right(s.stack.port(), {"", "late", "pw-late"});
        CPPUNIT_ASSERT_EQUAL(0, right.connect(30s));
    }

    void a_message_held_for_a_removal_holds_up_no_other_conversation() {
        // The backend that tells the plugin about membership changes stops;
        // bob is removed and alice writes to him and carol: that message
        // waits for the news. A message in another conversation, sent after
        // it, is delivered at once. When the news comes, carol gets the held
        // one and bob does not.
        auto& s = shared();
        auto alice = login("alice");
        auto bob = login("bob");
        auto carol = login("carol");
        for (const auto& t : {topic(s.conv, "msg"), topic(s.other, "msg")}) CPPUNIT_ASSERT_EQUAL(1, carol->subscribe(t));
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(topic(s.conv, "msg")));
        pg::connection db(s.stack.conninfo());
        const auto listener =
            db.exec("SELECT pid FROM pg_stat_activity WHERE application_name = 'mqchat-plugin-directory'");
        CPPUNIT_ASSERT_EQUAL(1, listener.rows());
        const pid_t notices = static_cast<pid_t>(listener.int64(0, 0));
        const std::string bob_id = "(SELECT id FROM users WHERE name = 'bob')";

        CPPUNIT_ASSERT_EQUAL(0, kill(notices, SIGSTOP));
        db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = " + bob_id, {std::to_string(s.conv)});
        alice->publish_async(topic(s.conv, "send"), R"({"id":"held-1","body":"not for bob"})");
        std::this_thread::sleep_for(100ms); // stored, on its way, held
        alice->publish_async(topic(s.other, "send"), R"({"id":"free-1","body":"for carol, now"})");
        received r;
        CPPUNIT_ASSERT(carol->wait_message(r, 10s));
        const bool first_was_free = parse_delivered(r.payload).id == "free-1";
        CPPUNIT_ASSERT_EQUAL(0, kill(notices, SIGCONT));
        CPPUNIT_ASSERT_MESSAGE("the other conversation waited: " + r.payload, first_was_free);
        CPPUNIT_ASSERT(carol->wait_message(r, 10s, topic(s.conv, "msg")));
        CPPUNIT_ASSERT_EQUAL(std::string("held-1"), parse_delivered(r.payload).id);
        std::this_thread::sleep_for(300ms);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), bob->take_all(topic(s.conv, "msg")).size());
        db.exec("INSERT INTO members (conv_id, user_id) SELECT $1, " + bob_id, {std::to_string(s.conv)});
    }

    void an_exclusive_broker_asks_undecided_logins_to_come_back() {
        // On a chat-only broker a name the database cannot confirm in time is
        // neither ours nor anyone else's yet: the client is told to come back
        // (closed without a CONNACK), and refused once the answer is in.
        auto& s = shared();
        broker_options o;
        o.plugin_options = {"exclusive true"};
        broker b(s.stack.dir, s.stack.conninfo(), o, "exclusive-stall");
        b.start();
        {
            mqtt_client alice(b.port(), {"", "alice", "pw-alice"});
            CPPUNIT_ASSERT_EQUAL(0, alice.connect());
        }
        s.stack.db.freeze();
        {
            mqtt_client ghost(b.port(), {"", "ghost-x", "guess"});
            ghost.retry_when_closed(false);
            const int rc = ghost.connect(10s);
            mqtt_client alice(b.port(), {"", "alice", "pw-alice"}); // known: answered from memory
            const int alice_rc = alice.connect();
            s.stack.db.thaw();
            CPPUNIT_ASSERT_EQUAL(-1, rc);
            CPPUNIT_ASSERT_EQUAL(0, alice_rc);
        }
        mqtt_client ghost(b.port(), {"", "ghost-x", "guess"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, ghost.connect(30s));
        CPPUNIT_ASSERT(b.log().find("logins told to come back") != std::string::npos);
    }

    void a_send_the_plugin_cannot_judge_in_time_is_judged_by_the_bridge() {
        // Memory says carol is not in the conversation, and the database
        // cannot say otherwise in time (frozen): the plugin lets the send go
        // on rather than refuse a member it cannot see yet, and the bridge,
        // which checks membership when it stores, refuses it by name when the
        // database wakes. Nothing is stored; bob receives nothing.
        auto& s = shared();
        const std::int64_t only_alice_bob = s.stack.create_conv({"alice", "bob"}, "two");
        auto [carol, bob] = log_in_pair(only_alice_bob, "carol", "bob");
        s.stack.db.freeze();
        const int rc = carol->publish(topic(only_alice_bob, "send"), R"({"id":"not-yours-1","body":"let me in"})");
        s.stack.db.thaw();
        CPPUNIT_ASSERT_EQUAL(0, rc); // passed on, undecided
        received r;
        CPPUNIT_ASSERT(carol->wait_message(r, 30s, "chat/user/carol/inbox"));
        const Json::Value notice = json_of(r.payload);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, std::string("not_member"), notice["error"]["code"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("not-yours-1"), notice["id"].asString());
        std::this_thread::sleep_for(300ms);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), bob->take_all(topic(only_alice_bob, "msg")).size());
        pg::connection db(s.stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             db.exec("SELECT count(*) FROM messages WHERE client_id = 'not-yours-1'").int64(0, 0));
        // The database's answer is remembered: the next try is refused at once, by the plugin.
        for (int i = 0; i < 50; ++i) {
            const int again = carol->publish(topic(only_alice_bob, "send"), R"({"id":"not-yours-2","body":"x"})");
            if (again == not_authorized) return;
            std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_FAIL("the plugin never learnt that carol is not a member");
    }

    void recording_what_was_published_never_holds_up_a_store() {
        // The outbox is its own table (schema/011_outbox.sql): whoever holds
        // a conversation's outbox row — the deferred writer, another
        // bridge's, an operator's query — the next message into that
        // conversation is stored, delivered and acked all the same, and the
        // published seq is recorded once the row is free.
        auto& s = shared();
        const std::int64_t conv = s.stack.create_conv({"alice", "bob"}, "outbox");
        auto [alice, bob] = log_in_pair(conv, "alice", "bob");
        pg::connection holder(s.stack.conninfo());
        holder.exec("BEGIN");
        holder.exec("INSERT INTO conversation_outbox VALUES ($1, 0)", {std::to_string(conv)});
        holder.exec("SELECT * FROM conversation_outbox WHERE conv_id = $1 FOR UPDATE", {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(topic(conv, "send"), R"({"id":"outbox-1","body":"not held up"})"));
        received ack;
        CPPUNIT_ASSERT(alice->wait_message(ack, 10s, "chat/user/alice/inbox"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ack.payload, std::string("outbox-1"), json_of(ack.payload)["ack"].asString());
        delivery_log at_bob;
        at_bob.collect(*bob, topic(conv, "msg"), 1, 10s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), at_bob.first_seen.size());
        holder.exec("COMMIT");
        pg::connection db(s.stack.conninfo());
        for (int i = 0; i < 100; ++i) {
            const auto r = db.exec("SELECT published_seq FROM conversation_outbox WHERE conv_id = $1", {std::to_string(conv)});
            if (r.rows() == 1 && r.int64(0, 0) == 1) return;
            std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_FAIL("the published seq was never recorded");
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(stall_test);
