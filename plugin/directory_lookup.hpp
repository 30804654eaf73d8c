#pragma once
/// A direct read of one user or one membership from PostgreSQL, for the rare
/// moment the in-memory directory has not heard of it yet.
///
/// The directory follows the database through NOTIFY, which arrives a little
/// after the commit; a client that logs in, or subscribes to a conversation,
/// right after it was created could otherwise be refused. Only a miss leads
/// here, never a known user: the answer for a known user is always in memory.
/// Misses are remembered (plugin_context::recently_missed), so a flood of
/// unknown names costs one query each, and nothing is queried while the
/// directory worker reports the database down.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/pg.hpp"
#include "directory.hpp"

namespace mqchat::plugin {

/// Reads registered users (not guests) with their conversations; append
/// " GROUP BY u.id" (all) or " AND u.name = $1 GROUP BY u.id" (one). Rows
/// go through user_from_row.
extern const char* const user_select_sql;
user_record user_from_row(const pg::result& r, int row);

class directory_lookup {
public:
    explicit directory_lookup(std::string conninfo) : conninfo_(std::move(conninfo)) {}

    /// The user as stored now, or nullopt if there is none or the database
    /// did not answer (then `answered` is false).
    std::optional<user_record> user(const std::string& name, bool& answered);
    /// Whether the user is a member now; nullopt if the database did not answer.
    std::optional<bool> is_member(const std::string& name, std::int64_t conv);

private:
    pg::connection* db();
    template <class Fn>
    auto guarded_query(Fn&& fn) -> std::optional<decltype(fn(std::declval<pg::connection&>()))>;

    std::string conninfo_;
    std::unique_ptr<pg::connection> db_;
    std::chrono::steady_clock::time_point retry_after_{};
};

} // namespace mqchat::plugin
