#pragma once
/// Child processes for integration tests: started with fork/exec, output to a
/// log file, stopped with a signal of the test's choice (kill -9 included).

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace mqchat::test {

class child_process {
public:
    child_process() = default;
    /// Starts `argv` with stdout and stderr appended to `log_path`. When
    /// `as_user` is given and we are root, the child switches to that user
    /// first (PostgreSQL refuses to run as root).
    child_process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env = {},
                  std::string as_user = "");
    ~child_process();
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;

    pid_t pid() const { return pid_; }
    bool running();
    /// Sends `sig` and waits up to `timeout` for the exit; SIGKILL after that.
    /// Returns the exit status as from waitpid (or -1 if not running).
    int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Waits for the process to exit on its own; returns its exit code, or -1 on timeout.
    int wait_exit(std::chrono::milliseconds timeout);
    /// Waits until the child has written something to `path` (a helper
    /// server announcing its port) and returns it; "" when the child exits
    /// first or `timeout` passes. The timeout is generous on purpose: node
    /// starting on a loaded two-core machine (the sanitized suite) has taken
    /// more than five seconds.
    std::string wait_for_file(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(60));

private:
    pid_t pid_ = -1;
};

/// Runs a command to completion; returns its exit code and fills `output`.
int run_command(const std::vector<std::string>& argv, std::string& output, const std::vector<std::string>& env = {},
                const std::string& as_user = "");

/// The `comm` and parent of a live (not zombie) process, from /proc/<pid>/stat.
bool process_info(pid_t pid, std::string& comm, pid_t& parent);
/// Whether the process exists and is not a zombie.
bool alive(pid_t pid);
/// The plugin's worker process (`mqchat-workers`) of a broker, or -1.
pid_t worker_of(pid_t broker);

/// The uid/gid to run PostgreSQL as: the `postgres` user when we are root,
/// ourselves otherwise.
bool server_user(std::string& name);

} // namespace mqchat::test
