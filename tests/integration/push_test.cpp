// Who gets a push, against the real stack: devices registered by request,
// messages stored by the bridge, and the push queue it fills (the senders to
// FCM and APNs take from that queue). Offline members only, never the
// sender, groups only on mention unless the member asked for all, mutes with
// an end time, previews by choice, and one queued push per message and
// device even when the bridge is killed mid-stream.

#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>

#include <json/json.h>
#include <signal.h>

#include <memory>
#include <sstream>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/fake_smtp.hpp"
#include "support/process.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"push"};
    std::int64_t direct = 0, group = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave"}) stack.add_user(u, std::string("pw-") + u);
        direct = stack.create_conv({"alice", "bob"});
        // As conv.create makes a one-to-one conversation (mqchat-admin makes groups).
        pg::connection(stack.conninfo())
            .exec("UPDATE conversations SET kind = 'direct', direct_key = 'alice bob' WHERE id = $1", {std::to_string(direct)});
        group = stack.create_conv({"alice", "bob", "carol", "dave"}, "team");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}


std::unique_ptr<mqtt_client> login(const std::string& user, const std::string& id) {
    auto c = std::make_unique<mqtt_client>(shared().stack.port(), client_options{id, user, "pw-" + user});
    if (c->connect() != 0 || c->subscribe("chat/user/" + user + "/inbox") != 1)
        throw std::runtime_error("login of " + user + " failed");
    return c;
}

/// A request; returns the reply.
Json::Value call(mqtt_client& c, const std::string& user, const std::string& method, const std::string& params) {
    static int n = 0;
    const std::string corr = "push-" + std::to_string(++n);
    if (c.publish_request("chat/rpc/" + method, params, "chat/user/" + user + "/inbox", corr) != 0)
        throw std::runtime_error(method + " refused");
    received r;
    do {
        if (!c.wait_message(r, 10s, "chat/user/" + user + "/inbox")) throw std::runtime_error("no reply");
    } while (r.correlation_data != corr);
    return json_of(r.payload);
}

/// Waits until the bridge has recorded `user` with `devices` connected.
void wait_devices(const std::string& user, int devices) {
    pg::connection db(shared().stack.conninfo());
    const std::string q = "SELECT p.devices FROM presence p JOIN users u ON u.id = p.user_id WHERE u.name = $1";
    for (int i = 0; i < 100; ++i) {
        const auto r = db.exec(q, {user});
        if ((r.rows() == 1 && r.int64(0, 0) == devices) || (r.rows() == 0 && devices == 0)) return;
        std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error(user + " never had " + std::to_string(devices) + " devices");
}

/// Sends one message and waits for its ack; returns its seq.
std::int64_t say(mqtt_client& c, const std::string& user, std::int64_t conv, const std::string& id, const std::string& body) {
    chat_sender s(c, user, conv);
    if (!s.send_all({{id, body}}, 1, 5s, 30s)) throw std::runtime_error("not acked");
    return s.acked.at(id);
}

/// The queued pushes of (conv, seq), as their payloads, after the bridge had time to queue them.
std::vector<Json::Value> queued(std::int64_t conv, std::int64_t seq) {
    pg::connection db(shared().stack.conninfo());
    std::this_thread::sleep_for(300ms);
    const auto r = db.exec("SELECT payload FROM push_queue WHERE conv_id = $1 AND seq = $2 ORDER BY id",
                           {std::to_string(conv), std::to_string(seq)});
    std::vector<Json::Value> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(json_of(r.str(i, 0)));
    return out;
}

} // namespace

class push_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(push_test);
    CPPUNIT_TEST(devices_register_by_request);
    CPPUNIT_TEST(only_offline_members_get_pushed_never_the_sender);
    CPPUNIT_TEST(groups_push_on_mention_unless_the_member_chose_otherwise);
    CPPUNIT_TEST(mutes_end_and_previews_are_a_choice);
    CPPUNIT_TEST(one_push_per_message_and_device_through_a_bridge_kill);
    CPPUNIT_TEST(fcm_and_apns_get_each_push_as_documented);
    CPPUNIT_TEST(members_away_get_one_email_digest_per_unread_batch);
    CPPUNIT_TEST_SUITE_END();

