#pragma once
/// Reads one user, or one membership, from PostgreSQL for the rare moment the
/// in-memory directory has not heard of it yet — on a thread of the worker
/// process (worker_process.hpp).
///
/// The directory follows the database through NOTIFY, which arrives a little
/// after the commit; a client that logs in, or subscribes to a conversation,
/// right after it was created could otherwise be refused. Only a miss leads
/// here, never a known user. The broker's thread asks (through the worker
/// process: ask_user, ask_member, each with the broker's ticket) and may
/// wait a bounded time for the answers, which are queued here and announced
/// (`on_news`) together with how far the questions are answered
/// (answered_through). Questions asked while a batch is under way are
/// answered together in the next one (one query for all of them), so a storm
/// of unknown names costs one query per batch, never a query per name on the
/// broker's thread. (Names that cannot be user names are not asked at all:
/// plugin_context::find_user.) While the database is slow or away the worker
/// is not responsive (worker_status::lookup_busy_since_ns), and the broker's
/// thread does not wait at all.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/pg.hpp"
#include "directory.hpp"
#include "worker_status.hpp"

namespace mqchat::plugin {

/// Reads registered users (not guests) with their conversations; append
/// " GROUP BY u.id" (all) or a condition on u.name and then " GROUP BY u.id".
/// Rows go through user_from_row.
extern const char* const user_select_sql;
user_record user_from_row(const pg::result& r, int row);

/// What the worker found out.
struct lookup_answer {
    enum class kind { user_found, no_such_user, member, not_member, log };
    kind what = kind::no_such_user;
    std::string name;                ///< log: the line, emitted on the broker's thread
    std::int64_t conv = 0;           ///< member, not_member; log: the MOSQ_LOG_* level
    std::optional<user_record> user; ///< user_found
};

/// Held by a shared_ptr (start() needs one): the worker keeps the object
/// alive while it runs, so a worker stuck in a query on a frozen server
/// when the worker process stops is left behind safely instead of holding
/// up the stop.
class directory_lookup : public std::enable_shared_from_this<directory_lookup> {
public:
    /// `on_news` is called (on the worker's thread) after answers are queued
    /// or answered_through() moved.
    directory_lookup(std::string conninfo, worker_status& status, std::function<void()> on_news);
    ~directory_lookup();
    directory_lookup(const directory_lookup&) = delete;
    directory_lookup& operator=(const directory_lookup&) = delete;

    void start();
    void stop();

    /// Queues a question (a repeat of one not yet answered is not queued
    /// twice) under the asker's `ticket`; tickets only grow.
    void ask_user(const std::string& name, std::uint64_t ticket);
    void ask_member(const std::string& name, std::int64_t conv, std::uint64_t ticket);

    /// Every question up to this ticket has been answered (or given up on,
    /// when the database failed), and its answers queued before it moved:
    /// read this first, then take(), and the answers are all in hand.
    std::uint64_t answered_through() const;
    std::vector<lookup_answer> take();

private:
    void run();
    void log(int level, std::string text);
    void answer_batch(pg::connection& db, const std::vector<std::string>& users,
                      const std::vector<std::pair<std::string, std::int64_t>>& members);

    void set_busy(bool busy); ///< worker_status::lookup_busy_since_ns

    const std::string conninfo_;
    worker_status& status_;
    const std::function<void()> on_news_;
    std::thread thread_;

    mutable std::mutex mutex_;
    std::condition_variable exited_cv_;
    bool exited_ = false;
    std::condition_variable work_cv_; ///< the worker waits for questions
    bool stop_ = false;
    std::set<std::string> users_asked_; ///< not yet taken by the worker
    std::set<std::pair<std::string, std::int64_t>> members_asked_;
    std::uint64_t asked_through_ = 0;    ///< the last ticket asked
    std::uint64_t answered_through_ = 0; ///< every ticket up to this one is done
    std::vector<lookup_answer> answers_;
};

} // namespace mqchat::plugin
