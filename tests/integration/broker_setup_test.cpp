// How the plugin sits in a broker an operator configures: bad options stop
// the broker at start with a line naming them; chat and ordinary MQTT share
// one broker, each under its own auth; `exclusive` makes a chat-only broker.

#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>

#include <mqtt_protocol.h>

#include <memory>
#include <thread>

#include "common/password.hpp"
#include "common/pg.hpp"

#include "support/mqtt_client.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int not_authorized = MQTT_RC_NOT_AUTHORIZED;

/// One database with a chat user (alice, in conversation 1 with bob) shared
/// by every broker these tests start.
struct fixture {
    temp_dir dir{"setup"};
    pg_cluster db{dir};
    std::string password_file = dir.file("passwd");
    std::string acl_file = dir.file("acl");
    fixture() {
        admin_ok(db.conninfo(), {"migrate"});
        admin_ok(db.conninfo(), {"user", "add", "alice", "--password", "pw-alice"});
        admin_ok(db.conninfo(), {"user", "add", "bob", "--password", "pw-bob"});
        admin_ok(db.conninfo(), {"conv", "create", "--member", "alice", "--member", "bob"});
        // An ordinary IoT device, known only to mosquitto's own password and ACL files.
        std::string out;
        if (run_command({"mosquitto_passwd", "-b", "-c", password_file, "sensor", "pw-sensor"}, out) != 0)
            throw std::runtime_error("mosquitto_passwd failed: " + out);
        write_file(acl_file, "user sensor\ntopic readwrite sensors/#\ntopic readwrite chat/#\n");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

int started_broker_exit(const std::vector<std::string>& plugin_options, bool with_db, std::string& log) {
    broker_options o;
    o.plugin_options = plugin_options;
    o.include_db_option = with_db;
    static int n = 0;
    broker b(shared().dir, shared().db.conninfo(), o, "bad" + std::to_string(++n));
    const int rc = b.start_expecting_exit();
    log = b.log();
    return rc;
}

} // namespace

class broker_setup_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(broker_setup_test);
    CPPUNIT_TEST(unknown_option_stops_the_broker_naming_it);
    CPPUNIT_TEST(missing_option_stops_the_broker_naming_it);
    CPPUNIT_TEST(bad_value_stops_the_broker_naming_it);
    CPPUNIT_TEST(chat_and_iot_traffic_share_a_broker);
    CPPUNIT_TEST(exclusive_broker_refuses_everyone_else);
    CPPUNIT_TEST(unreachable_database_refuses_chat_logins_but_starts);
    CPPUNIT_TEST(listen_backlog_is_widened);
    CPPUNIT_TEST(remembered_logins_survive_a_restart);
    CPPUNIT_TEST(bad_login_key_file_stops_the_broker_naming_it);
    CPPUNIT_TEST(secret_files_open_to_everyone_stop_the_broker_naming_them);
    CPPUNIT_TEST_SUITE_END();

public:
    void unknown_option_stops_the_broker_naming_it() {
        std::string log;
        CPPUNIT_ASSERT(started_broker_exit({"max_paylod 100"}, true, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("unknown option plugin_opt_max_paylod") != std::string::npos);
    }
    void missing_option_stops_the_broker_naming_it() {
        std::string log;
        CPPUNIT_ASSERT(started_broker_exit({}, false, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("missing required option plugin_opt_db_conninfo") != std::string::npos);
    }
    void bad_value_stops_the_broker_naming_it() {
        std::string log;
        CPPUNIT_ASSERT(started_broker_exit({"exclusive perhaps", "max_payload lots"}, true, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("plugin_opt_exclusive 'perhaps'") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("plugin_opt_max_payload 'lots'") != std::string::npos);
    }

    void chat_and_iot_traffic_share_a_broker() {
        broker_options o;
        o.extra_lines = {"password_file " + shared().password_file, "acl_file " + shared().acl_file};
        broker b(shared().dir, shared().db.conninfo(), o, "shared");
        b.start();

        mqtt_client sensor(b.port(), {"", "sensor", "pw-sensor"});
        CPPUNIT_ASSERT_EQUAL(0, sensor.connect()); // the plugin deferred; the password file said yes
        mqtt_client wrong(b.port(), {"", "sensor", "nope"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, wrong.connect());
        CPPUNIT_ASSERT_EQUAL(1, sensor.subscribe("sensors/#"));
        CPPUNIT_ASSERT_EQUAL(0, sensor.publish("sensors/kitchen/temp", "21.5"));
        received r;
        CPPUNIT_ASSERT(sensor.wait_message(r, 10s, "sensors/kitchen/temp"));
        CPPUNIT_ASSERT_EQUAL(std::string("21.5"), r.payload);
        // The ACL file grants the sensor chat/#, but the chat prefix is the plugin's alone.
        CPPUNIT_ASSERT_EQUAL(not_authorized, sensor.publish("chat/conv/1/send", R"({"id":"s","body":"b"})"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, sensor.subscribe("chat/conv/1/msg"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, sensor.subscribe("chat/#"));
        // Wildcards that merely could reach chat topics are the ACL file's to
        // grant; the plugin then decides each chat delivery.
        CPPUNIT_ASSERT_EQUAL(1, sensor.subscribe("#"));
        CPPUNIT_ASSERT_EQUAL(1, sensor.subscribe("+/+/+/+"));

        mqtt_client alice(b.port(), {"", "alice", "pw-alice"});
        CPPUNIT_ASSERT_EQUAL(0, alice.connect());
        CPPUNIT_ASSERT_EQUAL(1, alice.subscribe("chat/conv/1/msg"));
        // Outside the prefix the ACL file decides, as if the plugin were not there: it has no rule for alice.
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.publish("sensors/kitchen/temp", "0"));
        // Alice's typing reaches bob's topic, never the sensor's `#` (no bridge
        // runs here, so typing is the chat traffic that flows).
        CPPUNIT_ASSERT_EQUAL(0, sensor.publish("sensors/kitchen/temp", "22"));
        CPPUNIT_ASSERT(sensor.wait_message(r, 10s, "sensors/kitchen/temp"));
        for (const auto& m : sensor.take_all()) // alice's retained presence included
            CPPUNIT_ASSERT_MESSAGE(m.topic, m.topic.rfind("chat/", 0) != 0);
        CPPUNIT_ASSERT_EQUAL(1, alice.subscribe("chat/conv/1/typing"));
        CPPUNIT_ASSERT_EQUAL(0, alice.publish("chat/conv/1/typing", R"({"typing":true})"));
        CPPUNIT_ASSERT(alice.wait_message(r, 10s, "chat/conv/1/typing"));
        CPPUNIT_ASSERT_EQUAL(0, sensor.publish("sensors/kitchen/temp", "23"));
        CPPUNIT_ASSERT(sensor.wait_message(r, 10s, "sensors/kitchen/temp"));
        for (const auto& m : sensor.take_all())
            CPPUNIT_ASSERT_MESSAGE(m.topic, m.topic.rfind("chat/", 0) != 0);
    }

    void exclusive_broker_refuses_everyone_else() {
        broker_options o;
        o.extra_lines = {"password_file " + shared().password_file, "acl_file " + shared().acl_file};
        o.plugin_options = {"exclusive true"};
        broker b(shared().dir, shared().db.conninfo(), o, "exclusive");
        b.start();
        mqtt_client sensor(b.port(), {"", "sensor", "pw-sensor"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, sensor.connect());
        mqtt_client alice(b.port(), {"", "alice", "pw-alice"});
        CPPUNIT_ASSERT_EQUAL(0, alice.connect());
        CPPUNIT_ASSERT_EQUAL(1, alice.subscribe("chat/conv/1/msg"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.subscribe("sensors/#"));
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.publish("sensors/kitchen/temp", "0"));
    }

    void unreachable_database_refuses_chat_logins_but_starts() {
        broker_options o;
        o.include_db_option = false;
        o.plugin_options = {"db_conninfo host=127.0.0.1 port=" + std::to_string(free_port()) + " connect_timeout=1",
                            "startup_wait_ms 500"};
        broker b(shared().dir, "", o, "nodb");
        b.start();
        mqtt_client alice(b.port(), {"", "alice", "pw-alice"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, alice.connect());
        const std::string log = b.log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("could not load users within 500 ms") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("database unavailable, retrying") != std::string::npos);
    }

    void listen_backlog_is_widened() {
        broker_options o;
        o.plugin_options = {"listen_backlog 1024"};
        broker b(shared().dir, shared().db.conninfo(), o, "backlog");
        b.start();
        mqtt_client alice(b.port(), {"", "alice", "pw-alice"}); // some traffic, so the first TICK has run
        CPPUNIT_ASSERT_EQUAL(0, alice.connect());
        std::string ss;
        CPPUNIT_ASSERT_EQUAL(0, run_command({"ss", "-ltnH", "sport = :" + std::to_string(b.port())}, ss));
        // For a listening socket ss shows the backlog as Send-Q: "LISTEN 0 1024 127.0.0.1:port ..."
        CPPUNIT_ASSERT_MESSAGE(ss, ss.find(" 1024 ") != std::string::npos);
        const std::string log = b.log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("listen backlog of 1 listening sockets set to 1024") != std::string::npos);
    }

    void remembered_logins_survive_a_restart() {
        // With a login key, a password that passed Argon2id once is remembered
        // in the database: after a broker restart the reconnect is a hash.
        const std::string key = shared().dir.file("login.key");
        write_secret_file(key, std::string(48, 'k') + "\n");
        broker_options o;
        o.plugin_options = {"login_key_file " + key};
        broker b(shared().dir, shared().db.conninfo(), o, "remember");
        b.start();
        const std::string argon_line = "password of bob checked with Argon2id; remembered across restarts";
        auto count = [](const std::string& log, const std::string& what) {
            std::size_t n = 0;
            for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
            return n;
        };
        {
            mqtt_client bob(b.port(), {"", "bob", "pw-bob"});
            CPPUNIT_ASSERT_EQUAL(0, bob.connect());
        }
        pg::connection db(shared().db.conninfo());
        const std::string stored = "SELECT count(*) FROM login_digests d JOIN users u ON u.id = d.user_id WHERE u.name = 'bob'";
        for (int i = 0; i < 50 && db.exec(stored).int64(0, 0) == 0; ++i) std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.exec(stored).int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), count(b.log(), argon_line));

        b.stop();
        b.start();
        {
            mqtt_client bob(b.port(), {"", "bob", "pw-bob"});
            CPPUNIT_ASSERT_EQUAL(0, bob.connect());
            mqtt_client wrong(b.port(), {"", "bob", "not-bobs"});
            CPPUNIT_ASSERT_EQUAL(not_authorized, wrong.connect());
        }
        CPPUNIT_ASSERT_MESSAGE(b.log(), count(b.log(), argon_line) == 1); // the log file spans both runs

        // A new password: the stored digest goes with the old hash, the old
        // password stops working and the new one needs Argon2id once.
        db.exec("UPDATE users SET password_hash = $1 WHERE name = 'bob'", {password::hash("pw-bob-2")});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec(stored).int64(0, 0));
        for (int i = 0; i < 50; ++i) { // the plugin hears of the change within moments
            mqtt_client old_pw(b.port(), {"", "bob", "pw-bob"});
            if (old_pw.connect() != 0) break;
            std::this_thread::sleep_for(100ms);
        }
        mqtt_client old_pw(b.port(), {"", "bob", "pw-bob"});
        CPPUNIT_ASSERT_EQUAL(not_authorized, old_pw.connect());
        mqtt_client new_pw(b.port(), {"", "bob", "pw-bob-2"});
        CPPUNIT_ASSERT_EQUAL(0, new_pw.connect());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), count(b.log(), argon_line));
        db.exec("UPDATE users SET password_hash = $1 WHERE name = 'bob'", {password::hash("pw-bob")});
    }

