// Visitors from a website against the real stack (docs/desks.md, "Visitors
// from a website"): a site key made with mqchat-admin lets a browser knock
// under a random k-… name and ask desk.visit — nothing else — which answers
// with a visitor identity and a guest token for its support conversation.
// An anonymous visitor keeps its id and secret and resumes; a verified one
// (the site's backend signed its id) is the same visitor on every device.
// Forged, unknown, revoked and expired keys and tokens, a wrong secret or
// signature, and knock floods are refused with a reason.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <sodium.h>

#include <cctype>
#include <memory>
#include <random>
#include <thread>

#include "common/pg.hpp"
#include "common/token.hpp"
#include "support/chat.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

const std::string token_secret = "visitor-test-secret-of-more-than-32-bytes";

/// The plugin with an HS256 secret and tight knock limits (5 a minute from
/// one address, 12 a minute per key), no leeway on expiry; the bridge signs
/// visitors' guest tokens with the same secret.
broker_options plugin_with_tokens(const std::string& secret_file) {
    broker_options o;
    o.plugin_options = {"jwt_hs256_secret_file " + secret_file, "jwt_leeway_s 0", "knocks_per_minute_per_address 5",
                        "knocks_per_minute_per_site_key 20"};
    return o;
}

struct fixture {
    temp_dir keys{"visitor-keys"};
    std::string secret_file = write_secret(keys.file("token.secret"));
    chat_stack stack{"visitor", plugin_with_tokens(secret_file)};
    std::string site_key, identity_secret;
    int next_address = 2; ///< 127.0.0.N: each test knocks from addresses of its own

