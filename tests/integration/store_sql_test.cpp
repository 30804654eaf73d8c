// The store path's SQL functions against a real PostgreSQL, called the way
// the bridge calls them (bridge/ingest/pg_message_store.cpp): what
// mqchat_store_batch answers for each message of a batch and what it leaves
// in the tables, and whom mqchat_queue_push queues pushes for. The end-to-end
// suites (chat_flow_test, push_test, media_requests_test) check the same
// through MQTT; here each edge of the functions is hit on purpose — a resend
// inside one batch, a resend refused for another reason (a member who left,
// an upload already tied), seqs staying gapless across refusals — and the
// plans the functions keep for the session are exercised past PostgreSQL's
// switch to a generic plan (the sixth call), where a plan made on small
// tables once scanned every partition.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <memory>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;

namespace {

struct fixture {
    temp_dir dir{"store-sql"};
    pg_cluster db{dir};
    std::int64_t conv = 0;  ///< alice, bob, carol
    std::int64_t other = 0; ///< alice, bob
    fixture() {
        admin_ok(db.conninfo(), {"migrate"});
        for (const char* u : {"alice", "bob", "carol", "dave"}) add_user(db.conninfo(), u, std::string("pw-") + u);
        conv = create_conv(db.conninfo(), {"alice", "bob", "carol"}, "store");
        other = create_conv(db.conninfo(), {"alice", "bob"}, "other");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

/// One element of a batch as the bridge writes it.
Json::Value send(std::int64_t conv, const std::string& sender, const std::string& id, const std::string& body = "hi") {
    Json::Value m(Json::objectValue);
    m["conv"] = Json::Int64(conv);
    m["sender"] = sender;
    m["id"] = id;
    m["body"] = body;
    return m;
}

/// An edit, delete or reaction of message `ref`.
Json::Value event(std::int64_t conv, const std::string& sender, const std::string& id, const std::string& body,
                  const std::string& type, std::int64_t ref) {
    Json::Value m = send(conv, sender, id, body);
    m["type"] = type;
    m["ref"] = Json::Int64(ref);
    return m;
}

struct outcome {
    std::string status;
    std::int64_t seq = 0, ts = 0;
};

/// One call of mqchat_store_batch, as one statement (its implicit
/// transaction is the batch's), one outcome per element.
std::vector<outcome> store_once(pg::connection& c, const std::vector<Json::Value>& batch) {
    Json::Value arr(Json::arrayValue);
    for (const auto& m : batch) arr.append(m);
    const pg::result r = c.exec("SELECT idx, status, seq, ts FROM mqchat_store_batch($1::jsonb)", {json::write(arr)});
    std::vector<outcome> out(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
        auto& o = out.at(static_cast<std::size_t>(r.int64(i, 0)));
        o.status = r.str(i, 1);
        o.seq = r.is_null(i, 2) ? 0 : r.int64(i, 2);
        o.ts = r.is_null(i, 3) ? 0 : r.int64(i, 3);
    }
    return out;
}

/// As the bridge stores a batch (bridge/ingest/pg_message_store.cpp): when
/// the function fails on a resend among its plain messages (unique_violation,
/// 23505), each message again, alone, in order.
std::vector<outcome> store(pg::connection& c, const std::vector<Json::Value>& batch) {
    try {
        return store_once(c, batch);
    } catch (const pg::sql_error& e) {
        if (e.sqlstate != "23505" || batch.size() < 2) throw;
    }
    std::vector<outcome> out;
    for (const auto& m : batch) out.push_back(store_once(c, {m}).at(0));
    return out;
}

std::int64_t scalar(const std::string& sql, const pg::params& args = {}) {
    pg::connection c(shared().db.conninfo());
    const pg::result r = c.exec(sql, args);
    return r.is_null(0, 0) ? -1 : r.int64(0, 0);
}

std::int64_t last_seq(std::int64_t conv) {
    return scalar("SELECT last_seq FROM conversations WHERE id = $1", {std::to_string(conv)});
}

/// A ready upload of `user`'s for `conv`, as the media service leaves it.
std::string ready_upload(const std::string& user, std::int64_t conv, const std::string& id) {
    pg::connection c(shared().db.conninfo());
    c.exec("INSERT INTO media (id, uploader_id, conv_id, status, declared_name, declared_type, declared_size, "
           "max_bytes, allowed_types, upload_expires_at, mime, size, sha256) "
           "SELECT $1, u.id, $2, 'ready', 'photo.jpg', 'image/jpeg', 100, 1000, '{image/jpeg}', now() + interval '1 hour', "
           "'image/jpeg', 100, repeat('a', 64) FROM users u WHERE u.name = $3",
           {id, std::to_string(conv), user});
    return id;
}

class store_sql_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(store_sql_test);
    CPPUNIT_TEST(a_resend_in_the_same_batch_is_a_duplicate_of_the_first);
    CPPUNIT_TEST(a_resend_in_a_later_batch_gets_the_original_seq);
    CPPUNIT_TEST(seqs_stay_gapless_across_refusals);
    CPPUNIT_TEST(a_batch_across_conversations_counts_each_one);
    CPPUNIT_TEST(a_resend_among_plain_messages_stores_nothing_of_the_batch_and_fails_on_the_key);
    CPPUNIT_TEST(a_message_naming_a_plain_one_of_its_batch_finds_it);
    CPPUNIT_TEST(a_member_who_left_gets_duplicate_for_a_resend_and_not_member_for_a_new_message);
    CPPUNIT_TEST(a_resent_attachment_is_a_duplicate_and_its_upload_stays_with_the_original);
    CPPUNIT_TEST(a_reused_id_with_another_upload_leaves_that_upload_free);
    CPPUNIT_TEST(a_guest_writing_twice_in_one_batch_is_created_once);
    CPPUNIT_TEST(pushes_are_queued_for_offline_members_with_devices_only);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_resend_in_the_same_batch_is_a_duplicate_of_the_first() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const std::int64_t before = last_seq(f.conv);
        const auto out = store(c, {send(f.conv, "alice", "same-1"), send(f.conv, "alice", "same-1"),
                                   send(f.conv, "bob", "same-1")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), out[1].status);
        CPPUNIT_ASSERT_EQUAL(out[0].seq, out[1].seq);
        CPPUNIT_ASSERT_EQUAL(out[0].ts, out[1].ts);
        // The id is the sender's: bob's same id is a message of its own.
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[2].status);
        CPPUNIT_ASSERT_EQUAL(out[0].seq + 1, out[2].seq);
        CPPUNIT_ASSERT_EQUAL(before + 2, last_seq(f.conv));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), scalar("SELECT count(*) FROM messages WHERE conv_id = $1 AND client_id = 'same-1'",
                                                     {std::to_string(f.conv)}));
    }

    void a_resend_in_a_later_batch_gets_the_original_seq() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const auto first = store(c, {send(f.conv, "carol", "later-1", "original")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), first[0].status);
        // Past the sixth call, where PostgreSQL may switch the function's statements to generic plans.
        for (int round = 0; round < 8; ++round) {
            const auto again = store(c, {send(f.conv, "carol", "later-1", "changed text")});
            CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), again[0].status);
            CPPUNIT_ASSERT_EQUAL(first[0].seq, again[0].seq);
            CPPUNIT_ASSERT_EQUAL(first[0].ts, again[0].ts);
        }
        CPPUNIT_ASSERT_EQUAL(first[0].seq, last_seq(f.conv));
        pg::connection check(f.db.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::string("original"),
                             check.exec("SELECT body FROM messages WHERE conv_id = $1 AND seq = $2",
                                        {std::to_string(f.conv), std::to_string(first[0].seq)})
                                 .str(0, 0));
    }

    void a_batch_across_conversations_counts_each_one() {
        // One conversation per batch and several take different statements
        // (a plain update by key, an update of the batch's keys); past the
        // sixth call PL/pgSQL runs its generic plans, so ten rounds.
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const std::int64_t a0 = last_seq(f.conv), b0 = last_seq(f.other);
        std::int64_t a = a0, b = b0;
        for (int round = 0; round < 10; ++round) {
            const std::string r = std::to_string(round);
            // Interleaved on purpose: the function takes any order.
            const auto both = store(c, {send(f.conv, "alice", "x-a1-" + r), send(f.other, "alice", "x-b1-" + r),
                                        send(f.conv, "alice", "x-a2-" + r), send(f.other, "bob", "x-b2-" + r),
                                        send(f.other, "alice", "x-b3-" + r)});
            CPPUNIT_ASSERT_EQUAL(a + 1, both[0].seq);
            CPPUNIT_ASSERT_EQUAL(b + 1, both[1].seq);
            CPPUNIT_ASSERT_EQUAL(a + 2, both[2].seq);
            CPPUNIT_ASSERT_EQUAL(b + 2, both[3].seq);
            CPPUNIT_ASSERT_EQUAL(b + 3, both[4].seq);
            a += 2;
            b += 3;
            CPPUNIT_ASSERT_EQUAL(a, last_seq(f.conv));
            CPPUNIT_ASSERT_EQUAL(b, last_seq(f.other));
            const auto one = store(c, {send(f.other, "bob", "x-b4-" + r)});
            CPPUNIT_ASSERT_EQUAL(std::string("stored"), one[0].status);
            CPPUNIT_ASSERT_EQUAL(++b, one[0].seq);
            CPPUNIT_ASSERT_EQUAL(b, last_seq(f.other));
            CPPUNIT_ASSERT_EQUAL(a, last_seq(f.conv)); // untouched
        }
        CPPUNIT_ASSERT_EQUAL(a0 + 20, a);
        CPPUNIT_ASSERT_EQUAL(b0 + 40, b);
        for (const auto& [conv, top] : {std::pair{f.conv, a}, std::pair{f.other, b}})
            CPPUNIT_ASSERT_EQUAL(top, scalar("SELECT count(*) FROM messages WHERE conv_id = $1", {std::to_string(conv)}) +
                                          scalar("SELECT min(seq) FROM messages WHERE conv_id = $1", {std::to_string(conv)}) - 1);
    }

    /// Plain messages of a batch go in with one INSERT; a resend among them
    /// would leave a gap, so the whole call fails on the unique key (23505)
    /// and stores nothing — a batch of one never does.
    void a_resend_among_plain_messages_stores_nothing_of_the_batch_and_fails_on_the_key() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), store_once(c, {send(f.conv, "alice", "mq-1")})[0].status);
        const std::int64_t before = last_seq(f.conv);
        for (const auto& batch : {std::vector<Json::Value>{send(f.conv, "bob", "mq-2"), send(f.conv, "alice", "mq-1")},
                                  std::vector<Json::Value>{send(f.conv, "bob", "mq-3"), send(f.conv, "bob", "mq-3")}}) {
            std::string state;
            try {
                store_once(c, batch);
            } catch (const pg::sql_error& e) {
                state = e.sqlstate;
            }
            CPPUNIT_ASSERT_EQUAL(std::string("23505"), state);
            CPPUNIT_ASSERT_EQUAL(before, last_seq(f.conv));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), scalar("SELECT count(*) FROM messages WHERE client_id IN ('mq-2', 'mq-3')"));
        }
        const auto alone = store_once(c, {send(f.conv, "alice", "mq-1")});
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), alone[0].status);
        // Stored one at a time, as the bridge does then: gapless.
        const auto split = store(c, {send(f.conv, "bob", "mq-2"), send(f.conv, "alice", "mq-1"), send(f.conv, "bob", "mq-4")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), split[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), split[1].status);
        CPPUNIT_ASSERT_EQUAL(alone[0].seq, split[1].seq);
        CPPUNIT_ASSERT_EQUAL(before + 1, split[0].seq);
        CPPUNIT_ASSERT_EQUAL(before + 2, split[2].seq);
        CPPUNIT_ASSERT_EQUAL(before + 2, last_seq(f.conv));
    }

    /// An edit, a reaction or a mention after plain messages of its batch
    /// (which wait for one INSERT) finds them stored; a refused message whose
    /// original is one of them is its duplicate.
    void a_message_naming_a_plain_one_of_its_batch_finds_it() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const std::int64_t before = last_seq(f.conv);
        const Json::Value edit = event(f.conv, "alice", "nm-edit", "first, edited", "edit", before + 1);
        const Json::Value react = event(f.conv, "bob", "nm-react", "+1", "reaction", before + 2);
        Json::Value again_e2e = send(f.conv, "alice", "nm-1", "");
        again_e2e["type"] = "e2e"; // refused in a plain conversation (wrong_encryption), but it is a resend
        // The resend comes while its original still waits for the INSERT.
        const auto out = store_once(c, {send(f.conv, "alice", "nm-1", "first"), again_e2e, send(f.conv, "bob", "nm-2", "second"),
                                        edit, react, send(f.conv, "alice", "nm-3", "third"),
                                        send(f.conv, "bob", "nm-4", "@alice look")});
        CPPUNIT_ASSERT_EQUAL(std::size_t(7), out.size());
        const char* expected[] = {"stored", "duplicate", "stored", "stored", "stored", "stored", "stored"};
        for (std::size_t i = 0; i < out.size(); ++i) CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(i), std::string(expected[i]), out[i].status);
        CPPUNIT_ASSERT_EQUAL(out[0].seq, out[1].seq);
        CPPUNIT_ASSERT_EQUAL(out[0].ts, out[1].ts);
        CPPUNIT_ASSERT_EQUAL(before + 1, out[0].seq);
        for (std::size_t i : {2, 3, 4, 5, 6}) CPPUNIT_ASSERT_EQUAL(before + static_cast<std::int64_t>(i), out[i].seq);
        CPPUNIT_ASSERT_EQUAL(before + 6, last_seq(f.conv));
        const std::string conv = std::to_string(f.conv);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM messages WHERE conv_id = $1 AND seq = $2 AND"
                                                     " body = 'first, edited' AND edited_at IS NOT NULL",
                                                     {conv, std::to_string(before + 1)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM reactions WHERE conv_id = $1 AND seq = $2",
                                                     {conv, std::to_string(before + 2)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM mentions WHERE conv_id = $1 AND seq = $2",
                                                     {conv, std::to_string(before + 6)}));
        // Searchable like any message.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM messages WHERE conv_id = $1 AND"
                                                     " search @@ plainto_tsquery('simple', 'third')",
                                                     {conv}));
    }

    void seqs_stay_gapless_across_refusals() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const std::int64_t before = last_seq(f.conv);
        const Json::Value bad_ref = event(f.conv, "alice", "gap-ref", "+1", "reaction", 999999);
        const auto out = store(c, {send(f.conv, "alice", "gap-1"), bad_ref, send(f.conv, "dave", "gap-x"),
                                   send(f.conv, "alice", "gap-1"), send(f.conv + 1000, "alice", "gap-y"),
                                   send(f.conv, "alice", "gap-2")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("bad_ref"), out[1].status);
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), out[2].status);
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), out[3].status);
        CPPUNIT_ASSERT_EQUAL(std::string("no_conversation"), out[4].status);
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[5].status);
        CPPUNIT_ASSERT_EQUAL(before + 1, out[0].seq);
        CPPUNIT_ASSERT_EQUAL(before + 2, out[5].seq);
        CPPUNIT_ASSERT_EQUAL(before + 2, last_seq(f.conv));
        CPPUNIT_ASSERT_EQUAL(before + 2, scalar("SELECT max(seq) FROM messages WHERE conv_id = $1", {std::to_string(f.conv)}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), scalar("SELECT count(*) FROM messages WHERE client_id IN ('gap-ref', 'gap-x', 'gap-y')"));
    }

    void a_member_who_left_gets_duplicate_for_a_resend_and_not_member_for_a_new_message() {
        auto& f = shared();
        const std::int64_t conv = create_conv(f.db.conninfo(), {"alice", "bob", "carol"}, "leaving");
        pg::connection c(f.db.conninfo());
        const auto first = store(c, {send(conv, "bob", "left-1")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), first[0].status);
        c.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = (SELECT id FROM users WHERE name = 'bob')",
               {std::to_string(conv)});
        const auto out = store(c, {send(conv, "bob", "left-1"), send(conv, "bob", "left-2")});
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), out[0].status);
        CPPUNIT_ASSERT_EQUAL(first[0].seq, out[0].seq);
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), out[1].status);
        CPPUNIT_ASSERT_EQUAL(first[0].seq, last_seq(conv));
    }

    void a_resent_attachment_is_a_duplicate_and_its_upload_stays_with_the_original() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const std::string upload = ready_upload("alice", f.other, std::string(31, 'a') + "1");
        Json::Value m = send(f.other, "alice", "photo-1", "look");
        m["media"] = upload;
        const auto first = store(c, {m});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), first[0].status);
        const auto again = store(c, {m, m});
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), again[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), again[1].status);
        CPPUNIT_ASSERT_EQUAL(first[0].seq, again[0].seq);
        CPPUNIT_ASSERT_EQUAL(first[0].seq, scalar("SELECT seq FROM media WHERE id = $1", {upload}));
        CPPUNIT_ASSERT_EQUAL(first[0].seq, last_seq(f.other));
    }

    void a_reused_id_with_another_upload_leaves_that_upload_free() {
        auto& f = shared();
        pg::connection c(f.db.conninfo());
        const auto first = store(c, {send(f.other, "bob", "reuse-1", "text first")});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), first[0].status);
        // A client bug: the same id again, now naming a fresh upload. The
        // message is the stored one; the upload must stay free for its own message.
        const std::string upload = ready_upload("bob", f.other, std::string(31, 'b') + "2");
        Json::Value m = send(f.other, "bob", "reuse-1", "with photo");
        m["media"] = upload;
        const auto again = store(c, {m});
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), again[0].status);
        CPPUNIT_ASSERT_EQUAL(first[0].seq, again[0].seq);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(-1), scalar("SELECT seq FROM media WHERE id = $1", {upload}));
        m["id"] = "reuse-2";
        const auto own = store(c, {m});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), own[0].status);
        CPPUNIT_ASSERT_EQUAL(first[0].seq + 1, own[0].seq);
        CPPUNIT_ASSERT_EQUAL(own[0].seq, scalar("SELECT seq FROM media WHERE id = $1", {upload}));
    }

    void a_guest_writing_twice_in_one_batch_is_created_once() {
        auto& f = shared();
        const std::int64_t conv = create_conv(f.db.conninfo(), {"alice"}, "guest");
        pg::connection c(f.db.conninfo());
        Json::Value g1 = send(conv, "guest-visitor-1", "g-1", "hello");
        g1["guest"] = true;
        Json::Value g2 = g1;
        g2["id"] = "g-2";
        const auto out = store(c, {g1, g2, g1});
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), out[1].status);
        CPPUNIT_ASSERT_EQUAL(std::string("duplicate"), out[2].status);
        CPPUNIT_ASSERT_EQUAL(out[0].seq, out[2].seq);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM users WHERE name = 'guest-visitor-1' AND role = 'guest'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), scalar("SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id "
                                                     "WHERE m.conv_id = $1 AND u.name = 'guest-visitor-1'",
                                                     {std::to_string(conv)}));
        // Without "guest" an unknown sender is nobody.
        const auto stranger = store(c, {send(conv, "guest-visitor-2", "s-1")});
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), stranger[0].status);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), scalar("SELECT count(*) FROM users WHERE name = 'guest-visitor-2'"));
    }

    void pushes_are_queued_for_offline_members_with_devices_only() {
        auto& f = shared();
        const std::int64_t conv = create_conv(f.db.conninfo(), {"alice", "bob", "carol", "dave"}, "pushes");
        pg::connection c(f.db.conninfo());
        const auto queue = [&](const std::vector<outcome>& stored) {
            Json::Value arr(Json::arrayValue);
            for (const auto& o : stored) {
                Json::Value v(Json::objectValue);
                v["conv"] = Json::Int64(conv);
                v["seq"] = Json::Int64(o.seq);
                arr.append(v);
            }
            return c.exec("SELECT mqchat_queue_push($1::jsonb)", {json::write(arr)}).int64(0, 0);
        };
        // Nobody has a device: nothing, however often (generic plans included).
        for (int round = 0; round < 8; ++round)
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), queue(store(c, {send(conv, "alice", "p0-" + std::to_string(round))})));
        // bob: a device, offline, every message; carol: a device, online;
        // dave: a device, offline, the group's default (mentions only).
        c.exec("INSERT INTO push_devices (user_id, platform, token, app_id) SELECT id, 'fcm', 'tok-' || name, 'app' "
               "FROM users WHERE name IN ('bob', 'carol', 'dave')");
        c.exec("INSERT INTO presence (user_id, state, devices, last_seen) SELECT id, 'online', 1, 0 FROM users WHERE name = 'carol' "
               "ON CONFLICT (user_id) DO UPDATE SET devices = 1");
        c.exec("UPDATE members SET notify = 'all' WHERE conv_id = $1 AND user_id = (SELECT id FROM users WHERE name = 'bob')",
               {std::to_string(conv)});
        const auto plain = store(c, {send(conv, "alice", "p1", "plain"), send(conv, "alice", "p2", "hey @dave")});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), queue(plain)); // bob twice, dave for the mention
        const auto rows = c.exec("SELECT u.name, q.seq, q.payload ->> 'body' FROM push_queue q "
                                 "JOIN push_devices d ON d.id = q.device_id JOIN users u ON u.id = d.user_id "
                                 "WHERE q.conv_id = $1 ORDER BY q.seq, u.name",
                                 {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(3, rows.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), rows.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("plain"), rows.str(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), rows.str(1, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("dave"), rows.str(2, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("hey @dave"), rows.str(2, 2));
        // Queued once however often a message is handed over.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), queue(plain));
        // The sender gets none, even offline with a device.
        c.exec("INSERT INTO push_devices (user_id, platform, token, app_id) SELECT id, 'fcm', 'tok-alice', 'app' FROM users WHERE name = 'alice'");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), queue(store(c, {send(conv, "alice", "p3", "again")}))); // bob only
        c.exec("DELETE FROM push_devices WHERE token LIKE 'tok-%'");
        c.exec("DELETE FROM presence WHERE user_id = (SELECT id FROM users WHERE name = 'carol')");
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(store_sql_test);

} // namespace