    void bad_login_key_file_stops_the_broker_naming_it() {
        std::string log;
        const std::string short_key = shared().dir.file("short.key");
        write_secret_file(short_key, "short\n");
        CPPUNIT_ASSERT(started_broker_exit({"login_key_file " + short_key}, true, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("plugin_opt_login_key_file: the key file " + short_key +
                                             " must hold at least 32 bytes") != std::string::npos);
    }

    void secret_files_open_to_everyone_stop_the_broker_naming_them() {
        std::string log;
        const std::string key = shared().dir.file("open.key");
        write_file(key, std::string(48, 'k') + "\n");
        std::filesystem::permissions(key, std::filesystem::perms(0644));
        CPPUNIT_ASSERT(started_broker_exit({"login_key_file " + key}, true, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("plugin_opt_login_key_file: the secret file " + key +
                                             " can be read or written by every user (mode 0644); chmod o-rwx") !=
                                        std::string::npos);
        const std::string secret = shared().dir.file("open-hs256.secret");
        write_file(secret, std::string(40, 's') + "\n");
        std::filesystem::permissions(secret, std::filesystem::perms(0666));
        CPPUNIT_ASSERT(started_broker_exit({"jwt_hs256_secret_file " + secret}, true, log) != 0);
        CPPUNIT_ASSERT_MESSAGE(log, log.find("plugin_opt_jwt_hs256_secret_file: the secret file " + secret +
                                             " can be read or written by every user (mode 0666)") != std::string::npos);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(broker_setup_test);
