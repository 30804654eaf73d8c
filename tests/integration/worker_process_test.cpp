// The plugin's worker process (plugin/worker_process.hpp), against a real
// broker, database and bridge: the broker stays single-threaded, a worker
// process that dies is replaced (and the broker goes on from memory
// meanwhile), and the worker process never outlives its broker.

#include <cppunit/extensions/HelperMacros.h>

#include <dirent.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"workers"};
    std::int64_t conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob"}) stack.add_user(u, std::string("pw-") + u);
        conv = stack.create_conv({"alice", "bob"});
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

int threads_of(pid_t pid) {
    int n = 0;
    DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
    if (!d) return -1;
    while (const dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

std::unique_ptr<mqtt_client> login(const std::string& user) {
    auto c = std::make_unique<mqtt_client>(shared().stack.port(), client_options{"", user, "pw-" + user, 5});
    const int rc = c->connect();
    if (rc != 0) throw std::runtime_error("login of " + user + " refused: " + std::to_string(rc));
    return c;
}

std::string conv_topic(std::int64_t conv, const std::string& leaf) {
    return "chat/conv/" + std::to_string(conv) + "/" + leaf;
}

} // namespace

class worker_process_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(worker_process_test);
    CPPUNIT_TEST(the_broker_keeps_a_single_thread);
    CPPUNIT_TEST(a_worker_process_that_dies_is_replaced);
    CPPUNIT_TEST(the_worker_process_never_outlives_its_broker);
    CPPUNIT_TEST_SUITE_END();

public:
    void the_broker_keeps_a_single_thread() {
        auto& f = shared();
        // A first login (Argon2id on the password threads), a subscription
        // and a typing message: everything the workers do has been done.
        auto alice = login("alice");
        auto bob = login("bob");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(conv_topic(f.conv, "typing")));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(conv_topic(f.conv, "typing"), R"({"typing":true})"));
        received r;
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, conv_topic(f.conv, "typing")));
        const pid_t broker = f.stack.mqtt->pid();
        // Threads in the broker make glibc slow down every syscall and
        // allocation of the broker (worker_process.hpp): none of the plugin's
        // may live there.
        CPPUNIT_ASSERT_EQUAL(1, threads_of(broker));
        CPPUNIT_ASSERT(worker_of(broker) > 0);
    }

    void a_worker_process_that_dies_is_replaced() {
        auto& f = shared();
        const pid_t broker = f.stack.mqtt->pid();
        const pid_t first = worker_of(broker);
        CPPUNIT_ASSERT(first > 0);
        auto alice = login("alice"); // her password is remembered now
        alice->disconnect();
        CPPUNIT_ASSERT_EQUAL(0, kill(first, SIGKILL));

        // Meanwhile the broker answers from memory: a remembered login and a
        // member's typing go on.
        auto again = login("alice");
        auto bob = login("bob");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(conv_topic(f.conv, "typing")));
        CPPUNIT_ASSERT_EQUAL(0, again->publish(conv_topic(f.conv, "typing"), R"({"typing":false})"));
        received r;
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, conv_topic(f.conv, "typing")));

        pid_t second = -1;
        CPPUNIT_ASSERT(eventually(
            [&] {
                second = worker_of(broker);
                return second > 0 && second != first;
            },
            15s));
        CPPUNIT_ASSERT_EQUAL(1, threads_of(broker));
        const std::string log = f.stack.mqtt->log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("the worker process ended") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("worker process started again") != std::string::npos);

        // The new one follows the database: a user and a conversation made
        // now log in (Argon2id) and are members.
        f.stack.add_user("erin", "pw-erin");
        const std::int64_t conv = f.stack.create_conv({"erin", "bob"});
        auto erin = login("erin");
        CPPUNIT_ASSERT_EQUAL(1, erin->subscribe(conv_topic(conv, "typing")));
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe(conv_topic(conv, "typing")));
        CPPUNIT_ASSERT_EQUAL(0, erin->publish(conv_topic(conv, "typing"), R"({"typing":true})"));
        CPPUNIT_ASSERT(bob->wait_message(r, 10s, conv_topic(conv, "typing")));
    }

    void the_worker_process_never_outlives_its_broker() {
        auto& f = shared();
        // Stopped: the broker closes the worker's pipe and waits for it.
        pid_t worker = worker_of(f.stack.mqtt->pid());
        CPPUNIT_ASSERT(worker > 0);
        f.stack.mqtt->stop(SIGTERM);
        CPPUNIT_ASSERT(eventually([&] { return !alive(worker); }, 5s));

        // Killed: the worker process goes with it (PR_SET_PDEATHSIG).
        f.stack.mqtt->start();
        CPPUNIT_ASSERT(eventually([&] { return worker_of(f.stack.mqtt->pid()) > 0; }, 10s));
        worker = worker_of(f.stack.mqtt->pid());
        f.stack.mqtt->stop(SIGKILL);
        CPPUNIT_ASSERT(eventually([&] { return !alive(worker); }, 5s));
        f.stack.mqtt->start(); // as the other suites leave it
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(worker_process_test);
