// Device counts across brokers without a broker: what one broker makes of the
// others' tables, snapshots, new runs, link states and the grace period.
// Time is passed in.

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>

#include "common/json.hpp"
#include "fabric.hpp"

using namespace mqchat::plugin;
using namespace std::chrono_literals;

namespace {
std::string table(const std::string& run, bool snapshot, std::map<std::string, int> devices) {
    return fabric_presence::payload(run, snapshot, devices);
}
bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }
} // namespace

class fabric_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(fabric_test);
    CPPUNIT_TEST(counts_are_summed_over_brokers);
    CPPUNIT_TEST(a_snapshot_or_a_new_run_replaces_the_table);
    CPPUNIT_TEST(a_dead_broker_counts_until_the_grace_ends);
    CPPUNIT_TEST(a_broker_that_comes_back_in_time_keeps_counting);
    CPPUNIT_TEST(outgoing_is_a_snapshot_first_then_changes);
    CPPUNIT_TEST(malformed_or_own_tables_change_nothing);
    CPPUNIT_TEST_SUITE_END();

    const fabric_presence::clock::time_point t0{};

public:
    void counts_are_summed_over_brokers() {
        fabric_presence f("b1", "r1", 5000ms);
        auto changed = f.on_presence("b2", table("x", true, {{"alice", 1}, {"bob", 2}}));
        CPPUNIT_ASSERT(has(changed, "alice") && has(changed, "bob"));
        f.on_presence("b3", table("y", false, {{"alice", 2}}));
        CPPUNIT_ASSERT_EQUAL(3, f.remote_devices("alice"));
        CPPUNIT_ASSERT_EQUAL(2, f.remote_devices("bob"));
        changed = f.on_presence("b2", table("x", false, {{"alice", 0}}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), changed.size());
        CPPUNIT_ASSERT_EQUAL(2, f.remote_devices("alice"));
        CPPUNIT_ASSERT_EQUAL(2, f.remote_devices("bob")); // untouched by a delta that does not name it
        CPPUNIT_ASSERT(f.on_presence("b2", table("x", false, {{"bob", 2}})).empty()); // no change, no news
    }

    void a_snapshot_or_a_new_run_replaces_the_table() {
        fabric_presence f("b1", "r1", 5000ms);
        f.on_presence("b2", table("x", false, {{"alice", 1}, {"bob", 1}}));
        auto changed = f.on_presence("b2", table("x", true, {{"bob", 1}}));
        CPPUNIT_ASSERT(has(changed, "alice") && !has(changed, "bob"));
        CPPUNIT_ASSERT_EQUAL(0, f.remote_devices("alice"));
        // b2 restarted: its old run's bob is gone, even in a delta.
        changed = f.on_presence("b2", table("z", false, {{"carol", 1}}));
        CPPUNIT_ASSERT(has(changed, "bob") && has(changed, "carol"));
        CPPUNIT_ASSERT_EQUAL(0, f.remote_devices("bob"));
        CPPUNIT_ASSERT_EQUAL(1, f.devices_on("b2", "carol"));
    }

    void a_dead_broker_counts_until_the_grace_ends() {
        fabric_presence f("b1", "r1", 5000ms);
        f.on_presence("b2", table("x", true, {{"alice", 1}}));
        f.on_presence("b3", table("y", true, {{"alice", 1}, {"bob", 1}}));
        f.on_link("b2", "0", t0);
        CPPUNIT_ASSERT(f.expire(t0 + 4999ms).empty());
        CPPUNIT_ASSERT_EQUAL(2, f.remote_devices("alice"));
        const auto changed = f.expire(t0 + 5000ms);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), changed.size());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), changed[0]);
        CPPUNIT_ASSERT_EQUAL(1, f.remote_devices("alice"));
        CPPUNIT_ASSERT_EQUAL(1, f.remote_devices("bob"));
        CPPUNIT_ASSERT(f.expire(t0 + 60s).empty());
    }

    void a_broker_that_comes_back_in_time_keeps_counting() {
        fabric_presence f("b1", "r1", 5000ms);
        f.on_presence("b2", table("x", true, {{"alice", 1}}));
        f.on_link("b2", "0", t0);
        f.on_link("b2", "1", t0 + 1s); // only the link to the hub blinked
        CPPUNIT_ASSERT(f.expire(t0 + 10s).empty());
        CPPUNIT_ASSERT_EQUAL(1, f.remote_devices("alice"));
        // A table from it also says it lives.
        f.on_link("b2", "0", t0 + 20s);
        f.on_presence("b2", table("x", false, {{"bob", 1}}));
        CPPUNIT_ASSERT(f.expire(t0 + 60s).empty());
    }

    void outgoing_is_a_snapshot_first_then_changes() {
        fabric_presence f("b1", "r1", 5000ms);
        std::unordered_map<std::string, int> local{{"alice", 2}};
        Json::Value v;
        std::string error;
        CPPUNIT_ASSERT(mqchat::json::parse(f.take_outgoing(local), v, error));
        CPPUNIT_ASSERT(v["snapshot"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("r1"), v["run"].asString());
        CPPUNIT_ASSERT_EQUAL(2, v["devices"]["alice"].asInt());
        CPPUNIT_ASSERT(f.take_outgoing(local).empty()); // nothing new
        f.local_changed("bob", 1);
        f.local_changed("alice", 0);
        CPPUNIT_ASSERT(mqchat::json::parse(f.take_outgoing(local), v, error));
        CPPUNIT_ASSERT(!v["snapshot"].asBool());
        CPPUNIT_ASSERT_EQUAL(1, v["devices"]["bob"].asInt());
        CPPUNIT_ASSERT_EQUAL(0, v["devices"]["alice"].asInt());
        // Another broker's link came up: it gets the whole table.
        f.on_link("b2", "1", t0);
        CPPUNIT_ASSERT(mqchat::json::parse(f.take_outgoing(local), v, error));
        CPPUNIT_ASSERT(v["snapshot"].asBool());
    }

    void malformed_or_own_tables_change_nothing() {
        fabric_presence f("b1", "r1", 5000ms);
        for (const char* bad : {"", "[]", "{\"run\":1,\"devices\":{}}", "{\"run\":\"x\"}", "{\"run\":\"x\",\"devices\":[]}",
                                "not json"})
            CPPUNIT_ASSERT_MESSAGE(bad, f.on_presence("b2", bad).empty());
        // Bad names and counts inside a good table are skipped.
        const auto changed = f.on_presence("b2", "{\"run\":\"x\",\"devices\":{\"a/b\":1,\"eve\":\"9\",\"ok\":-3,\"bob\":1}}");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), changed.size());
        CPPUNIT_ASSERT_EQUAL(1, f.remote_devices("bob"));
        CPPUNIT_ASSERT(f.on_presence("b1", table("r1", true, {{"alice", 5}})).empty());
        CPPUNIT_ASSERT_EQUAL(0, f.remote_devices("alice"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(fabric_test);
