// The plugin's limits without a broker: the token bucket, flood detection,
// notice cap, client id shape and connection counting. Time is passed in,
// so nothing here depends on the machine's speed.

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>

#include "directory.hpp"
#include "limits.hpp"

using namespace mqchat::plugin;

namespace {
constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t s = 1000 * ms;
const auto* client_a = reinterpret_cast<const mosquitto*>(0x1000);
const auto* client_b = reinterpret_cast<const mosquitto*>(0x2000);
const auto* client_c = reinterpret_cast<const mosquitto*>(0x3000);
} // namespace

class limits_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(limits_test);
    CPPUNIT_TEST(bucket_allows_burst_then_rate);
    CPPUNIT_TEST(bucket_refills_but_never_beyond_burst);
    CPPUNIT_TEST(no_rate_means_no_limit);
    CPPUNIT_TEST(flooding_after_sustained_refusals);
    CPPUNIT_TEST(notices_are_capped_per_second);
    CPPUNIT_TEST(client_id_shape);
    CPPUNIT_TEST(connections_counted_per_user);
    CPPUNIT_TEST(reconnect_with_same_client_id_replaces);
    CPPUNIT_TEST(devices_are_distinct_client_ids);
    CPPUNIT_TEST(typing_is_capped_per_second);
    CPPUNIT_TEST(knocks_are_capped_per_address_and_per_key);
    CPPUNIT_TEST_SUITE_END();

