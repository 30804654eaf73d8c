#pragma once
/// Retention settings and the purge (docs/data-rights.md, "Retention"):
/// how long messages are kept per conversation, desk or kind, and how long
/// web visitors and closed support conversations are kept. The purge itself
/// is schema/functions/mqchat_purge_expired.sql; the bridge runs it in the
/// background (bridge/retention/), `retention run` once to completion.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "commands.hpp"

namespace mqchat::admin {

/// An age like "30d", "12h", "2w" (or "90m" where `min_s` allows it): a
/// number of 1–9 digits and one unit (m, h, d, w), between `min_s` and
/// `max_s` seconds. admin::failure naming `what` and the value otherwise.
std::int64_t parse_age(const std::string& text, const std::string& what, std::int64_t min_s, std::int64_t max_s);

/// "30d", "12h", "90m" or "3600s": the shortest exact spelling.
std::string format_age(std::int64_t seconds);

/// The smallest and largest max age a setting takes: an hour, 100 years.
inline constexpr std::int64_t min_max_age_s = 3600;
inline constexpr std::int64_t max_max_age_s = 36500LL * 86400;

struct retention_target {
    enum class scope { conv, desk, kind, visitors } what = scope::conv;
    std::string value; ///< the conversation id, desk name or kind ("" for visitors)
};

/// Sets the max age of the target (`max_age_s` nullopt with `keep_forever`:
/// keep forever, which a conversation, desk or kind may say to stand apart
/// from a wider setting), or removes its setting (`off`).
void retention_set(pg::connection& db, const retention_target& target, std::optional<std::int64_t> max_age_s,
                   bool off, std::ostream& out);
/// One line per setting, most specific first.
void retention_list(pg::connection& db, std::ostream& out);
/// Runs the purge to completion once, in batches of `batch_rows`, each its
/// own transaction; prints what it removed. Returns the rows removed.
std::int64_t retention_run(pg::connection& db, int batch_rows, std::ostream& out);

} // namespace mqchat::admin
