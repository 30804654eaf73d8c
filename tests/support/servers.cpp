#include "servers.hpp"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/pg.hpp"

namespace mqchat::test {

namespace {

std::string pg_bin(const std::string& tool) { return std::string(MQCHAT_TEST_PG_BINDIR) + "/" + tool; }

void chown_to(const std::string& path, const std::string& user) {
    if (user.empty()) return;
    std::string out;
    run_command({"chown", "-R", user, path}, out);
}

} // namespace

// ---------------------------------------------------------------- PostgreSQL

pg_cluster::pg_cluster(const temp_dir& dir)
    : data_(dir.file("pg")), socket_dir_(dir.path()), log_(dir.file("postgres.log")), port_(free_port()) {
    if (!server_user(user_)) throw std::runtime_error("running as root but there is no 'postgres' user to run PostgreSQL");
    std::filesystem::create_directory(data_);
    chown_to(data_, user_);
    std::string out;
    const int rc = run_command({pg_bin("initdb"), "-D", data_, "-A", "trust", "-U", "postgres", "--no-sync",
                                "-E", "UTF8", "--locale=C"},
                               out, {}, user_);
    if (rc != 0) throw std::runtime_error("initdb failed:\n" + out);
    start();
    pg::connection admin("host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres");
    admin.exec("CREATE DATABASE mqchat");
}

pg_cluster::pg_cluster(const temp_dir& dir, const pg_cluster& primary, const std::string& name)
    : data_(dir.file(name)), socket_dir_(dir.path()), log_(dir.file(name + ".log")), port_(free_port()) {
    if (!server_user(user_)) throw std::runtime_error("running as root but there is no 'postgres' user to run PostgreSQL");
    std::filesystem::create_directory(data_);
    std::filesystem::permissions(data_, std::filesystem::perms::owner_all);
    chown_to(data_, user_);
    std::string out;
    const int rc = run_command({pg_bin("pg_basebackup"), "-D", data_, "-h", "127.0.0.1", "-p",
                                std::to_string(primary.port()), "-U", "postgres", "-R", "-X", "stream", "--no-sync",
                                "--checkpoint=fast"}, // a spread checkpoint takes minutes
                               out, {}, user_);
    if (rc != 0) throw std::runtime_error("pg_basebackup failed:\n" + out);
    start();
}

pg_cluster::~pg_cluster() { stop(); }

std::string pg_cluster::conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=mqchat connect_timeout=5";
}