public:
    void knocks_are_capped_per_address_and_per_key() {
        plugin_config c;
        c.knocks_per_minute_per_address = 3;
        c.knocks_per_minute_per_site_key = 5;
        limits l(c);
        for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT_EQUAL(std::string(), l.allow_knock("10.0.0.1", "site-a", 1 * s));
        CPPUNIT_ASSERT(l.allow_knock("10.0.0.1", "site-a", 2 * s).find("from this address") != std::string::npos);
        // Refused by address: the key's allowance is untouched (two left).
        CPPUNIT_ASSERT_EQUAL(std::string(), l.allow_knock("10.0.0.2", "site-a", 2 * s));
        CPPUNIT_ASSERT_EQUAL(std::string(), l.allow_knock("10.0.0.3", "site-a", 2 * s));
        CPPUNIT_ASSERT(l.allow_knock("10.0.0.4", "site-a", 2 * s).find("with this site key") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string(), l.allow_knock("10.0.0.4", "site-b", 2 * s)); // another site
        // A minute later, room again.
        CPPUNIT_ASSERT_EQUAL(std::string(), l.allow_knock("10.0.0.1", "site-a", 62 * s));
        c.knocks_per_minute_per_address = 0; // 0: no cap
        c.knocks_per_minute_per_site_key = 0;
        limits none(c);
        for (int i = 0; i < 1000; ++i) CPPUNIT_ASSERT_EQUAL(std::string(), none.allow_knock("10.0.0.1", "k", 1 * s));
    }
    void bucket_allows_burst_then_rate() {
        plugin_config c;
        c.rate_per_s = 10;
        c.rate_burst = 20;
        limits l(c);
        user_entry u;
        const std::int64_t t0 = 5 * s;
        int allowed = 0;
        for (int i = 0; i < 100; ++i) allowed += l.allow_message(u, t0);
        CPPUNIT_ASSERT_EQUAL(20, allowed); // the whole burst at once, then nothing
        // 10/s: after 500 ms five more, and no more than five.
        allowed = 0;
        for (int i = 0; i < 100; ++i) allowed += l.allow_message(u, t0 + 500 * ms);
        CPPUNIT_ASSERT_EQUAL(5, allowed);
    }
    void bucket_refills_but_never_beyond_burst() {
        plugin_config c;
        c.rate_per_s = 10;
        c.rate_burst = 3;
        limits l(c);
        user_entry u;
        CPPUNIT_ASSERT(l.allow_message(u, 1 * s));
        int allowed = 0;
        for (int i = 0; i < 100; ++i) allowed += l.allow_message(u, 3600 * s); // an hour idle
        CPPUNIT_ASSERT_EQUAL(3, allowed);
    }
    void no_rate_means_no_limit() {
        plugin_config c;
        limits l(c);
        user_entry u;
        for (int i = 0; i < 10000; ++i) CPPUNIT_ASSERT(l.allow_message(u, s));
    }
    void flooding_after_sustained_refusals() {
        plugin_config c;
        limits l(c);
        for (int i = 1; i <= 50; ++i) CPPUNIT_ASSERT_EQUAL(i, l.count_refusal("phone", s + i * ms));
        CPPUNIT_ASSERT_EQUAL(1, l.count_refusal("laptop", s + 60 * ms)); // per client
        CPPUNIT_ASSERT_EQUAL(1, l.count_refusal("phone", 11 * s + 2 * ms)); // a new 10 s window
        l.forget_refusals("phone");
        CPPUNIT_ASSERT_EQUAL(1, l.count_refusal("phone", 11 * s + 3 * ms));
        // A slow trickle (one every 250 ms) never passes 41 in a window.
        limits slow(c);
        int most = 0;
        for (int i = 0; i < 1000; ++i) most = std::max(most, slow.count_refusal("phone", i * 250 * ms));
        CPPUNIT_ASSERT(most <= 41);
    }
    void notices_are_capped_per_second() {
        plugin_config c;
        limits l(c);
        int sent = 0;
        for (int i = 0; i < 500; ++i) sent += l.may_notify("alice", s + i * ms / 2);
        CPPUNIT_ASSERT_EQUAL(100, sent);
        CPPUNIT_ASSERT(l.may_notify("bob", s + 50 * ms));
        CPPUNIT_ASSERT(l.may_notify("alice", 2 * s + 1 * ms)); // next second
    }
    void client_id_shape() {
        plugin_config c;
        c.max_client_id_length = 16;
        limits l(c);
        CPPUNIT_ASSERT(l.acceptable_client_id("alice-phone_2.x"));
        CPPUNIT_ASSERT(l.acceptable_client_id(std::string(16, 'a')));
        CPPUNIT_ASSERT(!l.acceptable_client_id(std::string(17, 'a')));
        CPPUNIT_ASSERT(!l.acceptable_client_id(""));
        for (const char* bad : {"a/b", "a+b", "a#b", "a b", "a\tb", "caf\xc3\xa9", "a\x7f"})
            CPPUNIT_ASSERT_MESSAGE(bad, !l.acceptable_client_id(bad));
        CPPUNIT_ASSERT(!l.acceptable_client_id(std::string("a\0b", 3)));
    }
    void connections_counted_per_user() {
        plugin_config c;
        c.max_connections_per_user = 2;
        limits l(c);
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "a"));
        CPPUNIT_ASSERT(l.admit(client_b, "alice", "b"));
        CPPUNIT_ASSERT(!l.admit(client_c, "alice", "c"));
        CPPUNIT_ASSERT(l.admit(client_c, "bob", "c"));
        CPPUNIT_ASSERT_EQUAL(2, l.connections("alice"));
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "a")); // the same connection again counts once
        CPPUNIT_ASSERT_EQUAL(2, l.connections("alice"));
        l.release(client_a);
        l.release(client_a); // twice: no effect
        CPPUNIT_ASSERT_EQUAL(1, l.connections("alice"));
        l.release(reinterpret_cast<const mosquitto*>(0x9999)); // never admitted
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "a"));
        l.release(client_a);
        l.release(client_b);
        l.release(client_c);
        CPPUNIT_ASSERT_EQUAL(0, l.connections("alice"));
        CPPUNIT_ASSERT_EQUAL(0, l.connections("bob"));
    }
    void reconnect_with_same_client_id_replaces() {
        plugin_config c;
        c.max_connections_per_user = 2;
        limits l(c);
        const auto* d = reinterpret_cast<const mosquitto*>(0x4000);
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "phone"));
        CPPUNIT_ASSERT(l.admit(client_b, "alice", "laptop"));
        CPPUNIT_ASSERT(l.admit(client_c, "alice", "phone")); // the broker closes client_a next
        CPPUNIT_ASSERT(!l.admit(d, "alice", "tablet"));
        l.release(client_a);
        CPPUNIT_ASSERT_EQUAL(2, l.connections("alice"));
        CPPUNIT_ASSERT(!l.admit(d, "alice", "tablet"));
        l.release(client_c);
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "tablet"));
        // Another user reusing alice's client id is no takeover of bob's own.
        plugin_config c1;
        c1.max_connections_per_user = 1;
        limits strict(c1);
        CPPUNIT_ASSERT(strict.admit(client_a, "alice", "x"));
        CPPUNIT_ASSERT(strict.admit(client_b, "bob", "y"));
        CPPUNIT_ASSERT(!strict.admit(client_c, "bob", "x"));
    }
    void devices_are_distinct_client_ids() {
        plugin_config c;
        limits l(c);
        const auto* d = reinterpret_cast<const mosquitto*>(0x4000);
        CPPUNIT_ASSERT(l.admit(client_a, "alice", "phone"));
        CPPUNIT_ASSERT(l.admit(client_b, "alice", "laptop"));
        CPPUNIT_ASSERT_EQUAL(2, l.devices("alice"));
        // The phone reconnects before the old connection is gone: still two devices.
        CPPUNIT_ASSERT(l.admit(client_c, "alice", "phone"));
        CPPUNIT_ASSERT_EQUAL(2, l.devices("alice"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), l.release(client_a)); // the old phone connection: not a device any more
        CPPUNIT_ASSERT_EQUAL(2, l.devices("alice"));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), l.release(client_b));
        CPPUNIT_ASSERT_EQUAL(1, l.devices("alice"));
        // Bob takes alice's client id: alice loses that device.
        std::string displaced;
        CPPUNIT_ASSERT(l.admit(d, "bob", "phone", &displaced));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), displaced);
        CPPUNIT_ASSERT_EQUAL(0, l.devices("alice"));
        CPPUNIT_ASSERT_EQUAL(1, l.devices("bob"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), l.release(client_c));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), l.release(d));
        CPPUNIT_ASSERT_EQUAL(0, l.devices("bob"));
    }
    void typing_is_capped_per_second() {
        plugin_config c;
        limits l(c);
        CPPUNIT_ASSERT(l.typing_capped());
        user_entry alice, bob;
        int allowed = 0;
        for (int i = 0; i < 50; ++i) allowed += l.allow_typing(alice, s + i * ms);
        CPPUNIT_ASSERT_EQUAL(5, allowed);
        CPPUNIT_ASSERT(l.allow_typing(bob, s + 10 * ms));
        CPPUNIT_ASSERT(l.allow_typing(alice, 2 * s + 1 * ms));
        c.typing_per_s = 0; // no cap
        CPPUNIT_ASSERT(!l.typing_capped());
        for (int i = 0; i < 50; ++i) CPPUNIT_ASSERT(l.allow_typing(alice, 2 * s + 2 * ms));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(limits_test);
