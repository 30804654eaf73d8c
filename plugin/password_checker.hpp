#pragma once
/// Argon2id verifications off the broker's thread.
///
/// The first login of a user with a password (and the first after a change
/// of password, or after a restart without plugin_opt_login_key_file) needs
/// one Argon2id run: about 20 ms of a core and 19 MiB. On the broker's thread
/// a storm of such logins froze every client for a minute (5,000 first logins,
/// docs/benchmarks.md). Here they run on a few threads of their own; the
/// broker's thread submits a check, waits for it only for a lone login and
/// while it has budget (see quiet() and wait_budget), and otherwise tells the
/// client to come back: by then the verdict is known and the login costs a
/// hash lookup. The threads run at the lowest priority.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

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
    password_checker(int threads, std::size_t max_queued);
    ~password_checker();
    password_checker(const password_checker&) = delete;
    password_checker& operator=(const password_checker&) = delete;

    /// Queues a check (one already queued or running for the same digest is
    /// not queued again). False when the queue is full.
    bool submit(std::string user, std::string password, std::string stored_hash, std::string digest);

    /// True when no check is queued or running and none has been for
    /// `quiet_for`: a lone first login, whose check starts at once and which
    /// is worth the broker's waiting for. In a storm it is never true, so
    /// the broker's time goes to the clients already in.
    bool quiet(std::chrono::milliseconds quiet_for) const;

    /// Blocks until the check of `digest` is done or `deadline` passes.
    bool wait_done(const std::string& digest, std::chrono::steady_clock::time_point deadline);

    /// One atomic load: called at the start of every callback.
    bool has_verdicts() const { return has_verdicts_.load(std::memory_order_acquire); }
    std::vector<password_verdict> take();

    /// Checks waiting or running (for the log and the benchmarks).
    std::size_t backlog() const;

private:
    struct job {
        password_verdict v;
        std::string password;
    };
    void run();

    const std::size_t max_queued_;
    std::vector<std::thread> threads_;
    mutable std::mutex mutex_;
    std::condition_variable work_cv_, done_cv_;
    bool stop_ = false;
    std::deque<job> queue_;
    std::unordered_set<std::string> in_hand_; ///< digests queued or running
    int busy_ = 0;
    std::chrono::steady_clock::time_point last_busy_{}; ///< when the last check ended
    std::vector<password_verdict> verdicts_;
    std::atomic<bool> has_verdicts_{false}; ///< verdicts_ is not empty
};

} // namespace mqchat::plugin
