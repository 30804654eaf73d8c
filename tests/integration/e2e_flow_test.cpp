// End-to-end encrypted conversations with the example client (chat_cli's
// e2e commands, libolm; docs/e2e.md) against the real stack: devices
// register their keys, alice and bob write to each other through Olm
// sessions, the server stores only ciphertext, a device added later reads
// only what was sent after it came, and a removed device is no longer
// encrypted for. chat_cli runs as a process, as a user would run it.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/pg.hpp"
#include "support/environment.hpp"
#include "support/process.hpp"
#include "support/rpc_caller.hpp"
#include "support/e2e_cli.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace mqchat::test::e2e_cli;

class e2e_flow_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(e2e_flow_test);
    CPPUNIT_TEST(an_encrypted_conversation_between_devices);
    CPPUNIT_TEST(a_lying_directory_is_not_believed);
    CPPUNIT_TEST(one_time_keys_are_topped_up);
    CPPUNIT_TEST(a_listening_device_decrypts_live_and_answers_keys_low);
    CPPUNIT_TEST(the_state_file_is_private_and_needs_its_passphrase);
    CPPUNIT_TEST_SUITE_END();

  public:
    void an_encrypted_conversation_between_devices() {
        chat_stack s("e2e-flow");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        temp_dir dir("e2e-flow-state");
        const std::string a1 = dir.file("alice-laptop.state"), b1 = dir.file("bob-phone.state"),
                          b2 = dir.file("bob-tablet.state");

        CPPUNIT_ASSERT(has(ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1}),
                           "registered with 50 one-time keys and a fallback key"));
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}),
                         "encrypted conversation ");
        const std::string list = ok(s, "alice", {"list"});
        CPPUNIT_ASSERT_MESSAGE(list, has(list, conv + "\twith bob (encrypted)\t"));

        // alice → bob, decrypted by bob's phone.
        CPPUNIT_ASSERT(has(ok(s, "alice",
                              {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1,
                               "the lantern is lit"}),
                           "stored as #1"));
        std::string at_bob =
            ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1});
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#1 alice: the lantern is lit"));

        const std::string plain_history = ok(s, "bob", {"history", "--conv", conv});
        CPPUNIT_ASSERT_MESSAGE(plain_history,
                               has(plain_history, "#1 alice: (encrypted: e2e-history reads it)"));
        // Only ciphertext on the server: the words are nowhere in the table, the body is empty.
        {
            pg::connection db(s.conninfo());
            const auto r = db.exec(
                "SELECT body, e2e::text FROM messages WHERE conv_id = $1 ORDER BY seq", {conv});
            CPPUNIT_ASSERT_EQUAL(1, r.rows());
            CPPUNIT_ASSERT_EQUAL(std::string(), r.str(0, 0));
            CPPUNIT_ASSERT(!has(r.str(0, 1), "lantern"));
            const Json::Value e2e = parse(r.str(0, 1));
            CPPUNIT_ASSERT_EQUAL(std::string("laptop"), e2e["sender_device"].asString());
            CPPUNIT_ASSERT(e2e["ciphertexts"].isMember("bob/phone"));
            CPPUNIT_ASSERT(
                !e2e["ciphertexts"].isMember("alice/laptop")); // never the sending device
            CPPUNIT_ASSERT_EQUAL(
                0, e2e["ciphertexts"]["bob/phone"]["type"].asInt()); // a pre-key message first
        }

        // bob answers; alice reads it (and her own message, kept by her device).
        CPPUNIT_ASSERT(has(ok(s, "bob",
                              {"e2e-send", "--conv", conv, "--device", "phone", "--state", b1,
                               "and the bridge is down"}),
                           "stored as #2"));
        std::string at_alice =
            ok(s, "alice", {"e2e-history", "--conv", conv, "--device", "laptop", "--state", a1});
        CPPUNIT_ASSERT_MESSAGE(at_alice, has(at_alice, "#1 alice: the lantern is lit"));
        CPPUNIT_ASSERT_MESSAGE(at_alice, has(at_alice, "#2 bob: and the bridge is down"));
        // Reading again works: an Olm message decrypts once, the device keeps what it read.
        at_bob = ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1});
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#1 alice: the lantern is lit"));
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#2 bob: and the bridge is down"));

        // bob's second device reads what comes after it, not what came before.
        ok(s, "bob", {"e2e-init", "--device", "tablet", "--state", b2});
        const std::string devices = ok(s, "alice", {"devices", "bob"});
        CPPUNIT_ASSERT_MESSAGE(devices,
                               has(devices, "bob/phone\t") && has(devices, "bob/tablet\t"));
        CPPUNIT_ASSERT_MESSAGE(devices, !has(devices, "DOES NOT VERIFY"));
        ok(s, "alice",
           {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "meet at the mill"});
        const std::string at_tablet =
            ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "tablet", "--state", b2});
        CPPUNIT_ASSERT_MESSAGE(at_tablet, has(at_tablet, "#1 alice: (not for this device)"));
        CPPUNIT_ASSERT_MESSAGE(at_tablet, has(at_tablet, "#3 alice: meet at the mill"));
        at_bob = ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1});
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#3 alice: meet at the mill"));
        // bob's phone writes to his tablet too (his own other device).
        ok(s, "bob", {"e2e-send", "--conv", conv, "--device", "phone", "--state", b1, "on my way"});
        const std::string tablet_again =
            ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "tablet", "--state", b2});
        CPPUNIT_ASSERT_MESSAGE(tablet_again, has(tablet_again, "#4 bob: on my way"));

        // bob removes his phone: alice no longer encrypts for it.
        CPPUNIT_ASSERT(has(ok(s, "bob", {"devices-remove", "--device", "phone"}), "removed"));
        ok(s, "alice",
           {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "the phone is gone"});
        {
            pg::connection db(s.conninfo());
            const auto r =
                db.exec("SELECT e2e::text FROM messages WHERE conv_id = $1 AND seq = 5", {conv});
            CPPUNIT_ASSERT_EQUAL(1, r.rows());
            const Json::Value e2e = parse(r.str(0, 0));
            CPPUNIT_ASSERT(!e2e["ciphertexts"].isMember("bob/phone"));
            CPPUNIT_ASSERT(e2e["ciphertexts"].isMember("bob/tablet"));
            const auto all =
                db.exec("SELECT string_agg(body || e2e::text, '') FROM messages WHERE conv_id = $1",
                        {conv});
            for (const char* word : {"lantern", "bridge", "mill", "my way", "gone"})
                CPPUNIT_ASSERT_MESSAGE(word, !has(all.str(0, 0), word));
        }
        const std::string last =
            ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "tablet", "--state", b2});
        CPPUNIT_ASSERT_MESSAGE(last, has(last, "#5 alice: the phone is gone"));
    }



    /// The server's checks keep garbage out; the client checks again, as if the server lied.
    void a_lying_directory_is_not_believed() {
        chat_stack s("e2e-lies");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        temp_dir dir("e2e-lies-state");
        const std::string a1 = dir.file("alice.state"), b1 = dir.file("bob.state"),
                          b1_new = dir.file("bob-new.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}),
                         "encrypted conversation ");
        pg::connection db(s.conninfo());
        // The one-time key next in line is swapped for another of bob's, its signature kept.
        db.exec(
            "UPDATE e2e_one_time_keys o SET key = (SELECT key FROM e2e_one_time_keys k2 WHERE "
            "k2.id > o.id"
            " AND k2.device_id = o.device_id ORDER BY k2.id LIMIT 1) FROM (SELECT min(k.id) AS id "
            "FROM"
            " e2e_one_time_keys k JOIN e2e_devices d ON d.id = k.device_id WHERE d.device = 'phone'"
            " AND k.claimed_at IS NULL) first WHERE o.id = first.id",
            {});
        cli_result r = cli(
            s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "psst"});
        CPPUNIT_ASSERT_MESSAGE(r.out, r.rc != 0 && has(r.out, "not signed by it"));
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(0),
            db.exec("SELECT count(*) FROM messages WHERE conv_id = $1", {conv}).int64(0, 0));
        // The next key is genuine: the message goes.
        ok(s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "psst"});
        CPPUNIT_ASSERT(
            has(ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1}),
                "#1 alice: psst"));

        // bob's phone comes back with new keys (its old account lost): alice's device refuses them
        // until she has checked them and forgets the old ones.
        ok(s, "bob", {"devices-remove", "--device", "phone"});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1_new});
        r = cli(s, "alice",
                {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "still there?"});
        CPPUNIT_ASSERT_MESSAGE(r.out,
                               r.rc != 0 && has(r.out, "changed since this device first saw them"));
        ok(s, "alice", {"e2e-forget", "--device", "laptop", "--state", a1, "bob/phone"});
        ok(s, "alice",
           {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "still there?"});
        const std::string at_bob =
            ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1_new});
        // #1 was for the old account under the same device id: addressed here, not readable.
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#1 alice: (cannot decrypt: "));
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#2 alice: still there?"));

        // A group: its members come from conv.members, and bob's re-registered phone gets the
        // group session's key (seq 1) and reads the message (seq 2).
        const std::string group = number_after(
            ok(s, "alice", {"create", "--member", "bob", "--title", "mill", "--encrypted"}),
            "encrypted conversation ");
        CPPUNIT_ASSERT(has(ok(s, "alice", {"e2e-send", "--conv", group, "--device", "laptop", "--state", a1,
                                           "to the group"}),
                           "stored as #2"));
        const std::string in_group =
            ok(s, "bob", {"e2e-history", "--conv", group, "--device", "phone", "--state", b1_new});
        CPPUNIT_ASSERT_MESSAGE(in_group, has(in_group, "#2 alice: to the group"));
        CPPUNIT_ASSERT_MESSAGE(in_group, !has(in_group, "#1 "));
        // Nor does it encrypt into a plain conversation.
        const std::string plain = std::to_string(s.create_conv({"alice", "bob"}));
        r = cli(s, "alice",
                {"e2e-send", "--conv", plain, "--device", "laptop", "--state", a1, "oops"});
        CPPUNIT_ASSERT_MESSAGE(r.out, r.rc != 0 && has(r.out, "not an encrypted one"));
    }



    void one_time_keys_are_topped_up() {
        chat_stack s("e2e-top-up");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        s.create_conv({"alice", "bob"});
        temp_dir dir("e2e-top-up-state");
        const std::string a1 = dir.file("alice.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}),
                         "encrypted conversation ");
        rpc_caller bob(s.port(), "bob", "pw-bob");
        for (int i = 0; i < 30; ++i) {
            const Json::Value r =
                bob.call("keys.claim", params({{"user", "alice"}, {"device", "laptop"}}));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(),
                                   r["result"]["devices"][0]["one_time_key"].isObject());
        }
        auto unclaimed = [&] {
            pg::connection db(s.conninfo());
            return db
                .exec("SELECT count(*) FROM e2e_one_time_keys k JOIN e2e_devices d ON d.id = "
                      "k.device_id"
                      " WHERE d.device = 'laptop' AND k.claimed_at IS NULL",
                      {})
                .int64(0, 0);
        };
        CPPUNIT_ASSERT_EQUAL(std::int64_t(20), unclaimed());
        // alice's device was not listening for keys.low: its next command asks keys.count and
        // uploads more.
        ok(s, "alice", {"e2e-history", "--conv", conv, "--device", "laptop", "--state", a1});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(50), unclaimed());
    }

    void a_listening_device_decrypts_live_and_answers_keys_low() {
        chat_stack s("e2e-listen");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        temp_dir dir("e2e-listen-state");
        const std::string a1 = dir.file("alice.state"), b1 = dir.file("bob.state"),
                          log = dir.file("listen.log");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}),
                         "encrypted conversation ");
        child_process listener({bin_dir() + "/chat_cli", "--uri",
                                "tcp://127.0.0.1:" + std::to_string(s.port()), "--user", "bob",
                                "--password", "pw-bob", "e2e-listen", "--conv", conv, "--device",
                                "phone", "--state", b1},
                               log, {"MQCHAT_E2E_PASSPHRASE=pass of bob"});
        CPPUNIT_ASSERT_MESSAGE(read_file(log), appears(log, "listening to conversation"));
        ok(s, "alice",
           {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "live from the mill"});
        CPPUNIT_ASSERT_MESSAGE(read_file(log), appears(log, "#1 alice: live from the mill"));

        // alice claims bob's keys down to 9 (her send took one): bob hears keys.low and uploads
        // more.
        rpc_caller alice(s.port(), "alice", "pw-alice");
        for (int i = 0; i < 40; ++i)
            CPPUNIT_ASSERT(
                alice.call("keys.claim", params({{"user", "bob"}, {"device", "phone"}}))["result"]
                    .isObject());
        CPPUNIT_ASSERT_MESSAGE(read_file(log), appears(log, "keys.low: uploaded 41 one-time keys"));
        pg::connection db(s.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(50),
                             db.exec("SELECT count(*) FROM e2e_one_time_keys k JOIN e2e_devices d "
                                     "ON d.id = k.device_id"
                                     " WHERE d.device = 'phone' AND k.claimed_at IS NULL",
                                     {})
                                 .int64(0, 0));
        // The keys it uploaded work: a new device of alice's starts a session with one.
        ok(s, "alice",
           {"e2e-init", "--device", "tablet", "--state", dir.file("alice-tablet.state")});
        CPPUNIT_ASSERT_MESSAGE(read_file(log), appears(log, "devices.changed: alice/tablet added"));
        ok(s, "alice",
           {"e2e-send", "--conv", conv, "--device", "tablet", "--state",
            dir.file("alice-tablet.state"), "from the tablet"});
        CPPUNIT_ASSERT_MESSAGE(read_file(log), appears(log, "#2 alice: from the tablet"));
        listener.stop();
    }

    void the_state_file_is_private_and_needs_its_passphrase() {
        chat_stack s("e2e-state");
        s.add_user("carol", "pw-carol");
        temp_dir dir("e2e-state-file");
        const std::string path = dir.file("carol.state");
        const cli_result init =
            cli(s, "carol", {"e2e-init", "--device", "desk", "--state", path}, "x");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(init.out, 0, init.rc);
        struct stat st {};
        CPPUNIT_ASSERT_EQUAL(0, ::stat(path.c_str(), &st));
        CPPUNIT_ASSERT_EQUAL(0600u, static_cast<unsigned>(st.st_mode & 0777));
        // Another passphrase opens nothing; a second init does not overwrite the account.
        const cli_result other = cli(
            s, "carol", {"e2e-history", "--conv", "1", "--device", "desk", "--state", path}, "y");
        CPPUNIT_ASSERT_MESSAGE(other.out, other.rc != 0 && has(other.out, "MQCHAT_E2E_PASSPHRASE"));
        const cli_result again =
            cli(s, "carol", {"e2e-init", "--device", "desk", "--state", path}, "x");
        CPPUNIT_ASSERT_MESSAGE(again.out, again.rc != 0 && has(again.out, "exists"));
        // Without a passphrase the client refuses to start.
        std::string out;
        const int rc = run_command({bin_dir() + "/chat_cli", "--uri",
                                    "tcp://127.0.0.1:" + std::to_string(s.port()), "--user",
                                    "carol", "--password", "pw-carol", "e2e-history", "--conv", "1",
                                    "--device", "desk", "--state", path},
                                   out, {"MQCHAT_E2E_PASSPHRASE="});
        CPPUNIT_ASSERT_MESSAGE(out, rc != 0 && has(out, "MQCHAT_E2E_PASSPHRASE"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(e2e_flow_test);
