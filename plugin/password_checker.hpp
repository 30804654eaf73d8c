#pragma once
/// Argon2id verifications off the broker's thread.
///
/// The first login of a user with a password (and the first after a change
/// of password, or after a restart without plugin_opt_login_key_file) needs
/// one Argon2id run: about 20 ms of a core and 19 MiB. On the broker's thread
/// a storm of such logins froze every client for a minute (5,000 first logins,
/// docs/benchmarks.md). Here they run on a few threads of the worker process
/// (worker_process.hpp); the broker's thread submits a check, waits for it
/// only for a lone login and while it has budget (worker_process::
/// passwords_quiet and wait_budget), and otherwise tells the client to come
/// back: by then the verdict is known and the login costs a hash lookup. The
/// threads run at the lowest priority.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "worker_status.hpp"

namespace mqchat::plugin {

struct password_verdict {
    std::string user;
    std::string stored_hash; ///< the hash checked against (a changed hash makes the verdict moot)
    std::string digest;      ///< password::remember_digest of the password
    bool good = false;
};

class password_checker {
public:
    /// `threads`: how many verifications run at once; `max_queued`: more
    /// waiting than this are not taken (the login is asked to come back).
    /// `on_news` is called (on a checking thread) after each verdict is queued.
    password_checker(int threads, std::size_t max_queued, worker_status& status, std::function<void()> on_news);
    ~password_checker();
    password_checker(const password_checker&) = delete;
    password_checker& operator=(const password_checker&) = delete;

    /// Queues a check (one already queued or running for the same digest is
    /// not queued again). False when the queue is full.
    bool submit(std::string user, std::string password, std::string stored_hash, std::string digest);

    std::vector<password_verdict> take();

private:
    struct job {
        password_verdict v;
        std::string password;
    };
    void run();

    const std::size_t max_queued_;
    /// Says how many checks are queued or running, and since when none has.
    worker_status& status_;
    const std::function<void()> on_news_;
    std::vector<std::thread> threads_;
    mutable std::mutex mutex_;
    std::condition_variable work_cv_;
    bool stop_ = false;
    std::deque<job> queue_;
    std::unordered_set<std::string> in_hand_; ///< digests queued or running
    std::vector<password_verdict> verdicts_;
};

} // namespace mqchat::plugin