    static std::string write_secret(const std::string& path) {
        write_secret_file(path, token_secret + "\n");
        return path;
    }
    fixture() {
        stack.restart_bridge({"visitor_token_secret_file " + secret_file, "visitor_token_ttl_s 3600"});
        for (const char* u : {"ann", "andy"}) stack.add_user(u, std::string("pw-") + u);
        admin_ok(stack.conninfo(), {"desk", "create", "shop", "--title", "Shop help"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "shop", "ann"});
        admin_ok(stack.conninfo(), {"desk", "create", "after-hours"});
        admin_ok(stack.conninfo(), {"desk", "email", "after-hours", "team@example.com"});
        site_key = last_word(admin_ok(stack.conninfo(), {"site-key", "create", "shop", "--label", "shop.example",
                                                         "--secret-file", secret_file}));
        identity_secret = last_word(admin_ok(stack.conninfo(), {"desk", "identity-secret", "shop"}));
    }
    std::string fresh_address() { return "127.0.0." + std::to_string(next_address++); }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

/// A browser's first connection: a random k-… name, the site key as password.
struct knock : rpc_caller {
    knock(const std::string& key, const std::string& address)
        : rpc_caller(shared().stack.port(), "k-" + random_text(22), key, 5, address) {}
};

/// A connection's CONNACK code (0: accepted).
int login(const std::string& name, const std::string& password, const std::string& address = "") {
    mqtt_client c(shared().stack.port(), {"", name, password, 5, true, 0, "", address});
    c.retry_when_closed(true);
    return c.connect(5s);
}

/// What the site's backend computes: HMAC-SHA256(identity secret, id), hex.
std::string sign_identity(const std::string& secret, const std::string& id) {
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[sizeof mac * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    return hex;
}

/// Closes every open support conversation, so each test starts from an empty queue.
void close_all() {
    pg::connection db(shared().stack.conninfo());
    db.exec("UPDATE support_conversations SET status = 'closed', closed_at = now() WHERE status <> 'closed'");
}

} // namespace

class visitor_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(visitor_test);
    CPPUNIT_TEST(a_visitor_knocks_gets_a_guest_token_and_chats_with_an_agent);
    CPPUNIT_TEST(a_knock_may_ask_desk_visit_and_nothing_else);
    CPPUNIT_TEST(the_same_browser_resumes_and_no_one_else_can_take_its_id);
    CPPUNIT_TEST(a_verified_visitor_is_the_same_on_every_device);
    CPPUNIT_TEST(forged_unknown_revoked_and_expired_keys_and_tokens_are_refused);
    CPPUNIT_TEST(knocks_are_limited_per_address_and_per_site_key);
    CPPUNIT_TEST(the_offline_form_reaches_the_desk_without_a_conversation);
    CPPUNIT_TEST(a_visitor_sees_nothing_of_the_desk_but_its_own_conversation);
    CPPUNIT_TEST(the_desk_sets_the_pre_chat_form_and_its_required_fields);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_visitor_knocks_gets_a_guest_token_and_chats_with_an_agent() {
        auto& f = shared();
        close_all();
        rpc_caller ann(f.stack.port(), "ann", "pw-ann");
        knock k(f.site_key, f.fresh_address());
        const std::string visitor = "v-" + random_text(22), secret = random_text(32);
        Json::Value details(Json::objectValue);
        details["page"] = "https://shop.example/cart";
        const Json::Value r =
            k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"details", details}}));
        CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"].isObject());
        const Json::Value& res = r["result"];
        CPPUNIT_ASSERT_EQUAL(visitor, res["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("shop"), res["desk"]["desk"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), res["conversation"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), res["conversation"]["position"].asInt64());
        const std::int64_t conv = res["conversation"]["conv"].asInt64();
        const std::string token = res["token"].asString();
        CPPUNIT_ASSERT(token::looks_like_token(token));
        CPPUNIT_ASSERT_EQUAL(1u, res["conversations"].size());
        // The agent hears of it, with the page the visitor came from.
        const Json::Value queued = ann.notice("desk.queued");
        CPPUNIT_ASSERT_EQUAL(visitor, queued["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(conv, queued["conv"].asInt64());
        const Json::Value seen = ann.call("desk.visitor", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL(std::string("https://shop.example/cart"), seen["result"]["details"]["page"].asString());

        // The visitor logs in again with its guest token and chats.
        rpc_caller v(f.stack.port(), visitor, token);
        const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, v.client->subscribe(msg_topic));
        CPPUNIT_ASSERT_EQUAL(std::string("assigned"),
                             ann.call("desk.claim", params({{"conv", conv}}))["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(1, ann.client->subscribe(msg_topic));
        CPPUNIT_ASSERT_EQUAL(0, v.client->publish("chat/conv/" + std::to_string(conv) + "/send",
                                                  R"({"id":"w1","body":"where is my parcel?"})"));
        received m;
        CPPUNIT_ASSERT(ann.client->wait_message(m, 10s, msg_topic));
        const delivered d = parse_delivered(m.payload);
        CPPUNIT_ASSERT_EQUAL(visitor, d.sender);
        CPPUNIT_ASSERT_EQUAL(std::string("where is my parcel?"), d.body);
        CPPUNIT_ASSERT_EQUAL(0, ann.client->publish("chat/conv/" + std::to_string(conv) + "/send",
                                                    R"({"id":"a1","body":"on its way"})"));
        bool answered = false;
        for (int i = 0; i < 5 && !answered; ++i)
            answered = v.client->wait_message(m, 10s, msg_topic) && parse_delivered(m.payload).sender == "ann";
        CPPUNIT_ASSERT(answered);
    }

    void a_knock_may_ask_desk_visit_and_nothing_else() {
        auto& f = shared();
        knock k(f.site_key, f.fresh_address());
        // Any other request: the broker refuses the PUBLISH and says why on the inbox.
        int n = 0;
        for (const char* method : {"conv.list", "desk.start", "desk.queue", "history", "desk.info"}) {
            const std::string corr = "other-" + std::to_string(++n);
            CPPUNIT_ASSERT(k.client->publish_request(std::string("chat/rpc/") + method, R"({"desk":"shop","conv":1})",
                                                     k.inbox(), corr) >= 0x80);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(method, std::string("forbidden"), code_of(k.reply(corr)));
        }
        // Another inbox, a conversation, presence: refused.
        CPPUNIT_ASSERT(k.client->subscribe("chat/user/ann/inbox") >= 0x80);
        CPPUNIT_ASSERT(k.client->subscribe("chat/conv/1/msg") >= 0x80);
        CPPUNIT_ASSERT(k.client->publish("chat/conv/1/send", R"({"id":"x","body":"hi"})") >= 0x80);
        // A site key logs in under a k-… name only, and k-… names only with a site key.
        CPPUNIT_ASSERT(login("visitor-1", f.site_key, f.fresh_address()) != 0);
        CPPUNIT_ASSERT(login("k-short", f.site_key, f.fresh_address()) != 0);
        CPPUNIT_ASSERT(login("k-" + random_text(22), "a password", f.fresh_address()) != 0);
        std::string out;
        const std::string k_name = "k-" + random_text(22);
        CPPUNIT_ASSERT_EQUAL(0, admin(f.stack.conninfo(), {"guest-token", "--conv", "1", "--name", k_name,
                                                           "--secret-file", f.secret_file}, out));
        CPPUNIT_ASSERT(login(k_name, last_word(out), f.fresh_address()) != 0);
    }

    void the_same_browser_resumes_and_no_one_else_can_take_its_id() {
        auto& f = shared();
        close_all();
        const std::string visitor = "v-" + random_text(22), secret = random_text(32);
        std::int64_t conv = 0;
        {
            knock k(f.site_key, f.fresh_address());
            const Json::Value r = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}}));
            conv = r["result"]["conversation"]["conv"].asInt64();
            CPPUNIT_ASSERT(conv > 0);
        }
        // A reload (a new knock, the same id and secret): the same conversation, a new token.
        knock again(f.site_key, f.fresh_address());
        const Json::Value r = again.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"start", false}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.toStyledString(), conv, r["result"]["conversation"]["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(false, r["result"]["conversation"]["created"].asBool());
        CPPUNIT_ASSERT(r["result"]["token"].isString());
        // Someone else with the same id: refused, and nothing changes.
        const Json::Value stolen = again.call("desk.visit", params({{"visitor", visitor}, {"secret", random_text(32)}}));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(stolen));
        CPPUNIT_ASSERT(!stolen.isMember("result"));
        // Registered users' names, other shapes, short secrets: refused.
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(again.call("desk.visit", params({{"visitor", "ann"}, {"secret", secret}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(again.call("desk.visit", params({{"visitor", "v-x/+#"}, {"secret", secret}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(again.call("desk.visit", params({{"visitor", "v-" + random_text(22)}, {"secret", "short"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(again.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"start", "yes"}}))));
        // A hostile pre-chat form is refused whole; the conversation stays one.
        Json::Value huge(Json::objectValue);
        huge["note"] = std::string(5000, 'x');
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(again.call("desk.visit", params({{"visitor", "v-" + random_text(22)},
                                                                      {"secret", secret}, {"details", huge}}))));
        pg::connection db(f.stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.exec("SELECT count(*) FROM support_conversations s JOIN users u ON u.id = s.visitor_id"
                                     " WHERE u.name = $1", {visitor}).int64(0, 0));
    }

    void a_verified_visitor_is_the_same_on_every_device() {
        auto& f = shared();
        close_all();
        Json::Value identity(Json::objectValue);
        identity["id"] = "customer-4711";
        identity["name"] = "Carla <b>Customer</b>";
        identity["email"] = "carla@example.com";
        identity["signature"] = sign_identity(f.identity_secret, "customer-4711");
        std::string visitor, token;
        std::int64_t first = 0;
        {
            knock laptop(f.site_key, f.fresh_address());
            const Json::Value r = laptop.call("desk.visit", params({{"identity", identity}}));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"].isObject());
            visitor = r["result"]["visitor"].asString();
            CPPUNIT_ASSERT_EQUAL(std::string("c-"), visitor.substr(0, 2));
            first = r["result"]["conversation"]["conv"].asInt64();
            token = r["result"]["token"].asString();
        }
        {
            rpc_caller v(f.stack.port(), visitor, token);
            CPPUNIT_ASSERT_EQUAL(0, v.client->publish("chat/conv/" + std::to_string(first) + "/send",
                                                      R"({"id":"c1","body":"my order is late"})"));
            CPPUNIT_ASSERT_EQUAL(std::string("closed"),
                                 v.call("desk.close", params({{"conv", first}}))["result"]["status"].asString());
        }
        // The agent sees what the site vouched for.
        rpc_caller ann(f.stack.port(), "ann", "pw-ann");
        const Json::Value seen = ann.call("desk.visitor", params({{"conv", first}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen.toStyledString(), std::string("yes"), seen["result"]["details"]["verified"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("carla@example.com"), seen["result"]["details"]["email"].asString());

        // On the phone: the same visitor, the earlier conversation listed and readable.
        knock phone(f.site_key, f.fresh_address());
        const Json::Value r = phone.call("desk.visit", params({{"identity", identity}}));
        CPPUNIT_ASSERT_EQUAL(visitor, r["result"]["visitor"].asString());
        const std::int64_t second = r["result"]["conversation"]["conv"].asInt64();
        CPPUNIT_ASSERT(second != first);
        CPPUNIT_ASSERT_EQUAL(2u, r["result"]["conversations"].size());
        CPPUNIT_ASSERT_EQUAL(first, r["result"]["conversations"][1]["conv"].asInt64());
        rpc_caller v(f.stack.port(), visitor, r["result"]["token"].asString());
        const Json::Value old = v.call("history", params({{"conv", first}}));
        CPPUNIT_ASSERT_MESSAGE(old.toStyledString(), old["result"]["messages"].isArray());
        CPPUNIT_ASSERT_EQUAL(std::string("my order is late"), old["result"]["messages"][0]["body"].asString());

        // On a tablet, with nothing open: no new conversation, but a token
        // that reads the earlier ones (the widget's "Earlier conversations").
        CPPUNIT_ASSERT(v.call("desk.close", params({{"conv", second}}))["result"].isObject());
        {
            knock tablet(f.site_key, f.fresh_address());
            const Json::Value look = tablet.call("desk.visit", params({{"identity", identity}, {"start", false}}));
            CPPUNIT_ASSERT_MESSAGE(look.toStyledString(), !look["result"].isMember("conversation"));
            CPPUNIT_ASSERT_EQUAL(2u, look["result"]["conversations"].size());
            CPPUNIT_ASSERT(look["result"]["token"].isString());
            rpc_caller t(f.stack.port(), visitor, look["result"]["token"].asString());
            const Json::Value read = t.call("history", params({{"conv", first}}));
            CPPUNIT_ASSERT_MESSAGE(read.toStyledString(), read["result"]["messages"].isArray());
            CPPUNIT_ASSERT_EQUAL(std::string("my order is late"), read["result"]["messages"][0]["body"].asString());
        }

        // The signature in capitals is the same signature.
        Json::Value shouting = identity;
        std::string upper = identity["signature"].asString();
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        shouting["signature"] = upper;
        CPPUNIT_ASSERT_EQUAL(visitor, phone.call("desk.visit", params({{"identity", shouting}, {"start", false}}))
                                          ["result"]["visitor"].asString());
        // A wrong signature, or another id with this one's signature: refused.
        Json::Value forged = identity;
        forged["id"] = "customer-4712";
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(phone.call("desk.visit", params({{"identity", forged}}))));
        forged = identity;
        forged["signature"] = std::string(64, '0');
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(phone.call("desk.visit", params({{"identity", forged}}))));
    }

    void forged_unknown_revoked_and_expired_keys_and_tokens_are_refused() {
        auto& f = shared();
        // Signed with another secret: the broker refuses the login.
        Json::Value claims = token::base_claims("site-0123456789abcdef", std::time(nullptr), 3600, "", "");
        claims["mqchat_site_desk"] = "shop";
        const std::string forged = token::signer::hs256("another-secret-of-more-than-32-bytes-!!").sign(claims);
        CPPUNIT_ASSERT(login("k-" + random_text(22), forged, f.fresh_address()) != 0);
        // Signed right but never issued here: the knock gets in, desk.visit says no.
        const std::string unknown = token::signer::hs256(token_secret).sign(claims);
        {
            knock k(unknown, f.fresh_address());
            const Json::Value r = k.call("desk.visit", params({{"visitor", "v-" + random_text(22)}, {"secret", random_text(20)}}));
            CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(r));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["error"]["message"].asString().find("not known") != std::string::npos);
        }
        // Revoked: the same.
        const std::string out = admin_ok(f.stack.conninfo(), {"site-key", "create", "shop", "--label", "old site",
                                                              "--secret-file", f.secret_file});
        const std::string key = last_word(out), id = out.substr(9, 21);
        admin_ok(f.stack.conninfo(), {"site-key", "revoke", id});
        CPPUNIT_ASSERT(admin_ok(f.stack.conninfo(), {"site-key", "list", "shop"}).find(id + "\tshop\trevoked") !=
                       std::string::npos);
        {
            knock k(key, f.fresh_address());
            const Json::Value r = k.call("desk.visit", params({{"visitor", "v-" + random_text(22)}, {"secret", random_text(20)}}));
            CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(r));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["error"]["message"].asString().find("revoked") != std::string::npos);
        }
        // An expired guest token (no leeway on this broker).
        std::string minted;
        CPPUNIT_ASSERT_EQUAL(0, admin(f.stack.conninfo(), {"guest-token", "--conv", "1", "--name", "v-expiring-visitor-1",
                                                           "--ttl", "1", "--secret-file", f.secret_file}, minted));
        std::this_thread::sleep_for(2100ms);
        CPPUNIT_ASSERT(login("v-expiring-visitor-1", last_word(minted)) != 0);
        CPPUNIT_ASSERT(f.stack.mqtt->log().find("token of v-expiring-visitor-1 from 127.0.0.1 not accepted (expired") !=
                       std::string::npos);
    }

    void knocks_are_limited_per_address_and_per_site_key() {
        auto& f = shared();
        // Five a minute from one address; the sixth is refused, and says why in the log.
        const std::string address = f.fresh_address();
        for (int i = 0; i < 5; ++i) CPPUNIT_ASSERT_EQUAL(0, login("k-" + random_text(22), f.site_key, address));
        CPPUNIT_ASSERT(login("k-" + random_text(22), f.site_key, address) != 0);
        CPPUNIT_ASSERT(f.stack.mqtt->log().find("visitor logins a minute from this address") != std::string::npos);
        // Twenty a minute with one key, whatever the addresses: a fresh key
        // so the other tests' knocks do not count.
        const std::string key = last_word(admin_ok(
            f.stack.conninfo(), {"site-key", "create", "shop", "--label", "flood", "--secret-file", f.secret_file}));
        int accepted = 0;
        for (int i = 0; i < 23; ++i) accepted += login("k-" + random_text(22), key, f.fresh_address()) == 0;
        CPPUNIT_ASSERT_EQUAL(20, accepted);
        CPPUNIT_ASSERT(f.stack.mqtt->log().find("visitor logins a minute with this site key") != std::string::npos);
    }

    void the_offline_form_reaches_the_desk_without_a_conversation() {
        auto& f = shared();
        const std::string key = last_word(admin_ok(
            f.stack.conninfo(), {"site-key", "create", "after-hours", "--label", "night", "--secret-file", f.secret_file}));
        knock k(key, f.fresh_address());
        const std::string visitor = "v-" + random_text(22), secret = random_text(32);
        // Looking first: no agent online, an offline form, no conversation yet.
        const Json::Value look = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"start", false}}));
        CPPUNIT_ASSERT_MESSAGE(look.toStyledString(), look["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), look["result"]["desk"]["agents_online"].asInt64());
        CPPUNIT_ASSERT(look["result"]["offline_form"].asBool());
        CPPUNIT_ASSERT(!look["result"].isMember("conversation"));
        CPPUNIT_ASSERT(!look["result"].isMember("token"));
        Json::Value form(Json::objectValue);
        form["email"] = "olga@example.com";
        form["name"] = "Olga";
        form["body"] = "<script>alert(1)</script> please call me back";
        const Json::Value sent = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"offline", form}}));
        CPPUNIT_ASSERT_MESSAGE(sent.toStyledString(), sent["result"]["offline"]["queued"].asBool());
        pg::connection db(f.stack.conninfo());
        const auto mail = db.exec("SELECT recipient, reply_to, body FROM desk_mail WHERE kind = 'offline'"
                                  " AND requester_id = (SELECT id FROM users WHERE name = $1)", {visitor});
        CPPUNIT_ASSERT_EQUAL(1, mail.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("team@example.com"), mail.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("olga@example.com"), mail.str(0, 1));
        CPPUNIT_ASSERT(mail.str(0, 2).find("please call me back") != std::string::npos);
        form["email"] = "not an address";
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"offline", form}}))));
    }

    void a_visitor_sees_nothing_of_the_desk_but_its_own_conversation() {
        auto& f = shared();
        close_all();
        rpc_caller ann(f.stack.port(), "ann", "pw-ann");
        std::int64_t other = 0, mine = 0;
        std::string token, visitor = "v-" + random_text(22);
        {
            knock k(f.site_key, f.fresh_address());
            other = k.call("desk.visit", params({{"visitor", "v-" + random_text(22)}, {"secret", random_text(32)}}))
                        ["result"]["conversation"]["conv"].asInt64();
            const Json::Value r = k.call("desk.visit", params({{"visitor", visitor}, {"secret", random_text(32)}}));
            mine = r["result"]["conversation"]["conv"].asInt64();
            token = r["result"]["token"].asString();
        }
        ann.call("desk.note", params({{"conv", mine}, {"body", "VIP, be nice"}}));
        rpc_caller v(f.stack.port(), visitor, token);
        CPPUNIT_ASSERT(v.client->subscribe("chat/conv/" + std::to_string(other) + "/msg") >= 0x80);
        CPPUNIT_ASSERT(v.client->publish("chat/conv/" + std::to_string(other) + "/send", R"({"id":"x","body":"hi"})") >= 0x80);
        CPPUNIT_ASSERT(code_of(v.call("history", params({{"conv", other}}))) != "");
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(v.call("desk.queue", params({{"desk", "shop"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(v.call("desk.notes", params({{"conv", mine}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(v.call("desk.visitor", params({{"conv", other}}))));
        // A guest coming back asks desk.visit for itself only.
        const Json::Value again = v.call("desk.visit", params({{"visitor", "v-" + random_text(22)}, {"secret", random_text(32)}}));
        CPPUNIT_ASSERT_EQUAL(visitor, again["result"]["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(mine, again["result"]["conversation"]["conv"].asInt64());
    }

    void the_desk_sets_the_pre_chat_form_and_its_required_fields() {
        auto& f = shared();
        admin_ok(f.stack.conninfo(), {"desk", "create", "formal"});
        admin_ok(f.stack.conninfo(), {"desk", "prechat", "formal", "email:email:required", "order_no"});
        std::string out;
        CPPUNIT_ASSERT(admin(f.stack.conninfo(), {"desk", "prechat", "formal", "Bad-Name"}, out) != 0);
        CPPUNIT_ASSERT(admin(f.stack.conninfo(), {"desk", "prechat", "formal", "x:colour"}, out) != 0);
        const std::string key = last_word(admin_ok(
            f.stack.conninfo(), {"site-key", "create", "formal", "--label", "forms", "--secret-file", f.secret_file}));
        knock k(key, f.fresh_address());
        const std::string visitor = "v-" + random_text(22), secret = random_text(32);
        const Json::Value look = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"start", false}}));
        const Json::Value& form = look["result"]["desk"]["prechat"];
        CPPUNIT_ASSERT_EQUAL_MESSAGE(look.toStyledString(), 2u, form.size());
        CPPUNIT_ASSERT_EQUAL(std::string("email"), form[0]["name"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("email"), form[0]["type"].asString());
        CPPUNIT_ASSERT(form[0]["required"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("order_no"), form[1]["name"].asString());
        CPPUNIT_ASSERT(!form[1]["required"].asBool());
        // Without the required answer: refused, and no conversation.
        Json::Value details(Json::objectValue);
        details["order_no"] = "4711";
        const Json::Value refused = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"details", details}}));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(refused));
        CPPUNIT_ASSERT(refused["error"]["message"].asString().find("email") != std::string::npos);
        details["email"] = "olga@example.com";
        const Json::Value started = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}, {"details", details}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(started.toStyledString(), std::string("queued"),
                                     started["result"]["conversation"]["status"].asString());
        // Resuming needs no answers again.
        const Json::Value resumed = k.call("desk.visit", params({{"visitor", visitor}, {"secret", secret}}));
        CPPUNIT_ASSERT_EQUAL(started["result"]["conversation"]["conv"].asInt64(),
                             resumed["result"]["conversation"]["conv"].asInt64());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(visitor_test);
