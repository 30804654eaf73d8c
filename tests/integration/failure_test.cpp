// Nothing lost, nothing doubled: a sender that resends until acked, a member
// on a persistent session, 1,000 messages, and in the middle of the stream
// the process that could lose them is killed and started again.
//
// What is checked afterwards: every message acked; the database holds each
// client message exactly once with seqs 1..1000 and no gaps; the member has
// every seq, in order (a repeated seq after a restart is allowed by the
// protocol and dropped by the client; how many were repeated is printed).

#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>

#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t total = 1000;
constexpr std::size_t fail_after = 300; // acks before the failure

void stream_through_failure(const std::string& tag, const std::function<void(chat_stack&)>& failure) {
    chat_stack s(tag);
    s.add_user("alice", "pw-alice");
    s.add_user("bob", "pw-bob");
    const std::int64_t conv = s.create_conv({"alice", "bob"});
    const std::string msg_topic = "chat/conv/" + std::to_string(conv) + "/msg";

    // Phones: persistent sessions, so subscriptions and queued messages
    // survive a broker restart and a reconnect.
    mqtt_client bob(s.port(), {"bob-phone", "bob", "pw-bob", 5, false, 3600});
    CPPUNIT_ASSERT_EQUAL(0, bob.connect());
    CPPUNIT_ASSERT_EQUAL(1, bob.subscribe(msg_topic));
    mqtt_client alice(s.port(), {"alice-phone", "alice", "pw-alice", 5, false, 3600});
    CPPUNIT_ASSERT_EQUAL(0, alice.connect());
    CPPUNIT_ASSERT_EQUAL(1, alice.subscribe("chat/user/alice/inbox"));

    std::vector<outgoing> messages;
    for (std::size_t i = 0; i < total; ++i) messages.push_back({"m-" + std::to_string(i), "message " + std::to_string(i)});

    chat_sender sender(alice, "alice", conv);
    bool failed_once = false;
    const bool all_acked = sender.send_all(messages, 20, 2s, 240s, 0, [&](std::size_t acked) {
        if (!failed_once && acked >= fail_after) {
            failed_once = true;
            failure(s);
        }
    });
    CPPUNIT_ASSERT(failed_once);
    CPPUNIT_ASSERT_MESSAGE("acked " + std::to_string(sender.acked.size()) + " of 1000", all_acked);
    CPPUNIT_ASSERT_EQUAL(std::size_t(0), sender.conflicting_acks);

    pg::connection db(s.conninfo());
    const auto r = db.exec("SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT client_id)"
                           " FROM messages WHERE conv_id = $1",
                           {std::to_string(conv)});
    CPPUNIT_ASSERT_EQUAL_MESSAGE("stored rows", std::int64_t(total), r.int64(0, 0));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("distinct seqs", std::int64_t(total), r.int64(0, 1));
    CPPUNIT_ASSERT_EQUAL(std::int64_t(1), r.int64(0, 2));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("max seq", std::int64_t(total), r.int64(0, 3));
    CPPUNIT_ASSERT_EQUAL_MESSAGE("distinct client ids", std::int64_t(total), r.int64(0, 4));

    delivery_log log;
    log.collect(bob, msg_topic, total, 90s);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(log.check_gapless(total), std::string(), log.check_gapless(total));
    for (const auto& d : log.first_seen) CPPUNIT_ASSERT_EQUAL(sender.acked.at(d.id), d.seq);
    for (const auto& d : log.raw) // a repeat is the same message again, never a different one under that seq
        CPPUNIT_ASSERT_EQUAL(log.first_seen[static_cast<std::size_t>(d.seq - 1)].id, d.id);
    std::cout << "\n  [" << tag << "] publishes " << sender.publishes << " for " << total << " messages, "
              << log.duplicates << " seqs delivered again after the restart\n";
}

} // namespace

class failure_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(failure_test);
    CPPUNIT_TEST(bridge_kill_9_mid_stream);
    CPPUNIT_TEST(postgres_crash_and_restart_mid_stream);
    CPPUNIT_TEST(broker_restart_mid_stream);
    CPPUNIT_TEST_SUITE_END();

public:
    void bridge_kill_9_mid_stream() {
        stream_through_failure("kill-bridge", [](chat_stack& s) {
            s.store->stop(SIGKILL);
            std::this_thread::sleep_for(300ms);
            s.store->start();
        });
    }
    void postgres_crash_and_restart_mid_stream() {
        stream_through_failure("crash-pg", [](chat_stack& s) {
            s.db.crash();
            std::this_thread::sleep_for(500ms);
            s.db.start();
        });
    }
    void broker_restart_mid_stream() {
        stream_through_failure("restart-broker", [](chat_stack& s) {
            s.mqtt->stop(SIGTERM); // persistence is saved on the way down
            s.mqtt->start();
        });
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(failure_test);
