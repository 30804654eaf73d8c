// Requests over MQTT against the real stack: conversations (create, list,
// members, leave, rename), history pages and sync, replies matched by MQTT 5
// correlation data or by the 3.1.1 `corr` field, and the access rules: a
// non-member learns nothing, replies go only to the caller's own inbox.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <mqtt_protocol.h>

#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = MQTT_RC_NOT_AUTHORIZED;

struct fixture {
    chat_stack stack{"requests"};
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave", "erin"}) stack.add_user(u, std::string("pw-") + u);
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}


/// rpc_caller (tests/support) logged in as one of the fixture's users.
struct caller : rpc_caller {
    explicit caller(const std::string& user, int protocol = 5)
        : rpc_caller(shared().stack.port(), user, "pw-" + user, protocol) {}
};

Json::Value names(std::initializer_list<const char*> list) {
    Json::Value v(Json::arrayValue);
    for (const char* n : list) v.append(n);
    return v;
}

/// Sends n messages to conv and waits for their acks.
void send_n(caller& c, std::int64_t conv, int n, const std::string& prefix) {
    std::vector<outgoing> out;
    for (int i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), prefix + " body " + std::to_string(i)});
    chat_sender s(*c.client, c.name, conv);
    if (!s.send_all(out, 20, 5s, 60s)) throw std::runtime_error("sends were not acked");
}

} // namespace

class requests_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(requests_test);
    CPPUNIT_TEST(direct_conversation_is_created_once_per_pair);
    CPPUNIT_TEST(group_admin_manages_members_and_members_hear_of_it);
    CPPUNIT_TEST(conversation_list_has_last_message_unread_and_order);
    CPPUNIT_TEST(history_pages_return_every_message_once_while_new_ones_arrive);
    CPPUNIT_TEST(sync_returns_everything_after_the_cursors_in_pages);
    CPPUNIT_TEST(receipts_are_stamped_stored_and_drive_unread);
    CPPUNIT_TEST(search_finds_ranked_highlighted_matches_in_my_conversations);
    CPPUNIT_TEST(search_entries_are_merged_into_the_index_in_the_background);
    CPPUNIT_TEST(replies_mentions_edits_deletes_and_reactions);
    CPPUNIT_TEST(non_members_learn_nothing);
    CPPUNIT_TEST(replies_go_only_to_the_callers_inbox);
    CPPUNIT_TEST(mqtt311_request_is_matched_by_corr);
    CPPUNIT_TEST(bad_requests_get_clear_errors);
    CPPUNIT_TEST_SUITE_END();

