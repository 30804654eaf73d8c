// Requests run off the loop that stores and delivers messages (issue #12):
// with every request thread stuck (its PostgreSQL backend SIGSTOPped), chat
// still flows; requests beyond the bridge's queue are answered at once with
// `overloaded` and a retry hint; the queued ones are answered when the
// threads come back. Throughput is measured by `scripts/bench`.

#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>

#include <json/json.h>

#include <memory>
#include <set>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int queue_max = 5;

/// A stack whose bridge has one request thread and room for five requests.
struct fixture {
    temp_dir dir{"reqpool"};
    pg_cluster db{dir};
    std::unique_ptr<broker> mqtt;
    std::unique_ptr<bridge> store;
    std::int64_t conv = 0;
    fixture() {
        admin_ok(db.conninfo(), {"migrate"});
        admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", chat_stack::bridge_password, "--bridge"});
        for (const char* u : {"alice", "bob"}) admin_ok(db.conninfo(), {"user", "add", u, "--password", std::string("pw-") + u});
        mqtt = std::make_unique<broker>(dir, db.conninfo());
        mqtt->start();
        store = std::make_unique<bridge>(dir, db.conninfo(), mqtt->port(), chat_stack::bridge_password, "bridge",
                                         std::vector<std::string>{"request_threads 1",
                                                                  "request_queue_max " + std::to_string(queue_max)});
        store->start();
        const std::string out = admin_ok(db.conninfo(), {"conv", "create", "--member", "alice", "--member", "bob"});
        conv = std::stoll(out.substr(out.find_last_of(' ') + 1));
    }
};

std::unique_ptr<mqtt_client> login(fixture& f, const std::string& user) {
    auto c = std::make_unique<mqtt_client>(f.mqtt->port(), client_options{"", user, "pw-" + user});
    if (c->connect() != 0) throw std::runtime_error("login of " + user + " refused");
    return c;
}

/// The PostgreSQL backends of the bridge's request threads.
std::vector<pid_t> request_backends(fixture& f) {
    pg::connection c(f.db.conninfo());
    const auto r = c.exec("SELECT pid FROM pg_stat_activity WHERE application_name = 'mqchat-bridge-requests'");
    std::vector<pid_t> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(static_cast<pid_t>(r.int64(i, 0)));
    return out;
}

} // namespace

class request_pool_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(request_pool_test);
    CPPUNIT_TEST(stuck_requests_hold_up_no_chat_and_overflow_is_answered_at_once);
    CPPUNIT_TEST_SUITE_END();

public:
    void stuck_requests_hold_up_no_chat_and_overflow_is_answered_at_once() {
        fixture f;
        auto alice = login(f, "alice");
        auto bob = login(f, "bob");
        const std::string inbox = "chat/user/alice/inbox";
        const std::string msg = "chat/conv/" + std::to_string(f.conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe(inbox));
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(msg));
        received r;
        // One request first, so the request thread has its connection.
        CPPUNIT_ASSERT_EQUAL(0, alice->publish_request("chat/rpc/conv.list", "{}", inbox, "warm"));
        CPPUNIT_ASSERT(alice->wait_message(r, 10s, inbox));
        CPPUNIT_ASSERT_EQUAL(std::string("warm"), r.correlation_data);
        const auto backends = request_backends(f);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), backends.size());

        kill(backends[0], SIGSTOP);
        const int sent = queue_max + 8;
        const std::string history = "{\"conv\":" + std::to_string(f.conv) + "}";
        for (int i = 0; i < sent; ++i)
            CPPUNIT_ASSERT_EQUAL(0, alice->publish_request("chat/rpc/history", history, inbox, "h-" + std::to_string(i)));
        // While the request thread is stuck, a chat message is stored,
        // delivered and acked as usual.
        CPPUNIT_ASSERT_EQUAL(0, alice->publish("chat/conv/" + std::to_string(f.conv) + "/send",
                                               R"({"id":"while-stuck","body":"chat goes on"})"));
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, msg));
        CPPUNIT_ASSERT_EQUAL(std::string("while-stuck"), parse_delivered(r.payload).id);
        // The requests the queue could not take are answered now, not later.
        std::set<std::string> overloaded;
        bool acked = false;
        while (alice->wait_message(r, 2s, inbox)) {
            const Json::Value v = json_of(r.payload);
            if (v.isMember("ack")) {
                acked = true;
                continue;
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, std::string("overloaded"), v["error"]["code"].asString());
            CPPUNIT_ASSERT_MESSAGE(r.payload, v["error"]["retry_after_ms"].asInt64() >= 100);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.payload, std::string("history"), v["method"].asString());
            overloaded.insert(r.correlation_data);
        }
        CPPUNIT_ASSERT(acked);
        // queue_max waiting, one more in the thread's hands if it took the
        // first before the others came; the rest refused.
        CPPUNIT_ASSERT_MESSAGE(std::to_string(overloaded.size()),
                               overloaded.size() == static_cast<std::size_t>(sent - 1 - queue_max) ||
                                   overloaded.size() == static_cast<std::size_t>(sent - queue_max));

        kill(backends[0], SIGCONT);
        std::set<std::string> answered;
        while (answered.size() + overloaded.size() < static_cast<std::size_t>(sent) && alice->wait_message(r, 10s, inbox)) {
            const Json::Value v = json_of(r.payload);
            CPPUNIT_ASSERT_MESSAGE(r.payload, v.isMember("result"));
            CPPUNIT_ASSERT_MESSAGE(r.correlation_data, !overloaded.count(r.correlation_data));
            answered.insert(r.correlation_data);
        }
        CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(sent) - overloaded.size(), answered.size());
        // Coming back after the hint works.
        CPPUNIT_ASSERT_EQUAL(0, alice->publish_request("chat/rpc/history", history, inbox, "again"));
        CPPUNIT_ASSERT(alice->wait_message(r, 10s, inbox));
        CPPUNIT_ASSERT_EQUAL(std::string("again"), r.correlation_data);
        CPPUNIT_ASSERT(json_of(r.payload).isMember("result"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(request_pool_test);
