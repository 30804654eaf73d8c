// Users' data rights against the real stack (docs/data-rights.md): export of
// everything stored about a user, set up through MQTT, requests and
// mqchat-admin; erasure (tombstones at the same seqs, no text left anywhere
// in a dump of the database, the session kicked, service identities
// refused); retention (most specific setting wins, visitors' expiry,
// batches, the bridge's background job); the audit log of mqchat-admin.

#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include "common/pg.hpp"
#include "retention/retention_job.hpp"
#include "support/chat.hpp"
#include "support/process.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

const std::string token_secret = "data-rights-test-secret-of-more-than-32-bytes";

broker_options plugin_with_tokens(const std::string& secret_file) {
    broker_options o;
    o.plugin_options = {"jwt_hs256_secret_file " + secret_file};
    return o;
}

struct fixture {
    temp_dir keys{"rights-keys"};
    std::string secret_file = write_secret(keys.file("token.secret"));
    chat_stack stack{"rights", plugin_with_tokens(secret_file)};
    std::string site_key;

    static std::string write_secret(const std::string& path) {
        write_secret_file(path, token_secret + "\n");
        return path;
    }
    fixture() {
        // The bridge's own retention rounds stay off: the tests purge when they say so.
        stack.restart_bridge({"visitor_token_secret_file " + secret_file, "visitor_token_ttl_s 3600",
                              "retention_interval_s 0"});
        admin_ok(stack.conninfo(), {"desk", "create", "help", "--title", "Help"});
        admin_ok(stack.conninfo(), {"desk", "prechat", "help", "topic:text"});
        site_key = last_word(admin_ok(stack.conninfo(), {"site-key", "create", "help", "--label", "help.example",
                                                         "--secret-file", secret_file}));
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}
std::string db() { return shared().stack.conninfo(); }

std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    pg::connection c(db());
    return c.exec(sql, args).int64(0, 0);
}
std::string text(const std::string& sql, const pg::params& args = {}) {
    pg::connection c(db());
    const auto r = c.exec(sql, args);
    return r.rows() == 0 || r.is_null(0, 0) ? "" : r.str(0, 0);
}

/// Waits up to 10 s for `sql` to count `want`.
bool eventually(const std::string& sql, std::int64_t want, const pg::params& args = {}) {
    for (int i = 0; i < 200; ++i) {
        if (count(sql, args) == want) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

/// A member with its inbox subscribed that sends and waits for each ack.
struct member {
    std::string name;
    std::unique_ptr<mqtt_client> client;
    member(const std::string& user, const std::string& password) : name(user) {
        client = login(shared().stack.port(), user, password, user + "-phone");
        if (client->subscribe("chat/user/" + user + "/inbox") >= 0x80) throw std::runtime_error("inbox refused");
    }
    /// Sends and returns the seq from the ack.
    std::int64_t send(std::int64_t conv, Json::Value envelope) {
        const std::string id = envelope["id"].asString();
        if (client->publish("chat/conv/" + std::to_string(conv) + "/send", Json::FastWriter().write(envelope)) != 0)
            throw std::runtime_error("send refused");
        for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
            received r;
            if (!client->wait_message(r, 200ms, "chat/user/" + name + "/inbox")) continue;
            const Json::Value v = json_of(r.payload);
            if (v["ack"].asString() == id) return v["seq"].asInt64();
            if (v.isMember("error")) throw std::runtime_error("send " + id + ": " + r.payload);
        }
        throw std::runtime_error("no ack for " + id);
    }
    std::int64_t say(std::int64_t conv, const std::string& id, const std::string& body) {
        Json::Value e;
        e["id"] = id;
        e["body"] = body;
        return send(conv, e);
    }
};

Json::Value parse(const std::string& text) {
    Json::Value v;
    Json::CharReaderBuilder b;
    std::string errors;
    std::unique_ptr<Json::CharReader> reader(b.newCharReader());
    if (!reader->parse(text.data(), text.data() + text.size(), &v, &errors))
        throw std::runtime_error("not JSON (" + errors + "): " + text.substr(0, 300));
    return v;
}

/// The whole database as pg_dump --data-only writes it.
std::string dump() {
    std::string out;
    if (run_command({"pg_dump", "--data-only", "-d", db()}, out) != 0) throw std::runtime_error("pg_dump: " + out);
    return out;
}

/// A fingerprint of everything erase or a refused command could touch
/// (presence is left out: the brokers move it whenever anyone comes or goes;
/// the tests check the erased user's own).
std::string fingerprint() {
    return text("SELECT md5(concat_ws('|',"
                " (SELECT string_agg(id || name || role || banned || coalesce(email, '') || coalesce(erased_at::text, ''),"
                "                    ',' ORDER BY id) FROM users),"
                " (SELECT string_agg(conv_id || ':' || seq || body || deleted || client_id, ',' ORDER BY conv_id, seq)"
                "    FROM messages),"
                " (SELECT string_agg(conv_id || ':' || user_id || role, ',' ORDER BY conv_id, user_id) FROM members),"
                " (SELECT string_agg(id || token, ',' ORDER BY id) FROM push_devices),"
                " (SELECT count(*) FROM visitors),"
                " (SELECT string_agg(scope || coalesce(max_age_s, 0), ',' ORDER BY scope, max_age_s) FROM retention_settings),"
                " (SELECT count(*) FROM erased_names)))");
}

/// A web visitor through the widget's path: knock with the site key, desk.visit, log in with the guest token.
struct web_visitor {
    std::string name, secret;
    std::int64_t conv = 0;
    std::unique_ptr<rpc_caller> session;
    explicit web_visitor(const Json::Value& details) {
        name = "v-" + random_text(24);
        secret = random_text(32);
        rpc_caller k(shared().stack.port(), "k-" + random_text(22), shared().site_key);
        const Json::Value r = k.call("desk.visit", params({{"visitor", name}, {"secret", secret}, {"details", details}}));
        if (!r["result"].isObject()) throw std::runtime_error("desk.visit: " + r.toStyledString());
        conv = r["result"]["conversation"]["conv"].asInt64();
        session = std::make_unique<rpc_caller>(shared().stack.port(), name, r["result"]["token"].asString());
    }
    void say(const std::string& id, const std::string& body) {
        Json::Value e;
        e["id"] = id;
        e["body"] = body;
        if (session->client->publish("chat/conv/" + std::to_string(conv) + "/send", Json::FastWriter().write(e)) != 0)
            throw std::runtime_error("visitor send refused");
    }
};

/// Backdated messages straight into a conversation: `old` of them `age_days` old, then `fresh` new ones.
void fill(std::int64_t conv, const std::string& sender, int old, int fresh, int age_days) {
    pg::connection c(db());
    c.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
           " SELECT $1, c.last_seq + s, u.id, 'fill-' || (c.last_seq + s),"
           "        'filler ' || s, CASE WHEN s <= $3::int"
           "                             THEN (extract(epoch FROM now() - make_interval(days => $5::int)) * 1000)::bigint"
           "                             ELSE (extract(epoch FROM now()) * 1000)::bigint END"
           "   FROM conversations c, users u, generate_series(1, $3::int + $4::int) s"
           "  WHERE c.id = $1::bigint AND u.name = $2",
           {std::to_string(conv), sender, std::to_string(old), std::to_string(fresh), std::to_string(age_days)});
    c.exec("UPDATE conversations SET last_seq = (SELECT max(seq) FROM messages WHERE conv_id = $1) WHERE id = $1",
           {std::to_string(conv)});
}
std::int64_t messages_in(std::int64_t conv) {
    return count("SELECT count(*) FROM messages WHERE conv_id = $1", {std::to_string(conv)});
}

} // namespace

