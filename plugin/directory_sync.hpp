#pragma once
/// Follows the users and members tables for the plugin, off the broker's thread.
///
/// A worker thread connects to PostgreSQL, LISTENs on `mqchat_directory`
/// (see schema/001_core.sql), loads everything once, then turns each
/// notification into a directory_change. The broker's thread takes the
/// changes with take() whenever has_pending() says there are some: at the
/// start of each callback and on every TICK, so a change is in force before
/// the next packet that could depend on it. On any database error the
/// worker reconnects with backoff and reloads everything.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/pg.hpp"
#include "directory.hpp"

namespace mqchat::plugin {

struct directory_change {
    enum class kind { snapshot, upsert_user, upsert_credentials, remove_user, add_member, remove_member, log };
    kind what = kind::log;
    std::shared_ptr<const std::vector<user_record>> snapshot;
    user_record user;          ///< upsert_user; upsert_credentials (no convs)
    std::string name;          ///< remove_user, add_member, remove_member
    std::vector<std::string> names; ///< snapshot: users the database says are online (a previous run's)
    std::int64_t conv = 0;     ///< add_member, remove_member
    /// add_member, remove_member: the conversation's new membership version;
    /// snapshot: the highest version the load contains (schema/004).
    std::int64_t version = 0;
    int log_level = 0;         ///< log: a MOSQ_LOG_* level
    std::string log_text;      ///< log: emitted on the broker's thread
};

class directory_sync {
public:
    explicit directory_sync(std::string conninfo);
    ~directory_sync();
    directory_sync(const directory_sync&) = delete;
    directory_sync& operator=(const directory_sync&) = delete;

    void start();
    void stop();

    /// Blocks until the first full load has been queued or `timeout` passes.
    bool wait_first_load(std::chrono::milliseconds timeout);

    bool has_pending() const { return pending_.load(std::memory_order_acquire); }
    /// True while the worker is connected and following changes.
    bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
    std::vector<directory_change> take();

    /// Stores a login digest (table login_digests) from the worker thread;
    /// returns at once. Lost if the database is down: it is only a shortcut.
    void remember_login(std::string name, std::string digest);

private:
    void run();
    bool session(bool& reached); // one connection's lifetime; false when asked to stop
    void handle_notification(pg::connection& db, const std::string& payload);
    void push(directory_change change);
    void log(int level, std::string text);
    void store_logins(pg::connection& db);

    std::string conninfo_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> pending_{false};
    std::atomic<bool> healthy_{false};
    int wake_[2] = {-1, -1};  ///< written on stop
    int flush_[2] = {-1, -1}; ///< written when logins wait to be stored

    std::mutex mutex_;
    std::condition_variable loaded_cv_;
    bool first_load_done_ = false;
    std::vector<directory_change> queue_;
    std::vector<std::pair<std::string, std::string>> logins_; ///< name, digest
};

} // namespace mqchat::plugin
