// Presence, typing and many devices, against the real stack. The plugin owns
// presence: it publishes a retained {"state", "devices", "last_seen"} on
// chat/presence/{user} as devices come and go, and every way a connection
// ends (clean disconnect, network drop, take-over, kick, broker restart)
// must leave the right state. Typing is stamped and rate-limited; a user's
// devices all see what the others did.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>
#include <signal.h>

#include <memory>
#include <sstream>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/raw_mqtt.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = MQTT_RC_NOT_AUTHORIZED;

struct fixture {
    chat_stack stack{"presence"};
    std::int64_t conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave", "erin", "frank"}) stack.add_user(u, std::string("pw-") + u);
        conv = stack.create_conv({"alice", "bob", "carol", "erin", "frank"}, "presence");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}


std::unique_ptr<mqtt_client> device(const std::string& user, const std::string& id) {
    auto c = std::make_unique<mqtt_client>(shared().stack.port(), client_options{id, user, "pw-" + user});
    if (c->connect() != 0) throw std::runtime_error("login of " + user + " refused");
    return c;
}

std::string presence_topic(const std::string& user) { return "chat/presence/" + user; }

/// Waits for the next presence message of `user` seen by `watcher`.
Json::Value next_presence(mqtt_client& watcher, const std::string& user, std::chrono::milliseconds wait = 10s) {
    received r;
    if (!watcher.wait_message(r, wait, presence_topic(user))) return Json::Value();
    return json_of(r.payload);
}

/// Waits until a presence message of `user` with `devices` arrives; returns it.
Json::Value presence_with(mqtt_client& watcher, const std::string& user, int devices) {
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < until) {
        const Json::Value v = next_presence(watcher, user, 500ms);
        if (!v.isNull() && v["devices"].asInt() == devices) return v;
    }
    return Json::Value();
}

/// A client that logs in over a bare socket (MQTT 3.1.1, keep-alive 1 s) and
/// then falls silent, like a phone whose network went away: the broker
/// drops it after 1.5 keep-alive periods. Like any client it comes back
/// when its login is closed without a CONNACK (a first password check under
/// way; docs/protocol.md).
std::unique_ptr<raw_mqtt> silent_client(int port, const std::string& id, const std::string& user,
                                        const std::string& password) {
    raw_connect o;
    o.protocol = 4;
    o.client_id = id;
    o.keep_alive = 1;
    o.username = user;
    o.password = password;
    auto c = raw_connected(port, o);
    if (!c) throw std::runtime_error("login of " + user + " not accepted");
    return c;
}

} // namespace

class presence_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(presence_test);
    CPPUNIT_TEST(devices_come_and_go_and_the_last_one_leaves_offline);
    CPPUNIT_TEST(a_takeover_keeps_one_device_without_flapping);
    CPPUNIT_TEST(a_kicked_user_goes_offline);
    CPPUNIT_TEST(status_text_and_hidden_last_seen_are_the_users_choice);
    CPPUNIT_TEST(only_contacts_see_presence_and_nobody_forges_it);
    CPPUNIT_TEST(typing_is_stamped_rate_limited_and_for_members_only);
    CPPUNIT_TEST(every_device_sees_what_the_others_did);
    CPPUNIT_TEST(a_broker_restart_ends_offline_and_last_seen_survives);
    CPPUNIT_TEST_SUITE_END();

