#pragma once
/// Keeps the search index's pending list short (schema/functions/
/// mqchat_flush_search_index_part.sql): a stored message's search entries
/// are only appended to the list, and every `interval` this merges the list
/// into the index, so that no store transaction ever does that merge itself
/// (a stall of 100–340 ms for every message behind it). It merges one
/// partition's list at a time, spread over the interval, so that the work
/// comes in small pieces rather than one burst a second. Search reads the
/// list too: a message is found as soon as it is stored, merged or not.
///
/// A thread of its own with its own database connection; after a database
/// error it drops the connection, counts the error, says so once, and tries
/// again at the next interval (meanwhile a store that finds the list full
/// merges it, as PostgreSQL would without this). Several bridges may each
/// run one: PostgreSQL lets one merge a partition's list at a time and the
/// others find it short.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/periodic_thread.hpp"
#include "common/pg.hpp"

namespace mqchat::bridge {

class search_indexer {
public:
    /// `interval`: from 1 ms to 60 s (std::invalid_argument otherwise).
    /// Does not connect or start anything yet.
    search_indexer(std::string conninfo, std::chrono::milliseconds interval);
    /// Stops and joins (a merge in progress finishes first).
    ~search_indexer();
    search_indexer(const search_indexer&) = delete;
    search_indexer& operator=(const search_indexer&) = delete;

    /// Starts the thread; the first round runs at once. Once only.
    void start();
    /// Pages of pending entries merged into the index since start.
    std::uint64_t merged_pages_total() const { return merged_pages_.load(); }
    /// Rounds that ended with a database error.
    std::uint64_t errors_total() const { return errors_.load(); }

private:
    void round();

    std::string conninfo_;
    const std::chrono::milliseconds interval_;
    std::unique_ptr<pg::connection> db_; ///< the thread's; reconnected after an error
    bool warned_ = false;
    std::atomic<std::uint64_t> merged_pages_{0}, errors_{0};
    periodic_thread thread_; ///< last: stops before the rest goes
};

} // namespace mqchat::bridge
