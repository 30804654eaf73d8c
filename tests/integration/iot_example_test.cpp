// examples/iot_sensor against the real stack: a device user logged in with a
// token minted by mqchat-admin, posting alerts into a conversation where a
// human member (a real MQTT client) talks to it. Counts, not timings: every
// wait is for an outcome (a log line, a message, a row), with a generous
// deadline.
//
// Helpers kept in this file (not tests/support): `sensor_device` runs the
// example as a child process and reads its log; `conv_rows` counts what the
// database stored.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

const std::string secret = "an-iot-shared-secret-of-at-least-32-bytes";

struct fixture {
    temp_dir keys{"iot-keys"}, certs{"iot-tls"}, other_ca{"iot-tls-other"};
    int tls_port = free_port();
    std::unique_ptr<chat_stack> stack;

    fixture() {
        write_secret_file(keys.file("hs256.secret"), secret + "\n");
        write_secret_file(keys.file("other.secret"), "not-the-brokers-secret-but-also-32-bytes-long\n");
        // A TLS listener with certificates from the script scripts/run uses.
        for (const auto* d : {&certs, &other_ca}) {
            std::string out;
            if (run_command({"bash", source_dir() + "/scripts/make-certs", d->path()}, out) != 0)
                throw std::runtime_error("make-certs failed:\n" + out);
        }
        broker_options o;
        o.extra_lines = {"listener " + std::to_string(tls_port) + " 127.0.0.1", "certfile " + certs.file("server.crt"),
                         "keyfile " + certs.file("server.key")};
        o.plugin_options = {"jwt_hs256_secret_file " + keys.file("hs256.secret")};
        stack = std::make_unique<chat_stack>("iot", o);
        stack->add_user("alice", "pw-alice");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

/// The example device as a child process, with its own sensor, token and
/// spool files in the suite's directory.
class sensor_device {
public:
    sensor_device(const std::string& name, std::int64_t conv, const std::string& secret_file = "")
        : name_(name), conv_(conv), dir_("iot-" + name) {
        auto& f = shared();
        // The whole output of user-token, as an operator would save it: the device takes the last line.
        write_file(token_file(), admin_ok(f.stack->conninfo(),
                                          {"user-token", name, "--secret-file",
                                           secret_file.empty() ? f.keys.file("hs256.secret") : secret_file}));
        set_value("0");
    }
    ~sensor_device() { stop(SIGKILL); }

    std::string token_file() const { return dir_.file("token"); }
    std::string spool_file() const { return dir_.file("spool"); }
    std::string log() const { return read_file(dir_.file("device.log")); }
    /// Where the log ends now: waits look for lines after it.
    std::size_t mark() const { return log().size(); }

    /// Writes the simulated sensor's file at once (rename), as a driver would.
    void set_value(const std::string& value) {
        write_file(dir_.file("value.tmp"), value + "\n");
        std::filesystem::rename(dir_.file("value.tmp"), dir_.file("value"));
    }
    /// Writes the value and waits until the device has read it (-v logs each new reading).
    void feed(const std::string& value) {
        const std::size_t from = mark();
        set_value(value);
        if (!wait_log("reading " + value + "\n", from))
            throw std::runtime_error(name_ + " never read " + value + ":\n" + log());
    }

    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{bin_dir() + "/iot_sensor", "--port", std::to_string(shared().stack->port()),
                                      "--user", name_, "--token-file", token_file(), "--conv", std::to_string(conv_),
                                      "--client-id", "iot-" + name_, "--sensor-file", dir_.file("value"),
                                      "--spool-file", spool_file(), "--threshold", "50", "--hysteresis", "5",
                                      "--interval", "100", "--resend", "1000", "--backoff-min", "100",
                                      "--backoff-max", "1000", "-v"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process_ = child_process(argv, dir_.file("device.log"));
    }
    /// Starts and waits until it is connected and subscribed.
    void start_connected(std::vector<std::string> extra = {}) {
        const std::size_t from = mark();
        start(std::move(extra));
        if (!wait_log("connected and subscribed", from)) throw std::runtime_error(name_ + " did not connect:\n" + log());
    }
    int stop(int sig) { return process_.stop(sig); }
    bool running() { return process_.running(); }

    bool wait_log(const std::string& text, std::size_t from, std::chrono::milliseconds limit = 30s) const {
        return eventually([&] { return log().find(text, from) != std::string::npos; }, limit);
    }

private:
    std::string name_;
    std::int64_t conv_;
    temp_dir dir_;
    child_process process_;
};

/// A user for the device (it logs in with its token only) and a conversation of alice and it.
std::int64_t device_conv(const std::string& device) {
    shared().stack->add_user(device, "unused-" + device);
    return shared().stack->create_conv({"alice", device});
}

/// The human member: alice, subscribed to the conversation.
std::unique_ptr<mqtt_client> human(std::int64_t conv) {
    auto c = login(shared().stack->port(), "alice", "pw-alice", "");
    if (subscribe_as_member(*c, "chat/conv/" + std::to_string(conv) + "/msg") != 1) throw std::runtime_error("alice cannot subscribe");
    return c;
}

/// Alice says something in the conversation (acked, hence stored).
void say_in(mqtt_client& alice, std::int64_t conv, const std::string& body) {
    static int n = 0;
    Json::Value send(Json::objectValue);
    send["id"] = "alice-" + std::to_string(++n);
    send["body"] = body;
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    if (alice.publish("chat/conv/" + std::to_string(conv) + "/send", Json::writeString(w, send)) != 0)
        throw std::runtime_error("alice's send was refused: " + body);
}

/// The stored messages of `sender` in `conv` of one type (all types when empty), in seq order.
std::vector<std::string> conv_rows(std::int64_t conv, const std::string& sender, const std::string& type) {
    pg::connection db(shared().stack->conninfo());
    auto r = db.exec("SELECT m.body FROM messages m JOIN users u ON u.id = m.sender_id"
                     " WHERE m.conv_id = $1 AND u.name = $2 AND ($3 = '' OR m.type = $3) ORDER BY m.seq",
                     {std::to_string(conv), sender, type});
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
}

/// Waits for the device's next reply (type iot.reply) on alice's subscription; returns its body.
std::string next_reply(mqtt_client& alice, const std::string& device, std::chrono::milliseconds limit = 30s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    received r;
    while (std::chrono::steady_clock::now() < until) {
        if (!alice.wait_message(r, 500ms)) continue;
        const Json::Value m = json_of(r.payload);
        if (m["sender"].asString() == device && m["type"].asString() == "iot.reply") return m["body"].asString();
    }
    throw std::runtime_error("no reply from " + device);
}

/// Sends a command and returns the device's answer.
std::string ask(mqtt_client& alice, std::int64_t conv, const std::string& device, const std::string& command) {
    say_in(alice, conv, "@" + device + " " + command);
    return next_reply(alice, device);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A wait status of an exit with code 0 (not a signal).
bool clean_exit(int status) { return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/// Whether the device's spool holds no unacked message, within 10 s: the
/// device logs an ack just before it rewrites its spool without the message
/// (outbox_acked), so under load the file may lag the log line.
bool spool_empties(const std::string& spool) {
    return eventually([&] { return !has(read_file(spool), "\nmsg "); }, 10s);
}

} // namespace

class iot_example_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(iot_example_test);
    CPPUNIT_TEST(alert_is_stored_with_a_seq_and_delivered_once);
    CPPUNIT_TEST(hysteresis_gives_one_alert_per_crossing);
    CPPUNIT_TEST(commands_change_its_behaviour_and_status_answers);
    CPPUNIT_TEST(bad_commands_get_a_clear_reply_and_change_nothing);
    CPPUNIT_TEST(commands_sent_while_stopped_arrive_after_restart);
    CPPUNIT_TEST(alert_pending_through_a_broker_kill_arrives_once);
    CPPUNIT_TEST(kill_9_with_an_unacked_alert_sends_it_once_after_restart);
    CPPUNIT_TEST(kill_9_with_an_unsent_alert_while_the_broker_is_down_sends_it_once);
    CPPUNIT_TEST(wrong_token_is_refused_with_backoff_then_a_new_token_works);
    CPPUNIT_TEST(over_tls_with_the_right_ca_only);
    CPPUNIT_TEST_SUITE_END();

public:
    void alert_is_stored_with_a_seq_and_delivered_once() {
        const std::int64_t conv = device_conv("sensor-a");
        auto alice = human(conv);
        sensor_device dev("sensor-a", conv);
        dev.start_connected();
        dev.feed("20");
        const std::size_t from = dev.mark();
        dev.feed("61.5");
        CPPUNIT_ASSERT(dev.wait_log("acked ", from));

        // Alice gets it once, with its seq; the database holds it once.
        received r;
        CPPUNIT_ASSERT(alice->wait_message(r, 10s));
        const delivered alert = parse_delivered(r.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-a"), alert.sender);
        CPPUNIT_ASSERT(alert.seq > 0);
        CPPUNIT_ASSERT_EQUAL(std::string("iot.alert"), json_of(r.payload)["type"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-a: 61.5 reached the threshold 50"), alert.body);
        CPPUNIT_ASSERT(has(dev.log(), "acked " + alert.id + " as seq " + std::to_string(alert.seq)));
        // A status round trip orders after it: nothing else came in between.
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-a", "status"), "alarm high"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), conv_rows(conv, "sensor-a", "iot.alert").size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), alice->take_all().size());
        CPPUNIT_ASSERT(has(read_file(dev.spool_file()), "alarm high 1\n"));
        CPPUNIT_ASSERT(spool_empties(dev.spool_file())); // nothing left unacked

        // SIGTERM: a clean stop, exit code 0, saying so.
        CPPUNIT_ASSERT(clean_exit(dev.stop(SIGTERM)));
        CPPUNIT_ASSERT(has(dev.log(), "stopping on SIGTERM, 0 unsent"));
    }

    void hysteresis_gives_one_alert_per_crossing() {
        const std::int64_t conv = device_conv("sensor-b");
        auto alice = human(conv);
        sensor_device dev("sensor-b", conv);
        dev.start_connected();
        // Threshold 50, hysteresis 5: up, wobble above 45, down below 45, up again.
        for (const char* v : {"40", "50", "47", "52", "45", "58", "44", "46", "49", "51", "53"}) dev.feed(v);
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-b", "status"), "alarm high"));
        CPPUNIT_ASSERT(eventually([&] { return conv_rows(conv, "sensor-b", "").size() == 4; }, 30s));
        const auto rows = conv_rows(conv, "sensor-b", "");
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-b: 50 reached the threshold 50"), rows[0]);
        CPPUNIT_ASSERT_EQUAL(std::string("OK sensor-b: 44 is back below 45"), rows[1]);
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-b: 51 reached the threshold 50"), rows[2]);
        CPPUNIT_ASSERT(has(rows[3], "sensor-b: value 53, alarm high"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), conv_rows(conv, "sensor-b", "iot.alert").size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), conv_rows(conv, "sensor-b", "iot.clear").size());
    }

    void commands_change_its_behaviour_and_status_answers() {
        const std::int64_t conv = device_conv("sensor-c");
        auto alice = human(conv);
        sensor_device dev("sensor-c", conv);
        dev.start_connected();
        dev.feed("35");
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-c", "status"),
                           "sensor-c: value 35, alarm normal, threshold 50, hysteresis 5, interval 100 ms, alerts on"));

        // Not addressed to it: ignored (the next reply is the one to "threshold").
        say_in(*alice, conv, "hello @sensor-c");
        say_in(*alice, conv, "@sensor-cx status");
        say_in(*alice, conv, "sensor-c status");
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: threshold 30 (was 50)"), ask(*alice, conv, "sensor-c", "threshold 30"));
        CPPUNIT_ASSERT(eventually([&] { return conv_rows(conv, "sensor-c", "iot.alert").size() == 1; }, 30s));
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-c: 35 reached the threshold 30"),
                             conv_rows(conv, "sensor-c", "iot.alert")[0]);

        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: interval 250 ms (was 100 ms)"), ask(*alice, conv, "sensor-c", "interval 250"));
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: hysteresis 2 (was 5)"), ask(*alice, conv, "sensor-c", "hysteresis 2"));
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: alerts muted"), ask(*alice, conv, "sensor-c", "mute"));
        dev.feed("20"); // back to normal: muted, no message
        dev.feed("45"); // a new crossing: muted, no alert
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: value 45, alarm high, threshold 30, hysteresis 2, interval 250 ms, "
                                         "alerts muted, queue 0/16, dropped 0, refused 0"),
                             ask(*alice, conv, "sensor-c", "status"));
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-c: alerts on"), ask(*alice, conv, "sensor-c", "unmute"));
        dev.feed("20");
        dev.feed("40");
        CPPUNIT_ASSERT(eventually([&] { return conv_rows(conv, "sensor-c", "iot.alert").size() == 2; }, 30s));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-c", "help"), "commands: status | threshold N"));

