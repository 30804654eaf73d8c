#pragma once
/// Follows the users and members tables for the plugin, off the broker's thread.
///
/// A thread of the worker process (worker_process.hpp) connects to
/// PostgreSQL, LISTENs on `mqchat_directory` (see schema/001_core.sql),
/// loads everything once, then turns each notification into a
/// directory_change. Each change is queued and announced (`on_news`); the
/// worker process sends it to the broker, whose thread applies it at the
/// start of the next callback or TICK, so a change is in force before the
/// next packet that could depend on it. On any database error the worker
/// reconnects with backoff and reloads everything.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/pg.hpp"
#include "directory.hpp"
#include "worker_status.hpp"

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
    /// `on_news` is called (on the worker's thread) after each change is queued.
    directory_sync(std::string conninfo, worker_status& status, std::function<void()> on_news);
    ~directory_sync();
    directory_sync(const directory_sync&) = delete;
    directory_sync& operator=(const directory_sync&) = delete;

    void start();
    void stop();

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
    worker_status& status_; ///< says whether the worker is connected and following changes
    const std::function<void()> on_news_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    int wake_[2] = {-1, -1};  ///< written on stop
    int flush_[2] = {-1, -1}; ///< written when logins wait to be stored

    std::mutex mutex_;
    std::vector<directory_change> queue_;
    std::vector<std::pair<std::string, std::string>> logins_; ///< name, digest
};

} // namespace mqchat::plugin
