#pragma once
/// A PostgreSQL streaming replica for the requests that only read and can
/// bear a moment's lag (docs/operations.md, "A read replica"): older pages
/// of history, search, threads. Everything else — sync, the newest page and
/// gap fetches, conversation lists with unread counts, every write — stays on
/// the primary, so a client never misses what it was just acked.
///
/// Used only while it is reachable and at most `max_lag` behind (asked at
/// most once a second); otherwise the primary answers. A replica that
/// fails is left alone for a few seconds before it is tried again.

#include <json/json.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/pg.hpp"

namespace mqchat::bridge {

class read_replica {
public:
    using clock = std::chrono::steady_clock;

    read_replica(std::string conninfo, std::chrono::milliseconds max_lag)
        : conninfo_(std::move(conninfo)), max_lag_(max_lag) {}

    /// The replica's connection, when it may answer now; null: ask the primary.
    pg::connection* usable();
    /// A request on it failed with a broken connection: drop it, retry later.
    void broken();

    /// Requests that may be answered from a replica (by method and params).
    static bool suits(const std::string& method, const Json::Value& params);

private:
    const std::string conninfo_;
    const std::chrono::milliseconds max_lag_;
    std::unique_ptr<pg::connection> db_;
    clock::time_point checked_{}, retry_after_{};
    bool fresh_ = false;
};

} // namespace mqchat::bridge
