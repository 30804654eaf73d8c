#include "retention_job.hpp"

#include <stdexcept>

#include "common/log.hpp"

namespace mqchat::bridge {

retention_job::retention_job(std::string conninfo, retention_settings s)
    : conninfo_(std::move(conninfo)), settings_(s), thread_(settings_.interval) {
    if (settings_.interval < std::chrono::seconds(1))
        throw std::invalid_argument("retention interval must be at least 1 s");
    if (settings_.batch_rows < 1 || settings_.batch_rows > 100000)
        throw std::invalid_argument("retention batch_rows must be from 1 to 100000, not " +
                                    std::to_string(settings_.batch_rows));
    if (settings_.pause < std::chrono::milliseconds(0) || settings_.pause > std::chrono::seconds(60))
        throw std::invalid_argument("retention pause must be from 0 to 60000 ms");
}

retention_job::~retention_job() = default;

void retention_job::start() { thread_.start([this] { round(); }); }

void retention_job::round() {
    const auto round_start = std::chrono::steady_clock::now();
    const std::string batch = std::to_string(settings_.batch_rows);
    std::uint64_t purged = 0, calls = 0;
    try {
        if (!db_) {
            db_ = std::make_unique<pg::connection>(conninfo_);
            db_->exec("SET application_name = 'mqchat-bridge-retention'");
            // A purge never waits long on a lock: a round that would is
            // tried again at the next interval.
            db_->exec("SET lock_timeout = '2s'");
            db_->exec("SET jit = off");
        }
        for (;;) {
            const auto r = db_->exec("SELECT purged, done FROM mqchat_purge_expired($1)", {batch});
            const auto n = static_cast<std::uint64_t>(r.int64(0, 0));
            purged += n;
            purged_ += n;
            ++calls;
            if (r.boolean(0, 1)) break;
            if (!thread_.wait(settings_.pause)) break; // stopping
        }
    } catch (const pg::error& e) {
        ++errors_;
        log::warning() << "retention: database error (" << e.what() << "); retrying in "
                       << settings_.interval.count() << " s";
        db_.reset();
    }
    if (purged > 0) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - round_start).count();
        log::info() << "retention: purged " << purged << " rows in " << calls << " batches, " << ms << " ms";
    }
}

} // namespace mqchat::bridge
