// End-to-end encrypted conversations against the real stack (docs/protocol.md,
// "End-to-end encryption"): made encrypted by conv.create and never plain
// again; a message there is type e2e with ciphertexts only, checked for
// shape and size by the plugin and never for content; it reaches members,
// history and sync byte for byte; the database holds no text of it; pushes
// say "New message"; plain messages are refused there and ciphertext
// anywhere else. The ciphertexts here are random bytes: what they say is
// the clients' business (e2e_flow_test runs real Olm clients).

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>
#include <sodium.h>

#include <memory>
#include <thread>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"e2e-messages"};
    fixture() {
        for (const char* u : {"alice", "bob", "carol"}) stack.add_user(u, std::string("pw-") + u);
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

struct caller : rpc_caller {
    explicit caller(const std::string& user) : rpc_caller(shared().stack.port(), user, "pw-" + user) {}
};

std::string random_base64(std::size_t bytes) {
    std::string raw(bytes, '\0');
    randombytes_buf(raw.data(), raw.size());
    std::string out(sodium_base64_encoded_len(bytes, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.find('\0'));
    return out;
}

/// A per-device envelope from alice's phone to the given "user/device" keys.
Json::Value per_device(std::initializer_list<const char*> to, std::size_t bytes = 200) {
    Json::Value e(Json::objectValue);
    e["sender_device"] = "alice-phone";
    for (const char* k : to) {
        Json::Value c(Json::objectValue);
        c["type"] = 0;
        c["body"] = random_base64(bytes);
        e["ciphertexts"][k] = c;
    }
    return e;
}

Json::Value e2e_send(const std::string& id, const Json::Value& e2e) {
    Json::Value v(Json::objectValue);
    v["id"] = id;
    v["type"] = "e2e";
    v["e2e"] = e2e;
    return v;
}

std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    pg::connection db(shared().stack.conninfo());
    return db.exec(sql, args).int64(0, 0);
}

Json::Value names(std::initializer_list<const char*> list) {
    Json::Value v(Json::arrayValue);
    for (const char* n : list) v.append(n);
    return v;
}

} // namespace

class e2e_messages_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(e2e_messages_test);
    CPPUNIT_TEST(encrypted_conversations_are_made_so_and_listed);
    CPPUNIT_TEST(ciphertext_reaches_members_history_and_sync_unchanged_and_no_text_is_stored);
    CPPUNIT_TEST(plain_messages_are_refused_there_and_ciphertext_elsewhere);
    CPPUNIT_TEST(malformed_envelopes_are_refused_by_the_plugin);
    CPPUNIT_TEST(pushes_say_only_new_message);
    CPPUNIT_TEST_SUITE_END();

