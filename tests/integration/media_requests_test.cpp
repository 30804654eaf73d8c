// The bridge's side of attachments (docs/media.md) against the real stack:
// media.upload grants (policy per server and per desk, quotas, open
// uploads, members only), messages of type image/file that name an upload
// (only the sender's own, ready, for that conversation, once), what members
// receive and what history, search and pushes show, and media.url (members
// only, not once the message is deleted). The media service's own checks
// and the bytes are media_test's; here a row is made ready by SQL as the
// service would (mark_ready), so each rule of the bridge is seen alone —
// and once the whole way, with the real mqchat-media: a photo uploaded,
// sent, received, its thumbnail fetched; a refused upload cannot be sent;
// a deleted photo's bytes are swept.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "common/json.hpp"
#include "common/media_url.hpp"
#include "common/pg.hpp"
#include "support/rpc_caller.hpp"
#include "support/http_get.hpp"
#include "support/servers.hpp"
#include "support/test_images.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "0123456789abcdef0123456789abcdef-media-test";

struct fixture {
    chat_stack stack{"media-requests"};
    media_service media{stack.dir, stack.conninfo(), secret, {"sweep_interval_s 1", "orphan_ttl_s 3600"}};
    const std::string base_url = media.base_url();
    std::int64_t conv = 0, other_conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol"}) stack.add_user(u, std::string("pw-") + u);
        media.start();
        write_secret_file(stack.dir.path() + "/media.secret", secret);
        stack.restart_bridge({"media_base_url " + base_url + "/",
                              "media_url_secret_file " + stack.dir.path() + "/media.secret",
                              "media_max_bytes 1000000", "media_types image/*, application/pdf, text/plain",
                              "media_quota_bytes_per_day 3000000"});
        conv = stack.create_conv({"alice", "bob"}, "photos");
        other_conv = stack.create_conv({"alice", "carol"}, "elsewhere");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

struct caller : rpc_caller {
    explicit caller(const std::string& user) : rpc_caller(shared().stack.port(), user, "pw-" + user) {}
};

Json::Value grant(caller& c, std::int64_t conv, const std::string& name, const std::string& type, std::int64_t size) {
    return c.call("media.upload", params({{"conv", Json::Int64(conv)}, {"name", name}, {"type", type}, {"size", Json::Int64(size)}}));
}

/// What the media service does once the bytes passed its checks.
void mark_ready(const std::string& id, const std::string& mime, std::int64_t size, int width = 0, int height = 0) {
    pg::connection db(shared().stack.conninfo());
    db.exec("UPDATE media SET status = 'ready', mime = $2, size = $3, width = nullif($4::int, 0),"
            " height = nullif($5::int, 0), sha256 = repeat('a', 64),"
            " thumb_sha256 = CASE WHEN $4::int > 0 THEN repeat('b', 64) END, thumb_mime = 'image/jpeg', ready_at = now()"
            " WHERE id = $1",
            {id, mime, std::to_string(size), std::to_string(width), std::to_string(height)});
}

Json::Value media_send(const std::string& id, const std::string& type, const std::string& media,
                       const std::string& caption = "") {
    Json::Value v(Json::objectValue);
    v["id"] = id;
    v["type"] = type;
    v["media"] = media;
    if (!caption.empty()) v["body"] = caption;
    return v;
}

std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    pg::connection db(shared().stack.conninfo());
    return db.exec(sql, args).int64(0, 0);
}

} // namespace

class media_requests_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(media_requests_test);
    CPPUNIT_TEST(upload_grant_is_a_signed_single_upload_url);
    CPPUNIT_TEST(grants_follow_the_servers_and_the_desks_policy);
    CPPUNIT_TEST(quota_and_open_uploads_are_limited_per_user);
    CPPUNIT_TEST(bad_grant_requests_change_nothing);
    CPPUNIT_TEST(attachment_reaches_members_history_search_and_push);
    CPPUNIT_TEST(attachment_must_be_the_senders_ready_upload_for_that_conversation_once);
    CPPUNIT_TEST(download_urls_for_members_only_and_not_after_delete);
    CPPUNIT_TEST(plugin_refuses_malformed_attachments);
    CPPUNIT_TEST(export_lists_uploads_and_erase_detaches_them);
    CPPUNIT_TEST(a_photo_the_whole_way_through_the_media_service);
    CPPUNIT_TEST(admin_status_sees_the_media_service);
    CPPUNIT_TEST_SUITE_END();

