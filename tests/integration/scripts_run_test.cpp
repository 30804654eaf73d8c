// scripts/run as an operator uses it: the real script, in a fresh state
// directory, on free ports, started and stopped the way a terminal does
// (a signal to its process group). The operator's bridge settings live in a
// file scripts/run creates once as a template and never writes again; the
// bridge applies them at every start, after the generated bridge.conf.
//
// scripts/run is pointed at the build this test runs from (MQCHAT_BUILD, and
// MQCHAT_NO_BUILD=1 so it builds nothing), so it takes seconds, not a build.

#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <sstream>
#include <unistd.h>
#include <thread>

#include "support/chat.hpp"
#include "support/environment.hpp"
#include "support/http_get.hpp"
#include "support/mqtt_client.hpp"
#include "support/process.hpp"

using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

/// One state directory and its ports, and scripts/run started on them.
class local_stack {
public:
    local_stack() : var_(dir_.file("var")) {
        std::filesystem::create_directory(var_);
        std::filesystem::permissions(var_, std::filesystem::perms::all); // PostgreSQL runs as postgres
        for (const char* name : {"MQCHAT_MQTT_PORT", "MQCHAT_WS_PORT", "MQCHAT_TLS_PORT", "MQCHAT_WSS_PORT",
                                 "MQCHAT_PG_PORT", "MQCHAT_METRICS_PORT", "MQCHAT_PLUGIN_METRICS_PORT",
                                 "MQCHAT_MEDIA_PORT", "MQCHAT_MEDIA_METRICS_PORT", "MQCHAT_GATEWAY_METRICS_PORT"}) {
            ports_.emplace_back(name, free_port());
            env_.push_back(std::string(name) + "=" + std::to_string(ports_.back().second));
        }
        env_.push_back("MQCHAT_VAR=" + var_);
        env_.push_back("MQCHAT_BUILD=" + std::filesystem::path(bin_dir()).parent_path().string());
        env_.push_back("MQCHAT_NO_BUILD=1");
    }
    ~local_stack() {
        if (run_.running()) stop(SIGTERM);
        // If scripts/run could not clean up (the test failed half-way):
        // its children by their pid files, PostgreSQL by pg_ctl.
        for (const char* f : {"/run/bot.pid", "/run/bridge.pid", "/run/mosquitto.pid", "/run/hub.pid", "/run/haproxy.pid",
                              "/run/mosquitto-b1.pid", "/run/mosquitto-b2.pid"}) {
            const std::string pid = read_file(var_ + f);
            if (!pid.empty()) kill(std::stoi(pid), SIGKILL);
        }
        if (std::filesystem::exists(var_ + "/pg/postmaster.pid")) {
            std::string out, user;
            server_user(user);
            run_command({"pg_ctl", "-D", var_ + "/pg", "stop", "-m", "immediate"}, out, {}, user);
        }
    }

    const std::string& var() const { return var_; }
    std::string file(const std::string& name) const { return var_ + "/" + name; }
    int port(const std::string& name) const {
        for (const auto& [n, p] : ports_)
            if (n == name) return p;
        throw std::runtime_error("no port " + name);
    }
    std::string output() const { return read_file(dir_.file("run.log")); }
    std::string bridge_log() const { return read_file(file("log/bridge.log")); }

    /// Starts scripts/run and waits until it says it is running and the
    /// bridge has connected; throws with everything it printed otherwise.
    void start(const std::vector<std::string>& more_env = {}) {
        const std::size_t seen = output().size();
        const std::size_t bridges = count(bridge_log(), "mqchat-bridge: running");
        auto env = env_;
        env.insert(env.end(), more_env.begin(), more_env.end());
        run_ = child_process({"bash", source_dir() + "/scripts/run"}, dir_.file("run.log"), env);
        const auto until = std::chrono::steady_clock::now() + 45s;
        while (std::chrono::steady_clock::now() < until) {
            if (has(output().substr(seen), "mqchat is running") &&
                count(bridge_log(), "mqchat-bridge: running") > bridges)
                return;
            if (!run_.running()) break;
            std::this_thread::sleep_for(100ms);
        }
        throw std::runtime_error("scripts/run did not bring the stack up:\n" + output().substr(seen) +
                                 "\n--- bridge.log:\n" + bridge_log());
    }