public:
    void direct_conversation_is_created_once_per_pair() {
        caller alice("alice"), bob("bob");
        const Json::Value first = alice.call("conv.create", params({{"members", names({"bob"})}}));
        CPPUNIT_ASSERT_MESSAGE(first.toStyledString(), first.isMember("result"));
        const std::int64_t conv = first["result"]["conv"].asInt64();
        CPPUNIT_ASSERT_EQUAL(std::string("direct"), first["result"]["kind"].asString());
        CPPUNIT_ASSERT(first["result"]["created"].asBool());
        // Bob hears of it and can use it at once.
        const Json::Value added = bob.notice("added");
        CPPUNIT_ASSERT_EQUAL(conv, added["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), added["by"].asString());
        // From either side, the same conversation again.
        const Json::Value again = bob.call("conv.create", params({{"members", names({"alice"})}}));
        CPPUNIT_ASSERT_EQUAL(conv, again["result"]["conv"].asInt64());
        CPPUNIT_ASSERT(!again["result"]["created"].asBool());
        CPPUNIT_ASSERT_EQUAL(1, bob.client->subscribe("chat/conv/" + std::to_string(conv) + "/msg"));
        send_n(alice, conv, 1, "direct-");
        received r;
        CPPUNIT_ASSERT(bob.client->wait_message(r, 10s, "chat/conv/" + std::to_string(conv) + "/msg"));
    }

    void group_admin_manages_members_and_members_hear_of_it() {
        caller alice("alice"), bob("bob"), carol("carol"), dave("dave");
        const Json::Value g = alice.call("conv.create", params({{"members", names({"bob", "carol"})}, {"title", "team"}}));
        const std::int64_t conv = g["result"]["conv"].asInt64();
        CPPUNIT_ASSERT_EQUAL(std::string("group"), g["result"]["kind"].asString());
        CPPUNIT_ASSERT_EQUAL(conv, carol.notice("added")["conv"].asInt64());
        // Only an admin adds, removes and renames.
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"),
                             code_of(bob.call("conv.add_member", params({{"conv", conv}, {"user", "dave"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"),
                             code_of(bob.call("conv.rename", params({{"conv", conv}, {"title", "mine"}}))));
        const Json::Value add = alice.call("conv.add_member", params({{"conv", conv}, {"user", "dave"}}));
        CPPUNIT_ASSERT(add["result"]["added"].asBool());
        CPPUNIT_ASSERT_EQUAL(conv, dave.notice("added")["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(alice.call("conv.add_member", params({{"conv", conv}, {"user", "nobody"}}))));
        const Json::Value rem = alice.call("conv.remove_member", params({{"conv", conv}, {"user", "carol"}}));
        CPPUNIT_ASSERT(rem["result"]["removed"].asBool());
        CPPUNIT_ASSERT_EQUAL(conv, carol.notice("removed")["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(carol.call("history", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(alice.call("conv.rename", params({{"conv", conv}, {"title", "the team"}}))["result"].isObject());
        // The members, by name, with their roles: carol is gone, dave came; pages of one follow each other.
        const Json::Value members = bob.call("conv.members", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(members.toStyledString(), 3u, members["result"]["members"].size());
        const char* const expected[][2] = {{"alice", "admin"}, {"bob", "member"}, {"dave", "member"}};
        for (Json::ArrayIndex i = 0; i < 3; ++i) {
            CPPUNIT_ASSERT_EQUAL(std::string(expected[i][0]), members["result"]["members"][i]["user"].asString());
            CPPUNIT_ASSERT_EQUAL(std::string(expected[i][1]), members["result"]["members"][i]["role"].asString());
            CPPUNIT_ASSERT(members["result"]["members"][i]["joined"].asInt64() > 1700000000000);
        }
        CPPUNIT_ASSERT(!members["result"]["more"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("group"), members["result"]["kind"].asString());
        CPPUNIT_ASSERT(!members["result"].isMember("encrypted"));
        std::string after;
        std::vector<std::string> paged;
        for (int page = 0; page < 5; ++page) {
            Json::Value p = params({{"conv", conv}, {"limit", 1}});
            if (!after.empty()) p["after"] = after;
            const Json::Value r = dave.call("conv.members", p)["result"];
            CPPUNIT_ASSERT_EQUAL(1u, r["members"].size());
            after = r["members"][0]["user"].asString();
            paged.push_back(after);
            if (!r["more"].asBool()) break;
        }
        CPPUNIT_ASSERT_EQUAL(std::string("alice bob dave"), paged[0] + " " + paged.at(1) + " " + paged.at(2));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), paged.size());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(carol.call("conv.members", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(bob.call("conv.members", params({{"conv", conv}, {"after", "x' OR '1'='1"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(bob.call("conv.members", params({{"conv", conv}, {"limit", 501}}))));
        // The admin leaves: the longest-standing member becomes admin.
        CPPUNIT_ASSERT(alice.call("conv.leave", params({{"conv", conv}}))["result"]["left"].asBool());
        const Json::Value list = bob.call("conv.list");
        bool found = false;
        for (const auto& c : list["result"]["conversations"])
            if (c["conv"].asInt64() == conv) {
                found = true;
                CPPUNIT_ASSERT_EQUAL(std::string("admin"), c["role"].asString());
                CPPUNIT_ASSERT_EQUAL(std::string("the team"), c["title"].asString());
            }
        CPPUNIT_ASSERT(found);
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), db.exec("SELECT count(*) FROM members WHERE conv_id = $1",
                                                      {std::to_string(conv)}).int64(0, 0));
    }

    void conversation_list_has_last_message_unread_and_order() {
        caller erin("erin"), bob("bob"), carol("carol");
        const std::int64_t older = erin.call("conv.create", params({{"members", names({"bob"})}}))["result"]["conv"].asInt64();
        const std::int64_t newer =
            erin.call("conv.create", params({{"members", names({"carol"})}}))["result"]["conv"].asInt64();
        send_n(bob, older, 3, "to-erin-");
        std::this_thread::sleep_for(5ms);
        send_n(carol, newer, 2, "carol-");
        send_n(erin, newer, 1, "erin-own-");
        const Json::Value list = erin.call("conv.list");
        const Json::Value& convs = list["result"]["conversations"];
        CPPUNIT_ASSERT(convs.size() >= 2);
        CPPUNIT_ASSERT_EQUAL(newer, convs[0]["conv"].asInt64()); // latest activity first
        CPPUNIT_ASSERT_EQUAL(older, convs[1]["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), convs[0]["unread"].asInt64()); // her own message is not unread
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), convs[1]["unread"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("erin"), convs[0]["last_message"]["sender"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("carol"), convs[0]["with"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), convs[0]["last_seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), convs[0]["read_seq"].asInt64());
    }

    void history_pages_return_every_message_once_while_new_ones_arrive() {
        caller alice("alice"), bob("bob");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "long"}}))["result"]["conv"].asInt64();
        send_n(alice, conv, 230, "h-");
        // Scroll up from the newest in pages of 50 while bob keeps writing.
        std::set<std::int64_t> seen;
        std::int64_t before = 0;
        std::thread writer([&] { send_n(bob, conv, 40, "during-"); });
        Json::Value page = alice.call("history", params({{"conv", conv}, {"limit", 50}}));
        before = page["result"]["messages"][0]["seq"].asInt64();
        for (const auto& m : page["result"]["messages"]) CPPUNIT_ASSERT(seen.insert(m["seq"].asInt64()).second);
        while (page["result"]["more"].asBool()) {
            page = alice.call("history", params({{"conv", conv}, {"before", before}, {"limit", 50}}));
            const Json::Value& ms = page["result"]["messages"];
            CPPUNIT_ASSERT(ms.size() > 0);
            for (Json::ArrayIndex i = 0; i < ms.size(); ++i) {
                CPPUNIT_ASSERT(seen.insert(ms[i]["seq"].asInt64()).second); // never twice
                if (i > 0) CPPUNIT_ASSERT_EQUAL(ms[i - 1]["seq"].asInt64() + 1, ms[i]["seq"].asInt64());
            }
            before = ms[0]["seq"].asInt64();
        }
        writer.join();
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), *seen.begin());
        // Forward from where the first page began: the rest, including what arrived meanwhile.
        std::int64_t after = *seen.rbegin();
        bool more = true;
        while (more) {
            page = alice.call("history", params({{"conv", conv}, {"after", after}, {"limit", 100}}));
            for (const auto& m : page["result"]["messages"]) {
                CPPUNIT_ASSERT(seen.insert(m["seq"].asInt64()).second);
                after = m["seq"].asInt64();
            }
            more = page["result"]["more"].asBool();
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(270), seen.size());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(270), *seen.rbegin());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(alice.call("history", params({{"conv", conv}, {"limit", 1000}}))));
    }

    void sync_returns_everything_after_the_cursors_in_pages() {
        caller dave("dave"), erin("erin");
        const std::int64_t a = dave.call("conv.create", params({{"members", names({"erin"})}}))["result"]["conv"].asInt64();
        const std::int64_t b =
            dave.call("conv.create", params({{"members", names({"erin"})}, {"title", "second"}}))["result"]["conv"].asInt64();
        send_n(erin, a, 30, "sa-");
        send_n(erin, b, 25, "sb-");
        // Dave was away after seq 10 of a and knows all of b up to 5; pages of 20.
        Json::Value cursors(Json::objectValue);
        Json::Value list = dave.call("conv.list", params({{"limit", 200}}));
        for (const auto& c : list["result"]["conversations"]) cursors[std::to_string(c["conv"].asInt64())] = c["last_seq"];
        cursors[std::to_string(a)] = 10;
        cursors[std::to_string(b)] = 5;
        std::map<std::int64_t, std::vector<std::int64_t>> got;
        bool more = true;
        int pages = 0;
        while (more) {
            const Json::Value r = dave.call("sync", params({{"cursors", cursors}, {"limit", 20}}));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r.isMember("result"));
            for (const auto& m : r["result"]["messages"]) got[m["conv"].asInt64()].push_back(m["seq"].asInt64());
            cursors = r["result"]["cursors"];
            more = r["result"]["more"].asBool();
            ++pages;
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(20), got[a].size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(20), got[b].size());
        for (std::size_t i = 0; i < 20; ++i) {
            CPPUNIT_ASSERT_EQUAL(std::int64_t(11 + i), got[a][i]);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(6 + i), got[b][i]);
        }
        CPPUNIT_ASSERT_EQUAL(2, pages);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(30), cursors[std::to_string(a)].asInt64());
    }

    void receipts_are_stamped_stored_and_drive_unread() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "receipts"}}))["result"]["conv"].asInt64();
        const std::string receipts = "chat/conv/" + std::to_string(conv) + "/receipt";
        CPPUNIT_ASSERT_EQUAL(1, alice.client->subscribe(receipts));
        send_n(alice, conv, 10, "r-");
        auto unread_of_bob = [&] {
            const Json::Value list = bob.call("conv.list"); // kept: a range over a temporary's member dangles
            for (const auto& c : list["result"]["conversations"])
                if (c["conv"].asInt64() == conv) return c;
            return Json::Value();
        };
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), unread_of_bob()["unread"].asInt64());

        // A receipt naming a user is refused: only the plugin says who it is from.
        CPPUNIT_ASSERT_EQUAL(not_authorized, bob.client->publish(receipts, R"({"read":10,"user":"alice"})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, bob.client->publish(receipts, R"({"read":10,"\u0075ser":"alice"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        // Bob has 10 delivered and read 7.
        CPPUNIT_ASSERT_EQUAL(0, bob.client->publish(receipts, R"({"delivered":10,"read":7})"));
        received r;
        CPPUNIT_ASSERT(alice.client->wait_message(r, 10s, receipts));
        const Json::Value seen = json_of(r.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), seen["user"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7), seen["read"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), seen["delivered"].asInt64());
        Json::Value c;
        for (int i = 0; i < 50 && (c = unread_of_bob())["read_seq"].asInt64() != 7; ++i) std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7), c["read_seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), c["unread"].asInt64());

        // Cursors never go back, nor past the last message.
        CPPUNIT_ASSERT_EQUAL(0, bob.client->publish(receipts, R"({"read":2})"));
        CPPUNIT_ASSERT_EQUAL(0, bob.client->publish(receipts, R"({"read":999})"));
        for (int i = 0; i < 50 && (c = unread_of_bob())["read_seq"].asInt64() != 10; ++i) std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), c["read_seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), c["unread"].asInt64());
        pg::connection db(shared().stack.conninfo());
        const auto row = db.exec("SELECT read_seq, delivered_seq FROM members m JOIN users u ON u.id = m.user_id"
                                 " WHERE m.conv_id = $1 AND u.name = 'bob'",
                                 {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), row.int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(10), row.int64(0, 1));

        // Malformed receipts are refused with a reason; a non-member may not send one.
        CPPUNIT_ASSERT_EQUAL(not_authorized, bob.client->publish(receipts, R"({"read":-1})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, bob.client->publish(receipts, R"({"seen":3})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, bob.client->publish(receipts, "not json"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_json"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(not_authorized, carol.client->publish(receipts, R"({"read":1})"));
    }

    void search_finds_ranked_highlighted_matches_in_my_conversations() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::int64_t mine =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "zoo"}}))["result"]["conv"].asInt64();
        const std::int64_t theirs =
            carol.call("conv.create", params({{"members", names({"dave"})}, {"title", "not alice's"}}))["result"]["conv"].asInt64();
        auto say = [](caller& who, std::int64_t conv, const std::string& id, const std::string& body) {
            chat_sender s(*who.client, who.name, conv);
            if (!s.send_all({{id, body}}, 1, 5s, 30s)) throw std::runtime_error("not acked");
        };
        say(alice, mine, "z1", "the zebra and the quokka went to the river");
        say(bob, mine, "z2", "a zebra! zebra everywhere, zebra zebra");
        say(bob, mine, "z3", "the dogs are sleeping");
        say(carol, theirs, "z4", "secret zebra plans");

        const Json::Value r = alice.call("search", params({{"q", "zebra"}}));
        CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r.isMember("result"));
        const Json::Value& hits = r["result"]["hits"];
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(2), hits.size()); // carol's conversation is not searched
        CPPUNIT_ASSERT_EQUAL(std::string("z2"), hits[0]["message"]["id"].asString()); // more matches rank first
        CPPUNIT_ASSERT(hits[0]["rank"].asDouble() >= hits[1]["rank"].asDouble());
        CPPUNIT_ASSERT_MESSAGE(hits[1]["snippet"].asString(), hits[1]["snippet"].asString().find("«zebra»") != std::string::npos);
        // Filters: sender, conversation, dates; paging.
        const Json::Value by_bob = alice.call("search", params({{"q", "zebra"}, {"sender", "bob"}}));
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), by_bob["result"]["hits"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(alice.call("search", params({{"q", "zebra"}, {"conv", theirs}}))));
        const std::int64_t far_future = 4102444800000; // 2100-01-01
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(0),
                             alice.call("search", params({{"q", "zebra"}, {"from", far_future}}))["result"]["hits"].size());
        const Json::Value first = alice.call("search", params({{"q", "zebra"}, {"limit", 1}}));
        CPPUNIT_ASSERT(first["result"]["more"].asBool());
        const Json::Value second = alice.call("search", params({{"q", "zebra"}, {"limit", 1}, {"offset", 1}}));
        CPPUNIT_ASSERT_EQUAL(std::string("z1"), second["result"]["hits"][0]["message"]["id"].asString());
        CPPUNIT_ASSERT(!second["result"]["more"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(alice.call("search", params({{"q", ""}}))));

        // The language is the operator's choice: 'simple' does not stem, english does.
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(0), alice.call("search", params({{"q", "dog"}}))["result"]["hits"].size());
        admin_ok(shared().stack.conninfo(), {"search-language", "english"});
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), alice.call("search", params({{"q", "dog"}}))["result"]["hits"].size());
        // An upgrade re-applies every function (schema/functions/): the
        // language stays the operator's, for new messages too.
        admin_ok(shared().stack.conninfo(), {"migrate"});
        say(bob, mine, "z5", "the cats were running");
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), alice.call("search", params({{"q", "cat run"}}))["result"]["hits"].size());
        std::string out;
        CPPUNIT_ASSERT(admin(shared().stack.conninfo(), {"search-language", "klingon"}, out) != 0);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no text search configuration 'klingon'") != std::string::npos);
        admin_ok(shared().stack.conninfo(), {"search-language", "simple"});

        // Matches come from the GIN index of each partition (the planner uses it once a scan
        // is ruled out for this small table; docs/benchmarks.md has it on 10 million rows),
        // and within one conversation from one partition alone.
        pg::connection db(shared().stack.conninfo());
        db.exec("SET enable_seqscan = off");
        auto plan_of = [&](const std::string& sql) {
            const auto plan = db.exec("EXPLAIN " + sql);
            std::string text;
            for (int i = 0; i < plan.rows(); ++i) text += plan.str(i, 0) + "\n";
            return text;
        };
        std::string text = plan_of("SELECT * FROM messages WHERE search @@ websearch_to_tsquery('simple', 'zebra')");
        CPPUNIT_ASSERT_MESSAGE(text, text.find("_search_idx") != std::string::npos);
        text = plan_of("SELECT * FROM messages WHERE conv_id = " + std::to_string(mine) +
                       " AND search @@ websearch_to_tsquery('simple', 'zebra')");
        CPPUNIT_ASSERT_MESSAGE(text, text.find("Append") == std::string::npos); // one partition
    }

    void search_entries_are_merged_into_the_index_in_the_background() {
        // A stored message's search entries go to the pending list of its
        // partition's GIN index; the bridge merges that list into the index
        // every second (search_index_interval_ms), so that no store
        // transaction has to (bridge/search/search_indexer.hpp).
        caller alice("alice");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "words"}}))["result"]["conv"].asInt64();
        pg::connection db(shared().stack.conninfo());
        db.exec("CREATE EXTENSION IF NOT EXISTS pgstattuple");
        // The conversation's partition (autovacuum off on it for the test:
        // its analyze would merge the list too) and its part of the search index.
        const std::string partition = partition_of(db, conv);
        const std::string index =
            db.exec("SELECT i.inhrelid::regclass::text FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid"
                    " WHERE i.inhparent = 'messages_search'::regclass AND x.indrelid = $1::regclass",
                    {partition})
                .str(0, 0);
        db.exec("ALTER TABLE " + partition + " SET (autovacuum_enabled = off)");
        auto pending_pages = [&] {
            return db.exec("SELECT pending_pages FROM pgstatginindex($1::regclass)", {index}).int64(0, 0);
        };
        auto say_many = [&](const std::string& prefix) {
            chat_sender sender(*alice.client, alice.name, conv);
            std::vector<outgoing> out;
            for (int i = 0; i < 20; ++i) {
                std::string body = prefix;
                for (int w = 0; w < 20; ++w) body += " " + prefix + "x" + std::to_string(i * 20 + w);
                out.push_back({prefix + std::to_string(i), body});
            }
            if (!sender.send_all(out, 5, 5s, 30s)) throw std::runtime_error("not acked");
        };
        auto found = [&](const std::string& word) {
            return alice.call("search", params({{"q", word}, {"conv", conv}}))["result"]["hits"].size();
        };

        // Without the background merge, the entries stay pending — and are found all the same.
        shared().stack.restart_bridge({"search_index_interval_ms 0"});
        say_many("okapi");
        CPPUNIT_ASSERT(pending_pages() > 0);
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(20), found("okapi"));
        // The indexer merges one partition's list at a time
        // (mqchat_flush_search_index_part, counted from 0 in name order,
        // modulo their number): another's turn leaves this list, a
        // negative turn merges nothing, and this one's merges it.
        const int position = static_cast<int>(
            db.exec("SELECT array_position(ARRAY(SELECT i.inhrelid::regclass FROM pg_inherits i"
                    "  WHERE i.inhparent = 'messages_search'::regclass ORDER BY 1), $1::regclass) - 1",
                    {index})
                .int64(0, 0));
        auto merge_part = [&](int part) {
            const auto r = db.exec("SELECT pages, parts FROM mqchat_flush_search_index_part($1)", {std::to_string(part)});
            CPPUNIT_ASSERT_EQUAL(std::int64_t(16), r.int64(0, 1));
            return r.int64(0, 0);
        };
        merge_part((position + 1) % 16);
        CPPUNIT_ASSERT(pending_pages() > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), merge_part(-1));
        CPPUNIT_ASSERT(pending_pages() > 0);
        CPPUNIT_ASSERT(merge_part(position + 16) > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), pending_pages());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(20), found("okapi"));
        say_many("zebu");
        CPPUNIT_ASSERT(pending_pages() > 0);
        // With the bridge's indexer (the default), they are merged within a second or so, and still found.
        shared().stack.restart_bridge();
        CPPUNIT_ASSERT(eventually([&] { return pending_pages() == 0; }, 10s));
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(20), found("zebu"));
        say_many("tapir");
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(20), found("tapir")); // at once, merged or not
        CPPUNIT_ASSERT(eventually([&] { return pending_pages() == 0; }, 10s));
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), found("tapirx399"));
        db.exec("ALTER TABLE " + partition + " RESET (autovacuum_enabled)");
    }

    static std::string partition_of(pg::connection& db, std::int64_t conv) {
        // Hash partitioning: the partition a row of this conversation would go to.
        return db.exec("SELECT c.relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
                       " WHERE i.inhparent = 'messages'::regclass"
                       "   AND pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES WITH (modulus 16, remainder %s)',"
                       "       (SELECT r FROM generate_series(0, 15) r WHERE satisfies_hash_partition('messages'::regclass, 16, r, $1::bigint)))",
                       {std::to_string(conv)})
            .str(0, 0);
    }

    void replies_mentions_edits_deletes_and_reactions() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "life"}}))["result"]["conv"].asInt64();
        const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";
        const std::string send_topic = "chat/conv/" + std::to_string(conv) + "/send";
        CPPUNIT_ASSERT_EQUAL(1, bob.client->subscribe(msg_topic));
        auto send = [&](caller& who, const std::string& json) { return who.client->publish(send_topic, json); };
        auto next_at_bob = [&] {
            received r;
            if (!bob.client->wait_message(r, 10s, msg_topic)) throw std::runtime_error("nothing delivered");
            return json_of(r.payload);
        };
        auto history = [&] { return alice.call("history", params({{"conv", conv}}))["result"]["messages"]; };

        // 1: a mention of a member (bob) and of a non-member (carol, not counted).
        CPPUNIT_ASSERT_EQUAL(0, send(alice, R"({"id":"l1","body":"hello @bob and @carol."})"));
        Json::Value m = next_at_bob();
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), m["seq"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), m["mentions"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), m["mentions"][0].asString());
        // 2: a reply, listed in the thread of 1.
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l2","body":"hi!","reply_to":1})"));
        next_at_bob();
        const Json::Value t = alice.call("thread", params({{"conv", conv}, {"seq", 1}}));
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), t["result"]["replies"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("l2"), t["result"]["replies"][0]["id"].asString());
        // 3: alice edits 1; members get the event, history the new text.
        CPPUNIT_ASSERT_EQUAL(0, send(alice, R"({"id":"l3","type":"edit","ref":1,"body":"hello again @bob"})"));
        m = next_at_bob();
        CPPUNIT_ASSERT_EQUAL(std::string("edit"), m["type"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), m["ref"].asInt64());
        Json::Value h = history();
        CPPUNIT_ASSERT_EQUAL(std::string("hello again @bob"), h[0]["body"].asString());
        CPPUNIT_ASSERT(h[0]["edited"].asBool());
        // Search finds the original by its new text, not by what it no longer says.
        auto vector_matches = [&](std::int64_t seq, const std::string& word) {
            pg::connection c(shared().stack.conninfo());
            return c.exec("SELECT search @@ to_tsquery('simple', $3) FROM messages WHERE conv_id = $1 AND seq = $2",
                          {std::to_string(conv), std::to_string(seq), word}).str(0, 0) == "t";
        };
        CPPUNIT_ASSERT(vector_matches(1, "again"));
        CPPUNIT_ASSERT(!vector_matches(1, "carol"));
        // bob may not edit or delete alice's message.
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l-x","type":"edit","ref":1,"body":"mine now"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l-y","type":"delete","ref":1})"));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), bob.notice_error());
        // 4, 5, 6: reactions, aggregated per message; 7: bob takes his back.
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l4","type":"reaction","ref":1,"body":"👍"})"));
        CPPUNIT_ASSERT_EQUAL(0, send(alice, R"({"id":"l5","type":"reaction","ref":1,"body":"👍"})"));
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l6","type":"reaction","ref":1,"body":"🎉"})"));
        for (int i = 0; i < 3; ++i) next_at_bob();
        h = history();
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(2), h[0]["reactions"]["👍"].size());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), h[0]["reactions"]["🎉"].size());
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l7","type":"unreaction","ref":1,"body":"👍"})"));
        next_at_bob();
        h = history();
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), h[0]["reactions"]["👍"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), h[0]["reactions"]["👍"][0].asString());
        // No message 999; no reacting to an event; no ref on a plain message.
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l-z","type":"reaction","ref":999,"body":"?"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(0, send(bob, R"({"id":"l-w","type":"reaction","ref":3,"body":"?"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(not_authorized, send(bob, R"({"id":"l-v","body":"x","ref":1})"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        CPPUNIT_ASSERT_EQUAL(not_authorized, send(bob, R"({"id":"l-u","type":"edit","body":"x"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_envelope"), bob.notice_error());
        // 8: alice deletes 1: its text and its edit's text are gone from storage.
        CPPUNIT_ASSERT_EQUAL(0, send(alice, R"({"id":"l8","type":"delete","ref":1})"));
        m = next_at_bob();
        CPPUNIT_ASSERT_EQUAL(std::string("delete"), m["type"].asString());
        h = history();
        CPPUNIT_ASSERT(h[0]["deleted"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string(""), h[0]["body"].asString());
        CPPUNIT_ASSERT(!h[0].isMember("reactions"));
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             db.exec("SELECT count(*) FROM messages WHERE conv_id = $1 AND body LIKE '%hello%'",
                                     {std::to_string(conv)}).int64(0, 0));
        // … and from the search vectors.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             db.exec("SELECT count(*) FROM messages WHERE conv_id = $1"
                                     " AND search @@ to_tsquery('simple', 'hello | again')",
                                     {std::to_string(conv)}).int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(0, send(alice, R"({"id":"l9","type":"edit","ref":1,"body":"back"})"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), alice.notice_error());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(carol.call("thread", params({{"conv", conv}, {"seq", 1}}))));
    }

    void non_members_learn_nothing() {
        caller alice("alice"), carol("carol");
        const std::int64_t conv =
            alice.call("conv.create", params({{"members", names({"bob"})}, {"title", "secret"}}))["result"]["conv"].asInt64();
        send_n(alice, conv, 2, "secret-");
        const Json::Value h = carol.call("history", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(h));
        CPPUNIT_ASSERT(!h.isMember("result"));
        // A conversation that does not exist looks the same.
        CPPUNIT_ASSERT_EQUAL(h["error"]["message"].asString().find("not a member") != std::string::npos, true);
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(carol.call("history", params({{"conv", 999999}}))));
        // Sync and the list never show it.
        Json::Value cursors(Json::objectValue);
        cursors[std::to_string(conv)] = 0;
        const Json::Value synced = carol.call("sync", params({{"cursors", cursors}}));
        CPPUNIT_ASSERT(synced.isMember("result"));
        for (const auto& m : synced["result"]["messages"]) CPPUNIT_ASSERT(m["conv"].asInt64() != conv);
        const Json::Value list = carol.call("conv.list");
        CPPUNIT_ASSERT(list.isMember("result"));
        for (const auto& c : list["result"]["conversations"]) CPPUNIT_ASSERT(c["conv"].asInt64() != conv);
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"),
                             code_of(carol.call("conv.add_member", params({{"conv", conv}, {"user", "carol"}}))));
        const Json::Value members = carol.call("conv.members", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(members));
        CPPUNIT_ASSERT(!members.isMember("result"));
    }

    void replies_go_only_to_the_callers_inbox() {
        caller alice("alice"), bob("bob");
        // MQTT 5 response topic naming someone else's inbox: refused, and bob gets nothing.
        CPPUNIT_ASSERT_EQUAL(not_authorized,
                             alice.client->publish_request("chat/rpc/conv.list", "{}", "chat/user/bob/inbox", "x1"));
        const Json::Value refusal = alice.reply("x1");
        CPPUNIT_ASSERT_EQUAL(std::string("not_authorized"), code_of(refusal));
        CPPUNIT_ASSERT_EQUAL(not_authorized,
                             alice.client->publish_request("chat/rpc/conv.list", R"({"reply_to":"elsewhere/topic"})", "", "x2"));
        CPPUNIT_ASSERT_EQUAL(std::string("not_authorized"), code_of(alice.reply("x2")));
        std::this_thread::sleep_for(300ms);
        CPPUNIT_ASSERT(bob.client->take_all(bob.inbox()).empty());
        // Nobody may publish on the bridge's request topic directly.
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.client->publish("chat/rpc/conv.list/stamped",
                                                                   R"({"caller":"bob","params":{}})"));
        CPPUNIT_ASSERT(bob.client->take_all(bob.inbox()).empty());
    }

    void mqtt311_request_is_matched_by_corr() {
        caller old("carol", 4);
        CPPUNIT_ASSERT_EQUAL(0, old.client->publish("chat/rpc/conv.list", R"({"corr":"req-1","limit":5})"));
        const auto until = std::chrono::steady_clock::now() + 10s;
        Json::Value reply;
        while (std::chrono::steady_clock::now() < until && reply.isNull()) {
            received r;
            if (old.client->wait_message(r, 200ms, old.inbox())) {
                const Json::Value v = json_of(r.payload);
                if (v["corr"] == "req-1") reply = v;
            }
        }
        CPPUNIT_ASSERT_MESSAGE(reply.toStyledString(), reply["result"]["conversations"].isArray());
        CPPUNIT_ASSERT_EQUAL(std::string("conv.list"), reply["method"].asString());
    }

    void bad_requests_get_clear_errors() {
        caller alice("alice");
        CPPUNIT_ASSERT_EQUAL(std::string("unknown_method"), code_of(alice.call("no.such.method")));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(alice.call("history", params({{"conv", "x"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(alice.call("conv.create", params({{"members", 5}}))));
        // Not a possible user name: refused before any query.
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(alice.call("conv.create", params({{"members", names({"ghost'; DROP TABLE users;--"})}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.call("conv.create", params({{"members", names({"ghost"})}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(alice.call("sync", params({{"cursors", names({"1"})}}))));
        // Malformed JSON and a non-object are refused by the plugin, with the correlation kept.
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.client->publish_request("chat/rpc/history", "{oops", "", "bad-1"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_json"), code_of(alice.reply("bad-1")));
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.client->publish_request("chat/rpc/history", "[1]", "", "bad-2"));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(alice.reply("bad-2")));
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT(db.exec("SELECT count(*) FROM users").int64(0, 0) >= 5); // the hostile name did nothing
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(requests_test);
