// Every refusal the bridge sends for a send names the message: a notice on
// the sender's inbox with the client's `id`, the `conv`, and a code that
// tells the client whether to stop resending (docs/protocol.md, Errors).
// And each refused message is really not stored: no row, no seq used, no
// delivery to members.
//
// These are the refusals made at storing time, after the plugin let the
// message through: someone else's message edited (forbidden), a ref to no
// message (not_found), a sender who left or a conversation that went while
// the message waited (not_member), a message the database refuses
// (internal_error), and an envelope this bridge cannot read
// (invalid_envelope). A database that cannot store anything for a moment is
// waited for, not reported.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"refusals"};
    std::int64_t conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave"}) stack.add_user(u, std::string("pw-") + u);
        conv = stack.create_conv({"alice", "bob", "carol"});
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

std::string msg_topic(std::int64_t conv) { return "chat/conv/" + std::to_string(conv) + "/msg"; }
std::string send_topic(std::int64_t conv) { return "chat/conv/" + std::to_string(conv) + "/send"; }

std::unique_ptr<mqtt_client> login(const std::string& user, const std::string& id, int port = 0) {
    auto c = std::make_unique<mqtt_client>(port ? port : shared().stack.port(),
                                           client_options{id, user, "pw-" + user});
    if (c->connect() != 0 || c->subscribe("chat/user/" + user + "/inbox") != 1)
        throw std::runtime_error("login of " + user + " failed");
    return c;
}

/// Waits for what the inbox says about client message `id`: its ack or its
/// refusal notice. Throws if neither comes.
Json::Value answer_about(mqtt_client& c, const std::string& user, const std::string& id,
                         std::chrono::milliseconds timeout = 15s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::string seen;
    received r;
    while (std::chrono::steady_clock::now() < until) {
        if (!c.wait_message(r, 200ms, "chat/user/" + user + "/inbox")) continue;
        const Json::Value v = json_of(r.payload);
        if (v["ack"].asString() == id || (v.isMember("error") && v["id"].asString() == id)) return v;
        seen += r.payload + "\n";
    }
    throw std::runtime_error("no answer about " + id + " on " + user + "'s inbox; saw:\n" + seen);
}

/// Sends one envelope (PUBACK must be 0: the plugin lets it through) and
/// returns the inbox's answer about it.
Json::Value send(mqtt_client& c, const std::string& user, std::int64_t conv, const std::string& id,
                 const std::string& envelope) {
    const int rc = c.publish(send_topic(conv), envelope);
    if (rc != 0) throw std::runtime_error("the plugin refused " + id + " with " + std::to_string(rc));
    return answer_about(c, user, id);
}

void assert_refused(const Json::Value& notice, const std::string& code, const std::string& id, std::int64_t conv) {
    const std::string text = notice.toStyledString();
    CPPUNIT_ASSERT_EQUAL_MESSAGE(text, code, notice["error"]["code"].asString());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(text, id, notice["id"].asString());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(text, conv, notice["conv"].asInt64());
    CPPUNIT_ASSERT_MESSAGE(text, !notice["error"]["message"].asString().empty());
    CPPUNIT_ASSERT_MESSAGE(text, !notice.isMember("ack") && !notice.isMember("seq"));
}

std::int64_t rows_with_id(std::int64_t conv, const std::string& id) {
    return pg::connection(shared().stack.conninfo())
        .exec("SELECT count(*) FROM messages WHERE conv_id = $1 AND client_id = $2", {std::to_string(conv), id})
        .int64(0, 0);
}

std::int64_t last_seq(std::int64_t conv) {
    const auto r = pg::connection(shared().stack.conninfo())
                       .exec("SELECT last_seq FROM conversations WHERE id = $1", {std::to_string(conv)});
    return r.rows() ? r.int64(0, 0) : -1;
}

/// Ids of what a member got on the conversation since the last call.
std::vector<std::string> delivered_ids(mqtt_client& member, std::int64_t conv) {
    std::this_thread::sleep_for(300ms); // what was published has arrived
    std::vector<std::string> ids;
    for (const auto& r : member.take_all(msg_topic(conv))) ids.push_back(parse_delivered(r.payload).id);
    return ids;
}

bool contains(const std::vector<std::string>& ids, const std::string& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

} // namespace