public:
    void encrypted_conversations_are_made_so_and_listed() {
        caller alice("alice"), bob("bob");
        const Json::Value plain = alice.call("conv.create", params({{"members", names({"bob"})}}));
        const Json::Value sealed = alice.call("conv.create", params({{"members", names({"bob"})}, {"encrypted", true}}));
        CPPUNIT_ASSERT_MESSAGE(sealed.toStyledString(), sealed["result"]["encrypted"].asBool());
        // A direct encrypted conversation is its own, beside the pair's plain one, and found again.
        CPPUNIT_ASSERT(plain["result"]["conv"].asInt64() != sealed["result"]["conv"].asInt64());
        const Json::Value again = bob.call("conv.create", params({{"members", names({"alice"})}, {"encrypted", true}}));
        CPPUNIT_ASSERT_EQUAL(sealed["result"]["conv"].asInt64(), again["result"]["conv"].asInt64());
        CPPUNIT_ASSERT(!again["result"]["created"].asBool());
        const Json::Value group = alice.call("conv.create", params({{"members", names({"bob", "carol"})}, {"title", "sealed"},
                                                                   {"encrypted", true}}));
        CPPUNIT_ASSERT(group["result"]["encrypted"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(alice.call("conv.create", params({{"members", names({"bob"})}, {"encrypted", "yes"}}))));
        const Json::Value list = bob.call("conv.list");
        int encrypted = 0;
        for (const auto& c : list["result"]["conversations"]) encrypted += c["encrypted"].asBool();
        CPPUNIT_ASSERT_EQUAL(2, encrypted);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), count("SELECT count(*) FROM conversations WHERE encrypted"));
        // bob heard of each; the notices say which are encrypted.
        for (int i = 0; i < 3; ++i) {
            const Json::Value n = bob.notice("added");
            CPPUNIT_ASSERT_MESSAGE("notice " + std::to_string(i), n.isObject());
            CPPUNIT_ASSERT_EQUAL(n["conv"].asInt64() != plain["result"]["conv"].asInt64(), n["encrypted"].asBool());
        }
    }

    void ciphertext_reaches_members_history_and_sync_unchanged_and_no_text_is_stored() {
        caller alice("alice"), bob("bob");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"encrypted", true}}))["result"]["conv"].asInt64();
        const std::string msg = "chat/conv/" + std::to_string(conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*bob.client, msg));
        const Json::Value sent = per_device({"bob/bob-phone", "bob/bob-laptop", "alice/alice-laptop"});
        const Json::Value ack = alice.send(conv, e2e_send("s-1", sent));
        CPPUNIT_ASSERT_MESSAGE(ack.toStyledString(), ack.isMember("seq"));
        Json::Value group(Json::objectValue);
        group["sender_device"] = "alice-phone";
        group["session_id"] = random_base64(32);
        group["ciphertext"] = random_base64(600);
        CPPUNIT_ASSERT(alice.send(conv, e2e_send("s-2", group)).isMember("seq"));

        received r;
        Json::Value got;
        std::string why;
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT(json::parse(r.payload, got, why));
        CPPUNIT_ASSERT_EQUAL(std::string("e2e"), got["type"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string(""), got["body"].asString());
        CPPUNIT_ASSERT(got["e2e"] == sent);
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT(json::parse(r.payload, got, why));
        CPPUNIT_ASSERT(got["e2e"] == group);

        const Json::Value h = bob.call("history", params({{"conv", Json::Int64(conv)}}));
        CPPUNIT_ASSERT_EQUAL(2u, h["result"]["messages"].size());
        CPPUNIT_ASSERT(h["result"]["messages"][0]["e2e"] == sent);
        CPPUNIT_ASSERT(h["result"]["messages"][1]["e2e"] == group);
        Json::Value cursors(Json::objectValue);
        cursors[std::to_string(conv)] = 0;
        const Json::Value sy = bob.call("sync", params({{"cursors", cursors}}));
        int seen = 0;
        for (const auto& m : sy["result"]["messages"])
            if (m["conv"].asInt64() == conv) seen += m["e2e"] == sent || m["e2e"] == group;
        CPPUNIT_ASSERT_EQUAL(2, seen);

        // The database keeps the envelope as sent and no text: an empty body, an empty search vector.
        pg::connection db(shared().stack.conninfo());
        const auto rows = db.exec("SELECT body, search::text, e2e::text FROM messages WHERE conv_id = $1 ORDER BY seq",
                                  {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(2, rows.rows());
        for (int i = 0; i < 2; ++i) {
            CPPUNIT_ASSERT_EQUAL(std::string(""), rows.str(i, 0));
            CPPUNIT_ASSERT_EQUAL(std::string(""), rows.str(i, 1));
            Json::Value stored;
            CPPUNIT_ASSERT(json::parse(rows.text(i, 2), stored, why));
            CPPUNIT_ASSERT(stored == (i == 0 ? sent : group));
        }
        // A resend with the same id is a duplicate, as for any message.
        CPPUNIT_ASSERT_EQUAL(ack["seq"].asInt64(), alice.send(conv, e2e_send("s-1", sent))["seq"].asInt64());
    }

    void plain_messages_are_refused_there_and_ciphertext_elsewhere() {
        caller alice("alice");
        const std::int64_t sealed = alice.call("conv.create", params({{"members", names({"carol"})}, {"encrypted", true}}))
                                        ["result"]["conv"].asInt64();
        const std::int64_t plain = alice.call("conv.create", params({{"members", names({"carol"})}}))["result"]["conv"].asInt64();
        const std::int64_t before = count("SELECT count(*) FROM messages");
        Json::Value text(Json::objectValue);
        text["id"] = "p-1";
        text["body"] = "the secret is out";
        const Json::Value refused = alice.send(sealed, text);
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(refused));
        CPPUNIT_ASSERT(refused["error"]["message"].asString().find("end-to-end encrypted") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(alice.send(plain, e2e_send("p-2", per_device({"carol/c1"})))));
        // Reactions and edits there are ciphertexts too: a plain event is refused.
        CPPUNIT_ASSERT(alice.send(sealed, e2e_send("p-3", per_device({"carol/c1"}))).isMember("seq"));
        Json::Value reaction(Json::objectValue);
        reaction["id"] = "p-4";
        reaction["type"] = "reaction";
        reaction["ref"] = 1;
        reaction["body"] = "+1";
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(alice.send(sealed, reaction)));
        CPPUNIT_ASSERT_EQUAL(before + 1, count("SELECT count(*) FROM messages"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM messages WHERE body LIKE '%secret%'"));
    }

    void malformed_envelopes_are_refused_by_the_plugin() {
        caller alice("alice");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"encrypted", true}}))["result"]["conv"].asInt64();
        const std::string topic = "chat/conv/" + std::to_string(conv) + "/send";
        const std::int64_t before = count("SELECT count(*) FROM messages");
        Json::Value too_many(Json::objectValue);
        too_many["sender_device"] = "d";
        for (int i = 0; i < 101; ++i) too_many["ciphertexts"]["bob/d" + std::to_string(i)] = per_device({"x/y"}, 3)["ciphertexts"]["x/y"];
        Json::Value huge = per_device({"bob/d"});
        huge["ciphertexts"]["bob/d"]["body"] = std::string(8193, 'A');
        for (const std::string& payload : {
                 std::string(R"({"id":"m-1","type":"e2e"})"),                                                  // no e2e
                 std::string(R"({"id":"m-2","type":"e2e","body":"hi","e2e":{"sender_device":"d","ciphertext":"QUJD"}})"), // text beside it
                 std::string(R"({"id":"m-3","type":"e2e","e2e":{"sender_device":"d","ciphertext":"not base64!"}})"),
                 std::string(R"({"id":"m-4","type":"e2e","e2e":{"sender_device":"d"}})"),                    // no ciphertext
                 std::string(R"({"id":"m-5","type":"e2e","e2e":{"sender_device":"d","ciphertext":"QUJD","ciphertexts":{}}})"),
                 std::string(R"({"id":"m-6","type":"e2e","e2e":{"sender_device":"d","ciphertexts":{"bob":{"type":0,"body":"QUJD"}}}})"),
                 std::string(R"({"id":"m-7","type":"e2e","e2e":{"sender_device":"d","ciphertexts":{"bob/p":{"type":2,"body":"QUJD"}}}})"),
                 std::string(R"({"id":"m-8","type":"e2e","e2e":{"sender_device":"d","ciphertext":"QUJD","plaintext":"oops"}})"),
                 std::string(R"({"id":"m-9","type":"e2e","ref":1,"e2e":{"sender_device":"d","ciphertext":"QUJD"}})"),
                 std::string(R"({"id":"m-10","body":"x","e2e":{"sender_device":"d","ciphertext":"QUJD"}})"), // e2e on text
                 std::string(R"({"id":"m-11","type":"e2e","e2e":{"sender_device":"a/b","ciphertext":"QUJD"}})"),
                 json::write(e2e_send("m-12", too_many)), json::write(e2e_send("m-13", huge))}) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(payload.substr(0, 120), int(MQTT_RC_NOT_AUTHORIZED), alice.client->publish(topic, payload));
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), alice.notice_error());
        }
        CPPUNIT_ASSERT_EQUAL(before, count("SELECT count(*) FROM messages"));
    }

    void pushes_say_only_new_message() {
        const std::int64_t conv = [] {
            caller alice("alice");
            return alice.call("conv.create", params({{"members", names({"carol"})}, {"title", "push"}, {"encrypted", true}}))
                ["result"]["conv"].asInt64();
        }();
        pg::connection db(shared().stack.conninfo());
        // carol is offline, has a device, wants every message and previews.
        db.exec("INSERT INTO push_devices (user_id, platform, token, app_id) SELECT id, 'fcm', 'tok-carol-e2e', 'app'"
                " FROM users WHERE name = 'carol'");
        db.exec("UPDATE users SET push_preview = true WHERE name = 'carol'");
        db.exec("UPDATE members SET notify = 'all' WHERE conv_id = $1", {std::to_string(conv)});
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (count("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id WHERE u.name = 'carol' AND p.devices > 0") > 0 &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(50ms);
        caller alice("alice");
        const Json::Value ack = alice.send(conv, e2e_send("push-1", per_device({"carol/c1"})));
        CPPUNIT_ASSERT(ack.isMember("seq"));
        const auto queued = [&] {
            return db.exec("SELECT payload ->> 'body' FROM push_queue WHERE conv_id = $1", {std::to_string(conv)});
        };
        while (queued().rows() == 0 && std::chrono::steady_clock::now() < deadline + 10s) std::this_thread::sleep_for(50ms);
        const auto bodies = queued();
        CPPUNIT_ASSERT_EQUAL(1, bodies.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("New message"), bodies.str(0, 0));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(e2e_messages_test);