class data_rights_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(data_rights_test);
    CPPUNIT_TEST(export_holds_every_kind_of_data);
    CPPUNIT_TEST(export_of_a_web_visitor);
    CPPUNIT_TEST(erase_leaves_tombstones_no_text_and_kicks);
    CPPUNIT_TEST(erase_without_the_flag_or_of_a_service_identity_changes_nothing);
    CPPUNIT_TEST(a_deleted_users_presence_does_not_outlive_it);
    CPPUNIT_TEST(retention_most_specific_setting_wins);
    CPPUNIT_TEST(visitors_and_closed_support_conversations_expire);
    CPPUNIT_TEST(malformed_retention_values_are_refused);
    CPPUNIT_TEST(purge_works_in_batches);
    CPPUNIT_TEST(retention_job_purges_in_the_background);
    CPPUNIT_TEST(audit_records_changes_with_secrets_masked);
    CPPUNIT_TEST(hostile_input_changes_nothing);
    CPPUNIT_TEST_SUITE_END();

public:
    void tearDown() override {
        // Each retention test sets what it needs.
        pg::connection c(db());
        c.exec("DELETE FROM retention_settings");
    }

    void export_holds_every_kind_of_data() {
        auto& s = shared().stack;
        s.add_user("ada", "pw-ada");
        s.add_user("bob", "pw-bob");
        admin_ok(db(), {"desk", "add-agent", "help", "bob"});
        const std::int64_t conv = s.create_conv({"ada", "bob"}, "ada and bob");
        member ada("ada", "pw-ada"), bob("bob", "pw-bob");
        const std::int64_t first = ada.say(conv, "a-1", "hello bob, the word is lighthouse");
        ada.say(conv, "a-2", "this one goes");
        const std::int64_t bobs = bob.say(conv, "b-1", "hi @ada");
        Json::Value edit;
        edit["id"] = "a-3";
        edit["type"] = "edit";
        edit["ref"] = Json::Int64(first);
        edit["body"] = "hello bob, the word is lantern";
        ada.send(conv, edit);
        Json::Value del;
        del["id"] = "a-4";
        del["type"] = "delete";
        del["ref"] = Json::Int64(first + 1);
        ada.send(conv, del);
        Json::Value react;
        react["id"] = "a-5";
        react["type"] = "reaction";
        react["ref"] = Json::Int64(bobs);
        react["body"] = "+1";
        ada.send(conv, react);
        CPPUNIT_ASSERT_EQUAL(0, ada.client->publish("chat/conv/" + std::to_string(conv) + "/receipt", R"({"read": 3})"));

        rpc_caller ada_rpc(s.port(), "ada", "pw-ada");
        const Json::Value dev = ada_rpc.call(
            "push.register", params({{"platform", "fcm"}, {"token", "fcm-token-of-ada"}, {"app_id", "org.example.chat"}}));
        CPPUNIT_ASSERT_MESSAGE(dev.toStyledString(), dev["result"].isObject());
        CPPUNIT_ASSERT(ada_rpc.call("push.settings", params({{"preview", false}}))["result"].isObject());
        CPPUNIT_ASSERT(ada_rpc.call("email.set", params({{"address", "ada@example.com"}}))["result"].isObject());
        CPPUNIT_ASSERT(ada_rpc.call("presence.set", params({{"status", "busy"}, {"text", "at sea"}}))["result"].isObject());
        Json::Value details(Json::objectValue);
        details["topic"] = "a lost parcel";
        const Json::Value started = ada_rpc.call("desk.start", params({{"desk", "help"}, {"details", details}}));
        CPPUNIT_ASSERT_MESSAGE(started.toStyledString(), started["result"].isObject());
        CPPUNIT_ASSERT(eventually("SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id"
                                  " WHERE u.name = 'ada' AND m.conv_id = $1 AND m.read_seq = 3",
                                  1, {std::to_string(conv)}));
        CPPUNIT_ASSERT(eventually("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id"
                                  " WHERE u.name = 'ada' AND p.devices > 0", 1));

        const std::string file = shared().stack.dir.file("ada-export.json");
        const std::string out = admin_ok(db(), {"user", "export", "ada", "--out", file});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("exported ada") != std::string::npos);
        struct stat st {};
        CPPUNIT_ASSERT_EQUAL(0, ::stat(file.c_str(), &st));
        CPPUNIT_ASSERT_EQUAL(0600u, static_cast<unsigned>(st.st_mode & 0777));
        const Json::Value doc = parse(read_file(file));

        CPPUNIT_ASSERT_EQUAL(std::string("mqchat-user-export"), doc["format"].asString());
        CPPUNIT_ASSERT_EQUAL(1, doc["version"].asInt());
        CPPUNIT_ASSERT(doc["exported_at"].isString());
        CPPUNIT_ASSERT_EQUAL(std::string("ada"), doc["user"]["name"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("ada@example.com"), doc["user"]["email"].asString());
        CPPUNIT_ASSERT_EQUAL(false, doc["user"]["push_preview"].asBool());
        // Memberships with the read cursor; the support conversation too.
        bool found_conv = false, found_support = false;
        for (const auto& m : doc["memberships"]) {
            if (m["conv"].asInt64() == conv) {
                found_conv = true;
                CPPUNIT_ASSERT_EQUAL(std::int64_t(3), m["read_seq"].asInt64());
                CPPUNIT_ASSERT_EQUAL(std::string("group"), m["kind"].asString());
            }
            if (m["kind"].asString() == "support") found_support = true;
        }
        CPPUNIT_ASSERT(found_conv && found_support);
        // Her messages with their current state: edited, deleted, events.
        const Json::Value& msgs = doc["messages"];
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(5), msgs.size());
        CPPUNIT_ASSERT_EQUAL(first, msgs[0]["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("hello bob, the word is lantern"), msgs[0]["body"].asString());
        CPPUNIT_ASSERT(!msgs[0]["edited_at"].isNull());
        CPPUNIT_ASSERT(msgs[0]["ts"].isIntegral());
        CPPUNIT_ASSERT_EQUAL(std::string("a-1"), msgs[0]["id"].asString());
        CPPUNIT_ASSERT_EQUAL(true, msgs[1]["deleted"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string(""), msgs[1]["body"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("reaction"), msgs[4]["type"].asString());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), doc["reactions"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("+1"), doc["reactions"][0]["reaction"].asString());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), doc["mentions"].size());
        CPPUNIT_ASSERT_EQUAL(bobs, doc["mentions"][0]["seq"].asInt64());
        // Devices with their push tokens; presence and its settings.
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), doc["devices"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("fcm-token-of-ada"), doc["devices"][0]["token"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("org.example.chat"), doc["devices"][0]["app_id"].asString());
        CPPUNIT_ASSERT(doc["pending_pushes"].isArray());
        CPPUNIT_ASSERT(doc["presence"]["last_seen"].isIntegral());
        CPPUNIT_ASSERT_EQUAL(std::string("busy"), doc["presence_settings"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("at sea"), doc["presence_settings"]["status_text"].asString());
        CPPUNIT_ASSERT(doc.isMember("login_digest"));
        // Her support conversation as the visitor, with her pre-chat answer.
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), doc["support_conversations"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("help"), doc["support_conversations"][0]["desk"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("a lost parcel"), doc["support_conversations"][0]["details"]["topic"].asString());
        CPPUNIT_ASSERT(doc["visitor"].isNull());
        CPPUNIT_ASSERT(doc["desk_roles"]["agent_of"].isArray());
        CPPUNIT_ASSERT(doc["desk_mail"].isArray() && doc["desk_mail_sent"].isArray());

        // Bob is an agent: his desk roles are in his.
        const Json::Value bobs_doc = parse(admin_ok(db(), {"user", "export", "bob"}));
        CPPUNIT_ASSERT_EQUAL(std::string("help"), bobs_doc["desk_roles"]["agent_of"][0]["desk"].asString());
        // The file is never overwritten.
        std::string again;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "export", "ada", "--out", file}, again));
        CPPUNIT_ASSERT_MESSAGE(again, again.find("must not exist") != std::string::npos);
        std::string none;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "export", "nobody-here"}, none));
        CPPUNIT_ASSERT_MESSAGE(none, none.find("no user named 'nobody-here'") != std::string::npos);
    }

    void export_of_a_web_visitor() {
        Json::Value details(Json::objectValue);
        details["topic"] = "refund please";
        web_visitor v(details);
        v.say("w-1", "my order number is 4711");
        CPPUNIT_ASSERT(eventually("SELECT count(*) FROM messages WHERE conv_id = $1", 1, {std::to_string(v.conv)}));
        const Json::Value doc = parse(admin_ok(db(), {"user", "export", v.name}));
        CPPUNIT_ASSERT_EQUAL(std::string("guest"), doc["user"]["role"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("help"), doc["visitor"]["desk"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("anonymous"), doc["visitor"]["identity"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("refund please"), doc["support_conversations"][0]["details"]["topic"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("my order number is 4711"), doc["messages"][0]["body"].asString());
    }

    void erase_leaves_tombstones_no_text_and_kicks() {
        auto& s = shared().stack;
        const std::string marker = "zq" + random_text(14), visitor_marker = "zv" + random_text(14);
        s.add_user("eve", "pw-eve");
        s.add_user("fay", "pw-fay");
        const std::int64_t conv = s.create_conv({"eve", "fay"}, "eve and fay");
        std::int64_t eve_seq = 0, fay_seq = 0;
        {
            member fay("fay", "pw-fay");
            auto eve = std::make_unique<member>("eve", "pw-eve");
            eve_seq = eve->say(conv, "e-1", "the secret word is " + marker);
            fay_seq = fay.say(conv, "f-1", "nice, @eve");
            Json::Value react;
            react["id"] = "f-2";
            react["type"] = "reaction";
            react["ref"] = Json::Int64(eve_seq);
            react["body"] = "wow";
            fay.send(conv, react);
            eve->say(conv, "e-2", marker + " again");
            rpc_caller eve_rpc(s.port(), "eve", "pw-eve");
            CPPUNIT_ASSERT(eve_rpc.call("push.register", params({{"platform", "apns"}, {"token", "apns-" + marker},
                                                                 {"app_id", "org.example.chat"}}))["result"]
                               .isObject());
            CPPUNIT_ASSERT(eve_rpc.call("email.set", params({{"address", marker + "@example.com"}}))["result"].isObject());
            CPPUNIT_ASSERT(eventually("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id"
                                      " WHERE u.name = 'eve' AND p.devices > 0", 1));
            const std::int64_t eve_id = count("SELECT id FROM users WHERE name = 'eve'");

            // A web visitor who says the other marker, to be erased too.
            Json::Value details(Json::objectValue);
            details["topic"] = visitor_marker;
            web_visitor v(details);
            v.say("w-1", "call me at " + visitor_marker);
            CPPUNIT_ASSERT(eventually("SELECT count(*) FROM messages WHERE conv_id = $1", 1, {std::to_string(v.conv)}));
            CPPUNIT_ASSERT(dump().find(marker) != std::string::npos); // the test can see it before

            const int disconnects = eve->client->disconnects();
            const int visitor_disconnects = v.session->client->disconnects();
            const std::string out = admin_ok(db(), {"user", "erase", "eve", "--yes-erase-forever"});
            CPPUNIT_ASSERT_MESSAGE(out, out.find("erased eve") != std::string::npos);
            const std::string vout = admin_ok(db(), {"user", "erase", v.name, "--yes-erase-forever"});
            // The visitor's session (a guest's token) is kicked too.
            bool visitor_kicked = false;
            for (int i = 0; i < 100 && !visitor_kicked; ++i) {
                visitor_kicked = v.session->client->disconnects() > visitor_disconnects;
                std::this_thread::sleep_for(50ms);
            }
            CPPUNIT_ASSERT_MESSAGE(s.mqtt->log(), visitor_kicked);

            // The connected session is kicked, and eve logs in no more.
            bool kicked = false;
            for (int i = 0; i < 100 && !kicked; ++i) {
                kicked = eve->client->disconnects() > disconnects;
                std::this_thread::sleep_for(50ms);
            }
            CPPUNIT_ASSERT_MESSAGE(s.mqtt->log(), kicked);
            mqtt_client again(s.port(), {"eve-again", "eve", "pw-eve", 5});
            again.retry_when_closed(false);
            CPPUNIT_ASSERT(again.connect(5s) != 0);

            // Her push token, presence, e-mail and login digest are gone; the row is a placeholder.
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM push_devices WHERE user_id = $1",
                                                        {std::to_string(eve_id)}));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM presence WHERE user_id = $1",
                                                        {std::to_string(eve_id)}));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM members WHERE user_id = $1",
                                                        {std::to_string(eve_id)}));
            const std::string placeholder = text("SELECT name FROM users WHERE id = $1", {std::to_string(eve_id)});
            CPPUNIT_ASSERT_MESSAGE(placeholder, placeholder.rfind("erased-", 0) == 0);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM users WHERE id = $1 AND banned"
                                                        " AND email IS NULL AND erased_at IS NOT NULL",
                                                        {std::to_string(eve_id)}));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM visitors v JOIN users u ON u.id = v.user_id"
                                                        " WHERE u.erased_at IS NOT NULL"));

            // Fay's history still has the conversation, eve's messages as
            // tombstones at the same seqs, fay's as they were.
            rpc_caller fay_rpc(s.port(), "fay", "pw-fay");
            const Json::Value h = fay_rpc.call("history", params({{"conv", conv}}));
            CPPUNIT_ASSERT_MESSAGE(h.toStyledString(), h["result"]["messages"].isArray());
            bool saw_tombstone = false, saw_fay = false;
            for (const auto& m : h["result"]["messages"]) {
                if (m["seq"].asInt64() == eve_seq) {
                    saw_tombstone = true;
                    CPPUNIT_ASSERT_EQUAL(true, m["deleted"].asBool());
                    CPPUNIT_ASSERT_EQUAL(std::string(""), m["body"].asString());
                    CPPUNIT_ASSERT_EQUAL(placeholder, m["sender"].asString());
                }
                if (m["seq"].asInt64() == fay_seq) {
                    saw_fay = true;
                    CPPUNIT_ASSERT_EQUAL(std::string("nice, @eve"), m["body"].asString());
                }
            }
            CPPUNIT_ASSERT(saw_tombstone && saw_fay);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(4), count("SELECT last_seq FROM conversations WHERE id = $1",
                                                        {std::to_string(conv)}));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(4), messages_in(conv));
            // Search finds nothing of hers.
            const Json::Value found = fay_rpc.call("search", params({{"q", marker}}));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(found.toStyledString(), Json::ArrayIndex(0), found["result"]["hits"].size());
        }
        // Nothing she or the visitor wrote is anywhere in the database.
        const std::string all = dump();
        CPPUNIT_ASSERT(all.find(marker) == std::string::npos);
        CPPUNIT_ASSERT(all.find(visitor_marker) == std::string::npos);
        // Her name is not given to someone else.
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "add", "eve", "--password", "new-pw"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("erased account") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "erase", "eve", "--yes-erase-forever"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no user named 'eve'") != std::string::npos);
    }

    void erase_without_the_flag_or_of_a_service_identity_changes_nothing() {
        auto& s = shared().stack;
        s.add_user("gus", "pw-gus");
        admin_ok(db(), {"user", "add", "helper-bot", "--password", "pw-bot", "--bot"});
        const std::int64_t conv = s.create_conv({"gus"});
        {
            member gus("gus", "pw-gus");
            gus.say(conv, "g-1", "still here");
        }
        // The bridge has stored that gus went offline: nothing moves after this.
        CPPUNIT_ASSERT(eventually("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id"
                                  " WHERE u.name = 'gus' AND p.devices = 0", 1));
        const std::string before = fingerprint();
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "erase", "gus"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("--yes-erase-forever") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("Nothing was changed") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"user", "erase", "gus", "--yes"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "erase", "mqchat-bridge", "--yes-erase-forever"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("bridge's identity") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "erase", "helper-bot", "--yes-erase-forever"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("assistant") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "erase", "no-such-user", "--yes-erase-forever"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no user named 'no-such-user'") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(before, fingerprint());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id"
                                                    " WHERE u.name = 'gus'"));
        // gus still logs in.
        member gus("gus", "pw-gus");
    }

    void a_deleted_users_presence_does_not_outlive_it() {
        auto& s = shared().stack;
        s.add_user("kim", "pw-kim");
        s.add_user("lee", "pw-lee");
        const std::int64_t conv = s.create_conv({"kim", "lee"});
        { member kim("kim", "pw-kim"); } // online, then offline with a last seen: retained
        // What lee gets on subscribing to kim's presence: "denied" when the
        // broker refuses the subscription, else the retained message ("" for none).
        const auto retained_presence = [&](const std::string& id) -> std::string {
            auto lee = login(s.port(), "lee", "pw-lee", id);
            if (lee->subscribe("chat/presence/kim") >= 0x80) return "denied";
            received r;
            // A retained message comes right after the subscription, or not at all.
            return lee->wait_message(r, 2s, "chat/presence/kim") ? r.payload : std::string();
        };
        std::string before;
        for (int i = 0; i < 50 && (before = retained_presence("lee-1")).find("offline") == std::string::npos; ++i)
            std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_MESSAGE(before, before.find("\"state\":\"offline\"") != std::string::npos);
        // Deleted, and the name given to someone new who has not connected yet:
        // no "last seen" of the old kim greets lee.
        admin_ok(db(), {"user", "del", "kim"});
        s.add_user("kim", "pw-new-kim");
        admin_ok(db(), {"conv", "add-member", std::to_string(conv), "kim"});
        std::string after = "denied";
        for (int i = 0; i < 50 && after == "denied"; ++i) { // until the broker knows the new kim's membership
            after = retained_presence("lee-" + std::to_string(i + 2));
            if (after == "denied") std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_ASSERT_MESSAGE(after, after.empty());
    }

    void retention_most_specific_setting_wins() {
        auto& s = shared().stack;
        s.add_user("hal", "pw-hal");
        s.add_user("ida", "pw-ida");
        const std::int64_t group = s.create_conv({"hal", "ida"}, "group kept 30d");
        const std::int64_t exempt = s.create_conv({"hal", "ida"}, "kept forever");
        const std::int64_t longer = s.create_conv({"hal", "ida"}, "kept 60d");
        // Support conversations: the desk says 2 days, the kind 365 days, one conversation 10 days.
        rpc_caller hal(s.port(), "hal", "pw-hal"), ida(s.port(), "ida", "pw-ida");
        const std::int64_t support = hal.call("desk.start", params({{"desk", "help"}}))["result"]["conv"].asInt64();
        const std::int64_t support_own = ida.call("desk.start", params({{"desk", "help"}}))["result"]["conv"].asInt64();
        CPPUNIT_ASSERT(support > 0 && support_own > 0);
        for (const auto c : {group, exempt, longer, support, support_own}) fill(c, "hal", 5, 3, 40);
        // 3 days old: beyond the desk's 2 days, within the conversation's 10.
        fill(support, "hal", 2, 0, 3);
        fill(support_own, "hal", 2, 0, 3);

        admin_ok(db(), {"retention", "set", "--kind", "group", "--max-age", "30d"});
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(exempt), "--max-age", "never"});
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(longer), "--max-age", "60d"});
        admin_ok(db(), {"retention", "set", "--kind", "support", "--max-age", "365d"});
        admin_ok(db(), {"retention", "set", "--desk", "help", "--max-age", "2d"});
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(support_own), "--max-age", "10d"});
        const std::string list = admin_ok(db(), {"retention", "list"});
        CPPUNIT_ASSERT_MESSAGE(list, list.find("kind group\tmax-age 30d") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(list, list.find("conv " + std::to_string(exempt) + "\tkeep forever") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(list, list.find("desk help\tmax-age 2d") != std::string::npos);

        const std::int64_t others_before = count("SELECT count(*) FROM messages WHERE conv_id NOT IN ($1, $2, $3, $4, $5)",
                                                 {std::to_string(group), std::to_string(exempt), std::to_string(longer),
                                                  std::to_string(support), std::to_string(support_own)});
        const std::string out = admin_ok(db(), {"retention", "run"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("purged") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), messages_in(group));   // kind: the 40-day-old ones went
        CPPUNIT_ASSERT_EQUAL(std::int64_t(8), messages_in(exempt));  // conv: never
        CPPUNIT_ASSERT_EQUAL(std::int64_t(8), messages_in(longer));  // conv: 60 days beats the kind's 30
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), messages_in(support)); // desk: 2 days beats the kind's 365
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), messages_in(support_own)); // conv: 10 days beats the desk's 2
        // The oldest kept seq follows the purged ones; new messages keep counting.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(6), count("SELECT min(seq) FROM messages WHERE conv_id = $1",
                                                    {std::to_string(group)}));
        member hal_live("hal", "pw-hal");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(9), hal_live.say(group, "h-after", "after the purge"));
        // Settings off: nothing more goes; other conversations were never touched.
        admin_ok(db(), {"retention", "set", "--kind", "group", "--off"});
        fill(group, "hal", 2, 0, 40);
        admin_ok(db(), {"retention", "run"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(6), messages_in(group));
        CPPUNIT_ASSERT_EQUAL(others_before,
                             count("SELECT count(*) FROM messages WHERE conv_id NOT IN ($1, $2, $3, $4, $5)",
                                   {std::to_string(group), std::to_string(exempt), std::to_string(longer),
                                    std::to_string(support), std::to_string(support_own)}));
    }

    void visitors_and_closed_support_conversations_expire() {
        // Three web visitors through the widget's path: one closed long ago,
        // one closed lately, one still open but not seen for long.
        std::vector<std::unique_ptr<web_visitor>> v;
        for (int i = 0; i < 3; ++i) {
            Json::Value details(Json::objectValue);
            details["topic"] = "visit " + std::to_string(i);
            v.push_back(std::make_unique<web_visitor>(details));
            v.back()->say("w-1", "hello from visitor " + std::to_string(i));
            CPPUNIT_ASSERT(eventually("SELECT count(*) FROM messages WHERE conv_id = $1", 1,
                                      {std::to_string(v.back()->conv)}));
        }
        for (auto& x : v) x->session.reset();
        pg::connection c(db());
        const auto conv = [&](int i) { return std::to_string(v[static_cast<std::size_t>(i)]->conv); };
        const auto name = [&](int i) { return v[static_cast<std::size_t>(i)]->name; };
        c.exec("UPDATE support_conversations SET status = 'closed', closed_at = now() - interval '100 days'"
               " WHERE conv_id = $1", {conv(0)});
        c.exec("UPDATE support_conversations SET status = 'closed', closed_at = now() - interval '10 days'"
               " WHERE conv_id = $1", {conv(1)});
        c.exec("UPDATE visitors SET last_visit = now() - interval '100 days'"
               " WHERE user_id IN (SELECT id FROM users WHERE name = ANY ($1::text[]))",
               {pg::text_array({name(0), name(1), name(2)})});
        // A guest who only knocked long ago and never started a conversation.
        c.exec("INSERT INTO users (name, role, created_at) VALUES ('v-knockedlongagoxxxxx', 'guest', now() - interval '100 days')");

        admin_ok(db(), {"retention", "set", "--visitors", "90d"});
        admin_ok(db(), {"retention", "run", "--batch", "2"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM conversations WHERE id = $1", {conv(0)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), messages_in(v[0]->conv));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM users WHERE name = $1", {name(0)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM users WHERE name = 'v-knockedlongagoxxxxx'"));
        // Closed lately: kept, with its visitor; open: kept.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), messages_in(v[1]->conv));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM users WHERE name = $1", {name(1)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), messages_in(v[2]->conv));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM visitors v JOIN users u ON u.id = v.user_id"
                                                    " WHERE u.name = $1", {name(2)}));
        // Registered users are never expired by this.
        CPPUNIT_ASSERT(count("SELECT count(*) FROM users WHERE role = 'user'") > 0);
    }

    void malformed_retention_values_are_refused() {
        admin_ok(db(), {"retention", "set", "--kind", "direct", "--max-age", "30d"});
        const std::string before = fingerprint();
        const std::vector<std::string> bad_ages = {"-1d", "abc", "0", "0d", "30", "30x", "1m", "59m", "",
                                                   "99999999999d", "36501d", "1.5d", "+3d", "3 d", "d", "1e3d"};
        for (const auto& age : bad_ages) {
            std::string out;
            const int rc = admin(db(), {"retention", "set", "--kind", "group", "--max-age", age}, out);
            CPPUNIT_ASSERT_MESSAGE(age + ": " + out, rc != 0);
            CPPUNIT_ASSERT_MESSAGE(age + ": " + out, out.find("--max-age") != std::string::npos ||
                                                         out.find("usage") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(age + ": " + out, rc != 0 && admin(db(), {"retention", "set", "--visitors", age}, out) != 0);
        }
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"retention", "set", "--kind", "secret", "--max-age", "1d"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("unknown kind 'secret'") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"retention", "set", "--conv", "99999999", "--max-age", "1d"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no conversation 99999999") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"retention", "set", "--desk", "no-such-desk", "--max-age", "1d"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "set", "--kind", "group", "--max-age", "1d", "--off"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "set", "--kind", "group", "--desk", "help", "--max-age", "1d"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "set", "--kind", "group"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "set", "--visitors", "--max-age", "never"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"retention", "set", "--kind", "group", "--off"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("has no retention setting") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "run", "--batch", "0"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"retention", "run", "--batch", "-5"}, out));
        CPPUNIT_ASSERT_EQUAL(before, fingerprint());
        // The database refuses what slips past the tool, and the function a bad batch.
        pg::connection c(db());
        bool refused = false;
        try {
            c.exec("INSERT INTO retention_settings (scope, kind, max_age_s) VALUES ('kind', 'group', 0)");
        } catch (const pg::sql_error&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
        refused = false;
        try {
            c.exec("SELECT * FROM mqchat_purge_expired(0)");
        } catch (const pg::sql_error& e) {
            refused = std::string(e.what()).find("batch_rows") != std::string::npos;
        }
        CPPUNIT_ASSERT(refused);
        CPPUNIT_ASSERT_EQUAL(before, fingerprint());
    }

    void purge_works_in_batches() {
        auto& s = shared().stack;
        s.add_user("jan", "pw-jan");
        const std::int64_t conv = s.create_conv({"jan"}, "many old messages");
        const std::int64_t other = s.create_conv({"jan"}, "a few more");
        fill(conv, "jan", 2500, 10, 40);
        fill(other, "jan", 30, 0, 40);
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(conv), "--max-age", "30d"});
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(other), "--max-age", "30d"});
        pg::connection c(db());
        c.exec("UPDATE retention_state SET next_conv = 0, phase = 'messages'"); // a pass from the start
        std::vector<std::int64_t> per_call;
        for (int i = 0; i < 20; ++i) {
            const auto r = c.exec("SELECT purged, done FROM mqchat_purge_expired(1000)");
            per_call.push_back(r.int64(0, 0));
            if (r.boolean(0, 1)) break;
        }
        // Never more than a batch in one call; everything expired in the end.
        for (auto n : per_call) CPPUNIT_ASSERT(n <= 1000);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), per_call.at(0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), per_call.at(1));
        std::int64_t sum = 0;
        for (auto n : per_call) sum += n;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2530), sum);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), messages_in(conv));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), messages_in(other));
        // Through the tool, 300 a transaction: at least nine batches.
        const std::int64_t third = s.create_conv({"jan"}, "and more");
        fill(third, "jan", 2600, 0, 40);
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(third), "--max-age", "30d"});
        const std::string out = admin_ok(db(), {"retention", "run", "--batch", "300"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("purged 2600 rows in") != std::string::npos);
        const std::int64_t batches = std::stoll(out.substr(out.find(" in ") + 4));
        CPPUNIT_ASSERT_MESSAGE(out, batches >= 9);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), messages_in(third));
        // A message being edited right now (its row locked) is skipped, not waited for.
        fill(third, "jan", 5, 0, 40);
        const std::string first = text("SELECT max(seq) FROM messages WHERE conv_id = $1", {std::to_string(third)});
        pg::connection holder(db());
        holder.exec("BEGIN");
        holder.exec("SELECT 1 FROM messages WHERE conv_id = $1 AND seq = $2 FOR UPDATE", {std::to_string(third), first});
        c.exec("SET lock_timeout = '2s'");
        std::int64_t purged = 0;
        for (int i = 0; i < 5; ++i) {
            const auto r = c.exec("SELECT purged, done FROM mqchat_purge_expired(1000)");
            purged += r.int64(0, 0);
            if (r.boolean(0, 1)) break;
        }
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), purged);
        holder.exec("ROLLBACK");
        admin_ok(db(), {"retention", "run"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), messages_in(third));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), messages_in(conv));
    }

    void retention_job_purges_in_the_background() {
        auto& s = shared().stack;
        s.add_user("kai", "pw-kai");
        const std::int64_t conv = s.create_conv({"kai"}, "background");
        fill(conv, "kai", 350, 5, 40);
        admin_ok(db(), {"retention", "set", "--conv", std::to_string(conv), "--max-age", "30d"});
        bridge::retention_settings settings;
        settings.interval = 1s;
        settings.batch_rows = 100;
        settings.pause = 0ms;
        {
            bridge::retention_job job(db(), settings);
            job.start();
            for (int i = 0; i < 200 && messages_in(conv) != 5; ++i) std::this_thread::sleep_for(50ms);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(5), messages_in(conv));
            CPPUNIT_ASSERT(job.purged_total() >= 350);
            CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), job.errors_total());
            // The next round, a second later, takes what has expired since.
            fill(conv, "kai", 20, 0, 40);
            for (int i = 0; i < 100 && messages_in(conv) != 5; ++i) std::this_thread::sleep_for(50ms);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(5), messages_in(conv));
            CPPUNIT_ASSERT(job.purged_total() >= 370);
        }
        // A database that is not there: errors counted, retried, no crash; stops promptly.
        const int closed_port = free_port();
        bridge::retention_job broken("host=127.0.0.1 port=" + std::to_string(closed_port) +
                                         " dbname=mqchat user=postgres connect_timeout=2",
                                     settings);
        broken.start();
        for (int i = 0; i < 100 && broken.errors_total() < 2; ++i) std::this_thread::sleep_for(50ms);
        CPPUNIT_ASSERT(broken.errors_total() >= 2);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), broken.purged_total());
        bool refused = false;
        try {
            settings.batch_rows = 0;
            bridge::retention_job bad(db(), settings);
        } catch (const std::invalid_argument&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
    }

    void audit_records_changes_with_secrets_masked() {
        const std::int64_t before = count("SELECT count(*) FROM admin_audit");
        std::string out;
        CPPUNIT_ASSERT_EQUAL(0, run_command({bin_dir() + "/mqchat-admin", "--actor", "ops-lea", "user", "add", "lou",
                                             "--password", "hunter2-secret"},
                                            out, {"MQCHAT_DB=" + db()}));
        CPPUNIT_ASSERT_EQUAL(0, run_command({bin_dir() + "/mqchat-admin", "user", "ban", "lou"}, out,
                                            {"MQCHAT_DB=" + db(), "MQCHAT_ADMIN_ACTOR=ops-env"}));
        // A failure is recorded with its reason, a usage error too.
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "add", "lou", "--password", "hunter3-secret"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"user", "add", "lou", "--password=hunter3-secret"}, out));
        CPPUNIT_ASSERT_EQUAL(before + 4, count("SELECT count(*) FROM admin_audit"));
        // Read-only commands are not.
        admin_ok(db(), {"conv", "list", "lou"});
        admin_ok(db(), {"desk", "list"});
        admin_ok(db(), {"retention", "list"});
        admin_ok(db(), {"site-key", "list"});
        admin_ok(db(), {"audit"});
        CPPUNIT_ASSERT_EQUAL(before + 4, count("SELECT count(*) FROM admin_audit"));

        pg::connection c(db());
        const auto r = c.exec("SELECT os_user, coalesce(actor, ''), command, array_to_string(args, ' '), outcome,"
                              " coalesce(detail, ''), finished_at IS NOT NULL, at > now() - interval '1 minute'"
                              " FROM admin_audit ORDER BY id DESC LIMIT 4");
        // Newest first: the usage error, the failure, the ban, the add.
        CPPUNIT_ASSERT_EQUAL(std::string("failed"), r.str(0, 4));
        CPPUNIT_ASSERT_EQUAL(std::string("user add lou --password=***"), r.str(0, 3));
        CPPUNIT_ASSERT_MESSAGE(r.str(0, 5), r.str(0, 5).rfind("usage: ", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(std::string("user add lou --password ***"), r.str(1, 3));
        CPPUNIT_ASSERT_EQUAL(std::string("failed"), r.str(1, 4));
        CPPUNIT_ASSERT_MESSAGE(r.str(1, 5), r.str(1, 5).find("already exists") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("ops-env"), r.str(2, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("user ban"), r.str(2, 2));
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), r.str(2, 4));
        CPPUNIT_ASSERT_EQUAL(std::string("root"), r.str(3, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("ops-lea"), r.str(3, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("user add"), r.str(3, 2));
        CPPUNIT_ASSERT_EQUAL(std::string("user add lou --password ***"), r.str(3, 3));
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), r.str(3, 4));
        CPPUNIT_ASSERT(r.boolean(3, 6) && r.boolean(3, 7));
        // The secrets are nowhere in the database.
        const std::string all = dump();
        CPPUNIT_ASSERT(all.find("hunter2-secret") == std::string::npos);
        CPPUNIT_ASSERT(all.find("hunter3-secret") == std::string::npos);
        // audit prints them, newest first.
        out = admin_ok(db(), {"audit", "--since", "1h", "--limit", "4"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("ok  root as ops-lea  user add lou --password ***") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("hunter") == std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"audit", "--since", "yesterday"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("--since 'yesterday'") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"--actor", "bad\nactor", "user", "ban", "lou"}, out));
    }

    void hostile_input_changes_nothing() {
        const std::string before = fingerprint();
        const std::int64_t audit_before = count("SELECT count(*) FROM admin_audit");
        const std::string hostile[] = {"x'; DROP TABLE users; --", "a' OR '1'='1", "robert\"); DELETE FROM members;--",
                                       "$SYS", "", std::string(5000, 'a'), "ü"};
        for (const auto& h : hostile) {
            std::string out;
            CPPUNIT_ASSERT(admin(db(), {"user", "export", h}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"user", "erase", h, "--yes-erase-forever"}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"retention", "set", "--desk", h, "--max-age", "1d"}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"retention", "set", "--conv", h, "--max-age", "1d"}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"retention", "set", "--kind", h, "--max-age", "1d"}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"retention", "set", "--kind", "group", "--max-age", h}, out) != 0);
            CPPUNIT_ASSERT(admin(db(), {"audit", "--limit", h}, out) != 0);
        }
        CPPUNIT_ASSERT_EQUAL(before, fingerprint());
        // Each attempt is in the audit log, shown escaped.
        CPPUNIT_ASSERT(count("SELECT count(*) FROM admin_audit") > audit_before);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM pg_tables WHERE tablename = 'users'"));
        const std::string out = admin_ok(db(), {"audit", "--limit", "200"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("user erase \"x'; DROP TABLE users; --\" --yes-erase-forever") !=
                                        std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(data_rights_test);
