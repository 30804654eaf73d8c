// Requests for messages: history pages, sync after cursors, threads, and
// full-text search, each only in the caller's conversations.

#include <algorithm>
#include <optional>
#include <set>

#include "common/json.hpp"
#include "common/names.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

method_outcome pg_requests::history(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    int limit = 0;
    std::string why;
    if (!page_size(r.params, 50, 100, limit, why)) return bad(why);
    std::int64_t before = 0, after = 0;
    const bool has_before = positive(r.params, "before", before, why);
    if (!why.empty()) return bad(why);
    const bool has_after = positive(r.params, "after", after, why);
    if (!why.empty()) return bad(why);
    if (has_before && has_after) return bad("give before or after, not both");

    // Keyset pages on the primary key (conv_id, seq): an index range scan
    // whatever the conversation's length. One row more says whether there is more.
    const std::string cid = std::to_string(c.conv), n = std::to_string(limit + 1);
    const std::string from = std::string("SELECT ") + message_columns +
                             " FROM messages m LEFT JOIN users u ON u.id = m.sender_id WHERE m.conv_id = $1";
    const pg::result rows =
        has_after ? db.exec(from + " AND m.seq > $2 ORDER BY m.seq LIMIT $3", {cid, std::to_string(after), n})
        : has_before ? db.exec(history_before_sql(), {cid, std::to_string(before), n})
                     : db.exec(from + " ORDER BY m.seq DESC LIMIT $2", {cid, n});
    const int count = std::min(rows.rows(), limit);
    Json::Value messages(Json::arrayValue);
    for (int k = 0; k < count; ++k) {
        const int i = has_after ? k : count - 1 - k; // always oldest first
        messages.append(stored_value(message_from_row(rows, i)));
    }
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(c.conv);
    res["messages"] = std::move(messages);
    res["more"] = rows.rows() > limit;
    return ok(std::move(res));
}

method_outcome pg_requests::sync(pg::connection& db, const rpc::request& r, std::int64_t me) {
    int limit = 0;
    std::string why;
    if (!page_size(r.params, 200, 500, limit, why)) return bad(why);
    const Json::Value& cursors = r.params["cursors"];
    if (!cursors.isNull() && !cursors.isObject()) return bad("cursors must map conversation ids to seqs");
    Json::Value clean(Json::objectValue);
    for (const auto& key : cursors.getMemberNames()) {
        const Json::Value& v = cursors[key];
        if (parse_conv_id(key) == 0 || !v.isIntegral() || !v.isInt64() || v.asInt64() < 0)
            return bad("cursors must map conversation ids to seqs");
        clean[key] = Json::Int64(v.asInt64());
    }
    // Everything after the cursor (0 when not given) in each of my
    // conversations, in (conversation, seq) order: one index range per
    // conversation, stopped by the limit.
    const auto rows = db.exec(sync_sql(), {std::to_string(me), json::write(clean), std::to_string(limit + 1)});
    const int count = std::min(rows.rows(), limit);
    Json::Value messages(Json::arrayValue), next = clean;
    for (int i = 0; i < count; ++i) {
        const stored_message m = message_from_row(rows, i);
        next[std::to_string(m.conv)] = Json::Int64(m.seq);
        messages.append(stored_value(m));
    }
    Json::Value res(Json::objectValue);
    res["messages"] = std::move(messages);
    res["cursors"] = std::move(next);
    res["more"] = rows.rows() > limit;
    return ok(std::move(res));
}

