#pragma once
/// Scratch space and ports for integration tests: everything on loopback, in
/// a fresh directory, on ports the kernel says are free.

#include <chrono>
#include <functional>
#include <string>

namespace mqchat::test {

/// A free TCP port on 127.0.0.1 for a server a test starts: outside the
/// kernel's ephemeral range, and never the same for two callers at once on
/// this machine (below).
int free_port();
/// True when 127.0.0.1:port can be bound now.
bool bindable(int port);

/// `n` random letters and digits: knock and visitor names, secrets, client ids.
std::string random_text(std::size_t n);

/// A TCP connection to 127.0.0.1:port (from the local address `from`, any
/// 127.x, when given): its descriptor, or -1 when it cannot be made.
int connect_loopback(int port, const std::string& from = "");
/// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port);
/// Waits up to `timeout_ms` for port_open.
bool wait_port(int port, int timeout_ms);

/// Holds 127.0.0.1:port so that connection attempts to it go unanswered,
/// as to a host that is gone behind a firewall: a listener that never
/// accepts, its backlog filled, so the kernel drops every further SYN and a
/// connect waits for its retries (minutes). Throws when the port is taken.
class silent_port {
public:
    explicit silent_port(int port);
    ~silent_port();
    silent_port(const silent_port&) = delete;
    silent_port& operator=(const silent_port&) = delete;

private:
    int listener_ = -1;
    int fillers_[3] = {-1, -1, -1};
};

/// Asks `condition` every `every` until it holds or `within` has passed; its
/// last answer. For what a test waits on without a message to wait for (a
/// row, a log line, a file, a metric, a port).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds within = std::chrono::seconds(5),
                std::chrono::milliseconds every = std::chrono::milliseconds(50));

/// A fresh directory under /tmp that any user can enter (PostgreSQL runs as
/// `postgres`). Removed at destruction unless MQCHAT_KEEP_TEST_DIRS is set.
class temp_dir {
public:
    explicit temp_dir(const std::string& tag);
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/// Reads a whole file ("" if missing).
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
/// The same for a secret (a password, a key): mode 0600, as the programs require.
void write_secret_file(const std::string& path, const std::string& text);

/// Where the build put things (set by tests/CMakeLists.txt).
std::string bin_dir();
/// The repository (for scripts/).
std::string source_dir();
std::string plugin_path();

} // namespace mqchat::test
