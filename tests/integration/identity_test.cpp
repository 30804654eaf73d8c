// Who may log in, against a real broker, database and bridge: tokens signed
// by an app backend (HS256 secret, RS256/ES256 from a JWKS that rotates on
// SIGHUP), guests of one support conversation, bans, and expiry.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "common/token.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = MQTT_RC_NOT_AUTHORIZED;
const std::string secret = "a-shared-secret-of-at-least-32-bytes!";

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Json::Value claims_for(const std::string& sub, std::int64_t ttl = 600) {
    Json::Value c(Json::objectValue);
    c["sub"] = sub;
    c["exp"] = Json::Int64(now_s() + ttl);
    c["iss"] = "https://app.example";
    c["aud"] = "mqchat";
    return c;
}

struct fixture {
    temp_dir keys_dir{"identity-keys"};
    token::signer rsa = token::signer::generate("RS256", "rsa-2026");
    token::signer ec = token::signer::generate("ES256", "ec-2026");
    std::unique_ptr<chat_stack> stack;
    std::int64_t conv = 0, support = 0;

    fixture() {
        write_secret_file(keys_dir.file("hs256.secret"), secret + "\n");
        write_jwks({&rsa, &ec});
        broker_options o;
        o.plugin_options = {"jwt_hs256_secret_file " + keys_dir.file("hs256.secret"),
                            "jwt_jwks_file " + keys_dir.file("jwks.json"), "jwt_issuer https://app.example",
                            "jwt_audience mqchat", "jwt_leeway_s 0"};
        stack = std::make_unique<chat_stack>("identity", o);
        for (const char* u : {"alice", "bob", "agent", "dave"}) stack->add_user(u, std::string("pw-") + u);
        conv = stack->create_conv({"alice", "bob"});
        support = stack->create_conv({"agent"}, "support");
    }
    void write_jwks(std::initializer_list<const token::signer*> signers) {
        std::string out = "{\"keys\":[";
        bool first = true;
        for (const auto* s : signers) {
            out += (first ? "" : ",") + s->public_jwk();
            first = false;
        }
        write_file(keys_dir.file("jwks.json"), out + "]}");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

int login(const std::string& user, const std::string& password, std::unique_ptr<mqtt_client>* keep = nullptr,
          const std::string& client_id = "") {
    auto c = std::make_unique<mqtt_client>(shared().stack->port(), client_options{client_id, user, password});
    const int rc = c->connect();
    if (keep) *keep = std::move(c);
    return rc;
}

std::string conv_topic(std::int64_t conv, const std::string& leaf) {
    return "chat/conv/" + std::to_string(conv) + "/" + leaf;
}

bool wait_disconnected(mqtt_client& c, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (c.connected() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
    return !c.connected();
}

} // namespace

class identity_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(identity_test);
    CPPUNIT_TEST(tokens_of_every_kind_log_in);
    CPPUNIT_TEST(passwords_keep_working_beside_tokens);
    CPPUNIT_TEST(bad_tokens_are_refused_with_a_reason);
    CPPUNIT_TEST(expired_token_disconnects_the_client);
    CPPUNIT_TEST(jwks_rotates_on_sighup);
    CPPUNIT_TEST(guest_joins_only_its_support_conversation);
    CPPUNIT_TEST(guest_token_cannot_take_a_registered_name);
    CPPUNIT_TEST(banned_user_is_disconnected_and_refused);
    CPPUNIT_TEST(changes_reach_every_broker);
    CPPUNIT_TEST_SUITE_END();

public:
    void tokens_of_every_kind_log_in() {
        auto& f = shared();
        CPPUNIT_ASSERT_EQUAL(0, login("alice", token::signer::hs256(secret).sign(claims_for("alice"))));
        CPPUNIT_ASSERT_EQUAL(0, login("alice", f.rsa.sign(claims_for("alice"))));
        CPPUNIT_ASSERT_EQUAL(0, login("alice", f.ec.sign(claims_for("alice"))));
        std::unique_ptr<mqtt_client> a;
        CPPUNIT_ASSERT_EQUAL(0, login("alice", f.rsa.sign(claims_for("alice")), &a));
        CPPUNIT_ASSERT_EQUAL(1, a->subscribe(conv_topic(f.conv, "msg"))); // the same rights as with a password
        CPPUNIT_ASSERT_EQUAL(not_authorized, a->subscribe(conv_topic(f.support, "msg")));
        // mqchat-admin mints working tokens too.
        std::string out = admin_ok(f.stack->conninfo(), {"user-token", "bob", "--secret-file", f.keys_dir.file("hs256.secret"),
                                                         "--issuer", "https://app.example", "--audience", "mqchat"});
        while (!out.empty() && out.back() == '\n') out.pop_back();
        CPPUNIT_ASSERT_EQUAL(0, login("bob", out.substr(out.find_last_of('\n') + 1)));
    }

    void passwords_keep_working_beside_tokens() {
        CPPUNIT_ASSERT_EQUAL(0, login("alice", "pw-alice"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("alice", "wrong"));
    }

    void bad_tokens_are_refused_with_a_reason() {
        auto& f = shared();
        const token::signer hs = token::signer::hs256(secret);
        Json::Value none(Json::objectValue);
        none["alg"] = "none";
        Json::Value c;
        struct bad {
            std::string token, reason;
        };
        std::vector<bad> cases;
        cases.push_back({token::unsigned_token(none, claims_for("alice")) + "AAAA", "algorithm 'none' is not accepted"});
        cases.push_back({token::signer::hs256("some-other-secret-some-other-secret!!").sign(claims_for("alice")),
                         "signature does not verify"});
        cases.push_back({token::signer::generate("RS256", "rsa-2026").sign(claims_for("alice")), "signature does not verify"});
        cases.push_back({hs.sign(claims_for("alice", -60)), "expired"});
        c = claims_for("alice");
        c["nbf"] = Json::Int64(now_s() + 3600);
        cases.push_back({hs.sign(c), "not valid for another"});
        c = claims_for("alice");
        c["aud"] = "another-service";
        cases.push_back({hs.sign(c), "audience"});
        c = claims_for("alice");
        c["iss"] = "https://evil.example";
        cases.push_back({hs.sign(c), "issuer"});
        cases.push_back({hs.sign(claims_for("bob")), "token is for 'bob'"});
        cases.push_back({token::signer::hs256(f.rsa.public_jwk(), "rsa-2026").sign(claims_for("alice")), "no key for HS256"});
        for (const auto& b : cases) CPPUNIT_ASSERT_EQUAL_MESSAGE(b.reason, not_authorized, login("alice", b.token));
        // A token for someone who is not a user of ours.
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("nobody", hs.sign(claims_for("nobody"))));
        const std::string log = f.stack->mqtt->log();
        for (const auto& b : cases)
            CPPUNIT_ASSERT_MESSAGE("log lacks: " + b.reason, log.find(b.reason) != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("refused login of nobody from 127.0.0.1: token for an unknown user") !=
                                        std::string::npos);
    }

    void expired_token_disconnects_the_client() {
        std::unique_ptr<mqtt_client> a;
        CPPUNIT_ASSERT_EQUAL(0, login("alice", token::signer::hs256(secret).sign(claims_for("alice", 2)), &a,
                                      "alice-short-lived"));
        CPPUNIT_ASSERT(a->connected());
        CPPUNIT_ASSERT(wait_disconnected(*a, 15s));
        CPPUNIT_ASSERT(shared().stack->mqtt->log().find("token of client alice-short-lived expired") != std::string::npos);
        // A password login under the same client id is not cut off by the old token.
        std::unique_ptr<mqtt_client> b;
        CPPUNIT_ASSERT_EQUAL(0, login("alice", "pw-alice", &b, "alice-short-lived"));
        std::this_thread::sleep_for(2500ms);
        CPPUNIT_ASSERT(b->connected());
    }

    void jwks_rotates_on_sighup() {
        auto& f = shared();
        const token::signer next = token::signer::generate("ES256", "ec-2027");
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("alice", next.sign(claims_for("alice"))));
        f.write_jwks({&f.rsa, &next}); // ec-2026 retired, ec-2027 added
        kill(f.stack->mqtt->pid(), SIGHUP);
        bool rotated = false;
        for (int i = 0; i < 100 && !rotated; ++i) {
            std::this_thread::sleep_for(50ms);
            rotated = login("alice", next.sign(claims_for("alice"))) == 0;
        }
        CPPUNIT_ASSERT(rotated);
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("alice", f.ec.sign(claims_for("alice"))));
        CPPUNIT_ASSERT_EQUAL(0, login("alice", f.rsa.sign(claims_for("alice"))));
        // A broken file keeps the keys that work.
        write_file(f.keys_dir.file("jwks.json"), "{ not json");
        kill(f.stack->mqtt->pid(), SIGHUP);
        std::this_thread::sleep_for(500ms);
        CPPUNIT_ASSERT_EQUAL(0, login("alice", next.sign(claims_for("alice"))));
        CPPUNIT_ASSERT(f.stack->mqtt->log().find("keeping the old token keys") != std::string::npos);
        f.write_jwks({&f.rsa, &f.ec});
        kill(f.stack->mqtt->pid(), SIGHUP);
    }

    void guest_joins_only_its_support_conversation() {
        auto& f = shared();
        std::string out = admin_ok(f.stack->conninfo(),
                                   {"guest-token", "--conv", std::to_string(f.support), "--secret-file",
                                    f.keys_dir.file("hs256.secret"), "--issuer", "https://app.example", "--audience",
                                    "mqchat", "--ttl", "600"});
        // "guest guest-xxxx may join conversation N until …\n<token>"
        const std::string name = out.substr(6, out.find(' ', 6) - 6);
        while (!out.empty() && out.back() == '\n') out.pop_back();
        const std::string tok = out.substr(out.find_last_of('\n') + 1);

        std::unique_ptr<mqtt_client> agent, guest;
        CPPUNIT_ASSERT_EQUAL(0, login("agent", "pw-agent", &agent));
        CPPUNIT_ASSERT_EQUAL(1, agent->subscribe(conv_topic(f.support, "msg")));
        CPPUNIT_ASSERT_EQUAL(0, login(name, tok, &guest));
        CPPUNIT_ASSERT_EQUAL(1, guest->subscribe(conv_topic(f.support, "msg")));
        CPPUNIT_ASSERT_EQUAL(1, guest->subscribe("chat/user/" + name + "/inbox"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, guest->subscribe(conv_topic(f.conv, "msg")));
        CPPUNIT_ASSERT_EQUAL(not_authorized, guest->subscribe("chat/user/agent/inbox"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, guest->publish(conv_topic(f.conv, "send"), R"({"id":"g0","body":"sneak"})"));
        received r;
        CPPUNIT_ASSERT(guest->wait_message(r, 10s, "chat/user/" + name + "/inbox"));
        CPPUNIT_ASSERT_MESSAGE(r.payload, r.payload.find("\"not_member\"") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(0, guest->publish(conv_topic(f.support, "send"), R"({"id":"g1","body":"my order is late"})"));

        CPPUNIT_ASSERT(agent->wait_message(r, 10s, conv_topic(f.support, "msg")));
        CPPUNIT_ASSERT_EQUAL(name, parse_delivered(r.payload).sender);
        CPPUNIT_ASSERT(guest->wait_message(r, 10s, "chat/user/" + name + "/inbox"));
        CPPUNIT_ASSERT(r.payload.find("\"ack\":\"g1\"") != std::string::npos);
        CPPUNIT_ASSERT(guest->wait_message(r, 10s, conv_topic(f.support, "msg"))); // its own message, stored
        CPPUNIT_ASSERT_EQUAL(std::string("g1"), parse_delivered(r.payload).id);
        CPPUNIT_ASSERT_EQUAL(0, agent->publish(conv_topic(f.support, "send"), R"({"id":"a1","body":"on its way"})"));
        CPPUNIT_ASSERT(guest->wait_message(r, 10s, conv_topic(f.support, "msg")));
        CPPUNIT_ASSERT_EQUAL(std::string("agent"), parse_delivered(r.payload).sender);

        pg::connection db(f.stack->conninfo());
        CPPUNIT_ASSERT_EQUAL(1, db.exec("SELECT 1 FROM users u JOIN members m ON m.user_id = u.id"
                                        " WHERE u.name = $1 AND u.role = 'guest' AND m.conv_id = $2",
                                        {name, std::to_string(f.support)})
                                    .rows());
        // A guest has no password to fall back on.
        CPPUNIT_ASSERT_EQUAL(not_authorized, login(name, "guessing"));
    }

    void guest_token_cannot_take_a_registered_name() {
        auto& f = shared();
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(f.stack->conninfo(), {"guest-token", "--conv", std::to_string(f.support), "--name",
                                                            "alice", "--secret-file", f.keys_dir.file("hs256.secret")},
                                      out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("registered user") != std::string::npos);
        // Nor can a backend mint one that the plugin would accept.
        Json::Value c = claims_for("alice");
        c["mqchat_guest_conv"] = Json::Int64(f.support);
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("alice", token::signer::hs256(secret).sign(c)));
    }

    void banned_user_is_disconnected_and_refused() {
        auto& f = shared();
        std::unique_ptr<mqtt_client> d;
        CPPUNIT_ASSERT_EQUAL(0, login("dave", "pw-dave", &d));
        admin_ok(f.stack->conninfo(), {"user", "ban", "dave"});
        CPPUNIT_ASSERT(wait_disconnected(*d, 10s));
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("dave", "pw-dave"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, login("dave", token::signer::hs256(secret).sign(claims_for("dave"))));
        admin_ok(f.stack->conninfo(), {"user", "unban", "dave"});
        bool back = false;
        for (int i = 0; i < 40 && !back; ++i) {
            back = login("dave", "pw-dave") == 0;
            if (!back) std::this_thread::sleep_for(50ms);
        }
        CPPUNIT_ASSERT(back);
    }

    void changes_reach_every_broker() {
        // A second broker on the same database: its plugin follows the same changes.
        auto& f = shared();
        broker second(f.stack->dir, f.stack->conninfo(), {}, "second");
        second.start();
        f.stack->add_user("erin", "pw-erin");
        const std::int64_t c = f.stack->create_conv({"alice", "erin"});
        mqtt_client erin(second.port(), {"", "erin", "pw-erin"});
        CPPUNIT_ASSERT_EQUAL(0, erin.connect());
        CPPUNIT_ASSERT_EQUAL(1, erin.subscribe(conv_topic(c, "msg")));

        const auto t0 = std::chrono::steady_clock::now();
        admin_ok(f.stack->conninfo(), {"conv", "remove-member", std::to_string(c), "erin"});
        int code = 1;
        while (code != not_authorized && std::chrono::steady_clock::now() - t0 < 10s) {
            code = erin.subscribe(conv_topic(c, "typing"));
            if (code != not_authorized) std::this_thread::sleep_for(20ms);
        }
        CPPUNIT_ASSERT_EQUAL(not_authorized, code);
        admin_ok(f.stack->conninfo(), {"user", "ban", "erin"});
        CPPUNIT_ASSERT(wait_disconnected(erin, 10s));
        std::cout << "\n  [second broker] membership removal in force after "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
                  << " ms (including the ban and kick)\n";
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(identity_test);