void pg_cluster::start() {
    std::vector<std::string> argv{pg_bin("postgres"), "-D", data_, "-p", std::to_string(port_), "-k", socket_dir_,
                                  "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"};
    // For profiling a test or a benchmark's database, e.g.
    // MQCHAT_TEST_PG_SETTINGS="shared_preload_libraries=pg_stat_statements log_min_duration_statement=10"
    // (docs/benchmarks.md, "Where the time goes").
    if (const char* extra = std::getenv("MQCHAT_TEST_PG_SETTINGS")) {
        std::istringstream words(extra);
        for (std::string w; words >> w;) {
            argv.push_back("-c");
            argv.push_back(w);
        }
    }
    server_ = child_process(argv, log_, {}, user_);
    if (!wait_port(port_, 30000)) throw std::runtime_error("PostgreSQL did not start:\n" + read_file(log_));
    // The port opens before the server accepts queries; wait for a real answer.
    for (int i = 0; i < 300; ++i) {
        try {
            pg::connection c("host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres");
            return;
        } catch (const pg::error&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    throw std::runtime_error("PostgreSQL does not accept connections:\n" + read_file(log_));
}

void pg_cluster::freeze() {
    thaw();
    const pid_t postmaster = server_.pid();
    frozen_.push_back(postmaster);
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        // "pid (comm) state ppid …": comm may hold spaces, so read after the last ')'.
        const std::string stat = read_file(e.path().string() + "/stat");
        const auto close = stat.rfind(')');
        char state = 0;
        int ppid = 0;
        if (close != std::string::npos && std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == postmaster)
            frozen_.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    for (const pid_t p : frozen_) kill(p, SIGSTOP);
}

void pg_cluster::thaw() {
    for (const pid_t p : frozen_) kill(p, SIGCONT);
    frozen_.clear();
}

void pg_cluster::stop() {
    thaw();
    server_.stop(SIGINT, std::chrono::seconds(30));
}
void pg_cluster::crash() {
    thaw();
    server_.stop(SIGQUIT, std::chrono::seconds(30));
}

// ---------------------------------------------------------------- mosquitto

broker::broker(const temp_dir& dir, const std::string& conninfo, broker_options options, const std::string& name)
    : config_(dir.file(name + ".conf")), log_(dir.file(name + ".log")), port_(free_port()), wrapper_(options.wrapper) {
    std::string conf;
    if (geteuid() == 0) conf += "user root\n"; // otherwise mosquitto drops to 'mosquitto' and cannot read our files
    conf += "listener " + std::to_string(port_) + " 127.0.0.1\n";
    conf += options.allow_anonymous ? "allow_anonymous true\n" : "allow_anonymous false\n";
    // A file, not stdout: mosquitto flushes its log file on every line.
    conf += "log_dest file " + log_ + "\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    conf += "persistence true\npersistence_location " + dir.path() + "/\n";
    conf += "persistence_file " + name + ".db\n";
    conf += "max_queued_messages 100000\nset_tcp_nodelay true\n";
    for (const auto& l : options.extra_lines) conf += l + "\n";
    if (options.with_plugin) {
        conf += "plugin " + plugin_path() + "\n";
        if (options.include_db_option) conf += "plugin_opt_db_conninfo " + conninfo + "\n";
        for (const auto& o : options.plugin_options) conf += "plugin_opt_" + o + "\n";
    }
    write_file(config_, conf);
}

broker::~broker() { stop(SIGKILL); }

void broker::start() {
    std::vector<std::string> argv = wrapper_;
    for (const char* a : {"mosquitto", "-c"}) argv.push_back(a);
    argv.push_back(config_);
    std::vector<std::string> env;
#ifdef MQCHAT_TEST_SANITIZE
    env = {"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"}; // the plugin carries UBSan
#endif
    server_ = child_process(argv, log_ + (wrapper_.empty() ? "" : ".wrapper"), env);
    if (!wait_port(port_, wrapper_.empty() ? 15000 : 60000)) {
        server_.stop(SIGKILL);
        throw std::runtime_error("mosquitto did not start:\n" + read_file(log_));
    }
}

int broker::start_expecting_exit() {
    server_ = child_process({"mosquitto", "-c", config_}, log_);
    const int rc = server_.wait_exit(std::chrono::seconds(15));
    if (rc < 0) server_.stop(SIGKILL);
    return rc;
}

void broker::stop(int sig) { server_.stop(sig, std::chrono::seconds(10)); }

// ---------------------------------------------------------------- bridge

bridge::bridge(const temp_dir& dir, const std::string& conninfo, int mqtt_port, const std::string& password,
               const std::string& name, const std::vector<std::string>& extra_config)
    : config_(dir.file(name + ".conf")), log_(dir.file(name + ".log")) {
    write_secret_file(dir.file(name + ".password"), password + "\n");
    std::string text = "mqtt_uri tcp://127.0.0.1:" + std::to_string(mqtt_port) +
                       "\nmqtt_username mqchat-bridge\nmqtt_password_file " + dir.file(name + ".password") +
                       "\nmqtt_client_id " + name + "\ndb_conninfo " + conninfo + "\n";
    for (const auto& line : extra_config) text += line + "\n";
    write_file(config_, text);
}

bridge::~bridge() { stop(SIGKILL); }

namespace {
/// Starts one of our daemons with `config` and waits (10 s at most) until
/// its log says "PROGRAM: running" — it has connected and subscribed.
child_process start_daemon(const std::string& program, const std::string& config, const std::string& log) {
    const std::size_t seen = read_file(log).size(); // earlier runs' lines do not count
    child_process p({bin_dir() + "/" + program, config}, log);
    for (int i = 0; i < 1000; ++i) {
        if (read_file(log).find(program + ": running", seen) != std::string::npos) return p;
        if (!p.running()) throw std::runtime_error(program + " exited before it ran:\n" + read_file(log));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Alive but not running: it has not connected and subscribed (our
    // daemons log each refusal and retry), so the broker has not answered.
    throw std::runtime_error(program + " still not running after 10 s (no answer from the broker?):\n" + read_file(log));
}
} // namespace

void bridge::start() { process_ = start_daemon("mqchat-bridge", config_, log_); }

// ---------------------------------------------------------------- mqchat-media

media_service::media_service(const temp_dir& dir, const std::string& conninfo, const std::string& url_secret,
                             const std::vector<std::string>& extra_config, const std::string& name)
    : config_(dir.file(name + ".conf")), log_(dir.file(name + ".log")), data_(dir.file(name + "-data")),
      port_(free_port()), metrics_port_(free_port()) {
    write_secret_file(dir.file(name + ".secret"), url_secret + "\n");
    std::string text = "db_conninfo " + conninfo + "\nlisten 127.0.0.1:" + std::to_string(port_) +
                       "\nmetrics_listen 127.0.0.1:" + std::to_string(metrics_port_) + "\nurl_secret_file " +
                       dir.file(name + ".secret") + "\ndata_dir " + data_ + "\n";
    for (const auto& line : extra_config) text += line + "\n";
    write_file(config_, text);
}

media_service::~media_service() { stop(SIGKILL); }

void media_service::start() {
    process_ = start_daemon("mqchat-media", config_, log_);
    if (!wait_port(port_, 10000)) throw std::runtime_error("mqchat-media does not listen:\n" + log());
}

void media_service::stop(int sig) { process_.stop(sig, std::chrono::seconds(10)); }

int media_service::start_expecting_exit() {
    process_ = child_process({bin_dir() + "/mqchat-media", config_}, log_);
    return process_.wait_exit(std::chrono::seconds(10));
}

void bridge::stop(int sig) { process_.stop(sig, std::chrono::seconds(10)); }

// ---------------------------------------------------------------- gateway

web_gateway::web_gateway(const temp_dir& dir, int broker_port, const std::vector<std::string>& extra_config,
                         const std::string& name)
    : config_(dir.file(name + ".conf")), log_(dir.file(name + ".log")), port_(free_port()),
      metrics_port_(free_port()) {
    std::string text = "listen 127.0.0.1:" + std::to_string(port_) + "\nbroker 127.0.0.1:" +
                       std::to_string(broker_port) + "\nmetrics_listen 127.0.0.1:" + std::to_string(metrics_port_) + "\n";
    for (const auto& line : extra_config) text += line + "\n";
    write_file(config_, text);
}

web_gateway::~web_gateway() { stop(SIGKILL); }

void web_gateway::start() {
    process_ = start_daemon("mqchat-gateway", config_, log_);
    if (!wait_port(port_, 10000)) throw std::runtime_error("mqchat-gateway does not listen:\n" + log());
}

void web_gateway::stop(int sig) { process_.stop(sig, std::chrono::seconds(10)); }

int web_gateway::start_expecting_exit() {
    process_ = child_process({bin_dir() + "/mqchat-gateway", config_}, log_);
    return process_.wait_exit(std::chrono::seconds(10));
}

// ---------------------------------------------------------------- assistant

assistant_bot::assistant_bot(const temp_dir& dir, int mqtt_port, const std::string& user, const std::string& password,
                             const std::vector<std::string>& extra_config)
    : config_(dir.file("bot-" + user + ".conf")), log_(dir.file("bot-" + user + ".log")) {
    const std::string password_file = dir.file("bot-" + user + ".password");
    write_secret_file(password_file, password + "\n");
    std::string text = "mqtt_uri tcp://127.0.0.1:" + std::to_string(mqtt_port) + "\nmqtt_username " + user +
                       "\nmqtt_password_file " + password_file + "\n";
    for (const auto& line : extra_config) text += line + "\n";
    write_file(config_, text);
}

assistant_bot::~assistant_bot() { stop(SIGKILL); }

void assistant_bot::start() { process_ = start_daemon("mqchat-bot", config_, log_); }

void assistant_bot::stop(int sig) { process_.stop(sig, std::chrono::seconds(10)); }

// ---------------------------------------------------------------- admin

int admin(const std::string& conninfo, const std::vector<std::string>& args, std::string& output) {
    std::vector<std::string> argv{bin_dir() + "/mqchat-admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, output, {"MQCHAT_DB=" + conninfo});
}

std::string last_word(const std::string& output) {
    std::string s = output;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.substr(s.find_last_of(" \n") + 1);
}

std::string admin_ok(const std::string& conninfo, const std::vector<std::string>& args) {
    std::string out;
    const int rc = admin(conninfo, args, out);
    if (rc != 0) {
        std::string cmd;
        for (const auto& a : args) cmd += " " + a;
        throw std::runtime_error("mqchat-admin" + cmd + " failed (" + std::to_string(rc) + "):\n" + out);
    }
    return out;
}

// ---------------------------------------------------------------- stack

chat_stack::chat_stack(const std::string& tag, broker_options options) : dir(tag), db(dir) {
    admin_ok(db.conninfo(), {"migrate"});
    admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", bridge_password, "--bridge"});
    mqtt = std::make_unique<broker>(dir, db.conninfo(), std::move(options));
    mqtt->start();
    store = std::make_unique<bridge>(dir, db.conninfo(), mqtt->port(), bridge_password);
    store->start();
}

void chat_stack::restart_bridge(const std::vector<std::string>& extra_config) {
    store->stop();
    store = std::make_unique<bridge>(dir, conninfo(), port(), bridge_password, "bridge", extra_config);
    store->start();
}

void chat_stack::add_user(const std::string& name, const std::string& password) {
    test::add_user(conninfo(), name, password);
}

std::int64_t chat_stack::create_conv(const std::vector<std::string>& members, const std::string& title) {
    return test::create_conv(conninfo(), members, title);
}

void add_user(const std::string& conninfo, const std::string& name, const std::string& password) {
    admin_ok(conninfo, {"user", "add", name, "--password", password});
}

std::int64_t create_conv(const std::string& conninfo, const std::vector<std::string>& members,
                         const std::string& title) {
    std::vector<std::string> args{"conv", "create"};
    if (!title.empty()) {
        args.push_back("--title");
        args.push_back(title);
    }
    for (const auto& m : members) {
        args.push_back("--member");
        args.push_back(m);
    }
    std::string out = admin_ok(conninfo, args);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return std::stoll(out.substr(out.find_last_of(' ') + 1));
}

// ---------------------------------------------------------------- several brokers

namespace {
/// One of examples/fabric/'s files with its @…@ fields filled in.
std::string filled_example(const std::string& file, const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string text = read_file(source_dir() + "/examples/fabric/" + file);
    for (const auto& [field, value] : fields)
        for (std::size_t at; (at = text.find(field)) != std::string::npos;) text.replace(at, field.size(), value);
    return text;
}

/// examples/fabric/edge-bridge.conf with its fields filled in, one line per element.
std::vector<std::string> edge_bridge_lines(const std::string& name, int hub_port) {
    const std::string text = filled_example(
        "edge-bridge.conf", {{"@NAME@", name}, {"@HUB_ADDRESS@", "127.0.0.1"}, {"@HUB_PORT@", std::to_string(hub_port)},
                             {"@FABRIC_USER@", fabric_stack::fabric_user},
                             {"@FABRIC_PASSWORD@", fabric_stack::fabric_password}});
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#') lines.push_back(line);
    return lines;
}
} // namespace

fabric_stack::fabric_stack(const std::string& tag, int broker_count, int bridge_count, broker_options options,
                           bool websockets)
    : dir(tag), db(dir), websockets_(websockets) {
    admin_ok(db.conninfo(), {"migrate"});
    const std::string passwords = dir.file("hub.passwords");
    write_file(passwords, "");
    for (const auto& [user, password] : {std::pair{fabric_user, fabric_password}, {"mqchat-bridge", bridge_password}}) {
        child_process p({"mosquitto_passwd", "-b", passwords, user, password}, dir.file("mosquitto_passwd.log"));
        if (p.wait_exit(std::chrono::seconds(10)) != 0)
            throw std::runtime_error("mosquitto_passwd failed:\n" + read_file(dir.file("mosquitto_passwd.log")));
    }
    broker_options hub_options;
    hub_options.with_plugin = false;
    hub_options.extra_lines = {"password_file " + passwords};
    hub = std::make_unique<broker>(dir, db.conninfo(), hub_options, "hub");
    hub->start();
    for (int i = 0; i < broker_count; ++i) {
        const std::string name = "b" + std::to_string(i + 1);
        broker_options o = options;
        o.plugin_options.push_back(std::string("fabric_username ") + fabric_user);
        o.plugin_options.push_back("broker_name " + name);
        for (auto& line : edge_bridge_lines(name, hub->port())) o.extra_lines.push_back(std::move(line));
        brokers.push_back(std::make_unique<broker>(dir, db.conninfo(), o, name));
        brokers.back()->start();
    }
    for (int i = 0; i < broker_count; ++i)
        if (!link_up(static_cast<std::size_t>(i)))
            throw std::runtime_error("broker b" + std::to_string(i + 1) + " did not link to the hub:\n" +
                                     brokers[static_cast<std::size_t>(i)]->log());
    for (int i = 0; i < bridge_count; ++i) {
        stores.push_back(std::make_unique<bridge>(dir, db.conninfo(), hub->port(), bridge_password,
                                                  "bridge" + std::to_string(i + 1)));
        stores.back()->start();
    }
}

bool fabric_stack::link_up(std::size_t i, int timeout_ms) const {
    // Mosquitto logs the bridge's CONNACK from the hub... only at debug level;
    // the hub logs the new client by its id at information level.
    const std::string id = "mqchat-fabric-b" + std::to_string(i + 1);
    const std::size_t seen_before = hub_seen_.count(i) ? hub_seen_.at(i) : 0;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        const std::string log = hub->log();
        const std::size_t at = log.rfind("as " + id + " (");
        if (at != std::string::npos && at >= seen_before) {
            hub_seen_[i] = at + 1;
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void fabric_stack::start_load_balancer() {
    // The brokers here have a plain MQTT listener: the TLS frontend of the
    // shipped configuration leads to it too (tests use MQTT only), and
    // WebSocket clients come through mqchat-gateway in front of it.
    std::string servers;
    for (std::size_t i = 0; i < brokers.size(); ++i)
        servers += "    server b" + std::to_string(i + 1) + " 127.0.0.1:" + std::to_string(brokers[i]->port()) +
                   " check inter 1s fall 2 rise 2\n";
    lb_port_ = free_port();
    const std::string config = dir.file("haproxy.cfg"), log = dir.file("haproxy.log");
    write_file(config, filled_example("haproxy.cfg", {{"@MAXCONN@", "9000"},
                                                      {"@ADDRESS@", "127.0.0.1"},
                                                      {"@MQTT_PORT@", std::to_string(lb_port_)},
                                                      {"@TLS_PORT@", std::to_string(free_port())},
                                                      {"@MQTT_SERVERS@", servers},
                                                      {"@TLS_SERVERS@", servers}}));
    load_balancer_ = child_process({"haproxy", "-db", "-f", config}, log);
    if (!wait_port(lb_port_, 10000)) throw std::runtime_error("haproxy did not start:\n" + read_file(log));
    if (websockets_) {
        gateway_ = std::make_unique<web_gateway>(dir, lb_port_);
        gateway_->start();
    }
}

void fabric_stack::restart_broker(std::size_t i) {
    brokers.at(i)->start();
    if (!link_up(i)) throw std::runtime_error("broker b" + std::to_string(i + 1) + " did not link to the hub again");
}

} // namespace mqchat::test
