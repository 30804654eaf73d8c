#pragma once
/// The real servers an integration test runs: a PostgreSQL cluster made with
/// initdb, mosquitto with the mqchat plugin, and mqchat-bridge. Each one on
/// free loopback ports in its own temp directory; each start either succeeds
/// or throws with the server's log, so a test never passes without them.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "environment.hpp"
#include "process.hpp"

namespace mqchat::test {

class pg_cluster {
public:
    explicit pg_cluster(const temp_dir& dir);
    /// A streaming replica of `primary` (pg_basebackup -R) in `dir`/`name`,
    /// started: a hot standby that answers reads and replays what the
    /// primary writes.
    pg_cluster(const temp_dir& dir, const pg_cluster& primary, const std::string& name);
    ~pg_cluster();

    /// libpq conninfo of the mqchat database.
    std::string conninfo() const;
    int port() const { return port_; }
    pid_t pid() const { return server_.pid(); }

    void start();
    /// Fast shutdown (SIGINT): clients are disconnected, everything is flushed.
    void stop();
    /// Immediate shutdown (SIGQUIT): like a crash; recovery runs on start.
    void crash();
    /// SIGSTOP to the postmaster and every backend: the server keeps its
    /// connections but answers nothing (a stalled disk, a frozen VM) until
    /// thaw(). The destructor thaws too.
    void freeze();
    void thaw();

private:
    std::string data_, socket_dir_, log_, user_;
    int port_;
    child_process server_;
    std::vector<pid_t> frozen_;
};

struct broker_options {
    bool with_plugin = true;
    std::vector<std::string> plugin_options; ///< "key value" without the plugin_opt_ prefix
    std::vector<std::string> extra_lines;    ///< more mosquitto.conf lines
    bool include_db_option = true;
    std::vector<std::string> wrapper; ///< runs the broker under this, e.g. {"valgrind", "--tool=callgrind"}
    bool allow_anonymous = false;     ///< an operator's broker that also serves devices without a login
};

class broker {
public:
    broker(const temp_dir& dir, const std::string& conninfo, broker_options options = {}, const std::string& name = "mosquitto");
    ~broker();

    int port() const { return port_; }
    pid_t pid() const { return server_.pid(); }
    std::string log() const { return read_file(log_); }
    const std::string& config_path() const { return config_; }

    /// Starts and waits for the port; throws with the log if it does not come up.
    void start();
    void stop(int sig = 15);
    bool running() { return server_.running(); }
    /// Starts and expects the broker to exit (bad configuration); returns its exit code.
    int start_expecting_exit();

private:
    std::string config_, log_;
    int port_;
    std::vector<std::string> wrapper_;
    child_process server_;
};

class bridge {
public:
    bridge(const temp_dir& dir, const std::string& conninfo, int mqtt_port, const std::string& password,
           const std::string& name = "bridge", const std::vector<std::string>& extra_config = {});
    ~bridge();

    void start();
    void stop(int sig = 15);
    bool running() { return process_.running(); }
    pid_t pid() const { return process_.pid(); }
    std::string log() const { return read_file(log_); }

private:
    std::string config_, log_;
    child_process process_;
};

/// mqchat-bot, a desk's assistant, logged in as `user` (a user of role bot).
class assistant_bot {
public:
    assistant_bot(const temp_dir& dir, int mqtt_port, const std::string& user, const std::string& password,
                  const std::vector<std::string>& extra_config = {});
    ~assistant_bot();

    /// Starts it and waits until it says it runs (connected, inbox subscribed).
    void start();
    void stop(int sig = 15);
    pid_t pid() const { return process_.pid(); }
    std::string log() const { return read_file(log_); }
    const std::string& config_path() const { return config_; }

private:
    std::string config_, log_;
    child_process process_;
};

/// mqchat-media (docs/media.md) on a free loopback port, with its data
/// under `dir`/`name`-data and the URL secret in `dir`/`name`.secret;
/// `extra_config` lines are added to (and may override) the generated ones.
class media_service {
public:
    media_service(const temp_dir& dir, const std::string& conninfo, const std::string& url_secret,
                  const std::vector<std::string>& extra_config = {}, const std::string& name = "media");
    ~media_service();

    /// Starts it and waits until it says it runs.
    void start();
    void stop(int sig = 15);
    /// Starts it and expects it to exit (bad settings); returns its exit code.
    int start_expecting_exit();
    int port() const { return port_; }
    int metrics_port() const { return metrics_port_; }
    pid_t pid() const { return process_.pid(); }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    const std::string& data_dir() const { return data_; }
    const std::string& config_path() const { return config_; }
    std::string log() const { return read_file(log_); }

private:
    std::string config_, log_, data_;
    int port_, metrics_port_;
    child_process process_;
};

/// mqchat-gateway (docs/gateway.md) in front of a broker's plain MQTT port:
/// MQTT over WebSocket on port(), metrics on metrics_port(); `extra_config`
/// lines are appended (http_dir, listen_tls, …).
class web_gateway {
public:
    web_gateway(const temp_dir& dir, int broker_port, const std::vector<std::string>& extra_config = {},
                const std::string& name = "gateway");
    ~web_gateway();

