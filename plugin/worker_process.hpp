#pragma once
/// The plugin's workers — the directory worker, the lookup worker and the
/// password threads — in a process of their own, and the broker's side of
/// talking to it.
///
/// Why a process and not threads in the broker: once a process has a second
/// thread, glibc takes its multi-threaded paths in everything the broker
/// does — every read(), write() and epoll_wait() goes through the
/// cancellation machinery and every calloc() and free() takes the arena
/// lock. Measured with callgrind on Mosquitto 2.0.11 (bench/instructions.cpp),
/// one idle thread in the broker process costs about 640 instructions per
/// QoS 1 message on every topic, chat or not: 5.6 % of what the broker
/// itself spends, more than the plugin's whole budget (#12). The worker
/// process is forked when the plugin starts (before Mosquitto opens its
/// listeners) and keeps the broker single-threaded.
///
/// The broker's thread never waits on it beyond the wait budgets: requests
/// go down one pipe without blocking (queued here when the pipe is full),
/// and what the workers find out comes up another, read when the page the
/// two processes share (worker_status) says there is something — one load
/// per callback, as cheap as the atomic flags of threads were. Waits for a
/// lookup or a password check poll that pipe until their deadline.
///
/// If the worker process dies, the broker goes on from memory (like with the
/// database away) and TICK starts a new one, which loads the directory
/// afresh. It dies with the broker (PR_SET_PDEATHSIG) and ends when the
/// broker closes its pipe.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "directory_lookup.hpp"
#include "directory_sync.hpp"
#include "password_checker.hpp"
#include "worker_status.hpp"

namespace mqchat::plugin {

namespace wire {
struct lookup_progress;
struct password_dropped;
} // namespace wire

struct worker_settings {
    std::string conninfo;      ///< the mqchat database
    int password_threads = 1;  ///< Argon2id checks at once
    std::size_t max_password_checks = 10000; ///< queued or running; more are not taken
    std::size_t max_lookups = 10000;         ///< questions not yet answered; more are not asked
};

class worker_process {
public:
    using clock = std::chrono::steady_clock;

    explicit worker_process(worker_settings settings);
    ~worker_process();
    worker_process(const worker_process&) = delete;
    worker_process& operator=(const worker_process&) = delete;

    /// Forks the worker process. Throws std::runtime_error when it cannot.
    void start();
    /// Asks the worker process to end, gives it a moment, then kills it.
    void stop();
    /// From TICK: notices a worker process that died and starts a new one
    /// (after a second; longer while new ones end early). Costs a counter on
    /// most calls.
    void keep_alive();

    /// Whether there is something to take: two loads, for every callback.
    bool has_news() const { return unread_ || status_->news.load(std::memory_order_acquire); }
    /// Reads what the worker process has written (without waiting) into the
    /// queues that the take_* functions empty.
    void receive();
    std::vector<directory_change> take_changes();
    std::vector<lookup_answer> take_answers();
    std::vector<password_verdict> take_verdicts();

    // The directory.
    /// Waits (reading) until the first full load has arrived or `timeout` passes.
    bool wait_first_load(std::chrono::milliseconds timeout);
    /// True while the directory worker is connected and following changes.
    bool directory_healthy() const;
    /// Stores a login digest (table login_digests) in the background; lost
    /// if the database is down: it is only a shortcut.
    void remember_login(const std::string& name, const std::string& digest);

    // Lookups.
    /// Asks the lookup worker. Returns a ticket to wait for, or 0 when it
    /// cannot be asked now (too many questions open, or no worker process).
    std::uint64_t ask_user(const std::string& name);
    std::uint64_t ask_member(const std::string& name, std::int64_t conv);
    /// True when the lookup worker is not stuck: no batch has been under way
    /// for longer than `patience` (a frozen database is not worth waiting for).
    bool lookup_responsive(std::chrono::milliseconds patience) const;
    /// Waits (reading) until the question with `ticket` is answered or given
    /// up on, or `deadline` passes. True if answered.
    bool wait_answered(std::uint64_t ticket, clock::time_point deadline);

    // Password checks.
    /// Queues an Argon2id check. False when it cannot be taken now.
    bool submit_password(const std::string& user, const std::string& password, const std::string& stored_hash,
                         const std::string& digest);
    /// True when no check is queued or running and none has been for
    /// `quiet_for`: a lone first login, whose check starts at once and which
    /// is worth the broker's waiting for. In a storm it is never true, so
    /// the broker's time goes to the clients already in.
    bool passwords_quiet(std::chrono::milliseconds quiet_for) const;
    /// Waits (reading) until the check of `digest` is done or `deadline` passes.
    bool wait_password(const std::string& digest, clock::time_point deadline);
    /// Checks waiting or running (for the log).
    std::size_t password_backlog() const;

private:
    bool running() const { return pid_ > 0; }
    template <class Done>
    bool wait_until(clock::time_point deadline, Done&& done);
    template <class Message>
    bool send(const Message& m);
    void flush();
    void handle(directory_change&& m);
    void handle(lookup_answer&& m);
    void handle(wire::lookup_progress&& m);
    void handle(password_verdict&& m);
    void handle(wire::password_dropped&& m);
    template <class Other>
    void handle(Other&&); ///< requests never come this way
    /// The worker process is gone (or unusable): kills it if need be, closes
    /// the pipes, gives up what it was asked, and lets keep_alive() start
    /// another. `pid_` is -1 if it has been reaped already.
    void lost(const char* why);

    const worker_settings settings_;
    worker_status* status_;            ///< the shared page
    pid_t pid_ = -1;
    std::vector<pid_t> unreaped_;      ///< killed worker processes not yet reaped
    int requests_fd_ = -1;             ///< broker → worker process, non-blocking
    int news_fd_ = -1;                 ///< worker process → broker, non-blocking
    std::string inbox_, outbox_;       ///< bytes read but not decoded; requests not yet written
    bool unread_ = false;              ///< the queues below hold something
    std::vector<directory_change> changes_;
    std::vector<lookup_answer> answers_;
    std::vector<password_verdict> verdicts_;
    bool first_load_ = false;
    std::uint64_t next_ticket_ = 1;
    std::uint64_t answered_through_ = 0;
    std::unordered_set<std::string> checking_; ///< digests submitted, no verdict yet
    unsigned ticks_ = 0;
    clock::time_point next_liveness_check_{};
    clock::time_point restart_after_{};
    clock::duration restart_pause_ = std::chrono::seconds(1); ///< grows while new worker processes end early
};

} // namespace mqchat::plugin