public:
    void devices_register_by_request() {
        for (const char* u : {"alice", "bob", "carol", "dave"}) {
            auto c = login(u, std::string(u) + "-setup");
            const Json::Value r = call(*c, u, "push.register",
                                       R"({"platform":"fcm","token":"tok-)" + std::string(u) + R"(","app_id":"com.example.chat","locale":"en"})");
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"]["device"].asInt64() > 0);
        }
        auto bob = login("bob", "bob-setup-2");
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             call(*bob, "bob", "push.register", R"({"platform":"sms","token":"x","app_id":"a"})")["error"]["code"].asString());
        // A second device of bob's, then gone again.
        CPPUNIT_ASSERT(call(*bob, "bob", "push.register", R"({"platform":"apns","token":"tok-bob-ipad","app_id":"com.example.chat"})")["result"].isObject());
        CPPUNIT_ASSERT(call(*bob, "bob", "push.unregister", R"({"token":"tok-bob-ipad"})")["result"]["removed"].asBool());
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.exec("SELECT count(*) FROM push_devices").int64(0, 0));
    }

    void only_offline_members_get_pushed_never_the_sender() {
        auto& f = shared();
        wait_devices("bob", 0);
        auto alice = login("alice", "alice-phone");
        const std::int64_t seq = say(*alice, "alice", f.direct, "d1", "are you there?");
        auto pushes = queued(f.direct, seq);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), pushes.size()); // bob's phone; not alice's own
        CPPUNIT_ASSERT_EQUAL(std::string("tok-bob"), pushes[0]["token"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), pushes[0]["title"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("are you there?"), pushes[0]["body"].asString());
        CPPUNIT_ASSERT(pushes[0]["badge"].asInt64() >= 1);
        // Bob comes online: nothing is pushed while a device of his is connected.
        auto bob = login("bob", "bob-phone");
        wait_devices("bob", 1);
        const std::int64_t seq2 = say(*alice, "alice", f.direct, "d2", "ah, there you are");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), queued(f.direct, seq2).size());
    }

    void groups_push_on_mention_unless_the_member_chose_otherwise() {
        auto& f = shared();
        wait_devices("bob", 0);
        auto alice = login("alice", "alice-phone");
        auto dave = login("dave", "dave-phone");
        CPPUNIT_ASSERT_EQUAL(std::string("none"), call(*dave, "dave", "conv.notify",
                                                       R"({"conv":)" + std::to_string(f.group) + R"(,"level":"none"})")["result"]["level"].asString());
        dave->disconnect();
        wait_devices("dave", 0);
        wait_devices("carol", 0);
        // No mention: nobody in a group by default.
        std::int64_t seq = say(*alice, "alice", f.group, "g1", "morning all");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), queued(f.group, seq).size());
        // @bob and @dave: bob yes; dave asked for none.
        seq = say(*alice, "alice", f.group, "g2", "@bob @dave can you look?");
        auto pushes = queued(f.group, seq);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), pushes.size());
        CPPUNIT_ASSERT_EQUAL(std::string("tok-bob"), pushes[0]["token"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("team"), pushes[0]["title"].asString());
        // Carol asks for everything in this group.
        auto carol = login("carol", "carol-phone");
        call(*carol, "carol", "conv.notify", R"({"conv":)" + std::to_string(f.group) + R"(,"level":"all"})");
        carol->disconnect();
        wait_devices("carol", 0);
        seq = say(*alice, "alice", f.group, "g3", "lunch?");
        pushes = queued(f.group, seq);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), pushes.size());
        CPPUNIT_ASSERT_EQUAL(std::string("tok-carol"), pushes[0]["token"].asString());
        // A reaction wakes nobody, even carol who wants everything.
        CPPUNIT_ASSERT_EQUAL(0, alice->publish("chat/conv/" + std::to_string(f.group) + "/send",
                                               R"({"id":"g4","type":"reaction","ref":)" + std::to_string(seq) + R"(,"body":"👍"})"));
        received ack;
        do {
            CPPUNIT_ASSERT(alice->wait_message(ack, 10s, "chat/user/alice/inbox"));
        } while (json_of(ack.payload)["ack"] != "g4");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), queued(f.group, json_of(ack.payload)["seq"].asInt64()).size());
    }

    void mutes_end_and_previews_are_a_choice() {
        auto& f = shared();
        auto bob = login("bob", "bob-settings");
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
        call(*bob, "bob", "conv.notify", R"({"conv":)" + std::to_string(f.direct) + R"(,"muted_until":)" +
                                             std::to_string(now_ms + 3600000) + "}");
        call(*bob, "bob", "push.settings", R"({"preview":false})");
        bob->disconnect();
        wait_devices("bob", 0);
        auto alice = login("alice", "alice-phone");
        std::int64_t seq = say(*alice, "alice", f.direct, "m1", "muted hours");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), queued(f.direct, seq).size());
        // The mute ends (here: lifted); the text stays hidden by bob's choice.
        bob = login("bob", "bob-settings");
        call(*bob, "bob", "conv.notify", R"({"conv":)" + std::to_string(f.direct) + R"(,"muted_until":0})");
        bob->disconnect();
        wait_devices("bob", 0);
        seq = say(*alice, "alice", f.direct, "m2", "a secret");
        const auto pushes = queued(f.direct, seq);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), pushes.size());
        CPPUNIT_ASSERT_EQUAL(std::string("New message"), pushes[0]["body"].asString());
        pg::connection db(shared().stack.conninfo());
        db.exec("UPDATE users SET push_preview = true WHERE name = 'bob'");
    }

    void one_push_per_message_and_device_through_a_bridge_kill() {
        auto& f = shared();
        wait_devices("bob", 0);
        auto alice = login("alice", "alice-burst");
        std::vector<outgoing> burst;
        for (int i = 0; i < 60; ++i) burst.push_back({"k" + std::to_string(i), "burst " + std::to_string(i)});
        chat_sender s(*alice, "alice", f.direct);
        bool killed = false;
        const bool all = s.send_all(burst, 10, 2s, 90s, 0, [&](std::size_t acked) {
            if (!killed && acked >= 20) {
                killed = true;
                f.stack.store->stop(SIGKILL);
                std::this_thread::sleep_for(200ms);
                f.stack.store->start();
            }
        });
        CPPUNIT_ASSERT(killed && all);
        pg::connection db(shared().stack.conninfo());
        std::int64_t lo = INT64_MAX, hi = 0;
        for (const auto& [id, seq] : s.acked) {
            lo = std::min(lo, seq);
            hi = std::max(hi, seq);
        }
        const std::string q = "SELECT count(*), count(DISTINCT seq) FROM push_queue q JOIN push_devices d ON d.id = q.device_id"
                              " WHERE d.token = 'tok-bob' AND q.conv_id = $1 AND q.seq BETWEEN $2 AND $3";
        auto r = db.exec(q, {std::to_string(f.direct), std::to_string(lo), std::to_string(hi)});
        for (int i = 0; i < 50 && r.int64(0, 0) < 60; ++i) {
            std::this_thread::sleep_for(100ms);
            r = db.exec(q, {std::to_string(f.direct), std::to_string(lo), std::to_string(hi)});
        }
        CPPUNIT_ASSERT_EQUAL(std::int64_t(60), r.int64(0, 0)); // every message queued …
        CPPUNIT_ASSERT_EQUAL(std::int64_t(60), r.int64(0, 1)); // … once
        // Queuing the same messages again adds nothing.
        Json::Value again(Json::arrayValue);
        for (std::int64_t seq = lo; seq <= hi; ++seq) {
            Json::Value v;
            v["conv"] = Json::Int64(f.direct);
            v["seq"] = Json::Int64(seq);
            again.append(v);
        }
        Json::StreamWriterBuilder w;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT mqchat_queue_push($1::jsonb)", {Json::writeString(w, again)}).int64(0, 0));
    }
    void fcm_and_apns_get_each_push_as_documented() {
        auto& f = shared();
        // A fake FCM and OAuth endpoint over real TLS and HTTP/2 (node), a
        // service-account key made here, and the bridge pointed at them.
        temp_dir keys("fcm");
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"bash", source_dir() + "/scripts/make-certs", keys.path()}, out));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                                                          "rsa_keygen_bits:2048", "-out", keys.file("sa.key")}, out));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"openssl", "pkey", "-in", keys.file("sa.key"), "-pubout",
                                                          "-out", keys.file("sa.pub")}, out));
        // The APNs key: a P-256 key in PKCS#8 PEM, like the .p8 file Apple gives.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                                                          "ec_paramgen_curve:P-256", "-out", keys.file("apns.p8")}, out));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, run_command({"openssl", "pkey", "-in", keys.file("apns.p8"), "-pubout",
                                                          "-out", keys.file("apns.pub")}, out));
        child_process fake({"node", source_dir() + "/tests/support/fake_push.js", keys.file("port"), keys.file("server.crt"),
                            keys.file("server.key"), keys.file("sa.pub"), keys.file("apns.pub"), keys.file("requests.log")},
                           keys.file("node.log"));
        const std::string port = fake.wait_for_file(keys.file("port"));
        CPPUNIT_ASSERT_MESSAGE(read_file(keys.file("node.log")), !port.empty());
        Json::Value account(Json::objectValue);
        account["type"] = "service_account";
        account["client_email"] = "mqchat@example.iam.gserviceaccount.com";
        account["private_key"] = read_file(keys.file("sa.key"));
        account["token_uri"] = "https://127.0.0.1:" + port + "/token";
        write_secret_file(keys.file("account.json"), Json::writeString(Json::StreamWriterBuilder(), account));
        // Private keys are the bridge's to read only (it refuses one open to every user).
        std::filesystem::permissions(keys.file("apns.p8"), std::filesystem::perms(0600));

        pg::connection db(f.stack.conninfo());
        db.exec("INSERT INTO push_devices (user_id, platform, token, app_id)"
                " SELECT id, 'fcm', t, 'com.example.chat' FROM users, unnest(ARRAY['tok-gone', 'tok-busy']) t WHERE name = 'dave'");
        db.exec("INSERT INTO push_devices (user_id, platform, token, app_id)"
                " SELECT id, 'fcm', 'tok-bob', 'com.example.chat' FROM users WHERE name = 'bob' ON CONFLICT DO NOTHING");
        db.exec("INSERT INTO push_devices (user_id, platform, token, app_id)"
                " SELECT id, 'apns', t, 'com.example.chat.ios' FROM users, unnest(ARRAY['apns-bob', 'apns-gone']) t"
                "  WHERE name = 'bob'");
        db.exec("UPDATE members SET notify = 'all' WHERE user_id = (SELECT id FROM users WHERE name = 'dave')");
        // The stack's bridge again, same MQTT session, with providers configured.
        f.stack.store->stop();
        f.stack.store = std::make_unique<bridge>(f.stack.dir, f.stack.conninfo(), f.stack.port(),
                                                 chat_stack::bridge_password, "bridge", std::vector<std::string>{
                      "fcm_project_id demo-project", "fcm_service_account_file " + keys.file("account.json"),
                       "fcm_base_url https://127.0.0.1:" + port, "push_ca_file " + keys.file("ca.crt"),
                       "apns_key_file " + keys.file("apns.p8"), "apns_key_id ABC123DEFG", "apns_team_id TEAM123456",
                       "apns_base_url https://127.0.0.1:" + port});
        auto& sender = *f.stack.store;
        sender.start();
        wait_devices("bob", 0);
        wait_devices("dave", 0);
        auto alice = login("alice", "alice-fcm");
        const std::int64_t seq = say(*alice, "alice", f.direct, "f1", "push me");
        say(*alice, "alice", f.group, "f2", "dave, push");

        // Wait until the sender has answered everything due (tok-busy retries after 1 s).
        auto sends_for = [&](const std::string& token) {
            std::vector<Json::Value> found;
            std::istringstream lines(read_file(keys.file("requests.log")));
            for (std::string line; std::getline(lines, line);) {
                const Json::Value v = json_of(line);
                if (v["message"]["token"] == token) found.push_back(v);
            }
            return found;
        };
        for (int i = 0; i < 100 && sends_for("tok-busy").size() < 2; ++i) std::this_thread::sleep_for(100ms);
        const std::string log = read_file(keys.file("requests.log"));
        CPPUNIT_ASSERT_MESSAGE(log, log.find(R"({"path":"/token","ok":true,"why":""})") != std::string::npos);
        // bob's push, as FCM documents it.
        Json::Value bob_push;
        for (const auto& v : sends_for("tok-bob"))
            if (v["message"]["data"]["seq"] == std::to_string(seq)) bob_push = v;
        CPPUNIT_ASSERT_MESSAGE(log, bob_push.isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer at-1"), bob_push["auth"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("/v1/projects/demo-project/messages:send"), bob_push["path"].asString());
        const Json::Value& m = bob_push["message"];
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), m["notification"]["title"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("push me"), m["notification"]["body"].asString());
        CPPUNIT_ASSERT_EQUAL(std::to_string(f.direct), m["data"]["conv"].asString());
        CPPUNIT_ASSERT_EQUAL("conv-" + std::to_string(f.direct), m["android"]["collapse_key"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("high"), m["android"]["priority"].asString());
        // 429 then success: tried twice; a dead token removes the device.
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), sends_for("tok-busy").size());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM push_devices WHERE token = 'tok-gone'").int64(0, 0));
        for (int i = 0; i < 50 && db.exec("SELECT count(*) FROM push_queue WHERE next_at <= now()").int64(0, 0) > 0; ++i)
            std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM push_queue").int64(0, 0)); // all sent
        CPPUNIT_ASSERT(sender.log().find("push token of device") != std::string::npos);
        // bob's iPhone, as APNs documents it; his dead APNs token is gone too.
        Json::Value apns;
        std::istringstream lines(read_file(keys.file("requests.log")));
        for (std::string line; std::getline(lines, line);) {
            const Json::Value v = json_of(line);
            if (v["apns"].asBool() && v["token"] == "apns-bob" && v["payload"]["seq"].asInt64() == seq) apns = v;
        }
        CPPUNIT_ASSERT_MESSAGE(read_file(keys.file("requests.log")), apns.isObject());
        CPPUNIT_ASSERT_EQUAL(std::string(""), apns["why"].asString()); // the provider token verified
        CPPUNIT_ASSERT_EQUAL(std::string("com.example.chat.ios"), apns["topic"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("alert"), apns["push_type"].asString());
        CPPUNIT_ASSERT_EQUAL("conv-" + std::to_string(f.direct), apns["collapse_id"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("push me"), apns["payload"]["aps"]["alert"]["body"].asString());
        CPPUNIT_ASSERT(apns["payload"]["aps"]["badge"].asInt64() >= 1);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM push_devices WHERE token = 'apns-gone'").int64(0, 0));
        with_plain_bridge(f);
    }
    void members_away_get_one_email_digest_per_unread_batch() {
        auto& f = shared();
        fake_smtp smtp;
        auto carol = login("carol", "carol-mail");
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             call(*carol, "carol", "email.set", R"({"address":"not an address"})")["error"]["code"].asString());
        CPPUNIT_ASSERT(call(*carol, "carol", "email.set", R"({"address":"carol@example.org"})")["result"].isObject());
        // carol has read everything so far and goes away.
        pg::connection db(f.stack.conninfo());
        db.exec("UPDATE members SET read_seq = c.last_seq, notify = 'default', muted_until = NULL FROM conversations c"
                " WHERE members.conv_id = c.id AND members.user_id = (SELECT id FROM users WHERE name = 'carol')");
        auto settings = smtp.bridge_settings("chat@example.org");
        settings.push_back("email_digest_delay_s 3");
        f.stack.restart_bridge(settings);
        auto alice = login("alice", "alice-mail");
        // carol leaves now: both messages come before she has been away 3 s.
        carol->disconnect();
        wait_devices("carol", 0);
        say(*alice, "alice", f.group, "e1", "first");
        say(*alice, "alice", f.group, "e2", "second");
        auto mails = [&] { return smtp.mails(); };
        auto got = smtp.wait_for(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(std::string("chat@example.org"), got[0]["from"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("carol@example.org"), got[0]["to"][0].asString());
        const std::string text = got[0]["data"].asString();
        CPPUNIT_ASSERT_MESSAGE(text, text.find("Subject: 2 new messages") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(text, text.find("team: 2 new") != std::string::npos);
        // Not again for the same messages…
        std::this_thread::sleep_for(3s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), mails().size());
        // … but for new ones.
        say(*alice, "alice", f.group, "e3", "third");
        got = smtp.wait_for(2);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), got.size());
        CPPUNIT_ASSERT_MESSAGE(got[1]["data"].asString(), got[1]["data"].asString().find("team: 1 new") != std::string::npos);
        with_plain_bridge(f);
    }

    /// Back to the stack's bridge as it was (no providers, no mail).
    static void with_plain_bridge(fixture& f) { f.stack.restart_bridge(); }
};
CPPUNIT_TEST_SUITE_REGISTRATION(push_test);
