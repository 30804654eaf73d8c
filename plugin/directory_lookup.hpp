#pragma once
/// Reads one user, or one membership, from PostgreSQL for the rare moment the
/// in-memory directory has not heard of it yet — on a thread of its own.
///
/// The directory follows the database through NOTIFY, which arrives a little
/// after the commit; a client that logs in, or subscribes to a conversation,
/// right after it was created could otherwise be refused. Only a miss leads
/// here, never a known user. The broker's thread asks (ask_user,
/// ask_member) and may wait a bounded time for the worker to answer
/// (wait_answered); answers are taken on the broker's thread (take) and
/// applied there, whenever they come. Questions asked while a batch is under
/// way are answered together in the next one (one query for all of them),
/// so a storm of unknown names costs one query per batch, never a query
/// per name on the broker's thread. (Names that cannot be user names are
/// not asked at all: plugin_context::find_user.) While the database is slow or away the
/// worker is not `responsive()`, and the broker's thread does not wait at all.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
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
/// when the broker stops is left behind safely instead of holding up the
/// broker's shutdown.
class directory_lookup : public std::enable_shared_from_this<directory_lookup> {
public:
    /// `max_pending`: questions waiting beyond this are not taken (the
    /// caller treats them as undecided).
    explicit directory_lookup(std::string conninfo, std::size_t max_pending = 10000);
    ~directory_lookup();
    directory_lookup(const directory_lookup&) = delete;
    directory_lookup& operator=(const directory_lookup&) = delete;

    void start();
    void stop();

    /// Queues a question (a repeat of one not yet answered is not queued
    /// twice). Returns a ticket to wait for, or 0 when the queue is full.
    std::uint64_t ask_user(const std::string& name);
    std::uint64_t ask_member(const std::string& name, std::int64_t conv);

    /// True when the worker is not stuck: no batch has been under way for
    /// longer than `patience`. A stuck worker (the database frozen, a
    /// reconnect) is not worth waiting for.
    bool responsive(std::chrono::milliseconds patience) const;

    /// Blocks until the question with `ticket` has been answered (or given up
    /// on, when the database failed) or `deadline` passes. True if answered.
    bool wait_answered(std::uint64_t ticket, std::chrono::steady_clock::time_point deadline);

    /// One atomic load: called at the start of every callback.
    bool has_answers() const { return has_answers_.load(std::memory_order_acquire); }
    std::vector<lookup_answer> take();

private:
    void run();
    void log(int level, std::string text);
    void answer_batch(pg::connection& db, const std::vector<std::string>& users,
                      const std::vector<std::pair<std::string, std::int64_t>>& members);

    const std::string conninfo_;
    const std::size_t max_pending_;
    std::thread thread_;

    mutable std::mutex mutex_;
    std::condition_variable exited_cv_;
    bool exited_ = false;
    std::condition_variable work_cv_;     ///< the worker waits for questions
    std::condition_variable answered_cv_; ///< the broker thread waits for answers
    bool stop_ = false;
    std::set<std::string> users_asked_;                        ///< not yet taken by the worker
    std::set<std::pair<std::string, std::int64_t>> members_asked_;
    std::uint64_t next_ticket_ = 1;
    std::uint64_t answered_through_ = 0;  ///< every ticket up to this one is done
    std::chrono::steady_clock::time_point busy_since_{}; ///< start of the batch under way, or epoch
    std::vector<lookup_answer> answers_;
    std::atomic<bool> has_answers_{false}; ///< answers_ is not empty
};

} // namespace mqchat::plugin