    /// Runs scripts/run expecting it to give up; returns its exit code.
    int start_expecting_exit(const std::vector<std::string>& more_env = {}) {
        auto env = env_;
        env.insert(env.end(), more_env.begin(), more_env.end());
        run_ = child_process({"bash", source_dir() + "/scripts/run"}, dir_.file("run.log"), env);
        return run_.wait_exit(45s);
    }

    /// What Ctrl-C in its terminal does: `sig` to scripts/run's process group.
    /// Returns its exit code; the stack must be gone afterwards.
    int stop(int sig) {
        kill(-run_.pid(), sig);
        const int rc = run_.wait_exit(30s);
        if (rc < 0) throw std::runtime_error("scripts/run did not stop on signal " + std::to_string(sig));
        return rc;
    }

private:
    temp_dir dir_{"scripts-run"};
    std::string var_;
    std::vector<std::pair<std::string, int>> ports_;
    std::vector<std::string> env_;
    child_process run_;
};

/// The bridge's log since its last start.
std::string last_bridge_run(const std::string& log) {
    const auto at = log.rfind("mqchat-bridge: settings from");
    return at == std::string::npos ? std::string() : log.substr(at);
}

/// Waits for `line` in the bridge's log since its last start.
bool bridge_said(const local_stack& s, const std::string& line) {
    for (int i = 0; i < 100; ++i) {
        if (has(last_bridge_run(s.bridge_log()), line)) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

/// The template with every `# key   value` line uncommented.
std::string uncommented(const std::string& text) {
    static const std::regex setting(R"(^# ([a-z_]+) {2,}(\S.*)$)");
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, setting)) out += m[1].str() + " " + m[2].str() + "\n";
    }
    return out;
}

/// mqchat-admin against the stack's database; throws with its output when it fails.
void admin_of(const local_stack& s, const std::vector<std::string>& args) {
    const std::string db = read_file(s.file("db.conninfo"));
    std::string o;
    std::vector<std::string> argv{bin_dir() + "/mqchat-admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (run_command(argv, o, {"MQCHAT_DB=" + db.substr(0, db.find('\n'))}) != 0)
        throw std::runtime_error("mqchat-admin failed: " + o);
}

/// A base for MQCHAT_BROKER_PORTS whose ports for two brokers and the hub are
/// free: below the kernel's ephemeral range (32768 and up), where
/// connections take their local ports, and the other tests' listeners
/// (free_port: above it).
int free_broker_ports() {
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int base = 20000 + (free_port() % 120) * 100;
        bool all_free = bindable(base + 9);
        for (int i = 1; i <= 2 && all_free; ++i)
            for (int k = 0; k < 4 && all_free; ++k) all_free = bindable(base + 10 * i + k);
        if (all_free) return base;
    }
    throw std::runtime_error("no free ports for two brokers");
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

} // namespace

class scripts_run_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(scripts_run_test);
    CPPUNIT_TEST(operator_settings_survive_restarts);
    CPPUNIT_TEST(several_brokers_behind_one_address);
    CPPUNIT_TEST_SUITE_END();

