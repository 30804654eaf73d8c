#pragma once
/// Retention in the background (docs/data-rights.md, "Retention"): every
/// `interval` the job purges what the retention settings say has expired,
/// by calling mqchat_purge_expired(batch_rows) until its pass is done —
/// each call its own short transaction, with `pause` between calls, so live
/// traffic never waits behind a purge (the function takes old rows with
/// SKIP LOCKED; schema/functions/mqchat_purge_expired.sql).
///
/// A thread of its own with its own database connection (common/pg.hpp);
/// after a database error it drops the connection, counts the error and
/// tries again at the next interval. One log line per round that removed
/// something. Several bridges may each run one: they take turns on the
/// purge's cursor row and share the work.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/periodic_thread.hpp"
#include "common/pg.hpp"

namespace mqchat::bridge {

struct retention_settings {
    std::chrono::seconds interval{60};      ///< from the start of one round to the next
    int batch_rows = 1000;                  ///< rows per call (per transaction), 1–100,000
    std::chrono::milliseconds pause{50};    ///< between calls within a round
};

class retention_job {
public:
    /// Checks the settings (std::invalid_argument naming the bad one); does
    /// not connect or start anything yet.
    retention_job(std::string conninfo, retention_settings s);
    /// Stops and joins (a call in progress finishes first: one batch).
    ~retention_job();
    retention_job(const retention_job&) = delete;
    retention_job& operator=(const retention_job&) = delete;

    /// Starts the thread; the first round runs at once. Once only.
    void start();
    /// Rows removed since start (messages, conversations, guests).
    std::uint64_t purged_total() const { return purged_.load(); }
    /// Rounds that ended with a database error.
    std::uint64_t errors_total() const { return errors_.load(); }

private:
    void round();

    std::string conninfo_;
    retention_settings settings_;
    std::unique_ptr<pg::connection> db_; ///< the thread's; reconnected after an error
    std::atomic<std::uint64_t> purged_{0}, errors_{0};
    periodic_thread thread_; ///< last: stops before the rest goes
};

} // namespace mqchat::bridge