public:
    void devices_come_and_go_and_the_last_one_leaves_offline() {
        auto bob = device("bob", "bob-watch");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("alice")));
        next_presence(*bob, "alice", 1s); // a retained state from before, if any
        auto phone = device("alice", "alice-phone");
        Json::Value p = presence_with(*bob, "alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("online"), p["state"].asString());
        CPPUNIT_ASSERT(p["last_seen"].asInt64() > 0);
        {
            const auto laptop = silent_client(shared().stack.port(), "alice-laptop", "alice", "pw-alice");
            CPPUNIT_ASSERT_EQUAL(std::string("online"), presence_with(*bob, "alice", 2)["state"].asString());
            // The laptop's network goes away: it stops talking; keep-alive ends it.
            CPPUNIT_ASSERT_EQUAL(std::string("online"), presence_with(*bob, "alice", 1)["state"].asString());
        }
        phone->disconnect();
        p = presence_with(*bob, "alice", 0);
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), p["state"].asString());
        const std::int64_t last_seen = p["last_seen"].asInt64();
        CPPUNIT_ASSERT(last_seen > 0);
        // The bridge keeps it.
        pg::connection db(shared().stack.conninfo());
        const std::string q = "SELECT state, devices, last_seen FROM presence p JOIN users u ON u.id = p.user_id"
                              " WHERE u.name = 'alice'";
        for (int i = 0; i < 50 && (db.exec(q).rows() == 0 || db.exec(q).str(0, 0) != "offline"); ++i)
            std::this_thread::sleep_for(100ms);
        const auto row = db.exec(q);
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), row.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(last_seen, row.int64(0, 2));
        // A late subscriber gets the retained state at once.
        auto carol = device("carol", "carol-late");
        CPPUNIT_ASSERT_EQUAL(1, carol->subscribe(presence_topic("alice")));
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), next_presence(*carol, "alice")["state"].asString());
    }

    void a_takeover_keeps_one_device_without_flapping() {
        auto bob = device("bob", "bob-watch-2");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("erin")));
        next_presence(*bob, "erin", 1s);
        // The first connection is a phone that went quiet (a client library
        // would reconnect by itself and take the id back).
        const auto first = silent_client(shared().stack.port(), "erin-phone", "erin", "pw-erin");
        CPPUNIT_ASSERT(!presence_with(*bob, "erin", 1).isNull());
        // The phone comes back on a new network before the broker noticed the old one died.
        auto again = device("erin", "erin-phone");
        std::this_thread::sleep_for(1s);
        for (const auto& r : bob->take_all(presence_topic("erin"))) {
            const Json::Value v = json_of(r.payload);
            CPPUNIT_ASSERT_MESSAGE(r.payload, v["devices"].asInt() == 1 && v["state"] == "online");
        }
        again->disconnect();
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), presence_with(*bob, "erin", 0)["state"].asString());
    }

    void a_kicked_user_goes_offline() {
        auto bob = device("bob", "bob-watch-3");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("frank")));
        next_presence(*bob, "frank", 1s);
        auto frank = device("frank", "frank-phone");
        CPPUNIT_ASSERT(!presence_with(*bob, "frank", 1).isNull());
        admin_ok(shared().stack.conninfo(), {"user", "ban", "frank"});
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), presence_with(*bob, "frank", 0)["state"].asString());
        admin_ok(shared().stack.conninfo(), {"user", "unban", "frank"});
    }

    void status_text_and_hidden_last_seen_are_the_users_choice() {
        auto bob = device("bob", "bob-watch-4");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("carol")));
        auto carol = device("carol", "carol-phone");
        CPPUNIT_ASSERT_EQUAL(1, carol->subscribe("chat/user/carol/inbox"));
        presence_with(*bob, "carol", 1);
        auto set = [&](const std::string& params, const std::string& corr) {
            CPPUNIT_ASSERT_EQUAL(0, carol->publish_request("chat/rpc/presence.set", params, "chat/user/carol/inbox", corr));
            received r;
            do {
                CPPUNIT_ASSERT(carol->wait_message(r, 10s, "chat/user/carol/inbox"));
            } while (r.correlation_data != corr);
            return json_of(r.payload);
        };
        Json::Value reply = set(R"({"status":"away","text":"at lunch"})", "p1");
        CPPUNIT_ASSERT_EQUAL(std::string("away"), reply["result"]["status"].asString());
        Json::Value p;
        for (int i = 0; i < 20 && p["state"] != "away"; ++i) p = next_presence(*bob, "carol", 500ms);
        CPPUNIT_ASSERT_EQUAL(std::string("away"), p["state"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("at lunch"), p["text"].asString());
        CPPUNIT_ASSERT(p.isMember("last_seen"));
        set(R"({"hide_last_seen":true})", "p2");
        for (int i = 0; i < 20 && p.isMember("last_seen"); ++i) p = next_presence(*bob, "carol", 500ms);
        CPPUNIT_ASSERT(!p.isMember("last_seen"));
        CPPUNIT_ASSERT_EQUAL(std::string("away"), p["state"].asString()); // the status stays until changed
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             set(R"({"status":"invisible"})", "p3")["error"]["code"].asString());
        // Still away after reconnecting; offline hides last seen too.
        carol->disconnect();
        p = presence_with(*bob, "carol", 0);
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), p["state"].asString());
        CPPUNIT_ASSERT(!p.isMember("last_seen"));
        auto back = device("carol", "carol-phone");
        CPPUNIT_ASSERT_EQUAL(std::string("away"), presence_with(*bob, "carol", 1)["state"].asString());
        CPPUNIT_ASSERT_EQUAL(1, back->subscribe("chat/user/carol/inbox"));
        carol = std::move(back);
        set(R"({"status":"online","text":"","hide_last_seen":false})", "p4");
    }

    void only_contacts_see_presence_and_nobody_forges_it() {
        auto dave = device("dave", "dave-1"); // shares no conversation with alice
        CPPUNIT_ASSERT_EQUAL(not_authorized, dave->subscribe(presence_topic("alice")));
        CPPUNIT_ASSERT_EQUAL(1, dave->subscribe(presence_topic("dave"))); // his own, yes
        auto alice = device("alice", "alice-forger");
        CPPUNIT_ASSERT_EQUAL(not_authorized,
                             alice->publish(presence_topic("alice"), R"({"state":"online","devices":9})", 1, true));
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice->publish(presence_topic("bob"), R"({"state":"offline","devices":0})"));
        auto bob = device("bob", "bob-watch-5");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("alice")));
        const Json::Value p = next_presence(*bob, "alice");
        CPPUNIT_ASSERT_EQUAL(1, p["devices"].asInt()); // the plugin's count, not the forged 9
    }

    void typing_is_stamped_rate_limited_and_for_members_only() {
        const std::string typing = "chat/conv/" + std::to_string(shared().conv) + "/typing";
        auto alice = device("alice", "alice-typing");
        auto bob = device("bob", "bob-typing");
        auto dave = device("dave", "dave-typing");
        CPPUNIT_ASSERT_EQUAL(0, bob->subscribe(typing, 0)); // granted QoS 0
        CPPUNIT_ASSERT_EQUAL(not_authorized, dave->subscribe(typing, 0));
        CPPUNIT_ASSERT_EQUAL(not_authorized, dave->publish(typing, R"({"typing":true})"));
        alice->publish(typing, R"({"typing":true})", 0);
        received r;
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, typing));
        Json::Value v = json_of(r.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), v["user"].asString());
        CPPUNIT_ASSERT(v["typing"].asBool());
        // Claiming to be someone else, or anything but {"typing": bool}, is refused.
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice->publish(typing, R"({"typing":true,"user":"bob"})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice->publish(typing, R"({"typing":"yes"})"));
        // A burst is cut to a few per second, silently.
        std::this_thread::sleep_for(1100ms);
        bob->take_all(typing);
        for (int i = 0; i < 30; ++i) alice->publish(typing, R"({"typing":true})", 0);
        std::this_thread::sleep_for(500ms);
        const auto got = bob->take_all(typing).size();
        CPPUNIT_ASSERT_MESSAGE(std::to_string(got), got >= 1 && got <= 10);
        // Never stored.
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM messages WHERE body LIKE '%typing%'").int64(0, 0));
    }

    void every_device_sees_what_the_others_did() {
        const std::string conv = std::to_string(shared().conv);
        auto phone = device("bob", "bob-phone-md");
        auto laptop = device("bob", "bob-laptop-md");
        for (auto* d : {phone.get(), laptop.get()}) {
            CPPUNIT_ASSERT_EQUAL(1, d->subscribe("chat/conv/" + conv + "/msg"));
            CPPUNIT_ASSERT_EQUAL(1, d->subscribe("chat/conv/" + conv + "/receipt"));
        }
        CPPUNIT_ASSERT_EQUAL(0, phone->publish("chat/conv/" + conv + "/send", R"({"id":"md-1","body":"from my phone"})"));
        received r;
        CPPUNIT_ASSERT(laptop->wait_message(r, 10s, "chat/conv/" + conv + "/msg"));
        const std::int64_t seq = json_of(r.payload)["seq"].asInt64();
        CPPUNIT_ASSERT_EQUAL(std::string("from my phone"), json_of(r.payload)["body"].asString());
        // Read on the phone: the laptop sees the cursor move.
        CPPUNIT_ASSERT_EQUAL(0, phone->publish("chat/conv/" + conv + "/receipt", R"({"read":)" + std::to_string(seq) + "}"));
        CPPUNIT_ASSERT(laptop->wait_message(r, 10s, "chat/conv/" + conv + "/receipt"));
        const Json::Value rc = json_of(r.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), rc["user"].asString());
        CPPUNIT_ASSERT_EQUAL(seq, rc["read"].asInt64());
    }

    void a_broker_restart_ends_offline_and_last_seen_survives() {
        auto& s = shared().stack;
        {
            auto alice = device("alice", "alice-restart");
            pg::connection db(s.conninfo());
            const std::string q = "SELECT devices FROM presence p JOIN users u ON u.id = p.user_id WHERE u.name = 'alice'";
            for (int i = 0; i < 50 && (db.exec(q).rows() == 0 || db.exec(q).int64(0, 0) != 1); ++i)
                std::this_thread::sleep_for(100ms);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.exec(q).int64(0, 0));
            s.mqtt->stop(SIGKILL); // the broker dies with alice connected; its retained state says online
        }
        s.mqtt->start();
        s.store->stop();
        s.store->start();
        auto bob = device("bob", "bob-after-restart");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(presence_topic("alice")));
        // Whatever was retained, what stands once the broker is up is offline.
        Json::Value p = next_presence(*bob, "alice");
        for (int i = 0; i < 20 && p["state"] != "offline"; ++i) p = next_presence(*bob, "alice", 500ms);
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), p["state"].asString());
        CPPUNIT_ASSERT_EQUAL(0, p["devices"].asInt());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(presence_test);