method_outcome pg_requests::search(pg::connection& db, const rpc::request& r, std::int64_t me) {
    const Json::Value& p = r.params;
    if (!p["q"].isString() || p["q"].asString().empty() || p["q"].asString().size() > 200 || !valid_utf8(p["q"].asString()))
        return bad("q must be a search text of 1 to 200 bytes");
    int limit = 0;
    std::string why;
    if (!page_size(p, 20, 50, limit, why)) return bad(why);
    std::int64_t offset = 0, from = 0, to = 0;
    positive(p, "offset", offset, why);
    if (!why.empty() || offset > 1000) return bad(why.empty() ? "offset must be at most 1000" : why);
    std::optional<std::string> conv, sender, since, until;
    if (p.isMember("conv")) {
        conv_access c;
        method_outcome error;
        if (!conv_param(db, p, me, c, error)) return error;
        conv = std::to_string(c.conv);
    }
    if (p.isMember("sender")) {
        std::string name;
        if (!user_name_param(p, "sender", name, why)) return bad(why);
        sender = name;
    }
    if (positive(p, "from", from, why)) since = std::to_string(from);
    if (!why.empty()) return bad(why);
    if (positive(p, "to", to, why)) until = std::to_string(to);
    if (!why.empty()) return bad(why);

    // Ranked matches in my conversations only, with the matched words marked
    // « » in a short snippet. The GIN index on messages.search finds them.
    // q is MATERIALIZED: inlined, its query was parsed again (and the
    // search configuration read again) for every matching row, in ts_rank.
    const auto rows = db.exec(
        std::string("WITH q AS MATERIALIZED (SELECT s.cfg, websearch_to_tsquery(s.cfg, $2) AS query"
                    "                        FROM (SELECT mqchat_search_config() AS cfg) s)"
                    " SELECT ts_rank(m.search, q.query),"
                    "  ts_headline(q.cfg, m.body, q.query,"
                    "              'StartSel=«, StopSel=», MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=\" … \"'), ") +
            message_columns +
            "  FROM q, messages m LEFT JOIN users u ON u.id = m.sender_id"
            " WHERE m.search @@ q.query AND (m.type IS NULL OR m.type NOT IN ('edit', 'delete', 'reaction', 'unreaction'))"
            "   AND m.conv_id IN (SELECT conv_id FROM members WHERE user_id = $1)"
            "   AND ($3::bigint IS NULL OR m.conv_id = $3::bigint)"
            "   AND ($4::text IS NULL OR u.name = $4::text)"
            "   AND ($5::bigint IS NULL OR m.ts >= $5::bigint)"
            "   AND ($6::bigint IS NULL OR m.ts < $6::bigint)"
            " ORDER BY 1 DESC, m.ts DESC, m.conv_id, m.seq"
            " LIMIT $7 OFFSET $8",
        {std::to_string(me), p["q"].asString(), conv, sender, since, until, std::to_string(limit + 1),
         std::to_string(offset)});
    Json::Value hits(Json::arrayValue);
    for (int i = 0; i < std::min(rows.rows(), limit); ++i) {
        Json::Value h(Json::objectValue);
        h["message"] = stored_value(message_from_row(rows, i, 2));
        h["rank"] = std::stod(rows.str(i, 0));
        h["snippet"] = rows.str(i, 1);
        hits.append(std::move(h));
    }
    Json::Value res(Json::objectValue);
    res["hits"] = std::move(hits);
    res["more"] = rows.rows() > limit;
    res["next_offset"] = Json::Int64(offset + std::min(rows.rows(), limit));
    return ok(std::move(res));
}

method_outcome pg_requests::thread(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    std::int64_t seq = 0, after = 0;
    std::string why;
    if (!positive(r.params, "seq", seq, why) || seq < 1) return bad(why.empty() ? "seq must be the seq of a message" : why);
    positive(r.params, "after", after, why);
    if (!why.empty()) return bad(why);
    int limit = 0;
    if (!page_size(r.params, 50, 100, limit, why)) return bad(why);
    // The replies to one message, oldest first, from the index on (conv_id, reply_to, seq).
    const auto rows = db.exec(std::string("SELECT ") + message_columns +
                                  " FROM messages m LEFT JOIN users u ON u.id = m.sender_id"
                                  " WHERE m.conv_id = $1 AND m.reply_to = $2 AND m.seq > $3 ORDER BY m.seq LIMIT $4",
                              {std::to_string(c.conv), std::to_string(seq), std::to_string(after), std::to_string(limit + 1)});
    Json::Value replies(Json::arrayValue);
    for (int i = 0; i < std::min(rows.rows(), limit); ++i) replies.append(stored_value(message_from_row(rows, i)));
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(c.conv);
    res["seq"] = Json::Int64(seq);
    res["replies"] = std::move(replies);
    res["more"] = rows.rows() > limit;
    return ok(std::move(res));
}

} // namespace mqchat::bridge