public:
    void operator_settings_survive_restarts() {
        local_stack s;
        const std::string local = s.file("bridge.local.conf");

        // 1. First run: a commented template appears, says which file it is, and
        //    changes nothing (every line is a comment).
        s.start();
        std::string out = s.output();
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "created " + local));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "bridge settings: " + local + " (yours; read after the generated " +
                                                 s.file("bridge.conf") + ")"));
        const std::string tmpl = read_file(local);
        CPPUNIT_ASSERT_EQUAL(mode_t(0600), mode_of(local)); // it may hold an SMTP password
        for (const char* key : {"fcm_project_id", "apns_key_file", "smtp_url", "smtp_password", "email_digest_delay_s",
                                "batch_max"})
            CPPUNIT_ASSERT_MESSAGE(std::string(key) + " in\n" + tmpl, has(tmpl, std::string("# ") + key + " "));
        CPPUNIT_ASSERT_MESSAGE(s.bridge_log(), bridge_said(s, "mqchat-bridge: settings from " + s.file("bridge.conf") +
                                                                  ", " + local));
        // The demo desk's assistant runs, and the page says where to meet it.
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "/assistant.html"));
        for (int i = 0; i < 100 && !has(read_file(s.file("log/bot.log")), "mqchat-bot: running"); ++i)
            std::this_thread::sleep_for(100ms);
        CPPUNIT_ASSERT_MESSAGE(read_file(s.file("log/bot.log")), has(read_file(s.file("log/bot.log")), "mqchat-bot: running"));
        CPPUNIT_ASSERT(has(read_file(s.file("www/assistant.html")), "data-desk=\"helpdesk\""));
        // Every key the template shows is one the bridge knows, with a valid example value.
        write_file(s.file("all-keys.conf"), uncommented(tmpl));
        CPPUNIT_ASSERT(count(uncommented(tmpl), "\n") >= 10);
        std::string check;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(check, 0,
                                     run_command({bin_dir() + "/mqchat-bridge", "--check", s.file("bridge.conf"),
                                                  s.file("all-keys.conf")},
                                                 check));
        // Ctrl-C, to the whole process group as a terminal sends it: an orderly stop, never "a process stopped
        // unexpectedly" (exit 1; seen once when a broker went on its own SIGINT before the script's trap ran).
        const int after_ctrl_c = s.stop(SIGINT);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(s.output(), 130, after_ctrl_c);
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "mqchat: stopped"));
        CPPUNIT_ASSERT_MESSAGE(s.output(), !has(s.output(), "stopped unexpectedly"));
        CPPUNIT_ASSERT(!port_open(s.port("MQCHAT_MQTT_PORT")));
        CPPUNIT_ASSERT(!port_open(s.port("MQCHAT_PG_PORT")));

        // 2. The operator fills it in: e-mail digests to a local SMTP port, a
        //    delay and a batch size the bridge reports at start.
        const std::string mine = tmpl + "\n# mine\nsmtp_url smtp://127.0.0.1:" + std::to_string(free_port()) +
                                 "\nsmtp_from chat@example.org\nemail_digest_delay_s 4321\nbatch_max 77\n";
        write_file(local, mine);
        for (int run = 2; run <= 3; ++run) {
            s.start();
            CPPUNIT_ASSERT_MESSAGE(s.bridge_log(), bridge_said(s, "batches of up to 77"));
            CPPUNIT_ASSERT_MESSAGE(s.bridge_log(), bridge_said(s, "e-mail digests after 4321 s away"));
            CPPUNIT_ASSERT_MESSAGE("run " + std::to_string(run), read_file(local) == mine); // byte for byte
            CPPUNIT_ASSERT_EQUAL(1ul, count(s.output(), "created " + local));               // the first run's only
            // The generated file holds none of it.
            CPPUNIT_ASSERT_MESSAGE(read_file(s.file("bridge.conf")), !has(read_file(s.file("bridge.conf")), "smtp_url"));
            if (run == 2) {
                // The stack works with them: a message is stored and acked.
                const auto admin = [&](const std::vector<std::string>& args) { admin_of(s, args); };
                admin({"user", "add", "alice", "--password", "alice-pw"});
                admin({"user", "add", "bob", "--password", "bob-pw"});
                admin({"conv", "create", "--member", "alice", "--member", "bob"});
                mqtt_client alice(s.port("MQCHAT_MQTT_PORT"), client_options{"alice-1", "alice", "alice-pw"});
                CPPUNIT_ASSERT_EQUAL(0, alice.connect());
                CPPUNIT_ASSERT_EQUAL(1, alice.subscribe("chat/user/alice/inbox"));
                chat_sender sender(alice, "alice", 1);
                CPPUNIT_ASSERT(sender.send_all({{"hello-1", "hi"}}, 1, 5s, 20s));
                CPPUNIT_ASSERT_EQUAL(std::int64_t(1), sender.acked.at("hello-1"));
                // The operator's view: the bridge ready, the plugin counting.
                const std::string bridge = "http://127.0.0.1:" + std::to_string(s.port("MQCHAT_METRICS_PORT"));
                CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), bridge + "/metrics"));
                const auto ready = http_get(bridge + "/readyz");
                CPPUNIT_ASSERT_EQUAL_MESSAGE(ready.body, 200L, ready.status);
                CPPUNIT_ASSERT(sample_value(http_get(bridge + "/metrics").body, "mqchat_messages_stored_total") >= 1);
                const auto plugin =
                    http_get("http://127.0.0.1:" + std::to_string(s.port("MQCHAT_PLUGIN_METRICS_PORT")) + "/metrics");
                CPPUNIT_ASSERT_MESSAGE(plugin.body, sample_value(plugin.body, "mqchat_logins_total{outcome=\"accepted\"}") >= 1);
                // Attachments work out of the box: chat_cli uploads a file
                // through the media service scripts/run started, and fetches it back.
                const std::string media = "http://127.0.0.1:" + std::to_string(s.port("MQCHAT_MEDIA_METRICS_PORT"));
                CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), media + "/metrics"));
                CPPUNIT_ASSERT_EQUAL(200L, http_get(media + "/readyz").status);
                const std::string note = s.file("note.txt"), back = s.file("note-back.txt");
                write_file(note, "the keys are under the mat\n");
                const std::string uri = "tcp://127.0.0.1:" + std::to_string(s.port("MQCHAT_MQTT_PORT"));
                const std::vector<std::string> cli{bin_dir() + "/chat_cli", "--uri", uri, "--user", "alice", "--password",
                                                   "alice-pw"};
                std::string said;
                auto with = [&](std::vector<std::string> more) {
                    std::vector<std::string> argv = cli;
                    argv.insert(argv.end(), more.begin(), more.end());
                    return run_command(argv, said);
                };
                CPPUNIT_ASSERT_EQUAL_MESSAGE(said, 0, with({"attach", "--conv", "1", note, "--caption", "for bob"}));
                CPPUNIT_ASSERT_MESSAGE(said, has(said, "stored as #2"));
                CPPUNIT_ASSERT_EQUAL_MESSAGE(said, 0, with({"history", "--conv", "1"}));
                CPPUNIT_ASSERT_MESSAGE(said, has(said, "[file note.txt, 27 B, id "));
                const std::string id = said.substr(said.find(", id ") + 5, 32);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(said, 0, with({"fetch", id, "--out", back}));
                CPPUNIT_ASSERT_EQUAL(read_file(note), read_file(back));
            }
            CPPUNIT_ASSERT_EQUAL(143, s.stop(SIGTERM));
            CPPUNIT_ASSERT(read_file(local) == mine);
        }

        // 3. MQCHAT_BRIDGE_CONF names another file: that one is used, and
        //    named; one that does not exist stops scripts/run before anything starts.
        write_file(s.file("ops.conf"), "batch_max 66\n");
        s.start({"MQCHAT_BRIDGE_CONF=" + s.file("ops.conf")});
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "bridge settings: " + s.file("ops.conf") + " (yours, from MQCHAT_BRIDGE_CONF"));
        CPPUNIT_ASSERT_MESSAGE(s.bridge_log(), bridge_said(s, "batches of up to 66"));
        CPPUNIT_ASSERT_MESSAGE(s.bridge_log(), !has(last_bridge_run(s.bridge_log()), "e-mail digests"));
        CPPUNIT_ASSERT_EQUAL(143, s.stop(SIGTERM));
        CPPUNIT_ASSERT(s.start_expecting_exit({"MQCHAT_BRIDGE_CONF=" + s.file("nope.conf")}) != 0);
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "MQCHAT_BRIDGE_CONF=" + s.file("nope.conf") + " does not exist"));

        // 4. A mistake in the operator's file stops scripts/run with the bridge's
        //    line naming the file and the key, and the stack goes down again.
        write_file(s.file("ops.conf"), "batch_max 66\nsmtp_urll smtp://127.0.0.1:25\n");
        CPPUNIT_ASSERT(s.start_expecting_exit({"MQCHAT_BRIDGE_CONF=" + s.file("ops.conf")}) != 0);
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "mqchat-bridge: " + s.file("ops.conf") + ": unknown option smtp_urll"));
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "mqchat: stopped"));
        CPPUNIT_ASSERT(!port_open(s.port("MQCHAT_MQTT_PORT")));
        CPPUNIT_ASSERT(!port_open(s.port("MQCHAT_PG_PORT")));
    }

    void several_brokers_behind_one_address() {
        local_stack s;
        const int base = free_broker_ports();
        s.start({"MQCHAT_BROKERS=2", "MQCHAT_BROKER_PORTS=" + std::to_string(base)});
        CPPUNIT_ASSERT_MESSAGE(s.output(), has(s.output(), "2 brokers behind HAProxy"));
        // brokers.txt: each broker's own MQTT port.
        CPPUNIT_ASSERT_EQUAL(std::to_string(base + 10) + "\n" + std::to_string(base + 20) + "\n",
                             read_file(s.file("brokers.txt")));
        admin_of(s, {"user", "add", "alice", "--password", "alice-pw"});
        admin_of(s, {"user", "add", "bob", "--password", "bob-pw"});
        admin_of(s, {"conv", "create", "--member", "alice", "--member", "bob"});
        // bob on broker 2's own port; alice and bob's browsers through the load balancer's usual ports.
        mqtt_client bob(base + 20, client_options{"bob-1", "bob", "bob-pw"});
        CPPUNIT_ASSERT_EQUAL(0, bob.connect());
        CPPUNIT_ASSERT_EQUAL(1, bob.subscribe("chat/conv/1/msg"));
        // Browsers through the gateway and HAProxy: bob over WebSocket and
        // secure WebSocket (MQTT.js, as the widget), trusting the stack's CA for wss.
        const std::string ca = s.file("tls/ca.crt");
        std::vector<std::unique_ptr<child_process>> web;
        std::vector<std::string> web_logs;
        for (const std::string& url : {"ws://127.0.0.1:" + std::to_string(s.port("MQCHAT_WS_PORT")) + "/mqtt",
                                      "wss://127.0.0.1:" + std::to_string(s.port("MQCHAT_WSS_PORT")) + "/mqtt"}) {
            web_logs.push_back(s.file("web-" + std::to_string(web_logs.size()) + ".log"));
            const std::string script =
                "const mqtt = require('mqtt'); const fs = require('fs');"
                "const c = mqtt.connect(process.env.URL, {username: 'bob', password: 'bob-pw', protocolVersion: 5,"
                "  clientId: 'bob-web-' + Math.random().toString(16).slice(2), ca: fs.readFileSync(process.env.CA),"
                "  reconnectPeriod: 500});"
                "c.on('connect', () => c.subscribe('chat/conv/1/msg', {qos: 1}, () => console.log('subscribed')));"
                "c.on('message', (t, p) => { console.log('got ' + p); process.exit(0); });"
                "setTimeout(() => process.exit(2), 30000);";
            web.push_back(std::make_unique<child_process>(
                std::vector<std::string>{"node", "-e", script}, web_logs.back(),
                std::vector<std::string>{"NODE_PATH=" + source_dir() + "/web/node_modules", "URL=" + url, "CA=" + ca}));
        }
        for (const auto& log : web_logs) {
            for (int i = 0; i < 200 && !has(read_file(log), "subscribed"); ++i) std::this_thread::sleep_for(100ms);
            CPPUNIT_ASSERT_MESSAGE(read_file(log), has(read_file(log), "subscribed"));
        }
        // alice through HAProxy's TLS port.
        client_options tls{"alice-2", "alice", "alice-pw"};
        tls.cafile = ca;
        mqtt_client alice_tls(s.port("MQCHAT_TLS_PORT"), tls);
        CPPUNIT_ASSERT_EQUAL(0, alice_tls.connect());
        CPPUNIT_ASSERT_EQUAL(1, alice_tls.subscribe("chat/user/alice/inbox"));
        chat_sender sender(alice_tls, "alice", 1);
        CPPUNIT_ASSERT(sender.send_all({{"across-1", "hello across brokers"}}, 1, 5s, 30s));
        received r;
        CPPUNIT_ASSERT(bob.wait_message(r, 10s, "chat/conv/1/msg"));
        CPPUNIT_ASSERT_EQUAL(std::string("hello across brokers"), json_of(r.payload)["body"].asString());
        for (std::size_t i = 0; i < web.size(); ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(read_file(web_logs[i]), 0, web[i]->wait_exit(20s));
            CPPUNIT_ASSERT_MESSAGE(read_file(web_logs[i]), has(read_file(web_logs[i]), "hello across brokers"));
        }
        CPPUNIT_ASSERT_EQUAL(143, s.stop(SIGTERM));
        for (int port : {s.port("MQCHAT_MQTT_PORT"), base + 9, base + 10, base + 20})
            CPPUNIT_ASSERT_MESSAGE(std::to_string(port), !port_open(port));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(scripts_run_test);