public:
    void upload_grant_is_a_signed_single_upload_url() {
        caller alice("alice");
        const Json::Value g = grant(alice, shared().conv, "holiday.jpg", "image/jpeg", 123456);
        CPPUNIT_ASSERT_MESSAGE(g.toStyledString(), g.isMember("result"));
        const std::string id = g["result"]["media"].asString();
        CPPUNIT_ASSERT(media_url::valid_media_id(id));
        CPPUNIT_ASSERT_EQUAL(std::string("PUT"), g["result"]["method"].asString());
        const std::int64_t expires_s = g["result"]["expires"].asInt64() / 1000;
        const std::string expected = shared().base_url + media_url::signed_path(secret, media_url::upload, id, expires_s);
        CPPUNIT_ASSERT_EQUAL(expected, g["result"]["upload_url"].asString());
        // About upload_ttl_s (600 s) from now.
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        CPPUNIT_ASSERT(expires_s > now + 500 && expires_s <= now + 601);
        // The row holds the grant and its policy, and nothing that is not known yet.
        pg::connection db(shared().stack.conninfo());
        const auto row = db.exec("SELECT md.status, md.declared_name, md.declared_type, md.declared_size, md.max_bytes,"
                                 " array_to_string(md.allowed_types, ','), md.conv_id, u.name, md.sha256 IS NULL, md.seq IS NULL"
                                 " FROM media md JOIN users u ON u.id = md.uploader_id WHERE md.id = $1",
                                 {id});
        CPPUNIT_ASSERT_EQUAL(1, row.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), row.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("holiday.jpg"), row.str(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), row.str(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(123456), row.int64(0, 3));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000000), row.int64(0, 4));
        CPPUNIT_ASSERT_EQUAL(std::string("image/*,application/pdf,text/plain"), row.str(0, 5));
        CPPUNIT_ASSERT_EQUAL(shared().conv, row.int64(0, 6));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), row.str(0, 7));
        CPPUNIT_ASSERT(row.boolean(0, 8) && row.boolean(0, 9));
    }

    void grants_follow_the_servers_and_the_desks_policy() {
        caller alice("alice");
        CPPUNIT_ASSERT_EQUAL(std::string("too_large"), code_of(grant(alice, shared().conv, "big.jpg", "image/jpeg", 1000001)));
        CPPUNIT_ASSERT(grant(alice, shared().conv, "just.jpg", "image/jpeg", 1000000).isMember("result"));
        CPPUNIT_ASSERT(grant(alice, shared().conv, "any.heic", "image/heic", 10).isMember("result")); // image/* allows it
        CPPUNIT_ASSERT_EQUAL(std::string("type_not_allowed"),
                             code_of(grant(alice, shared().conv, "tool.exe", "application/x-dosexec", 10)));
        CPPUNIT_ASSERT_EQUAL(std::string("type_not_allowed"),
                             code_of(grant(alice, shared().conv, "page.html", "text/html", 10)));

        // A desk narrows it for its support conversations.
        const std::string ci = shared().stack.conninfo();
        admin_ok(ci, {"desk", "create", "photos-desk", "--title", "Photo help"});
        const std::string said = admin_ok(ci, {"desk", "media", "photos-desk", "--max-bytes", "5000", "--types", "image/png"});
        CPPUNIT_ASSERT_MESSAGE(said, said.find("5000 bytes at most") != std::string::npos);
        std::string refusal;
        CPPUNIT_ASSERT(admin(ci, {"desk", "media", "photos-desk", "--types", "image/png;x"}, refusal) != 0);
        CPPUNIT_ASSERT_MESSAGE(refusal, refusal.find("not a MIME type") != std::string::npos);
        CPPUNIT_ASSERT(admin(ci, {"desk", "media", "photos-desk", "--max-bytes", "-1"}, refusal) != 0);
        pg::connection db(ci);
        const std::int64_t support = shared().stack.create_conv({"alice", "bob"}, "support");
        db.exec("INSERT INTO support_conversations (conv_id, desk_id, status, closed_at)"
                " SELECT $1, id, 'closed', now() FROM desks WHERE name = 'photos-desk'",
                {std::to_string(support)});
        CPPUNIT_ASSERT_EQUAL(std::string("type_not_allowed"), code_of(grant(alice, support, "a.jpg", "image/jpeg", 100)));
        CPPUNIT_ASSERT_EQUAL(std::string("too_large"), code_of(grant(alice, support, "a.png", "image/png", 5001)));
        const Json::Value ok = grant(alice, support, "a.png", "image/png", 5000);
        CPPUNIT_ASSERT_MESSAGE(ok.toStyledString(), ok.isMember("result"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5000), ok["result"]["max_bytes"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM media WHERE id = $1 AND allowed_types = '{image/png}'"
                                                    " AND max_bytes = 5000",
                                                    {ok["result"]["media"].asString()}));
        // desk.info tells a widget what it may offer.
        const Json::Value info = alice.call("desk.info", params({{"desk", "photos-desk"}}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5000), info["result"]["attachments"]["max_bytes"].asInt64());
        CPPUNIT_ASSERT_EQUAL(1u, info["result"]["attachments"]["types"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("image/png"), info["result"]["attachments"]["types"][0].asString());
        // Without options the desk takes the server's policy again.
        admin_ok(ci, {"desk", "media", "photos-desk"});
        const Json::Value server = alice.call("desk.info", params({{"desk", "photos-desk"}}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000000), server["result"]["attachments"]["max_bytes"].asInt64());
        CPPUNIT_ASSERT_EQUAL(3u, server["result"]["attachments"]["types"].size());
        CPPUNIT_ASSERT(grant(alice, support, "a.jpg", "image/jpeg", 6000).isMember("result"));
    }

    void quota_and_open_uploads_are_limited_per_user() {
        caller bob("bob");
        // 20 open uploads at most (each row is a grant nobody finished yet).
        for (int i = 0; i < 20; ++i) {
            const Json::Value g = grant(bob, shared().conv, "f" + std::to_string(i) + ".txt", "text/plain", 10);
            CPPUNIT_ASSERT_MESSAGE(g.toStyledString(), g.isMember("result"));
        }
        CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"), code_of(grant(bob, shared().conv, "more.txt", "text/plain", 10)));
        // Finished ones no longer count as open; the bytes of the day do count.
        pg::connection db(shared().stack.conninfo());
        db.exec("UPDATE media SET status = 'ready', mime = 'text/plain', size = 10, sha256 = repeat('c', 64)"
                " WHERE uploader_id = (SELECT id FROM users WHERE name = 'bob')");
        CPPUNIT_ASSERT(grant(bob, shared().conv, "big1.pdf", "application/pdf", 1000000).isMember("result"));
        CPPUNIT_ASSERT(grant(bob, shared().conv, "big2.pdf", "application/pdf", 1000000).isMember("result"));
        // 2,000,200 used or granted of 3,000,000.
        const Json::Value over = grant(bob, shared().conv, "big3.pdf", "application/pdf", 1000000);
        CPPUNIT_ASSERT_EQUAL(std::string("quota_exceeded"), code_of(over));
        CPPUNIT_ASSERT(over["error"]["message"].asString().find("3000000") != std::string::npos);
        CPPUNIT_ASSERT(grant(bob, shared().conv, "fits.pdf", "application/pdf", 999000).isMember("result"));
        // Uploads older than a day are not counted.
        db.exec("UPDATE media SET created_at = now() - interval '25 hours'"
                " WHERE uploader_id = (SELECT id FROM users WHERE name = 'bob')");
        CPPUNIT_ASSERT(grant(bob, shared().conv, "tomorrow.pdf", "application/pdf", 1000000).isMember("result"));
    }

    void bad_grant_requests_change_nothing() {
        caller carol("carol");
        // Carol's rows only: the sweeper (every second here) may meanwhile
        // remove the uploads the quota case aged past a day, which are bob's.
        const std::string carols = "SELECT count(*) FROM media WHERE uploader_id = (SELECT id FROM users WHERE name = 'carol')";
        const std::int64_t before = count(carols);
        // Not a member of alice and bob's conversation.
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(grant(carol, shared().conv, "x.jpg", "image/jpeg", 10)));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(grant(carol, 999999, "x.jpg", "image/jpeg", 10)));
        const std::int64_t conv = shared().other_conv;
        for (const char* name : {"", "../../etc/passwd", "a/b.jpg", "a\\b.jpg", "line\nbreak.jpg", ".."})
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(grant(carol, conv, name, "image/jpeg", 10)));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(grant(carol, conv, std::string(256, 'a'), "image/jpeg", 10)));
        for (const char* type : {"", "image", "IMAGE/JPEG", "image/jpeg; charset=x", "image/jpeg/x", "'; DROP TABLE media; --"})
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(grant(carol, conv, "x.jpg", type, 10)));
        for (std::int64_t size : {std::int64_t(0), std::int64_t(-5)})
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(grant(carol, conv, "x.jpg", "image/jpeg", size)));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(carol.call("media.upload", params({{"conv", Json::Int64(conv)}, {"name", "x.jpg"},
                                                                        {"type", "image/jpeg"}, {"size", "10"}}))));
        // Hostile SQL in a name is a name.
        const Json::Value g = grant(carol, conv, "x'); DELETE FROM media; --.jpg", "image/jpeg", 10);
        CPPUNIT_ASSERT(g.isMember("result"));
        CPPUNIT_ASSERT_EQUAL(before + 1, count(carols));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(carol.call("media.url", params({{"media", "nope"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(carol.call("media.url", params({{"media", Json::Value(Json::arrayValue)}}))));
    }

    void attachment_reaches_members_history_search_and_push() {
        caller alice("alice"), bob("bob");
        const std::int64_t conv = shared().conv;
        const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, bob.client->subscribe(msg_topic));
        const std::string photo = grant(alice, conv, "sunset.jpg", "image/jpeg", 2000)["result"]["media"].asString();
        mark_ready(photo, "image/jpeg", 1800, 640, 480);
        const std::string doc = grant(alice, conv, "Quarterly report.pdf", "application/pdf", 3000)["result"]["media"].asString();
        mark_ready(doc, "application/pdf", 2900);

        const Json::Value ack = alice.send(conv, media_send("m-photo", "image", photo, "the view from the hill"));
        CPPUNIT_ASSERT_MESSAGE(ack.toStyledString(), ack.isMember("seq"));
        const std::int64_t photo_seq = ack["seq"].asInt64();
        const Json::Value ack2 = alice.send(conv, media_send("m-doc", "file", doc));
        CPPUNIT_ASSERT_MESSAGE(ack2.toStyledString(), ack2.isMember("seq"));

        // Bob gets the attachment as the service checked it.
        received r;
        Json::Value got;
        std::string why;
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, msg_topic));
        CPPUNIT_ASSERT(json::parse(r.payload, got, why));
        CPPUNIT_ASSERT_EQUAL(std::string("image"), got["type"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("the view from the hill"), got["body"].asString());
        CPPUNIT_ASSERT_EQUAL(photo, got["media"]["id"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), got["media"]["mime"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1800), got["media"]["size"].asInt64());
        CPPUNIT_ASSERT_EQUAL(640, got["media"]["width"].asInt());
        CPPUNIT_ASSERT_EQUAL(480, got["media"]["height"].asInt());
        CPPUNIT_ASSERT(got["media"]["thumb"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("sunset.jpg"), got["media"]["name"].asString());
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, msg_topic));
        CPPUNIT_ASSERT(json::parse(r.payload, got, why));
        CPPUNIT_ASSERT_EQUAL(std::string("file"), got["type"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string(""), got["body"].asString());
        CPPUNIT_ASSERT(!got["media"].isMember("width"));
        CPPUNIT_ASSERT(!got["media"]["thumb"].asBool());
        // The upload now belongs to the message.
        CPPUNIT_ASSERT_EQUAL(photo_seq, count("SELECT seq FROM media WHERE id = $1", {photo}));

        // History shows them the same way; search finds the caption and the file's name.
        const Json::Value h = bob.call("history", params({{"conv", Json::Int64(conv)}, {"limit", 5}}));
        bool saw_photo = false;
        for (const auto& m : h["result"]["messages"])
            if (m["id"].asString() == "m-photo") {
                saw_photo = true;
                CPPUNIT_ASSERT_EQUAL(photo, m["media"]["id"].asString());
                CPPUNIT_ASSERT_EQUAL(640, m["media"]["width"].asInt());
            }
        CPPUNIT_ASSERT(saw_photo);
        const Json::Value s1 = bob.call("search", params({{"q", "hill"}}));
        CPPUNIT_ASSERT_MESSAGE(s1.toStyledString(), s1["result"]["hits"].size() == 1);
        CPPUNIT_ASSERT_EQUAL(photo, s1["result"]["hits"][0]["message"]["media"]["id"].asString());
        const Json::Value s2 = bob.call("search", params({{"q", "quarterly"}}));
        CPPUNIT_ASSERT_MESSAGE(s2.toStyledString(), s2["result"]["hits"].size() == 1);
        CPPUNIT_ASSERT_EQUAL(std::string("m-doc"), s2["result"]["hits"][0]["message"]["id"].asString());

        // A push says "Photo" (with the caption) or the file's name, never a URL.
        // Pushes go to members who are offline: bob leaves, and the bridge stores that.
        // First his coming online must be stored: else a row of an earlier
        // test (offline) would pass for his leaving, and his coming online
        // be written after it.
        const auto bob_stored = [&](const char* devices) {
            const auto until = std::chrono::steady_clock::now() + 15s;
            const std::string sql = std::string("SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id"
                                                " WHERE u.name = 'bob' AND p.devices ") + devices;
            while (count(sql) == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
            return count(sql) == 1;
        };
        CPPUNIT_ASSERT(bob_stored("> 0"));
        bob.client.reset();
        CPPUNIT_ASSERT(bob_stored("= 0"));
        pg::connection db(shared().stack.conninfo());
        db.exec("INSERT INTO push_devices (user_id, platform, token, app_id) SELECT id, 'fcm', 'tok-bob-media', 'app' FROM users WHERE name = 'bob'");
        db.exec("UPDATE members SET notify = 'all' WHERE conv_id = $1", {std::to_string(conv)});
        const auto pushed = db.exec("SELECT mqchat_queue_push(jsonb_build_array(jsonb_build_object('conv', $1::bigint, 'seq', $2::bigint),"
                                    " jsonb_build_object('conv', $1::bigint, 'seq', $3::bigint)))",
                                    {std::to_string(conv), std::to_string(photo_seq), std::to_string(ack2["seq"].asInt64())});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), pushed.int64(0, 0));
        const auto bodies = db.exec("SELECT payload ->> 'body' FROM push_queue WHERE conv_id = $1 ORDER BY seq",
                                    {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(2, bodies.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("Photo: the view from the hill"), bodies.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("Quarterly report.pdf"), bodies.str(1, 0));
        db.exec("DELETE FROM push_queue WHERE conv_id = $1", {std::to_string(conv)});
        db.exec("DELETE FROM push_devices WHERE token = 'tok-bob-media'");
    }

    void attachment_must_be_the_senders_ready_upload_for_that_conversation_once() {
        caller alice("alice"), bob("bob");
        const std::int64_t conv = shared().conv;
        const std::int64_t stored_before = count("SELECT count(*) FROM messages");
        const std::string pending = grant(alice, conv, "p.jpg", "image/jpeg", 10)["result"]["media"].asString();
        // Not ready yet (the bytes never came, or were refused).
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.send(conv, media_send("b-1", "image", pending))));
        pg::connection db(shared().stack.conninfo());
        db.exec("UPDATE media SET status = 'refused', refusal = 'polyglot' WHERE id = $1", {pending});
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.send(conv, media_send("b-2", "image", pending))));
        // Someone else's upload.
        const std::string alices = grant(alice, conv, "a.jpg", "image/jpeg", 10)["result"]["media"].asString();
        mark_ready(alices, "image/jpeg", 10, 1, 1);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(bob.send(conv, media_send("b-3", "image", alices))));
        // For another conversation.
        const std::string elsewhere = grant(alice, shared().other_conv, "e.jpg", "image/jpeg", 10)["result"]["media"].asString();
        mark_ready(elsewhere, "image/jpeg", 10, 1, 1);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.send(conv, media_send("b-4", "image", elsewhere))));
        // Unknown id.
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(alice.send(conv, media_send("b-5", "file", std::string(32, 'f')))));
        CPPUNIT_ASSERT_EQUAL(stored_before, count("SELECT count(*) FROM messages"));
        // Once: the first message takes it; its resend is a duplicate (the same seq), another message cannot.
        const Json::Value first = alice.send(conv, media_send("b-6", "image", alices));
        CPPUNIT_ASSERT_MESSAGE(first.toStyledString(), first.isMember("seq"));
        const Json::Value again = alice.send(conv, media_send("b-6", "image", alices));
        CPPUNIT_ASSERT_EQUAL(first["seq"].asInt64(), again["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.send(conv, media_send("b-7", "image", alices))));
        CPPUNIT_ASSERT_EQUAL(stored_before + 1, count("SELECT count(*) FROM messages"));
        CPPUNIT_ASSERT_EQUAL(first["seq"].asInt64(), count("SELECT seq FROM media WHERE id = $1", {alices}));
    }

    void download_urls_for_members_only_and_not_after_delete() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::int64_t conv = shared().conv;
        const std::string id = grant(alice, conv, "cat.png", "image/png", 10)["result"]["media"].asString();
        mark_ready(id, "image/png", 10, 2, 2);
        // Before it is sent, only the uploader may see it (a preview).
        CPPUNIT_ASSERT(alice.call("media.url", params({{"media", id}})).isMember("result"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(bob.call("media.url", params({{"media", id}}))));
        const Json::Value ack = alice.send(conv, media_send("u-1", "image", id));
        const Json::Value u = bob.call("media.url", params({{"media", id}}));
        CPPUNIT_ASSERT_MESSAGE(u.toStyledString(), u.isMember("result"));
        const Json::Value& m = u["result"]["media"][0];
        const std::int64_t exp = m["expires"].asInt64() / 1000;
        CPPUNIT_ASSERT_EQUAL(shared().base_url + media_url::signed_path(secret, media_url::media, id, exp), m["url"].asString());
        CPPUNIT_ASSERT_EQUAL(shared().base_url + media_url::signed_path(secret, media_url::thumb, id, exp),
                             m["thumb_url"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("image/png"), m["mime"].asString());
        CPPUNIT_ASSERT(media_url::verify(secret, media_url::media, id, std::to_string(exp),
                                         media_url::signature(secret, media_url::media, id, exp), exp - 10) ==
                       media_url::check::ok);
        // Not a member: nothing, not even whether it exists; a list leaves it out.
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(carol.call("media.url", params({{"media", id}}))));
        Json::Value ids(Json::arrayValue);
        ids.append(id);
        ids.append(std::string(32, '0'));
        const Json::Value list = carol.call("media.url", params({{"media", ids}}));
        CPPUNIT_ASSERT_EQUAL(0u, list["result"]["media"].size());
        CPPUNIT_ASSERT_EQUAL(1u, bob.call("media.url", params({{"media", ids}}))["result"]["media"].size());
        // Deleted by its sender: gone from history and from media.url.
        Json::Value del(Json::objectValue);
        del["id"] = "u-1-del";
        del["type"] = "delete";
        del["ref"] = ack["seq"];
        CPPUNIT_ASSERT(alice.send(conv, del).isMember("seq"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(bob.call("media.url", params({{"media", id}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.call("media.url", params({{"media", id}}))));
        const Json::Value h = bob.call("history", params({{"conv", Json::Int64(conv)}, {"after", Json::Int64(ack["seq"].asInt64() - 1)}, {"limit", 1}}));
        CPPUNIT_ASSERT(h["result"]["messages"][0]["deleted"].asBool());
        CPPUNIT_ASSERT(!h["result"]["messages"][0].isMember("media"));
    }

    void plugin_refuses_malformed_attachments() {
        caller alice("alice");
        const std::int64_t conv = shared().conv;
        const std::string topic = "chat/conv/" + std::to_string(conv) + "/send";
        const std::int64_t before = count("SELECT count(*) FROM messages");
        for (const char* payload : {
                 R"({"id":"x-1","type":"image"})",                                            // no media
                 R"({"id":"x-2","type":"image","media":"not-an-id"})",                        // not an id
                 R"({"id":"x-3","type":"image","media":12345})",                              // not a string
                 R"({"id":"x-4","body":"hi","media":"0123456789abcdef0123456789abcdef"})",     // media on a text
                 R"({"id":"x-5","type":"file","media":"0123456789ABCDEF0123456789ABCDEF"})",  // upper case
                 R"({"id":"x-6","type":"edit","ref":1,"body":"x","media":"0123456789abcdef0123456789abcdef"})"}) {
            CPPUNIT_ASSERT_EQUAL(int(MQTT_RC_NOT_AUTHORIZED), alice.client->publish(topic, payload));
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), alice.notice_error());
        }
        CPPUNIT_ASSERT_EQUAL(before, count("SELECT count(*) FROM messages"));
    }

    void export_lists_uploads_and_erase_detaches_them() {
        const std::string ci = shared().stack.conninfo();
        shared().stack.add_user("dora", "pw-dora");
        const std::int64_t conv = shared().stack.create_conv({"dora", "alice"}, "dora's");
        std::string sent, unsent;
        {
            caller dora("dora");
            sent = grant(dora, conv, "passport.jpg", "image/jpeg", 100)["result"]["media"].asString();
            mark_ready(sent, "image/jpeg", 90, 10, 10);
            CPPUNIT_ASSERT(dora.send(conv, media_send("d-1", "image", sent)).isMember("seq"));
            unsent = grant(dora, conv, "draft.pdf", "application/pdf", 100)["result"]["media"].asString();
        }
        Json::Value doc;
        std::string why;
        CPPUNIT_ASSERT(json::parse(admin_ok(ci, {"user", "export", "dora"}), doc, why));
        CPPUNIT_ASSERT_EQUAL(2u, doc["media"].size());
        CPPUNIT_ASSERT_EQUAL(sent, doc["media"][0]["id"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("passport.jpg"), doc["media"][0]["name"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string(64, 'a'), doc["media"][0]["sha256"].asString());
        CPPUNIT_ASSERT_EQUAL(unsent, doc["media"][1]["id"].asString());
        CPPUNIT_ASSERT_EQUAL(sent, doc["messages"][0]["media"].asString());

        const std::string out = admin_ok(ci, {"user", "erase", "dora", "--yes-erase-forever"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("2 uploads") != std::string::npos);
        // Both are out of every conversation: nobody may fetch them, and the
        // sweeper (this suite's media service sweeps every second) takes
        // them — perhaps already, so only "none still attached" is certain here.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM media WHERE id IN ($1, $2) AND conv_id IS NOT NULL",
                                                    {sent, unsent}));
        caller alice("alice");
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.call("media.url", params({{"media", sent}}))));
        std::int64_t left = 2;
        for (int i = 0; i < 100 && left > 0; ++i) {
            left = count("SELECT count(*) FROM media WHERE id IN ($1, $2)", {sent, unsent});
            if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the sweeper took both rows within 10 s", std::int64_t(0), left);
    }

    void a_photo_the_whole_way_through_the_media_service() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::int64_t conv = shared().conv;
        const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, bob.client->subscribe(msg_topic));
        const std::string photo = make_jpeg(1200, 800);
        const Json::Value g = grant(alice, conv, "IMG_0001.jpg", "image/jpeg", static_cast<std::int64_t>(photo.size()));
        CPPUNIT_ASSERT_MESSAGE(g.toStyledString(), g.isMember("result"));
        const std::string id = g["result"]["media"].asString();
        const auto put = http_request("PUT", g["result"]["upload_url"].asString(), {"Content-Type: image/jpeg"}, photo);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(put.body, 200L, put.status);
        Json::Value checked;
        std::string why;
        CPPUNIT_ASSERT(json::parse(put.body, checked, why));
        CPPUNIT_ASSERT_EQUAL(1200, checked["width"].asInt());
        CPPUNIT_ASSERT(checked["thumb"].asBool());

        const Json::Value ack = alice.send(conv, media_send("w-1", "image", id, "our street"));
        CPPUNIT_ASSERT_MESSAGE(ack.toStyledString(), ack.isMember("seq"));
        received r;
        Json::Value got;
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, msg_topic));
        CPPUNIT_ASSERT(json::parse(r.payload, got, why));
        CPPUNIT_ASSERT_EQUAL(id, got["media"]["id"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("image/jpeg"), got["media"]["mime"].asString());
        CPPUNIT_ASSERT_EQUAL(800, got["media"]["height"].asInt());

        // Bob fetches the thumbnail and the photo with the URLs media.url signs.
        const Json::Value u = bob.call("media.url", params({{"media", id}}));
        CPPUNIT_ASSERT_MESSAGE(u.toStyledString(), u.isMember("result"));
        const auto thumb = http_get(u["result"]["media"][0]["thumb_url"].asString());
        CPPUNIT_ASSERT_EQUAL(200L, thumb.status);
        CPPUNIT_ASSERT(thumb.body.size() > 100 && thumb.body.size() < photo.size());
        CPPUNIT_ASSERT_EQUAL(std::string("\xff\xd8\xff"), thumb.body.substr(0, 3)); // a JPEG
        const auto full = http_get(u["result"]["media"][0]["url"].asString());
        CPPUNIT_ASSERT_EQUAL(200L, full.status);
        CPPUNIT_ASSERT_EQUAL(got["media"]["size"].asInt64(), static_cast<std::int64_t>(full.body.size()));
        // Carol, not a member, gets no URL; a forged one is refused by the service.
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(carol.call("media.url", params({{"media", id}}))));
        std::string forged = u["result"]["media"][0]["url"].asString();
        forged.back() = forged.back() == '0' ? '1' : '0';
        CPPUNIT_ASSERT_EQUAL(403L, http_get(forged).status);

        // A file the service refuses (text that says it is a PNG) cannot be sent.
        const std::string fake = "this is not a picture at all\n";
        const Json::Value g2 = grant(alice, conv, "cat.png", "image/png", static_cast<std::int64_t>(fake.size()));
        const auto refused = http_request("PUT", g2["result"]["upload_url"].asString(), {}, fake);
        CPPUNIT_ASSERT_MESSAGE(refused.body, refused.status >= 400 && refused.status < 500);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(alice.send(conv, media_send("w-2", "image", g2["result"]["media"].asString()))));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM messages WHERE client_id = 'w-2'"));

        // Deleted: the sweeper takes the row and its bytes; the old URL answers 404.
        const std::string sha = [&] {
            pg::connection db(shared().stack.conninfo());
            return db.exec("SELECT sha256 FROM media WHERE id = $1", {id}).str(0, 0);
        }();
        const std::string blob = shared().media.data_dir() + "/blobs/" + sha.substr(0, 2) + "/" + sha;
        CPPUNIT_ASSERT(std::filesystem::exists(blob));
        Json::Value del(Json::objectValue);
        del["id"] = "w-1-del";
        del["type"] = "delete";
        del["ref"] = ack["seq"];
        CPPUNIT_ASSERT(alice.send(conv, del).isMember("seq"));
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (std::filesystem::exists(blob) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_MESSAGE(shared().media.log(), !std::filesystem::exists(blob));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM media WHERE id = $1", {id}));
        CPPUNIT_ASSERT_EQUAL(404L, http_get(u["result"]["media"][0]["url"].asString()).status);
    }

    void admin_status_sees_the_media_service() {
        const std::string ci = shared().stack.conninfo();
        const std::string endpoint = "127.0.0.1:" + std::to_string(shared().media.metrics_port());
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, admin(ci, {"status", "--media", endpoint}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find(endpoint + "/readyz: database answers; storage ") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find(" writable") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("1 media service running, ") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find(" stored (") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("uploads refused in the last day") != std::string::npos);
        // Stopped: its endpoint is a FAIL (exit 1), and the database no longer sees it.
        shared().media.stop();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, admin(ci, {"status", "--media", endpoint}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find(": no answer") != std::string::npos);
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (out.find("no media service is connected") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(200ms);
            admin(ci, {"status"}, out);
        }
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no media service is connected to the database") != std::string::npos);
        shared().media.start();
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(media_requests_test);