class bridge_refusals_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(bridge_refusals_test);
    CPPUNIT_TEST(ack_false_makes_the_own_copy_the_ack_and_refusals_still_come);
    CPPUNIT_TEST(an_edit_or_delete_of_someone_elses_message_is_forbidden);
    CPPUNIT_TEST(a_ref_to_no_message_is_not_found);
    CPPUNIT_TEST(a_sender_removed_before_storing_is_not_member);
    CPPUNIT_TEST(a_conversation_gone_before_storing_is_not_member);
    CPPUNIT_TEST(a_message_the_database_refuses_is_internal_error_and_the_others_are_stored);
    CPPUNIT_TEST(a_database_that_cannot_store_for_a_moment_is_waited_for);
    CPPUNIT_TEST(an_envelope_the_bridge_cannot_read_is_refused_to_its_sender);
    CPPUNIT_TEST_SUITE_END();

public:
    void ack_false_makes_the_own_copy_the_ack_and_refusals_still_come() {
        auto& f = shared();
        auto alice = login("alice", "alice-noack");
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*alice, msg_topic(f.conv)));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send_topic(f.conv), R"({"id":"na-1","body":"no ack please","ack":false})"));
        // Its own copy, with its seq, is the ack; nothing comes on the inbox.
        received r;
        Json::Value copy;
        while (alice->wait_message(r, 10s, msg_topic(f.conv))) {
            copy = json_of(r.payload);
            if (copy["id"].asString() == "na-1") break;
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(copy.toStyledString(), std::string("na-1"), copy["id"].asString());
        CPPUNIT_ASSERT(copy["seq"].asInt64() > 0);
        CPPUNIT_ASSERT_MESSAGE(copy.toStyledString(), !copy.isMember("ack"));
        std::this_thread::sleep_for(1s);
        for (const auto& in : alice->take_all("chat/user/alice/inbox"))
            CPPUNIT_ASSERT_MESSAGE(in.payload, json_of(in.payload)["ack"].asString() != "na-1");
        // Sent again (it never saw the copy, say): stored once, and acked on the inbox, since no copy comes.
        const Json::Value again = send(*alice, "alice", f.conv, "na-1", R"({"id":"na-1","body":"no ack please","ack":false})");
        CPPUNIT_ASSERT_EQUAL(copy["seq"].asInt64(), again["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), rows_with_id(f.conv, "na-1"));
        // A refusal still comes on the inbox.
        const std::string edit = R"({"id":"na-2","type":"edit","body":"x","ref":999999,"ack":false})";
        assert_refused(send(*alice, "alice", f.conv, "na-2", edit), "not_found", "na-2", f.conv);
        // Anything but true or false is refused by the plugin, with a reason.
        CPPUNIT_ASSERT(alice->publish(send_topic(f.conv), R"({"id":"na-3","body":"b","ack":"no"})") != 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(f.conv, "na-3"));
    }

    void an_edit_or_delete_of_someone_elses_message_is_forbidden() {
        auto& f = shared();
        auto alice = login("alice", "alice-forbidden");
        auto bob = login("bob", "bob-forbidden");
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*bob, msg_topic(f.conv)));
        const Json::Value ack = send(*alice, "alice", f.conv, "f-orig", R"({"id":"f-orig","body":"mine"})");
        const std::int64_t seq = ack["seq"].asInt64();
        CPPUNIT_ASSERT(seq > 0);
        delivered_ids(*bob, f.conv);
        const std::int64_t before = last_seq(f.conv);

        const std::string edit = R"({"id":"f-edit","type":"edit","body":"bob's now","ref":)" + std::to_string(seq) + "}";
        assert_refused(send(*bob, "bob", f.conv, "f-edit", edit), "forbidden", "f-edit", f.conv);
        assert_refused(send(*bob, "bob", f.conv, "f-del", R"({"id":"f-del","type":"delete","ref":)" + std::to_string(seq) + "}"),
                       "forbidden", "f-del", f.conv);
        // A resend gets the same answer: the code means stop resending.
        assert_refused(send(*bob, "bob", f.conv, "f-edit", edit), "forbidden", "f-edit", f.conv);

        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(f.conv, "f-edit") + rows_with_id(f.conv, "f-del"));
        CPPUNIT_ASSERT_EQUAL(before, last_seq(f.conv));
        CPPUNIT_ASSERT_EQUAL(std::string("mine"),
                             pg::connection(f.stack.conninfo())
                                 .exec("SELECT body FROM messages WHERE conv_id = $1 AND seq = $2",
                                       {std::to_string(f.conv), std::to_string(seq)})
                                 .str(0, 0));
        CPPUNIT_ASSERT(delivered_ids(*bob, f.conv).empty());
    }

    void a_ref_to_no_message_is_not_found() {
        auto& f = shared();
        auto bob = login("bob", "bob-not-found");
        auto carol = login("carol", "carol-not-found");
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*carol, msg_topic(f.conv)));
        const std::int64_t before = last_seq(f.conv);
        assert_refused(send(*bob, "bob", f.conv, "nf-react", R"({"id":"nf-react","type":"reaction","ref":999999,"body":"👍"})"),
                       "not_found", "nf-react", f.conv);
        assert_refused(send(*bob, "bob", f.conv, "nf-edit", R"({"id":"nf-edit","type":"edit","ref":999998,"body":"x"})"),
                       "not_found", "nf-edit", f.conv);
        // A message that is gone (deleted) is no message to react to either.
        const std::int64_t seq = send(*bob, "bob", f.conv, "nf-gone", R"({"id":"nf-gone","body":"soon gone"})")["seq"].asInt64();
        send(*bob, "bob", f.conv, "nf-gone-del", R"({"id":"nf-gone-del","type":"delete","ref":)" + std::to_string(seq) + "}");
        assert_refused(send(*bob, "bob", f.conv, "nf-late", R"({"id":"nf-late","type":"reaction","body":"👍","ref":)" + std::to_string(seq) + "}"),
                       "not_found", "nf-late", f.conv);

        for (const char* id : {"nf-react", "nf-edit", "nf-late"}) CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(f.conv, id));
        CPPUNIT_ASSERT_EQUAL(before + 2, last_seq(f.conv)); // the message and its delete only
        const auto ids = delivered_ids(*carol, f.conv);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), ids.size());
        CPPUNIT_ASSERT(!contains(ids, "nf-react") && !contains(ids, "nf-late"));
    }

    void a_sender_removed_before_storing_is_not_member() {
        auto& f = shared();
        // The plugin lets carol's message through while she is a member; the
        // bridge is down, so it waits in the bridge's session, and she is
        // removed before the bridge stores it.
        auto carol = login("carol", "carol-removed");
        auto alice = login("alice", "alice-removed");
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*alice, msg_topic(f.conv)));
        const std::int64_t before = last_seq(f.conv);
        f.stack.store->stop();
        CPPUNIT_ASSERT_EQUAL(0, carol->publish(send_topic(f.conv), R"({"id":"nm-late","body":"still here?"})"));
        admin_ok(f.stack.conninfo(), {"conv", "remove-member", std::to_string(f.conv), "carol"});
        f.stack.store->start();

        assert_refused(answer_about(*carol, "carol", "nm-late"), "not_member", "nm-late", f.conv);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(f.conv, "nm-late"));
        CPPUNIT_ASSERT_EQUAL(before, last_seq(f.conv));
        CPPUNIT_ASSERT(!contains(delivered_ids(*alice, f.conv), "nm-late"));
        CPPUNIT_ASSERT_MESSAGE(f.stack.store->log(), f.stack.store->log().find("refused message nm-late from carol") != std::string::npos);
        admin_ok(f.stack.conninfo(), {"conv", "add-member", std::to_string(f.conv), "carol"});
    }

    void a_conversation_gone_before_storing_is_not_member() {
        auto& f = shared();
        const std::int64_t gone = f.stack.create_conv({"dave", "alice"});
        auto dave = login("dave", "dave-gone");
        f.stack.store->stop();
        CPPUNIT_ASSERT_EQUAL(0, dave->publish(send_topic(gone), R"({"id":"gone-1","body":"hello?"})"));
        pg::connection(f.stack.conninfo()).exec("DELETE FROM conversations WHERE id = $1", {std::to_string(gone)});
        f.stack.store->start();

        assert_refused(answer_about(*dave, "dave", "gone-1"), "not_member", "gone-1", gone);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(gone, "gone-1"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(-1), last_seq(gone));
    }

    void a_message_the_database_refuses_is_internal_error_and_the_others_are_stored() {
        auto& f = shared();
        pg::connection db(f.stack.conninfo());
        // Stands for any refusal of one message by the database (a constraint,
        // a limit): an error that storing it again would meet again.
        db.exec_script("CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       "  IF NEW.body = 'poison' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
                       "  RETURN NEW; END $$;"
                       "CREATE TRIGGER test_refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_refuse();");
        auto alice = login("alice", "alice-internal");
        auto bob = login("bob", "bob-internal");
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*bob, msg_topic(f.conv)));
        const std::int64_t before = last_seq(f.conv);
        // Bridge down: the three wait and are stored in one batch.
        f.stack.store->stop();
        for (const char* m : {R"({"id":"ie-1","body":"fine"})", R"({"id":"ie-bad","body":"poison"})",
                              R"({"id":"ie-2","body":"fine too"})"})
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(send_topic(f.conv), m));
        f.stack.store->start();

        const Json::Value first = answer_about(*alice, "alice", "ie-1");
        const Json::Value bad = answer_about(*alice, "alice", "ie-bad");
        const Json::Value second = answer_about(*alice, "alice", "ie-2");
        assert_refused(bad, "internal_error", "ie-bad", f.conv);
        CPPUNIT_ASSERT_EQUAL(before + 1, first["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(before + 2, second["seq"].asInt64()); // no seq used by the refused one
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), rows_with_id(f.conv, "ie-bad"));
        CPPUNIT_ASSERT_EQUAL(before + 2, last_seq(f.conv));
        const auto ids = delivered_ids(*bob, f.conv);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), ids.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ie-1"), ids[0]);
        CPPUNIT_ASSERT_EQUAL(std::string("ie-2"), ids[1]);
        const std::string log = f.stack.store->log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("database refused message ie-bad from alice") != std::string::npos);
        db.exec_script("DROP TRIGGER test_refuse ON messages; DROP FUNCTION test_refuse();");
    }

    void a_database_that_cannot_store_for_a_moment_is_waited_for() {
        auto& f = shared();
        pg::connection db(f.stack.conninfo());
        // Disk full (53100) for the first three tries, then fine: like space
        // freed by an operator. A sequence counts the tries (it is not rolled back).
        db.exec_script("CREATE SEQUENCE test_tries;"
                       "CREATE FUNCTION test_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       "  IF NEW.body = 'wait for me' AND nextval('test_tries') <= 3 THEN"
                       "    RAISE EXCEPTION 'could not extend file (test)' USING ERRCODE = '53100'; END IF;"
                       "  RETURN NEW; END $$;"
                       "CREATE TRIGGER test_full BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_full();");
        auto alice = login("alice", "alice-wait");
        const Json::Value answer = send(*alice, "alice", f.conv, "w-1", R"({"id":"w-1","body":"wait for me"})");
        CPPUNIT_ASSERT_MESSAGE(answer.toStyledString(), answer["seq"].asInt64() > 0 && !answer.isMember("error"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), rows_with_id(f.conv, "w-1"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.exec("SELECT last_value FROM test_tries").int64(0, 0));
        const std::string log = f.stack.store->log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("database cannot store now (SQLSTATE 53100") != std::string::npos);
        db.exec_script("DROP TRIGGER test_full ON messages; DROP FUNCTION test_full(); DROP SEQUENCE test_tries;");
    }

    void an_envelope_the_bridge_cannot_read_is_refused_to_its_sender() {
        // Only the plugin writes .../stamped; a plugin newer than the bridge
        // could write what this bridge does not read. Without the plugin in
        // the way, a client plays that plugin.
        temp_dir dir("refusals-raw");
        pg_cluster db(dir);
        admin_ok(db.conninfo(), {"migrate"});
        broker_options plain;
        plain.with_plugin = false;
        plain.extra_lines = {"allow_anonymous true"};
        broker mqtt(dir, db.conninfo(), plain);
        mqtt.start();
        bridge store(dir, db.conninfo(), mqtt.port(), "any");
        store.start();

        mqtt_client plugin(mqtt.port(), client_options{"fake-plugin", "", ""});
        CPPUNIT_ASSERT_EQUAL(0, plugin.connect());
        CPPUNIT_ASSERT_EQUAL(1, plugin.subscribe("chat/user/+/inbox"));
        CPPUNIT_ASSERT_EQUAL(0, plugin.publish("chat/conv/7/stamped",
                                               R"({"id":"u-1","sender":"alice","body":"hi","type":"not a type!"})"));
        received r;
        CPPUNIT_ASSERT_MESSAGE(store.log(), plugin.wait_message(r, 10s, "chat/user/alice/inbox"));
        assert_refused(json_of(r.payload), "invalid_envelope", "u-1", 7);
        // No sender named: nobody to tell, nothing sent.
        CPPUNIT_ASSERT_EQUAL(0, plugin.publish("chat/conv/7/stamped", R"({"id":"u-2","body":"hi"})"));
        CPPUNIT_ASSERT(!plugin.wait_message(r, 1s));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             pg::connection(db.conninfo()).exec("SELECT count(*) FROM messages").int64(0, 0));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(bridge_refusals_test);
