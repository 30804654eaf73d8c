#pragma once
/// What the request methods of pg_requests share (bridge/requests_*.cpp):
/// outcomes, parameter checks, the membership check, and how a message row
/// is read. Private to the bridge's request handling.

#include <json/json.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.hpp"
#include "common/pg.hpp"
#include "pg_requests.hpp"

namespace mqchat::bridge::request_helpers {

inline constexpr int max_members_per_request = 500;
inline constexpr std::size_t max_title_length = 200;

method_outcome fail(std::string_view code, std::string message);
method_outcome bad(std::string message);
method_outcome ok(Json::Value result);

/// A non-negative integer parameter; false when absent or bad (then `error` says why).
bool positive(const Json::Value& params, const char* name, std::int64_t& out, std::string& error);
/// The page size: `limit` when given (1 .. most), else `otherwise`.
bool page_size(const Json::Value& params, int otherwise, int most, int& out, std::string& error);
bool user_name_param(const Json::Value& params, const char* name, std::string& out, std::string& error);
/// A non-empty UTF-8 string of at most `most` bytes.
bool short_text(const Json::Value& v, std::size_t most);
/// short_text without control characters (it may go into a mail header or a log line).
bool one_line_text(const Json::Value& v, std::size_t most);

/// The conversation named by params["conv"], and the caller's role in it
/// ("admin", "member", or "" when not a member).
struct conv_access {
    std::int64_t conv = 0;
    std::string kind;
    std::string role;
};
/// Reads params["conv"] and the caller's role there; when the caller is not
/// a member (or there is no such conversation: the same answer), fills
/// `error` with not_member and returns false.
bool conv_param(pg::connection& db, const Json::Value& params, std::int64_t me, conv_access& out,
                method_outcome& error);

// A message as history shows it: its current text (after edits), whether it
// was edited or deleted, the members it mentions, its reactions, and its
// attachment (gone with a deleted message), an encrypted one's ciphertexts.
inline constexpr const char* message_columns =
    "m.conv_id, m.seq, m.ts, m.client_id, coalesce(u.name, ''), m.body, coalesce(m.type, ''),"
    " coalesce(m.reply_to, 0), coalesce(m.ref, 0), m.edited_at IS NOT NULL, m.deleted,"
    " (SELECT string_agg(mu.name, ',' ORDER BY mu.name) FROM mentions mn JOIN users mu ON mu.id = mn.user_id"
    "   WHERE mn.conv_id = m.conv_id AND mn.seq = m.seq),"
    " (SELECT json_object_agg(x.reaction, x.names) FROM (SELECT r.reaction, json_agg(ru.name ORDER BY ru.name) names"
    "   FROM reactions r JOIN users ru ON ru.id = r.user_id WHERE r.conv_id = m.conv_id AND r.seq = m.seq"
    "   GROUP BY r.reaction) x),"
    " (SELECT mqchat_media_json(md) FROM media md WHERE md.id = m.media_id AND NOT m.deleted), m.e2e";

/// How many columns message_columns has.
inline constexpr int message_column_count = 15;
/// A row of message_columns, starting at `first_col`.
stored_message message_from_row(const pg::result& r, int row, int first_col = 0);

} // namespace mqchat::bridge::request_helpers
