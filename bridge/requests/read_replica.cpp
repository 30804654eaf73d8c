#include "read_replica.hpp"

#include <json/json.h>

#include "common/log.hpp"

namespace mqchat::bridge {

bool read_replica::suits(const std::string& method, const Json::Value& params) {
    // An older page is settled history; the newest page and `after` (a gap
    // fetch) must include what was acked a moment ago.
    if (method == "history") return params.isMember("before");
    return method == "search" || method == "thread";
}

pg::connection* read_replica::usable() {
    const auto now = clock::now();
    if (now < retry_after_) return nullptr;
    try {
        if (!db_) {
            db_ = std::make_unique<pg::connection>(conninfo_);
            db_->exec("SET application_name = 'mqchat-bridge-requests-replica'");
            checked_ = {};
        }
        if (now - checked_ >= std::chrono::seconds(1)) {
            // Behind = WAL received but not replayed yet, for this long. A
            // replica with everything replayed is current however long ago
            // the last transaction was; a server not in recovery is a primary.
            const auto r = db_->exec(
                "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                "THEN 0 ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) END::bigint");
            const bool was = fresh_;
            fresh_ = r.int64(0, 0) <= max_lag_.count();
            if (was != fresh_ || checked_ == clock::time_point{})
                log::warning() << "read replica " << (fresh_ ? "in use" : "behind")
                          << " (" << r.int64(0, 0) << " ms of lag; at most " << max_lag_.count() << ")";
            checked_ = now;
        }
        return fresh_ ? db_.get() : nullptr;
    } catch (const pg::error& e) {
        log::warning() << "read replica unavailable (" << e.what() << "); the primary answers";
        broken();
        return nullptr;
    }
}

void read_replica::broken() {
    db_.reset();
    fresh_ = false;
    retry_after_ = clock::now() + std::chrono::seconds(5);
}

} // namespace mqchat::bridge
