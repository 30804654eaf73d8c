#include "retention_job.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "common/pg.hpp"
#include "common/log.hpp"

namespace mqchat::bridge {

retention_job::retention_job(std::string conninfo, retention_settings s)
    : conninfo_(std::move(conninfo)), settings_(s) {
    if (settings_.interval < std::chrono::seconds(1))
        throw std::invalid_argument("retention interval must be at least 1 s");
    if (settings_.batch_rows < 1 || settings_.batch_rows > 100000)
        throw std::invalid_argument("retention batch_rows must be from 1 to 100000, not " +
                                    std::to_string(settings_.batch_rows));
    if (settings_.pause < std::chrono::milliseconds(0) || settings_.pause > std::chrono::seconds(60))
        throw std::invalid_argument("retention pause must be from 0 to 60000 ms");
}

retention_job::~retention_job() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void retention_job::start() {
    if (thread_.joinable()) throw std::logic_error("retention_job started twice");
    thread_ = std::thread([this] { run(); });
}

bool retention_job::wait(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stop_; });
}

void retention_job::run() {
    std::unique_ptr<pg::connection> db;
    const std::string batch = std::to_string(settings_.batch_rows);
    for (;;) {
        const auto round_start = std::chrono::steady_clock::now();
        std::uint64_t round = 0, calls = 0;
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(conninfo_);
                db->exec("SET application_name = 'mqchat-bridge-retention'");
                // A purge never waits long on a lock: a round that would is
                // tried again at the next interval.
                db->exec("SET lock_timeout = '2s'");
                db->exec("SET jit = off");
            }
            for (;;) {
                const auto r = db->exec("SELECT purged, done FROM mqchat_purge_expired($1)", {batch});
                const auto n = static_cast<std::uint64_t>(r.int64(0, 0));
                round += n;
                purged_ += n;
                ++calls;
                if (r.boolean(0, 1)) break;
                if (!wait(settings_.pause)) break;
            }
        } catch (const pg::error& e) {
            ++errors_;
            log::warning() << "retention: database error (" << e.what() << "); retrying in "
                      << settings_.interval.count() << " s";
            db.reset();
        }
        if (round > 0) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                  round_start)
                                .count();
            log::info() << "retention: purged " << round << " rows in " << calls << " batches, " << ms
                      << " ms";
        }
        const auto next = round_start + settings_.interval;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
        if (!wait(std::max(left, std::chrono::milliseconds(0)))) return;
    }
}

} // namespace mqchat::bridge
