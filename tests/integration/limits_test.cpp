// Limits against a real broker, database and bridge: a per-user message
// rate (token bucket), a client that floods is disconnected, connections per
// user, the shape of client ids, and a clear reason for every refusal, on
// the inbox for MQTT 3.1.1 clients too. Nothing refused is stored.
//
// No timing thresholds: where the outcome depends on elapsed time (the
// bucket refills), the bound is computed from the time measured.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>

#include <memory>
#include <sstream>
#include <set>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = MQTT_RC_NOT_AUTHORIZED; // 0x87
constexpr double rate_per_s = 5;
constexpr int burst = 10;
constexpr int flood_after = 30;

broker_options limited() {
    broker_options o;
    o.plugin_options = {"rate_per_s 5", "rate_burst 10", "flood_disconnect 30", "max_connections_per_user 2",
                        "max_client_id_length 48"};
    return o;
}

struct fixture {
    chat_stack stack{"limits", limited()};
    std::int64_t conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy"})
            stack.add_user(u, std::string("pw-") + u);
        conv = stack.create_conv({"alice", "bob", "carol", "erin", "frank", "hank"}, "limits");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

std::unique_ptr<mqtt_client> client_of(const std::string& user, const std::string& id = "", int protocol = 5) {
    return std::make_unique<mqtt_client>(shared().stack.port(), client_options{id, user, "pw-" + user, protocol});
}

std::unique_ptr<mqtt_client> login(const std::string& user, const std::string& id = "", int protocol = 5) {
    auto c = client_of(user, id, protocol);
    const int rc = c->connect();
    if (rc != 0) throw std::runtime_error("login of " + user + " refused: " + std::to_string(rc));
    return c;
}

std::string send_topic() { return "chat/conv/" + std::to_string(shared().conv) + "/send"; }
std::string inbox(const std::string& user) { return "chat/user/" + user + "/inbox"; }

std::int64_t stored_from(const std::string& sender) {
    pg::connection c(shared().stack.conninfo());
    return c
        .exec("SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.name = $1", {sender})
        .int64(0, 0);
}


/// Error codes of every notice on the inbox, waiting until `count` arrived.
std::vector<std::string> notice_codes(mqtt_client& c, const std::string& user, std::size_t count) {
    std::vector<std::string> codes;
    received r;
    while (codes.size() < count && c.wait_message(r, 10s, inbox(user))) {
        const Json::Value v = json_of(r.payload);
        if (v.isMember("error")) codes.push_back(v["error"]["code"].asString());
    }
    return codes;
}

std::string envelope(const std::string& id) { return R"({"id":")" + id + R"(","body":"hello"})"; }

/// Waits until `n` messages from `sender` are stored (the bridge is asynchronous).
bool wait_stored(const std::string& sender, std::int64_t n) {
    for (int i = 0; i < 100; ++i) {
        if (stored_from(sender) >= n) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

} // namespace

class limits_integration_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(limits_integration_test);
    CPPUNIT_TEST(rate_limit_refuses_with_a_reason_and_refills);
    CPPUNIT_TEST(rate_is_per_user_across_devices);
    CPPUNIT_TEST(mqtt311_client_over_its_rate_gets_the_reason_on_its_inbox);
    CPPUNIT_TEST(flooding_client_is_disconnected);
    CPPUNIT_TEST(connections_per_user_are_limited);
    CPPUNIT_TEST(client_ids_must_be_short_printable_ascii);
    CPPUNIT_TEST(refused_writes_say_why);
    CPPUNIT_TEST(every_plugin_refusal_names_the_message);
    CPPUNIT_TEST_SUITE_END();

public:
    void rate_limit_refuses_with_a_reason_and_refills() {
        auto alice = login("alice");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe(inbox("alice")));
        const auto start = std::chrono::steady_clock::now();
        int accepted = 0, refused = 0;
        for (int i = 0; i < 40; ++i) {
            const int rc = alice->publish(send_topic(), envelope("r" + std::to_string(i)));
            if (rc == 0) ++accepted;
            else if (rc == not_authorized) ++refused;
        }
        const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CPPUNIT_ASSERT_EQUAL(40, accepted + refused);
        CPPUNIT_ASSERT(accepted >= burst);
        // What the bucket can have given in the time it took, and no more.
        const int most = burst + static_cast<int>(rate_per_s * elapsed_s) + 1;
        CPPUNIT_ASSERT_MESSAGE(std::to_string(accepted) + " accepted in " + std::to_string(elapsed_s) + " s",
                               accepted <= most);
        CPPUNIT_ASSERT(refused >= 1);

        // Every accepted message acked, every refused one explained.
        std::size_t acks = 0;
        std::vector<std::string> codes;
        received r;
        while ((acks < static_cast<std::size_t>(accepted) || codes.size() < static_cast<std::size_t>(refused)) &&
               alice->wait_message(r, 10s, inbox("alice"))) {
            const Json::Value v = json_of(r.payload);
            if (v.isMember("ack")) ++acks;
            else codes.push_back(v["error"]["code"].asString());
        }
        CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(accepted), acks);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(refused), codes.size());
        for (const auto& c : codes) CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"), c);
        CPPUNIT_ASSERT(wait_stored("alice", accepted));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(accepted), stored_from("alice")); // nothing refused was stored

        // The bucket refills: after a pause the user may send again.
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(2000 / rate_per_s)));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(send_topic(), envelope("after-pause")));
        const std::string log = shared().stack.mqtt->log();
        CPPUNIT_ASSERT(log.find("refused message from alice on " + send_topic() + ": sending too fast") !=
                       std::string::npos);
    }

    void rate_is_per_user_across_devices() {
        // Two phones of one user share one bucket: together they get the burst, not twice it.
        auto phone = login("bob", "bob-phone");
        auto laptop = login("bob", "bob-laptop");
        int accepted = 0;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 20; ++i) {
            accepted += phone->publish(send_topic(), envelope("p" + std::to_string(i))) == 0;
            accepted += laptop->publish(send_topic(), envelope("l" + std::to_string(i))) == 0;
        }
        const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CPPUNIT_ASSERT(accepted >= burst);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(accepted) + " accepted in " + std::to_string(elapsed_s) + " s",
                               accepted <= burst + static_cast<int>(rate_per_s * elapsed_s) + 1);
    }

    void mqtt311_client_over_its_rate_gets_the_reason_on_its_inbox() {
        auto erin = login("erin", "", 4);
        CPPUNIT_ASSERT_EQUAL(0, erin->subscribe(inbox("erin"), 0));
        for (int i = 0; i < burst + 5; ++i) erin->publish(send_topic(), envelope("e" + std::to_string(i)), 0);
        std::size_t acks = 0, limited = 0;
        received r;
        while (limited == 0 && erin->wait_message(r, 10s, inbox("erin"))) {
            const Json::Value v = json_of(r.payload);
            if (v.isMember("ack")) ++acks;
            else if (v["error"]["code"].asString() == "rate_limited") ++limited;
        }
        CPPUNIT_ASSERT(limited >= 1);
        CPPUNIT_ASSERT(erin->connected()); // a few over the limit is not a flood
    }

    void flooding_client_is_disconnected() {
        auto carol = login("carol", "carol-phone");
        CPPUNIT_ASSERT_EQUAL(1, carol->subscribe(inbox("carol")));
        const std::int64_t before = stored_from("carol");
        // Garbage, fast and without waiting: more than flood_disconnect refusals in 10 s.
        for (int i = 0; i < flood_after * 3; ++i) carol->publish_async(send_topic(), "{not json", 1);
        for (int i = 0; i < 100 && carol->disconnects() == 0; ++i) std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_MESSAGE("the flooding client is still connected", carol->disconnects() >= 1);
        const std::string log = shared().stack.mqtt->log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("client carol-phone of carol keeps sending what is refused; disconnecting it") !=
                                        std::string::npos);
        // Notices stop at the flood: at most one per refusal before it.
        const auto notices = carol->take_all(inbox("carol"));
        CPPUNIT_ASSERT(notices.size() <= static_cast<std::size_t>(flood_after));
        CPPUNIT_ASSERT_EQUAL(before, stored_from("carol"));
        // Others are not affected (broker-assigned ids, "auto-" and a UUID, fit in 48).
        auto frank = login("frank");
        CPPUNIT_ASSERT_EQUAL(0, frank->publish(send_topic(), envelope("frank-1")));
    }

    void connections_per_user_are_limited() {
        auto first = login("dave", "dave-1");
        auto second = login("dave", "dave-2");
        auto third = client_of("dave", "dave-3");
        CPPUNIT_ASSERT_EQUAL(not_authorized, third->connect());
        const std::string log = shared().stack.mqtt->log();
        CPPUNIT_ASSERT(log.find("refused login of dave from 127.0.0.1: too many connections (at most 2)") !=
                       std::string::npos);
        // Reconnecting with a client id already connected replaces that
        // connection: it does not count twice.
        auto again = client_of("dave", "dave-2");
        CPPUNIT_ASSERT_EQUAL(0, again->connect());
        // One leaves: a new device may come in.
        first->disconnect();
        int rc = -1;
        for (int i = 0; i < 50 && rc != 0; ++i) {
            auto fourth = client_of("dave", "dave-4");
            rc = fourth->connect();
            if (rc == 0) break;
            std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_ASSERT_EQUAL(0, rc);
    }

    void client_ids_must_be_short_printable_ascii() {
        for (const std::string& id : {std::string(49, 'x'), std::string("has space"), std::string("caf\xc3\xa9")}) {
            auto c = client_of("frank", id);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(id, not_authorized, c->connect());
        }
        const std::string log = shared().stack.mqtt->log();
        CPPUNIT_ASSERT(log.find("refused login of frank from 127.0.0.1: client id must be 1 to 48 printable ASCII") !=
                       std::string::npos);
        auto ok = client_of("frank", std::string(48, 'y'));
        CPPUNIT_ASSERT_EQUAL(0, ok->connect());
    }

    void refused_writes_say_why() {
        auto frank = login("frank");
        auto gina = login("gina");
        CPPUNIT_ASSERT_EQUAL(1, frank->subscribe(inbox("frank")));
        const std::string conv = std::to_string(shared().conv);
        CPPUNIT_ASSERT_EQUAL(not_authorized, frank->publish("chat/conv/" + conv + "/msg", R"({"forged":true})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, frank->publish("chat/user/frank/inbox", R"({"forged":true})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, frank->publish("chat/nonsense/x", "{}"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, frank->publish("chat/conv/999999/send", envelope("x")));
        const auto codes = notice_codes(*frank, "frank", 4);
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), codes.size());
        CPPUNIT_ASSERT_EQUAL(std::string("not_authorized"), codes[0]);
        CPPUNIT_ASSERT_EQUAL(std::string("not_authorized"), codes[1]);
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_topic"), codes[2]);
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), codes[3]);
        // gina is not a member of the conversation.
        CPPUNIT_ASSERT_EQUAL(1, gina->subscribe(inbox("gina")));
        CPPUNIT_ASSERT_EQUAL(not_authorized, gina->publish(send_topic(), envelope("g1")));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), notice_codes(*gina, "gina", 1).at(0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), stored_from("gina"));
    }

    void every_plugin_refusal_names_the_message() {
        // docs/protocol.md: a notice carries the message's id whenever the
        // refused payload had a valid one (a client stops resending what a
        // notice with its id refuses), and the conversation its topic named.
        auto hank = login("hank"); // a member
        auto ivy = login("ivy");   // not a member
        CPPUNIT_ASSERT_EQUAL(1, hank->subscribe(inbox("hank")));
        CPPUNIT_ASSERT_EQUAL(1, ivy->subscribe(inbox("ivy")));
        const std::string conv = std::to_string(shared().conv);
        struct refusal {
            mqtt_client* who;
            std::string user, topic, payload;
            bool retain;
            std::string code, id; ///< id "": the notice has none (the payload cannot be read)
            bool names_conv;
        };
        const std::vector<refusal> cases = {
            {ivy.get(), "ivy", send_topic(), envelope("nm-1"), false, "not_member", "nm-1", true},
            {hank.get(), "hank", "chat/conv/" + conv + "/msg", envelope("na-1"), false, "not_authorized", "na-1", true},
            {hank.get(), "hank", "chat/user/ivy/inbox", envelope("na-2"), false, "not_authorized", "na-2", false},
            {hank.get(), "hank", "chat/nonsense/x", envelope("it-1"), false, "invalid_topic", "it-1", false},
            {hank.get(), "hank", send_topic(), envelope("rt-1"), true, "retain_not_allowed", "rt-1", true},
            {hank.get(), "hank", send_topic(), R"({"id":"ie-1"})", false, "invalid_envelope", "ie-1", true},
            {hank.get(), "hank", send_topic(), R"({"id":"ie-2","body":"x","reply_to":"one"})", false,
             "invalid_envelope", "ie-2", true},
            {hank.get(), "hank", send_topic(), R"({"id":"ij-1","body":)", false, "invalid_json", "", true},
            {hank.get(), "hank", send_topic(), R"({"id":"bad id with spaces","body":"x"})", false, "invalid_envelope",
             "", true},
        };
        for (const auto& c : cases) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.topic + " " + c.payload, not_authorized,
                                         c.who->publish(c.topic, c.payload, 1, c.retain));
            received r;
            CPPUNIT_ASSERT_MESSAGE(c.payload, c.who->wait_message(r, 10s, inbox(c.user)));
            const Json::Value v = json_of(r.payload);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, c.code, v["error"]["code"].asString());
            if (c.id.empty()) CPPUNIT_ASSERT_MESSAGE(r.payload, !v.isMember("id"));
            else CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, c.id, v["id"].asString());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, c.names_conv, v.isMember("conv"));
            if (c.names_conv) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, shared().conv, v["conv"].asInt64());
        }
        // Over the rate: each refused send is named, so its client knows which to resend.
        std::set<std::string> sent;
        for (int i = 0; i < burst + 5; ++i) {
            sent.insert("rl-" + std::to_string(i));
            hank->publish_async(send_topic(), envelope("rl-" + std::to_string(i)));
        }
        std::size_t limited = 0, acked = 0;
        received r;
        while (limited + acked < sent.size() && hank->wait_message(r, 10s, inbox("hank"))) {
            const Json::Value v = json_of(r.payload);
            if (v.isMember("ack")) {
                ++acked;
                continue;
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, std::string("rate_limited"), v["error"]["code"].asString());
            CPPUNIT_ASSERT_MESSAGE(r.payload, sent.count(v["id"].asString()) == 1);
            ++limited;
        }
        CPPUNIT_ASSERT(limited >= 1);
        CPPUNIT_ASSERT(wait_stored("hank", static_cast<std::int64_t>(acked)));
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(acked), stored_from("hank")); // nothing refused was stored
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), stored_from("ivy"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(limits_integration_test);
