// A read replica (docs/operations.md, "A read replica"): a real PostgreSQL
// streaming replica of the stack's database (pg_basebackup -R). Older
// history pages, search and threads come from it while it keeps up; what a
// client must see at once (the newest page, a gap fetch, sync) comes from the
// primary; a replica that falls behind or goes away leaves everything to the
// primary, and nothing fails.

#include <cppunit/extensions/HelperMacros.h>

#include <thread>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"replica"};
    std::unique_ptr<pg_cluster> replica;
    std::int64_t conv = 0;
    fixture() {
        stack.add_user("alice", "pw-alice");
        stack.add_user("bob", "pw-bob");
        conv = stack.create_conv({"alice", "bob"}, "replicated");
        replica = std::make_unique<pg_cluster>(stack.dir, stack.db, "replica");
    }
    /// The bridge again, reading from the replica while it is at most `max_lag_ms` behind.
    void bridge_with_replica(int max_lag_ms) {
        stack.restart_bridge({"replica_conninfo " + replica->conninfo(),
                              "replica_max_lag_ms " + std::to_string(max_lag_ms)});
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

/// alice sends `body` with id `id` and waits for its ack (stored on the primary).
void say(rpc_caller& alice, const std::string& id, const std::string& body) {
    Json::Value m(Json::objectValue);
    m["id"] = id;
    m["body"] = body;
    CPPUNIT_ASSERT_EQUAL(0, alice.client->publish("chat/conv/" + std::to_string(shared().conv) + "/send",
                                                  json::write(m)));
    received r;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until)
        if (alice.client->wait_message(r, 200ms, alice.inbox()) && json_of(r.payload)["ack"].asString() == id) return;
    CPPUNIT_FAIL("no ack for " + id);
}

Json::Value::ArrayIndex hits(rpc_caller& who, const std::string& word) {
    return who.call("search", params({{"q", word}}))["result"]["hits"].size();
}

void replay(bool on) {
    pg::connection r(shared().replica->conninfo());
    r.exec(on ? "SELECT pg_wal_replay_resume()" : "SELECT pg_wal_replay_pause()");
}

/// Waits until the replica has replayed everything the primary has written.
void caught_up() {
    pg::connection p(shared().stack.conninfo());
    const std::string lsn = p.exec("SELECT pg_current_wal_lsn()::text").str(0, 0);
    pg::connection r(shared().replica->conninfo());
    for (int i = 0; i < 200; ++i) {
        if (r.exec("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", {lsn}).str(0, 0) == "t") return;
        std::this_thread::sleep_for(50ms);
    }
    CPPUNIT_FAIL("the replica did not catch up");
}

} // namespace

class replica_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(replica_test);
    CPPUNIT_TEST(older_pages_and_search_come_from_the_replica_the_newest_from_the_primary);
    CPPUNIT_TEST(a_replica_that_falls_behind_leaves_it_to_the_primary);
    CPPUNIT_TEST(a_replica_that_goes_away_changes_nothing_for_clients);
    CPPUNIT_TEST_SUITE_END();

public:
    void older_pages_and_search_come_from_the_replica_the_newest_from_the_primary() {
        shared().bridge_with_replica(600000); // lag is not the question here
        rpc_caller alice(shared().stack.port(), "alice", "pw-alice");
        for (int i = 0; i < 60; ++i) say(alice, "early-" + std::to_string(i), "an early message " + std::to_string(i));
        caught_up();
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(20), hits(alice, "early")); // a full page of hits

        replay(false); // the replica stops replaying: what comes now is on the primary only
        say(alice, "late", "a zanzibar arrives");
        // The newest page and a gap fetch must have it: the primary answers them.
        const Json::Value newest = alice.call("history", params({{"conv", Json::Int64(shared().conv)}}))["result"];
        CPPUNIT_ASSERT_EQUAL(std::string("a zanzibar arrives"),
                             newest["messages"][newest["messages"].size() - 1]["body"].asString());
        const Json::Value gap =
            alice.call("history", params({{"conv", Json::Int64(shared().conv)}, {"after", 60}}))["result"];
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), gap["messages"].size());
        // Search reads the replica, which has not replayed it yet.
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(0), hits(alice, "zanzibar"));
        // An older page comes from the replica too, and is whole.
        const Json::Value older =
            alice.call("history", params({{"conv", Json::Int64(shared().conv)}, {"before", 31}, {"limit", 30}}))["result"];
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(30), older["messages"].size());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), older["messages"][0]["seq"].asInt64());

        replay(true);
        caught_up();
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), hits(alice, "zanzibar"));
        // The replica served: the bridge's request threads are connected to it.
        pg::connection r(shared().replica->conninfo());
        CPPUNIT_ASSERT(r.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                              "'mqchat-bridge-requests-replica'")
                           .int64(0, 0) >= 1);
    }

    void a_replica_that_falls_behind_leaves_it_to_the_primary() {
        shared().bridge_with_replica(300);
        rpc_caller alice(shared().stack.port(), "alice", "pw-alice");
        caught_up();
        replay(false);
        say(alice, "behind", "a xylophone plays");
        // Within a second or two every request thread sees the replica behind
        // (it has WAL it has not replayed for longer than 300 ms): search goes
        // to the primary and finds it.
        Json::ArrayIndex found = 0;
        for (int i = 0; i < 40 && found == 0; ++i) {
            std::this_thread::sleep_for(100ms);
            found = hits(alice, "xylophone");
        }
        replay(true);
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), found);
        CPPUNIT_ASSERT(shared().stack.store->log().find("read replica behind") != std::string::npos);
    }

    void a_replica_that_goes_away_changes_nothing_for_clients() {
        shared().bridge_with_replica(600000);
        rpc_caller alice(shared().stack.port(), "alice", "pw-alice");
        say(alice, "before-stop", "a yak before the stop");
        caught_up();
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), hits(alice, "yak"));
        shared().replica->stop();
        say(alice, "after-stop", "a yak after the stop");
        for (int i = 0; i < 5; ++i) CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(2), hits(alice, "yak"));
        const Json::Value older =
            alice.call("history", params({{"conv", Json::Int64(shared().conv)}, {"before", 10}}))["result"];
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(9), older["messages"].size());
        CPPUNIT_ASSERT(shared().stack.store->log().find("the primary answers") != std::string::npos);
        shared().replica->start();
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(replica_test);