    /// Starts it and waits for its port.
    void start();
    void stop(int sig = 15);
    /// Starts it and expects it to exit (bad settings); returns its exit code.
    int start_expecting_exit();
    int port() const { return port_; }
    int metrics_port() const { return metrics_port_; }
    pid_t pid() const { return process_.pid(); }
    std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/mqtt"; }
    const std::string& config_path() const { return config_; }
    std::string log() const { return read_file(log_); }

private:
    std::string config_, log_;
    int port_, metrics_port_;
    child_process process_;
};

/// Runs mqchat-admin against `conninfo`; returns the exit code.
int admin(const std::string& conninfo, const std::vector<std::string>& args, std::string& output);
/// Runs mqchat-admin and throws with its output unless it succeeds.
std::string admin_ok(const std::string& conninfo, const std::vector<std::string>& args);
/// The last word of mqchat-admin's output: the token, key or secret it printed last.
std::string last_word(const std::string& output);

/// Adds a user with a password through mqchat-admin.
void add_user(const std::string& conninfo, const std::string& name, const std::string& password);
/// Creates a conversation through mqchat-admin and returns its id.
std::int64_t create_conv(const std::string& conninfo, const std::vector<std::string>& members,
                         const std::string& title = "");

/// The whole stack: database (migrated, with a bridge identity), broker with
/// the plugin, and the bridge, all started.
class chat_stack {
public:
    explicit chat_stack(const std::string& tag, broker_options options = {});

    temp_dir dir;
    pg_cluster db;
    std::unique_ptr<broker> mqtt;
    std::unique_ptr<bridge> store;

    int port() const { return mqtt->port(); }
    std::string conninfo() const { return db.conninfo(); }

    void add_user(const std::string& name, const std::string& password);
    /// Creates a conversation and returns its id.
    std::int64_t create_conv(const std::vector<std::string>& members, const std::string& title = "");
    /// Stops the bridge and starts it again with these more settings (none:
    /// as the stack started it).
    void restart_bridge(const std::vector<std::string>& extra_config = {});

    static constexpr const char* bridge_password = "bridge-secret";
};

/// Several brokers with the plugin, linked by their Mosquitto bridges to a
/// hub (a plain Mosquitto) where the mqchat-bridges connect, as
/// examples/fabric/ and docs/operations.md set them up. Everything started.
class fabric_stack {
public:
    /// `websockets`: start_load_balancer() also starts mqchat-gateway in
    /// front of the load balancer's MQTT port (docs/gateway.md).
    fabric_stack(const std::string& tag, int broker_count, int bridge_count = 1, broker_options options = {},
                 bool websockets = false);

    temp_dir dir;
    pg_cluster db;
    std::unique_ptr<broker> hub;
    std::vector<std::unique_ptr<broker>> brokers;
    std::vector<std::unique_ptr<bridge>> stores; ///< mqchat-bridge processes, on the hub

    std::string conninfo() const { return db.conninfo(); }
    int port(std::size_t broker) const { return brokers.at(broker)->port(); }
    /// Starts HAProxy with examples/fabric/haproxy.cfg in front of the brokers.
    void start_load_balancer();
    /// Its MQTT port (after start_load_balancer()).
    int load_balancer_port() const { return lb_port_; }
    /// The WebSocket port in front of it: the gateway's (after start_load_balancer(), with websockets).
    int load_balancer_ws_port() const { return gateway_ ? gateway_->port() : 0; }
    /// Starts broker `i` again (after a kill) and waits until its link to the hub is up.
    void restart_broker(std::size_t i);
    /// Waits until broker `i`'s link to the hub is up (its log says so); false after `timeout_ms`.
    bool link_up(std::size_t i, int timeout_ms = 15000) const;

    static constexpr const char* fabric_user = "mqchat-fabric";
    static constexpr const char* fabric_password = "fabric-secret";
    static constexpr const char* bridge_password = "bridge-secret";

private:
    /// Where in the hub's log each broker's last link was seen (a new one comes after).
    mutable std::map<std::size_t, std::size_t> hub_seen_;
    int lb_port_ = 0;
    bool websockets_ = false;
    std::unique_ptr<web_gateway> gateway_;
    child_process load_balancer_;
};

} // namespace mqchat::test