        // Every reply answers its command (reply_to) and nothing else was said.
        CPPUNIT_ASSERT_EQUAL(std::size_t(8), conv_rows(conv, "sensor-c", "iot.reply").size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), conv_rows(conv, "sensor-c", "iot.clear").size());
        pg::connection db(shared().stack->conninfo());
        auto r = db.exec("SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id JOIN messages c"
                         " ON c.conv_id = m.conv_id AND c.seq = m.reply_to"
                         " WHERE m.conv_id = $1 AND u.name = 'sensor-c' AND m.type = 'iot.reply' AND c.body LIKE '@sensor-c %'",
                         {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(8), r.int64(0, 0));
    }

    void bad_commands_get_a_clear_reply_and_change_nothing() {
        const std::int64_t conv = device_conv("sensor-d");
        auto alice = human(conv);
        sensor_device dev("sensor-d", conv);
        dev.start_connected();
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-d: error: bad threshold 'abc' (a number from -1e9 to 1e9); nothing changed"),
                             ask(*alice, conv, "sensor-d", "threshold abc"));
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-d: error: bad interval '5' (whole milliseconds, 50 to 86400000); "
                                         "nothing changed"),
                             ask(*alice, conv, "sensor-d", "interval 5"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "hysteresis -1"), "error: bad hysteresis '-1'"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "threshold"), "error: threshold takes exactly one value"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "threshold 1 2"), "error: threshold takes exactly one value"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "mute now"), "error: mute takes no value; nothing changed"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "reboot"), "error: unknown command 'reboot'; nothing changed"));
        // A long value with multi-byte characters is cut short, on a character boundary (still valid UTF-8).
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "threshold ééééééééééééééééééééé"),
                           "error: bad threshold 'éééééééééééé…'"));
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-d", "status"),
                           "threshold 50, hysteresis 5, interval 100 ms, alerts on, queue 0/16"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), conv_rows(conv, "sensor-d", "iot.alert").size());
    }

    void commands_sent_while_stopped_arrive_after_restart() {
        const std::int64_t conv = device_conv("sensor-e");
        auto alice = human(conv);
        sensor_device dev("sensor-e", conv);
        dev.start_connected();
        CPPUNIT_ASSERT(clean_exit(dev.stop(SIGINT)));
        CPPUNIT_ASSERT(has(dev.log(), "stopping on SIGINT"));

        say_in(*alice, conv, "@sensor-e threshold 77");
        say_in(*alice, conv, "@sensor-e mute");
        say_in(*alice, conv, "@sensor-e status");
        dev.start_connected(); // same client id: the session kept them
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-e: threshold 77 (was 50)"), next_reply(*alice, "sensor-e"));
        CPPUNIT_ASSERT_EQUAL(std::string("sensor-e: alerts muted"), next_reply(*alice, "sensor-e"));
        CPPUNIT_ASSERT(has(next_reply(*alice, "sensor-e"), "threshold 77, hysteresis 5, interval 100 ms, alerts muted"));

        // Restarted again, it does not run them twice (the last command's seq is in its spool).
        dev.stop(SIGTERM);
        dev.start_connected();
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-e", "status"), "threshold 50")); // a fresh start: command-line settings
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), conv_rows(conv, "sensor-e", "iot.reply").size());
    }

    void alert_pending_through_a_broker_kill_arrives_once() {
        auto& s = *shared().stack;
        const std::int64_t conv = device_conv("sensor-f");
        sensor_device dev("sensor-f", conv);
        dev.start_connected();
        dev.feed("10");

        s.mqtt->stop(SIGKILL);
        std::size_t from = dev.mark();
        dev.feed("90"); // the alert waits in the spool, the device cannot reach the broker
        CPPUNIT_ASSERT(dev.wait_log("queued ", from));
        CPPUNIT_ASSERT(dev.wait_log("cannot reach", from));
        CPPUNIT_ASSERT(has(read_file(dev.spool_file()), "\nmsg "));

        from = dev.mark();
        s.mqtt->start();
        CPPUNIT_ASSERT(dev.wait_log("connected and subscribed", from));
        CPPUNIT_ASSERT(dev.wait_log("acked ", from, 60s)); // the bridge reconnects on its own
        auto alice = human(conv);
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-f", "status"), "alarm high"));
        const auto alerts = conv_rows(conv, "sensor-f", "iot.alert");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), alerts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-f: 90 reached the threshold 50"), alerts[0]);
    }

    void kill_9_with_an_unacked_alert_sends_it_once_after_restart() {
        auto& s = *shared().stack;
        const std::int64_t conv = device_conv("sensor-g");
        sensor_device dev("sensor-g", conv);
        dev.start_connected();
        dev.feed("10");

        // Without the bridge nothing is acked: the device publishes and resends.
        s.store->stop(SIGKILL);
        std::size_t from = dev.mark();
        dev.feed("75");
        CPPUNIT_ASSERT(dev.wait_log("resending ", from));
        const std::string spool = read_file(dev.spool_file());
        CPPUNIT_ASSERT(has(spool, "\nmsg "));
        dev.stop(SIGKILL); // kill -9: no goodbye
        CPPUNIT_ASSERT(!has(dev.log(), "stopping on"));
        CPPUNIT_ASSERT_EQUAL(spool, read_file(dev.spool_file()));

        s.store->start();
        from = dev.mark();
        dev.start_connected();
        CPPUNIT_ASSERT(has(dev.log().substr(from), "spool " + dev.spool_file() + ": 1 unsent, alarm high"));
        CPPUNIT_ASSERT(dev.wait_log("acked ", from));
        auto alice = human(conv);
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-g", "status"), "value 75, alarm high"));
        // Once: the resends from before the kill and after it are one message
        // (same id), and the restart did not raise a second alert.
        const auto alerts = conv_rows(conv, "sensor-g", "iot.alert");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), alerts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-g: 75 reached the threshold 50"), alerts[0]);
    }

    void kill_9_with_an_unsent_alert_while_the_broker_is_down_sends_it_once() {
        auto& s = *shared().stack;
        const std::int64_t conv = device_conv("sensor-i");
        sensor_device dev("sensor-i", conv);
        dev.start_connected();
        dev.feed("10");

        // The alert is raised while the broker is away: never published, only spooled.
        s.mqtt->stop(SIGTERM);
        std::size_t from = dev.mark();
        dev.feed("80");
        CPPUNIT_ASSERT(dev.wait_log("queued ", from));
        dev.stop(SIGKILL);
        CPPUNIT_ASSERT(has(read_file(dev.spool_file()), "\nmsg "));

        s.mqtt->start();
        from = dev.mark();
        dev.start_connected();
        CPPUNIT_ASSERT(has(dev.log().substr(from), "spool " + dev.spool_file() + ": 1 unsent, alarm high"));
        CPPUNIT_ASSERT(dev.wait_log("acked ", from, 60s)); // the bridge reconnects on its own
        auto alice = human(conv);
        CPPUNIT_ASSERT(has(ask(*alice, conv, "sensor-i", "status"), "value 80, alarm high"));
        const auto alerts = conv_rows(conv, "sensor-i", "iot.alert");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), alerts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ALERT sensor-i: 80 reached the threshold 50"), alerts[0]);
        CPPUNIT_ASSERT(spool_empties(dev.spool_file()));
    }

    void wrong_token_is_refused_with_backoff_then_a_new_token_works() {
        auto& f = shared();
        const std::int64_t conv = device_conv("sensor-h");
        sensor_device dev("sensor-h", conv, f.keys.file("other.secret")); // signed with the wrong key
        const std::string refusal = "refused login of sensor-h";
        const std::size_t before = count_of(f.stack->mqtt->log(), refusal);
        dev.start({"--backoff-min", "200", "--backoff-max", "2000"});
        CPPUNIT_ASSERT(eventually([&] { return count_of(f.stack->mqtt->log(), refusal) > before; }, 30s));
        std::this_thread::sleep_for(5s); // an observation window: counts, not timings
        const std::size_t attempts = count_of(f.stack->mqtt->log(), refusal) - before;
        CPPUNIT_ASSERT(dev.running());
        CPPUNIT_ASSERT(has(dev.log(), "login refused"));
        // Retrying, but not hammering: with 200 ms doubling to 2 s (half of it
        // random) about 8 attempts fit in 5 s (fewer on a slow machine, a few
        // more if this thread was held up); a client without backoff makes hundreds.
        CPPUNIT_ASSERT_MESSAGE(std::to_string(attempts) + " attempts", attempts >= 2 && attempts <= 15);
        // The waits it announced grew to the cap and never passed it.
        long longest = 0;
        const std::string log = dev.log(), said = "next attempt in ";
        for (auto at = log.find(said); at != std::string::npos; at = log.find(said, at + 1)) {
            const long ms = std::stol(log.substr(at + said.size()));
            CPPUNIT_ASSERT_MESSAGE(std::to_string(ms) + " ms", ms >= 100 && ms <= 2000);
            longest = std::max(longest, ms);
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(longest) + " ms", longest >= 1000);

        // The token file is read at every attempt: a good token gets it in, without a restart.
        const std::size_t from = dev.mark();
        write_file(dev.token_file(),
                   admin_ok(f.stack->conninfo(), {"user-token", "sensor-h", "--secret-file", f.keys.file("hs256.secret")}));
        CPPUNIT_ASSERT(dev.wait_log("connected and subscribed", from));
    }

    void over_tls_with_the_right_ca_only() {
        auto& f = shared();
        const std::int64_t conv = device_conv("sensor-j");
        sensor_device dev("sensor-j", conv);
        dev.start_connected({"--cafile", f.certs.file("ca.crt"), "--port", std::to_string(f.tls_port)});
        dev.feed("20");
        const std::size_t from = dev.mark();
        dev.feed("70");
        CPPUNIT_ASSERT(dev.wait_log("acked ", from));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), conv_rows(conv, "sensor-j", "iot.alert").size());

        // A device that trusts another CA does not talk to this broker: it keeps backing off.
        sensor_device stranger("sensor-k", device_conv("sensor-k"));
        stranger.start({"--cafile", f.other_ca.file("ca.crt"), "--port", std::to_string(f.tls_port)});
        CPPUNIT_ASSERT(eventually([&] { return count_of(stranger.log(), "next attempt in ") >= 3; }, 30s));
        CPPUNIT_ASSERT(!has(stranger.log(), "connected and subscribed"));
        CPPUNIT_ASSERT(stranger.running());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(iot_example_test);
