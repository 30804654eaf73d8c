// End-to-end encrypted groups, files and key checks with the example client
// (chat_cli on libolm and libsodium; docs/e2e.md) against the real stack:
// Megolm group sessions (shared over Olm, rotated when a device or member
// goes, a replay shown once, more devices than one envelope holds), safety
// numbers that block sends to a user whose devices changed, and files
// encrypted on the device through the real media service. chat_cli runs as
// a process, as a user would run it (e2e_flow_test has the direct
// conversations and the key directory's side).

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <filesystem>
#include <future>
#include <set>

#include "common/pg.hpp"
#include "support/e2e_cli.hpp"
#include "support/process.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace mqchat::test::e2e_cli;

class e2e_group_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(e2e_group_test);
    CPPUNIT_TEST(a_group_talks_through_megolm_sessions);
    CPPUNIT_TEST(a_group_larger_than_one_envelope);
    CPPUNIT_TEST(safety_numbers_match_and_a_new_device_stops_sends);
    CPPUNIT_TEST(files_travel_encrypted_through_the_media_service);
    CPPUNIT_TEST_SUITE_END();

  public:
    /// A group conversation: the sender's Megolm session key goes once to each device over Olm
    /// (an envelope of ciphertexts), then every message is one group ciphertext. A new device gets
    /// the key as of now; a device that goes, or a member who leaves, makes the sender start a
    /// new session they never get. A ciphertext replayed at another seq is shown once.
    void a_group_talks_through_megolm_sessions() {
        chat_stack s("e2e-group");
        for (const char* u : {"alice", "bob", "carol"}) s.add_user(u, std::string("pw-") + u);
        temp_dir dir("e2e-group-state");
        const std::string a1 = dir.file("alice.state"), b1 = dir.file("bob-phone.state"),
                          b2 = dir.file("bob-tablet.state"), c1 = dir.file("carol.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        ok(s, "carol", {"e2e-init", "--device", "desk", "--state", c1});
        const std::string conv = number_after(
            ok(s, "alice", {"create", "--member", "bob", "--member", "carol", "--title", "mill", "--encrypted"}),
            "encrypted conversation ");
        auto send = [&](const std::string& user, const std::string& device, const std::string& state,
                        const std::string& text) {
            return number_after(ok(s, user, {"e2e-send", "--conv", conv, "--device", device, "--state", state, text}),
                                "stored as #");
        };
        auto history = [&](const std::string& user, const std::string& device, const std::string& state) {
            return ok(s, user, {"e2e-history", "--conv", conv, "--device", device, "--state", state});
        };
        pg::connection db(s.conninfo());
        auto envelope = [&](const std::string& seq) {
            return parse(db.exec("SELECT e2e::text FROM messages WHERE conv_id = $1 AND seq = $2", {conv, seq})
                             .str(0, 0));
        };

        // carol's device listens live: the key and the message arrive as they are sent.
        const std::string carol_log = dir.file("carol-listen.log");
        child_process listener({bin_dir() + "/chat_cli", "--uri", "tcp://127.0.0.1:" + std::to_string(s.port()), "--user",
                                "carol", "--password", "pw-carol", "e2e-listen", "--conv", conv, "--device", "desk",
                                "--state", c1},
                               carol_log, {"MQCHAT_E2E_PASSPHRASE=pass of carol"});
        CPPUNIT_ASSERT_MESSAGE(read_file(carol_log), appears(carol_log, "listening to conversation"));
        CPPUNIT_ASSERT_EQUAL(std::string("2"), send("alice", "laptop", a1, "the group is open"));
        CPPUNIT_ASSERT_MESSAGE(read_file(carol_log), appears(carol_log, "#2 alice: the group is open"));
        CPPUNIT_ASSERT_MESSAGE(read_file(carol_log), !has(read_file(carol_log), "#1 ")); // a key, not a message
        listener.stop(); // the state file is carol's device's alone again
        Json::Value share = envelope("1"), msg = envelope("2");
        CPPUNIT_ASSERT_EQUAL(2u, share["ciphertexts"].size()); // the key, to bob's phone and carol's desk
        CPPUNIT_ASSERT(share["ciphertexts"].isMember("bob/phone") && share["ciphertexts"].isMember("carol/desk"));
        CPPUNIT_ASSERT(!msg.isMember("ciphertexts"));
        const std::string first_session = msg["session_id"].asString();
        CPPUNIT_ASSERT_EQUAL(std::size_t(43), first_session.size());
        const std::string at_bob = history("bob", "phone", b1);
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#2 alice: the group is open"));
        CPPUNIT_ASSERT_MESSAGE(at_bob, !has(at_bob, "#1 ")); // a key, not a message
        // bob's own session: his key to alice and carol, then his message.
        CPPUNIT_ASSERT_EQUAL(std::string("4"), send("bob", "phone", b1, "bob has the mill"));
        CPPUNIT_ASSERT_MESSAGE(history("alice", "laptop", a1), has(history("alice", "laptop", a1), "#4 bob: bob has the mill"));
        // alice again: the same session, no new key.
        CPPUNIT_ASSERT_EQUAL(std::string("5"), send("alice", "laptop", a1, "second in the session"));
        CPPUNIT_ASSERT_EQUAL(first_session, envelope("5")["session_id"].asString());

        // bob's tablet: given the key as of now, it reads what follows, not what came before.
        ok(s, "bob", {"e2e-init", "--device", "tablet", "--state", b2});
        CPPUNIT_ASSERT_EQUAL(std::string("7"), send("alice", "laptop", a1, "hello tablet"));
        share = envelope("6");
        CPPUNIT_ASSERT_EQUAL(1u, share["ciphertexts"].size());
        CPPUNIT_ASSERT(share["ciphertexts"].isMember("bob/tablet"));
        CPPUNIT_ASSERT_EQUAL(first_session, envelope("7")["session_id"].asString());
        const std::string at_tablet = history("bob", "tablet", b2);
        CPPUNIT_ASSERT_MESSAGE(at_tablet, has(at_tablet, "#7 alice: hello tablet"));
        CPPUNIT_ASSERT_MESSAGE(at_tablet, has(at_tablet, "#2 alice: (not for this device)"));
        CPPUNIT_ASSERT_MESSAGE(at_tablet, has(at_tablet, "#5 alice: (not for this device)"));

        // The server replays #7's ciphertext as a new message: the tablet shows it once.
        db.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, type, ts, e2e)"
                " SELECT conv_id, 8, sender_id, 'replayed', body, type, ts + 1, e2e FROM messages"
                "  WHERE conv_id = $1 AND seq = 7",
                {conv});
        db.exec("UPDATE conversations SET last_seq = 8 WHERE id = $1", {conv});
        const std::string replayed = history("bob", "tablet", b2);
        CPPUNIT_ASSERT_MESSAGE(replayed, has(replayed, "#7 alice: hello tablet"));
        CPPUNIT_ASSERT_MESSAGE(replayed, has(replayed, "#8 alice: (a repeat of #7: ignored)"));

        // bob's phone goes: alice's next message is in a new session, whose key the phone never gets.
        ok(s, "bob", {"devices-remove", "--device", "phone"});
        CPPUNIT_ASSERT_EQUAL(std::string("10"), send("alice", "laptop", a1, "the phone is gone"));
        share = envelope("9");
        CPPUNIT_ASSERT(!share["ciphertexts"].isMember("bob/phone"));
        CPPUNIT_ASSERT(share["ciphertexts"].isMember("bob/tablet") && share["ciphertexts"].isMember("carol/desk"));
        const std::string second_session = envelope("10")["session_id"].asString();
        CPPUNIT_ASSERT(second_session != first_session);
        CPPUNIT_ASSERT_MESSAGE(history("bob", "tablet", b2), has(history("bob", "tablet", b2), "#10 alice: the phone is gone"));

        // carol leaves the group: another new session, not for her.
        rpc_caller admin(s.port(), "alice", "pw-alice");
        CPPUNIT_ASSERT(admin.call("conv.remove_member", params({{"conv", Json::Int64(std::stoll(conv))}, {"user", "carol"}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("12"), send("alice", "laptop", a1, "carol has left"));
        share = envelope("11");
        CPPUNIT_ASSERT_EQUAL(1u, share["ciphertexts"].size());
        CPPUNIT_ASSERT(share["ciphertexts"].isMember("bob/tablet"));
        const std::string third_session = envelope("12")["session_id"].asString();
        CPPUNIT_ASSERT(third_session != second_session && third_session != first_session);
        CPPUNIT_ASSERT_MESSAGE(history("bob", "tablet", b2), has(history("bob", "tablet", b2), "#12 alice: carol has left"));
        // A device that reads only the newest message finds the key sent before it (#11) by itself.
        ok(s, "bob", {"e2e-init", "--device", "watch", "--state", dir.file("bob-watch.state")});
        CPPUNIT_ASSERT_EQUAL(std::string("14"), send("alice", "laptop", a1, "hello watch"));
        const std::string newest = ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "watch", "--state",
                                                 dir.file("bob-watch.state"), "--limit", "1"});
        CPPUNIT_ASSERT_MESSAGE(newest, has(newest, "#14 alice: hello watch"));

        // Only ciphertext on the server.
        const auto all = db.exec("SELECT string_agg(body || e2e::text, '') FROM messages WHERE conv_id = $1", {conv});
        for (const char* word : {"group is open", "bob has", "second in", "hello tablet", "phone is gone", "has left"})
            CPPUNIT_ASSERT_MESSAGE(word, !has(all.str(0, 0), word));
    }

    /// More devices than one envelope of Olm ciphertexts holds (16 KiB): the group key goes in
    /// several envelopes, and the message itself is one ciphertext every device reads.
    void a_group_larger_than_one_envelope() {
        chat_stack s("e2e-big-group");
        s.add_user("alice", "pw-alice");
        temp_dir dir("e2e-big-group-state");
        const std::string a1 = dir.file("alice.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        // 30 devices: the group key's first (pre-key) Olm message to each takes ~750 bytes, so
        // they need two envelopes; the message itself is one ciphertext whatever the count.
        constexpr int users = 10, devices_each = 3;
        std::vector<std::string> args{"create", "--title", "everyone", "--encrypted"};
        for (int u = 0; u < users; ++u) {
            const std::string name = "m" + std::to_string(u);
            s.add_user(name, "pw-" + name);
            args.insert(args.end(), {"--member", name});
        }
        // The devices come up a user's each at once, ten users side by side (one
        // after another, thirty logins were most of this test's time).
        for (int d = 0; d < devices_each; ++d) {
            std::vector<std::future<cli_result>> inits;
            for (int u = 0; u < users; ++u) {
                const std::string name = "m" + std::to_string(u);
                inits.push_back(std::async(std::launch::async, [&s, &dir, name, d] {
                    return cli(s, name, {"e2e-init", "--device", "d" + std::to_string(d), "--state",
                                         dir.file(name + "-" + std::to_string(d) + ".state")});
                }));
            }
            for (auto& init : inits) {
                const cli_result r = init.get();
                CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out, 0, r.rc);
            }
        }
        const std::string conv = number_after(ok(s, "alice", args), "encrypted conversation ");
        const std::string seq = number_after(
            ok(s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "to all 30 devices"}),
            "stored as #");
        pg::connection db(s.conninfo());
        const auto r = db.exec("SELECT seq, e2e::text FROM messages WHERE conv_id = $1 ORDER BY seq", {conv});
        CPPUNIT_ASSERT_MESSAGE(std::to_string(r.rows()), r.rows() >= 3); // two envelopes of keys or more, then the message
        CPPUNIT_ASSERT_EQUAL(std::to_string(r.rows()), seq);
        std::set<std::string> given;
        for (int i = 0; i + 1 < r.rows(); ++i) {
            const Json::Value e = parse(r.str(i, 1));
            CPPUNIT_ASSERT(r.str(i, 1).size() <= 16384);
            for (const auto& d : e["ciphertexts"].getMemberNames()) CPPUNIT_ASSERT(given.insert(d).second); // once each
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(users * devices_each), given.size());
        // One one-time key taken from each device, none wasted (a claim per member took all three).
        const auto taken = db.exec("SELECT count(*), count(DISTINCT device_id) FROM e2e_one_time_keys"
                                   " WHERE claimed_at IS NOT NULL", {});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(users * devices_each), taken.int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(users * devices_each), taken.int64(0, 1));
        CPPUNIT_ASSERT(parse(r.str(r.rows() - 1, 1)).isMember("ciphertext"));
        for (const auto& [user, device] : {std::pair{"m0", 0}, {"m5", 1}, {"m9", 2}}) {
            const std::string h = ok(s, user, {"e2e-history", "--conv", conv, "--device", "d" + std::to_string(device),
                                               "--state", dir.file(std::string(user) + "-" + std::to_string(device) + ".state")});
            CPPUNIT_ASSERT_MESSAGE(h, has(h, "#" + seq + " alice: to all 30 devices"));
        }
    }

    /// alice and bob compare a safety number out of band; once bob is verified, a device of
    /// his that comes later (his, or one the server slipped in) stops alice's sends to him
    /// until they compare again.
    void safety_numbers_match_and_a_new_device_stops_sends() {
        chat_stack s("e2e-safety");
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        temp_dir dir("e2e-safety-state");
        const std::string a1 = dir.file("alice.state"), b1 = dir.file("bob.state"), b2 = dir.file("bob-tablet.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}), "encrypted conversation ");
        auto number = [&](const std::string& user, const std::string& device, const std::string& state,
                          const std::string& other) {
            const std::string out = ok(s, user, {"safety-number", other, "--device", device, "--state", state});
            const auto at = out.find(":\n  ");
            CPPUNIT_ASSERT_MESSAGE(out, at != std::string::npos);
            const std::string n = out.substr(at + 4, 71); // 12 groups of 5 digits and 11 spaces
            for (std::size_t i = 0; i < n.size(); ++i)
                CPPUNIT_ASSERT_MESSAGE(out, i % 6 == 5 ? n[i] == ' ' : (n[i] >= '0' && n[i] <= '9'));
            return n;
        };
        const std::string at_alice = number("alice", "laptop", a1, "bob");
        CPPUNIT_ASSERT_EQUAL(at_alice, number("bob", "phone", b1, "alice")); // the same on both sides
        cli_result r = cli(s, "alice", {"e2e-verify", "bob", "12345 67890", "--device", "laptop", "--state", a1});
        CPPUNIT_ASSERT_MESSAGE(r.out, r.rc != 0 && has(r.out, "does not match"));
        CPPUNIT_ASSERT(has(ok(s, "alice", {"e2e-verify", "bob", at_alice, "--device", "laptop", "--state", a1}),
                           "bob verified: 1 device"));
        ok(s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "checked"});

        // A device of bob's that alice has not checked: nothing is sent.
        ok(s, "bob", {"e2e-init", "--device", "tablet", "--state", b2});
        r = cli(s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "unchecked"});
        CPPUNIT_ASSERT_MESSAGE(r.out, r.rc != 0 && has(r.out, "bob/tablet is new since you verified bob"));
        pg::connection db(s.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.exec("SELECT count(*) FROM messages WHERE conv_id = $1", {conv}).int64(0, 0));
        // The number changed with the device; compared again, the send goes, and the tablet reads it.
        const std::string again = number("alice", "laptop", a1, "bob");
        CPPUNIT_ASSERT(again != at_alice);
        CPPUNIT_ASSERT_EQUAL(again, number("bob", "tablet", b2, "alice"));
        CPPUNIT_ASSERT(has(ok(s, "alice", {"e2e-verify", "bob", again, "--device", "laptop", "--state", a1}),
                           "bob verified: 2 devices"));
        ok(s, "alice", {"e2e-send", "--conv", conv, "--device", "laptop", "--state", a1, "checked again"});
        CPPUNIT_ASSERT(has(ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "tablet", "--state", b2}),
                           "#2 alice: checked again"));
    }

    /// A file in an encrypted conversation: encrypted on alice's device, stored by the media
    /// service as ciphertext it never reads, its key inside the message's ciphertext; bob's
    /// device downloads and decrypts it, byte for byte. A changed blob does not open.
    void files_travel_encrypted_through_the_media_service() {
        chat_stack s("e2e-files");
        for (const char* u : {"alice", "bob"}) s.add_user(u, std::string("pw-") + u);
        const std::string secret = "0123456789abcdef0123456789abcdef-e2e-files";
        media_service media(s.dir, s.conninfo(), secret, {"orphan_ttl_s 3600"});
        media.start();
        write_secret_file(s.dir.path() + "/media.secret", secret);
        s.restart_bridge({"media_base_url " + media.base_url() + "/", "media_url_secret_file " + s.dir.path() + "/media.secret",
                          "media_max_bytes 1000000", "media_types image/*"});
        temp_dir dir("e2e-files-state");
        const std::string a1 = dir.file("alice.state"), b1 = dir.file("bob.state");
        ok(s, "alice", {"e2e-init", "--device", "laptop", "--state", a1});
        ok(s, "bob", {"e2e-init", "--device", "phone", "--state", b1});
        const std::string conv =
            number_after(ok(s, "alice", {"create", "--member", "bob", "--encrypted"}), "encrypted conversation ");
        // 200 KB that are not an image (the policy takes images only: it cannot apply to ciphertext).
        std::string content = "PLAINTEXT-MARKER the plans for the mill\n";
        for (int i = 0; content.size() < 200000; ++i) content += "line " + std::to_string(i * 7919 % 100003) + " of the plans\n";
        const std::string file = dir.file("plans.txt");
        write_file(file, content);

        const std::string sent = ok(s, "alice", {"e2e-attach", "--conv", conv, "--device", "laptop", "--state", a1, file,
                                                 "--caption", "the plans"});
        CPPUNIT_ASSERT_MESSAGE(sent, has(sent, "stored as #1") && has(sent, "encrypted file, " + std::to_string(content.size()) + " bytes"));
        pg::connection db(s.conninfo());
        const auto row = db.exec("SELECT md.id, md.encrypted, md.declared_name, md.mime, md.size, md.seq, m.media_id = md.id,"
                                 "  m.body, coalesce(m.search::text, ''), m.e2e::text, md.thumb_sha256 IS NULL"
                                 "  FROM media md JOIN messages m ON m.conv_id = md.conv_id AND m.seq = md.seq"
                                 " WHERE md.conv_id = $1", {conv});
        CPPUNIT_ASSERT_EQUAL(1, row.rows());
        const std::string media_id = row.str(0, 0);
        CPPUNIT_ASSERT(row.boolean(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("encrypted.bin"), row.str(0, 2)); // the real name is in the ciphertext
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), row.str(0, 3));
        CPPUNIT_ASSERT(row.int64(0, 4) > static_cast<std::int64_t>(content.size())); // ciphertext: a tag per chunk
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), row.int64(0, 5));
        CPPUNIT_ASSERT(row.boolean(0, 6));
        CPPUNIT_ASSERT_EQUAL(std::string(), row.str(0, 7));
        CPPUNIT_ASSERT_EQUAL(std::string(), row.str(0, 8)); // nothing searchable
        CPPUNIT_ASSERT(!has(row.str(0, 9), "plans"));
        CPPUNIT_ASSERT(row.boolean(0, 10)); // no thumbnail of ciphertext
        // No blob the service stored holds the file's words.
        int blobs = 0;
        for (const auto& f : std::filesystem::recursive_directory_iterator(media.data_dir()))
            if (f.is_regular_file()) {
                ++blobs;
                CPPUNIT_ASSERT_MESSAGE(f.path().string(), !has(read_file(f.path().string()), "PLAINTEXT-MARKER"));
            }
        CPPUNIT_ASSERT(blobs >= 1);

        const std::string at_bob = ok(s, "bob", {"e2e-history", "--conv", conv, "--device", "phone", "--state", b1});
        CPPUNIT_ASSERT_MESSAGE(at_bob, has(at_bob, "#1 alice: [file plans.txt, " + std::to_string(content.size()) +
                                                       " bytes, media " + media_id + "] the plans"));
        const std::string got = dir.file("got.txt");
        CPPUNIT_ASSERT(has(ok(s, "bob", {"e2e-fetch", "--conv", conv, "--seq", "1", "--out", got, "--device", "phone",
                                         "--state", b1}),
                           "decrypted"));
        CPPUNIT_ASSERT(read_file(got) == content);

        // In a group: the same through the Megolm session.
        const std::string group = number_after(
            ok(s, "alice", {"create", "--member", "bob", "--title", "mill", "--encrypted"}), "encrypted conversation ");
        CPPUNIT_ASSERT(has(ok(s, "alice", {"e2e-attach", "--conv", group, "--device", "laptop", "--state", a1, file}),
                           "stored as #2"));
        const std::string got2 = dir.file("got2.txt");
        ok(s, "bob", {"e2e-fetch", "--conv", group, "--seq", "2", "--out", got2, "--device", "phone", "--state", b1});
        CPPUNIT_ASSERT(read_file(got2) == content);

        // The stored ciphertext changed (a malicious or broken store): it does not open, nothing is written.
        const std::string sha = db.exec("SELECT sha256 FROM media WHERE id = $1", {media_id}).str(0, 0);
        const std::string blob = media.data_dir() + "/blobs/" + sha.substr(0, 2) + "/" + sha;
        std::string bytes = read_file(blob);
        bytes[bytes.size() / 2] ^= 1;
        write_file(blob, bytes);
        const std::string bad = dir.file("bad.txt");
        const cli_result r = cli(s, "bob", {"e2e-fetch", "--conv", conv, "--seq", "1", "--out", bad, "--device", "phone",
                                            "--state", b1});
        CPPUNIT_ASSERT_MESSAGE(r.out, r.rc != 0 && has(r.out, "SHA-256 differs"));
        CPPUNIT_ASSERT(!std::filesystem::exists(bad));

        // What the server refuses: a plain upload here, an encrypted one elsewhere, a name beside it.
        rpc_caller alice(s.port(), "alice", "pw-alice");
        const std::int64_t c = std::stoll(conv), plain_conv = s.create_conv({"alice", "bob"}, "plain");
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"),
                             code_of(alice.call("media.upload", params({{"conv", Json::Int64(c)}, {"name", "a.png"},
                                                                     {"type", "image/png"}, {"size", 100}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"),
                             code_of(alice.call("media.upload", params({{"conv", Json::Int64(plain_conv)}, {"encrypted", true},
                                                                     {"size", 100}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(alice.call("media.upload", params({{"conv", Json::Int64(c)}, {"encrypted", true},
                                                                     {"name", "secret plans.txt"}, {"size", 100}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("too_large"),
                             code_of(alice.call("media.upload", params({{"conv", Json::Int64(c)}, {"encrypted", true},
                                                                     {"size", 2000000}}))));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), db.exec("SELECT count(*) FROM media", {}).int64(0, 0)); // nothing new
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(e2e_group_test);
