// The bridge's batch pacer without a bridge: when a small batch waits for
// more messages and when it goes at once. Times are made up and passed in,
// so nothing here depends on the machine's speed.

#include <cppunit/extensions/HelperMacros.h>

#include "ingest/batch_pacer.hpp"

using mqchat::bridge::batch_pacer;
using namespace std::chrono_literals;

namespace {
const batch_pacer::clock::time_point t0 = batch_pacer::clock::time_point{} + 1h;
const batch_pacer::clock::time_point go_now{};

/// `seconds` of traffic at `per_s` messages a second, taken every `every`,
/// each store call taking `call`; returns the time after it.
batch_pacer::clock::time_point traffic(batch_pacer& p, batch_pacer::clock::time_point from, double per_s,
                                       std::chrono::microseconds every, std::chrono::microseconds call,
                                       std::chrono::milliseconds length) {
    const auto messages = static_cast<std::size_t>(per_s * std::chrono::duration<double>(every).count() + 0.5);
    auto t = from;
    for (; t < from + length; t += every) {
        p.took(messages, t);
        if (messages > 0) p.stored(call);
    }
    return t;
}
} // namespace

class batch_pacer_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(batch_pacer_test);
    CPPUNIT_TEST(a_quiet_bridge_never_waits);
    CPPUNIT_TEST(a_store_that_cannot_keep_up_makes_small_batches_wait);
    CPPUNIT_TEST(a_full_batch_never_waits);
    CPPUNIT_TEST(linger_zero_never_waits);
    CPPUNIT_TEST(it_stops_waiting_when_the_rush_is_over);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_quiet_bridge_never_waits() {
        batch_pacer p(1000us);
        // 10 messages a second, one at a time, 0.3 ms a store call.
        const auto t = traffic(p, t0, 10, 100ms, 300us, 5s);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(10.0, p.arrivals_per_s(), 1.0);
        CPPUNIT_ASSERT(p.wait_until(1, t) == go_now);
        // 1,000 a second with a 0.3 ms store call: the store keeps up.
        const auto t2 = traffic(p, t, 1000, 1000us, 300us, 2s);
        CPPUNIT_ASSERT(p.wait_until(1, t2) == go_now);
    }

    void a_store_that_cannot_keep_up_makes_small_batches_wait() {
        batch_pacer p(1000us);
        // 4,000 a second, 0.35 ms a store call: 1.4 messages arrive per call.
        const auto t = traffic(p, t0, 4000, 500us, 350us, 1s);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(4000.0, p.arrivals_per_s(), 100.0);
        CPPUNIT_ASSERT_DOUBLES_EQUAL(0.00035, p.store_call_s(), 0.00001);
        const auto first = t - 200us;
        CPPUNIT_ASSERT(p.wait_until(2, first) == first + 1000us); // counted from the first message's arrival
        CPPUNIT_ASSERT(p.wait_until(15, first) == first + 1000us);
    }

    void a_full_batch_never_waits() {
        batch_pacer p(1000us, 16);
        const auto t = traffic(p, t0, 4000, 500us, 350us, 1s);
        CPPUNIT_ASSERT(p.wait_until(16, t) == go_now);
        CPPUNIT_ASSERT(p.wait_until(500, t) == go_now);
        CPPUNIT_ASSERT(p.wait_until(0, t) == go_now); // nothing to wait with
    }

    void linger_zero_never_waits() {
        batch_pacer p(0us);
        const auto t = traffic(p, t0, 4000, 500us, 350us, 1s);
        CPPUNIT_ASSERT(p.wait_until(1, t) == go_now);
    }

    void it_stops_waiting_when_the_rush_is_over() {
        batch_pacer p(1000us);
        auto t = traffic(p, t0, 4000, 500us, 350us, 1s);
        CPPUNIT_ASSERT(p.wait_until(1, t) != go_now);
        // Then nothing for a while: collect() comes back empty every 50 ms.
        t = traffic(p, t, 0, 50000us, 350us, 400ms);
        CPPUNIT_ASSERT(p.arrivals_per_s() < 200); // 4,000 × e^-3.5: 350 ms of nothing
        CPPUNIT_ASSERT(p.wait_until(1, t) == go_now);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(batch_pacer_test);
