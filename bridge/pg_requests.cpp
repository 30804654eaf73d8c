#include "pg_requests.hpp"

#include <algorithm>
#include <iostream>
#include <optional>
#include <set>

#include "common/envelope.hpp"
#include "common/json.hpp"
#include "common/names.hpp"

namespace mqchat::bridge {

namespace {

constexpr int max_members_per_request = 500;
constexpr std::size_t max_title_length = 200;

method_outcome fail(std::string_view code, std::string message) {
    method_outcome o;
    o.error_code = code;
    o.error_message = std::move(message);
    return o;
}
method_outcome bad(std::string message) { return fail(error_code::invalid_request, std::move(message)); }
method_outcome ok(Json::Value result) {
    method_outcome o;
    o.result = std::move(result);
    return o;
}

/// A positive integer parameter; false (and `out` untouched) when absent.
bool positive(const Json::Value& params, const char* name, std::int64_t& out, std::string& error) {
    if (!params.isMember(name)) return false;
    const Json::Value& v = params[name];
    if (!v.isIntegral() || !v.isInt64() || v.asInt64() < 0) {
        error = std::string(name) + " must be a non-negative integer";
        return false;
    }
    out = v.asInt64();
    return true;
}

/// The page size: `limit` when given (1 .. most), else `otherwise`.
bool page_size(const Json::Value& params, int otherwise, int most, int& out, std::string& error) {
    out = otherwise;
    if (!params.isMember("limit")) return true;
    const Json::Value& v = params["limit"];
    if (!v.isIntegral() || v.asInt64() < 1 || v.asInt64() > most) {
        error = "limit must be 1 to " + std::to_string(most);
        return false;
    }
    out = static_cast<int>(v.asInt64());
    return true;
}

bool user_name_param(const Json::Value& params, const char* name, std::string& out, std::string& error) {
    if (!params[name].isString() || !valid_user_name(params[name].asString())) {
        error = std::string(name) + " must be a user name";
        return false;
    }
    out = params[name].asString();
    return true;
}

/// The conversation named by params["conv"], and the caller's role in it
/// ("admin", "member", or "" when not a member).
struct conv_access {
    std::int64_t conv = 0;
    std::string kind;
    std::string role;
};
bool conv_param(pg::connection& db, const Json::Value& params, std::int64_t me, conv_access& out,
                method_outcome& error) {
    const Json::Value& v = params["conv"];
    if (!v.isIntegral() || !v.isInt64() || v.asInt64() < 1) {
        error = bad("conv must be a conversation id");
        return false;
    }
    out.conv = v.asInt64();
    const auto r = db.exec("SELECT c.kind, coalesce(m.role, '') FROM conversations c"
                           " LEFT JOIN members m ON m.conv_id = c.id AND m.user_id = $2 WHERE c.id = $1",
                           {std::to_string(out.conv), std::to_string(me)});
    // Not a member and no such conversation look the same from outside.
    if (r.rows() == 0 || r.text(0, 1).empty()) {
        error = fail(error_code::not_member, "you are not a member of conversation " + std::to_string(out.conv));
        return false;
    }
    out.kind = r.str(0, 0);
    out.role = r.str(0, 1);
    return true;
}

// A message as history shows it: its current text (after edits), whether it
// was edited or deleted, the members it mentions, and its reactions.
constexpr const char* message_columns =
    "m.conv_id, m.seq, m.ts, m.client_id, coalesce(u.name, ''), m.body, coalesce(m.type, ''),"
    " coalesce(m.reply_to, 0), coalesce(m.ref, 0), m.edited_at IS NOT NULL, m.deleted,"
    " (SELECT string_agg(mu.name, ',' ORDER BY mu.name) FROM mentions mn JOIN users mu ON mu.id = mn.user_id"
    "   WHERE mn.conv_id = m.conv_id AND mn.seq = m.seq),"
    " (SELECT json_object_agg(x.reaction, x.names) FROM (SELECT r.reaction, json_agg(ru.name ORDER BY ru.name) names"
    "   FROM reactions r JOIN users ru ON ru.id = r.user_id WHERE r.conv_id = m.conv_id AND r.seq = m.seq"
    "   GROUP BY r.reaction) x)";

stored_message message_from_row(const pg::result& r, int row, int first_col = 0) {
    stored_message m;
    m.conv = r.int64(row, first_col);
    m.seq = r.int64(row, first_col + 1);
    m.ts = r.int64(row, first_col + 2);
    m.id = r.str(row, first_col + 3);
    m.sender = r.str(row, first_col + 4);
    m.body = r.str(row, first_col + 5);
    m.type = r.str(row, first_col + 6);
    m.reply_to = r.int64(row, first_col + 7);
    m.ref = r.int64(row, first_col + 8);
    m.edited = r.boolean(row, first_col + 9);
    m.deleted = r.boolean(row, first_col + 10);
    for (std::string_view names = r.text(row, first_col + 11); !names.empty();) {
        const auto comma = names.find(',');
        m.mentions.emplace_back(names.substr(0, comma));
        names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    }
    if (!r.is_null(row, first_col + 12)) {
        std::string why;
        json::parse(r.text(row, first_col + 12), m.reactions, why);
    }
    return m;
}

std::string pg_text_array(const std::vector<std::string>& items) {
    // Only user names go in here (a safe alphabet), but quote anyway.
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ",\"" : "\"") + items[i] + "\"";
    return out + "}";
}

} // namespace

pg_requests::pg_requests(std::string conninfo, const topic_names& topics)
    : conninfo_(std::move(conninfo)), topics_(topics),
      methods_{{"conv.list", &pg_requests::conv_list},
               {"conv.create", &pg_requests::conv_create},
               {"conv.add_member", &pg_requests::conv_add_member},
               {"conv.remove_member", &pg_requests::conv_remove_member},
               {"conv.leave", &pg_requests::conv_leave},
               {"conv.rename", &pg_requests::conv_rename},
               {"history", &pg_requests::history},
               {"sync", &pg_requests::sync},
               {"search", &pg_requests::search},
               {"thread", &pg_requests::thread},
               {"presence.set", &pg_requests::presence_set},
               {"push.register", &pg_requests::push_register},
               {"push.unregister", &pg_requests::push_unregister},
               {"push.settings", &pg_requests::push_settings},
               {"conv.notify", &pg_requests::conv_notify},
               {"email.set", &pg_requests::email_set}} {}

pg::connection& pg_requests::db() {
    if (!db_) db_ = std::make_unique<pg::connection>(conninfo_);
    return *db_;
}

outgoing_message pg_requests::notice(const std::string& user, const Json::Value& body) const {
    return {topics_.inbox(user), json::write(body), ""};
}

std::vector<outgoing_message> pg_requests::handle(const rpc::request& r) {
    method_outcome o;
    const auto m = methods_.find(r.method);
    if (m == methods_.end()) {
        o = fail(error_code::unknown_method, "no method '" + r.method + "'");
    } else {
        try {
            pg::connection& c = db();
            const auto me = c.exec("SELECT id FROM users WHERE name = $1", {r.caller});
            // A guest has no row until its first message; it is a member of nothing yet.
            o = me.rows() == 0 ? fail(error_code::not_member, "you are not a member of any conversation yet")
                               : (this->*(m->second))(c, r, me.int64(0, 0));
        } catch (const pg::broken_connection& e) {
            db_.reset();
            std::cerr << "mqchat-bridge: request " << r.method << " of " << r.caller << ": database unavailable ("
                      << e.what() << ")" << std::endl;
            o = fail(error_code::internal, "the database is unavailable; try again");
        } catch (const pg::error& e) {
            std::cerr << "mqchat-bridge: request " << r.method << " of " << r.caller << " failed: " << e.what()
                      << std::endl;
            try {
                db().exec("ROLLBACK");
            } catch (const pg::error&) {
                db_.reset();
            }
            o = fail(error_code::internal, "the server could not answer this request");
        }
    }
    std::vector<outgoing_message> out;
    out.push_back({topics_.inbox(r.caller),
                   o.error_code.empty() ? rpc::result_json(r, o.result)
                                        : rpc::error_json(r, o.error_code, o.error_message),
                   r.corr_data});
    for (auto& n : o.notices) out.push_back(std::move(n));
    return out;
}

std::string pg_requests::history_before_sql() {
    return std::string("SELECT ") + message_columns +
           " FROM messages m LEFT JOIN users u ON u.id = m.sender_id"
           " WHERE m.conv_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3";
}

std::string pg_requests::sync_sql() {
    // Per conversation at most a page (an index range on the primary key),
    // then the page across them: never more than conversations × page rows,
    // however much a conversation holds after its cursor.
    return std::string("SELECT ") + message_columns +
           " FROM (SELECT mb.conv_id, coalesce(($2::jsonb ->> mb.conv_id::text)::bigint, 0) AS after"
           "         FROM members mb WHERE mb.user_id = $1) c"
           " JOIN LATERAL (SELECT * FROM messages x WHERE x.conv_id = c.conv_id AND x.seq > c.after"
           "                ORDER BY x.seq LIMIT $3) m ON true"
           " LEFT JOIN users u ON u.id = m.sender_id"
           " ORDER BY m.conv_id, m.seq LIMIT $3";
}

method_outcome pg_requests::conv_list(pg::connection& db, const rpc::request& r, std::int64_t me) {
    int limit = 0;
    std::string error;
    if (!page_size(r.params, 50, 200, limit, error)) return bad(error);
    // Latest activity first: the last message's time, or the conversation's creation.
    const auto rows = db.exec(
        std::string("SELECT c.id, coalesce(c.title, ''), c.kind, c.last_seq, mb.read_seq, mb.role,"
                    "  (SELECT count(*) FROM (SELECT 1 FROM messages x WHERE x.conv_id = c.id AND x.seq > mb.read_seq"
                    "     AND x.sender_id IS DISTINCT FROM mb.user_id LIMIT 1000) unread),"
                    "  (SELECT string_agg(u2.name, ',' ORDER BY u2.name) FROM members m2 JOIN users u2 ON u2.id = m2.user_id"
                    "    WHERE m2.conv_id = c.id AND m2.user_id <> mb.user_id AND c.kind = 'direct'),"
                    "  m.conv_id IS NOT NULL, ") +
            message_columns +
            "  FROM members mb JOIN conversations c ON c.id = mb.conv_id"
            "  LEFT JOIN messages m ON m.conv_id = c.id AND m.seq = c.last_seq"
            "  LEFT JOIN users u ON u.id = m.sender_id"
            " WHERE mb.user_id = $1"
            " ORDER BY coalesce(m.ts, (extract(epoch FROM c.created_at) * 1000)::bigint) DESC, c.id DESC"
            " LIMIT $2",
        {std::to_string(me), std::to_string(limit + 1)});
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < rows.rows() && i < limit; ++i) {
        Json::Value c(Json::objectValue);
        c["conv"] = Json::Int64(rows.int64(i, 0));
        if (!rows.text(i, 1).empty()) c["title"] = rows.str(i, 1);
        c["kind"] = rows.str(i, 2);
        c["last_seq"] = Json::Int64(rows.int64(i, 3));
        c["read_seq"] = Json::Int64(rows.int64(i, 4));
        c["role"] = rows.str(i, 5);
        c["unread"] = Json::Int64(rows.int64(i, 6));
        if (!rows.is_null(i, 7)) c["with"] = rows.str(i, 7);
        c["last_message"] = rows.boolean(i, 8) ? stored_value(message_from_row(rows, i, 9)) : Json::Value();
        list.append(std::move(c));
    }
    Json::Value result(Json::objectValue);
    result["conversations"] = std::move(list);
    result["more"] = rows.rows() > limit;
    return ok(std::move(result));
}

method_outcome pg_requests::conv_create(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (r.guest) return fail(error_code::forbidden, "guests cannot create conversations");
    const Json::Value& p = r.params;
    if (!p["members"].isArray() || p["members"].empty() || p["members"].size() > max_members_per_request)
        return bad("members must be a list of 1 to 500 user names");
    std::set<std::string> names;
    for (const auto& n : p["members"]) {
        if (!n.isString() || !valid_user_name(n.asString())) return bad("members must be a list of user names");
        if (n.asString() != r.caller) names.insert(n.asString());
    }
    if (names.empty()) return bad("members must name someone besides you");
    std::string title;
    if (p.isMember("title")) {
        if (!p["title"].isString() || p["title"].asString().size() > max_title_length)
            return bad("title must be a string of at most 200 bytes");
        title = p["title"].asString();
    }
    std::string kind = names.size() == 1 && title.empty() ? "direct" : "group";
    if (p.isMember("kind")) {
        if (p["kind"] != "direct" && p["kind"] != "group") return bad("kind must be \"direct\" or \"group\"");
        kind = p["kind"].asString();
    }
    if (kind == "direct" && (names.size() != 1 || !title.empty()))
        return bad("a direct conversation has exactly one other member and no title");

    const std::vector<std::string> others(names.begin(), names.end());
    return pg::transaction(db, [&]() -> method_outcome {
        const auto found = db.exec("SELECT name FROM users WHERE name = ANY($1::text[]) AND role = 'user'",
                                   {pg_text_array(others)});
        if (found.rows() != static_cast<int>(others.size())) {
            std::set<std::string> missing(names);
            for (int i = 0; i < found.rows(); ++i) missing.erase(found.str(i, 0));
            std::string list;
            for (const auto& n : missing) list += (list.empty() ? "" : ", ") + n;
            return fail(error_code::not_found, "no such user: " + list);
        }
        std::int64_t conv = 0;
        bool created = true;
        if (kind == "direct") {
            const std::string a = std::min(r.caller, others[0]), b = std::max(r.caller, others[0]);
            const auto ins = db.exec("INSERT INTO conversations (kind, direct_key) VALUES ('direct', $1)"
                                     " ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                                     {a + " " + b});
            if (ins.rows() == 1) {
                conv = ins.int64(0, 0);
            } else {
                created = false;
                conv = db.exec("SELECT id FROM conversations WHERE direct_key = $1", {a + " " + b}).int64(0, 0);
            }
        } else {
            conv = db.exec("INSERT INTO conversations (title, kind) VALUES (nullif($1, ''), 'group') RETURNING id",
                           {title})
                       .int64(0, 0);
        }
        const std::string cid = std::to_string(conv);
        db.exec("INSERT INTO members (conv_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                {cid, std::to_string(me), kind == "group" ? "admin" : "member"});
        const auto added = db.exec("INSERT INTO members (conv_id, user_id) SELECT $1, id FROM users"
                                   " WHERE name = ANY($2::text[]) ON CONFLICT DO NOTHING RETURNING user_id",
                                   {cid, pg_text_array(others)});

        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["kind"] = kind;
        o.result["created"] = created;
        if (added.rows() > 0) {
            Json::Value n(Json::objectValue);
            n["notice"] = "added";
            n["conv"] = Json::Int64(conv);
            n["kind"] = kind;
            n["by"] = r.caller;
            if (!title.empty()) n["title"] = title;
            for (const auto& name : others) o.notices.push_back(notice(name, n));
        }
        return o;
    });
}

method_outcome pg_requests::conv_add_member(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    std::string user, why;
    if (!user_name_param(r.params, "user", user, why)) return bad(why);
    if (!conv_param(db, r.params, me, c, error)) return error;
    if (c.kind != "group" || c.role != "admin")
        return fail(error_code::forbidden, "only an admin of a group adds members");
    const auto added = db.exec("INSERT INTO members (conv_id, user_id) SELECT $1, id FROM users"
                               " WHERE name = $2 AND role = 'user' ON CONFLICT DO NOTHING RETURNING user_id",
                               {std::to_string(c.conv), user});
    if (added.rows() == 0 &&
        db.exec("SELECT 1 FROM users WHERE name = $1 AND role = 'user'", {user}).rows() == 0)
        return fail(error_code::not_found, "no such user: " + user);
    method_outcome o;
    o.result["conv"] = Json::Int64(c.conv);
    o.result["user"] = user;
    o.result["added"] = added.rows() == 1;
    if (added.rows() == 1) {
        Json::Value n(Json::objectValue);
        n["notice"] = "added";
        n["conv"] = Json::Int64(c.conv);
        n["kind"] = "group";
        n["by"] = r.caller;
        o.notices.push_back(notice(user, n));
    }
    return o;
}

method_outcome pg_requests::conv_remove_member(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    std::string user, why;
    if (!user_name_param(r.params, "user", user, why)) return bad(why);
    if (!conv_param(db, r.params, me, c, error)) return error;
    if (user == r.caller) return conv_leave(db, r, me);
    if (c.kind != "group" || c.role != "admin")
        return fail(error_code::forbidden, "only an admin of a group removes members");
    const auto removed = db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = (SELECT id FROM users WHERE name = $2)"
                                 " RETURNING user_id",
                                 {std::to_string(c.conv), user});
    method_outcome o;
    o.result["conv"] = Json::Int64(c.conv);
    o.result["user"] = user;
    o.result["removed"] = removed.rows() == 1;
    if (removed.rows() == 1) {
        Json::Value n(Json::objectValue);
        n["notice"] = "removed";
        n["conv"] = Json::Int64(c.conv);
        n["by"] = r.caller;
        o.notices.push_back(notice(user, n));
    }
    return o;
}

method_outcome pg_requests::conv_leave(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    return pg::transaction(db, [&] {
        const std::string cid = std::to_string(c.conv);
        db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(me)});
        // A group is never left without an admin: the longest-standing member becomes one.
        if (c.kind == "group")
            db.exec("UPDATE members SET role = 'admin' WHERE conv_id = $1 AND user_id ="
                    " (SELECT user_id FROM members WHERE conv_id = $1 ORDER BY joined_at, user_id LIMIT 1)"
                    " AND NOT EXISTS (SELECT 1 FROM members WHERE conv_id = $1 AND role = 'admin')",
                    {cid});
        Json::Value res(Json::objectValue);
        res["conv"] = Json::Int64(c.conv);
        res["left"] = true;
        return ok(std::move(res));
    });
}

method_outcome pg_requests::conv_rename(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    const Json::Value& t = r.params["title"];
    if (!t.isString() || t.asString().empty() || t.asString().size() > max_title_length || !valid_utf8(t.asString()))
        return bad("title must be a string of 1 to 200 bytes");
    if (c.kind != "group" || c.role != "admin") return fail(error_code::forbidden, "only an admin of a group renames it");
    db.exec("UPDATE conversations SET title = $2 WHERE id = $1", {std::to_string(c.conv), t.asString()});
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(c.conv);
    res["title"] = t.asString();
    return ok(std::move(res));
}

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
    const auto rows = db.exec(
        std::string("WITH q AS (SELECT websearch_to_tsquery(mqchat_search_config(), $2) AS query)"
                    " SELECT ts_rank(m.search, q.query),"
                    "  ts_headline(mqchat_search_config(), m.body, q.query,"
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

method_outcome pg_requests::presence_set(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (r.guest) return fail(error_code::forbidden, "guests have no presence settings");
    const Json::Value& p = r.params;
    std::optional<std::string> status, text, hide;
    if (p.isMember("status")) {
        if (p["status"] != "online" && p["status"] != "away" && p["status"] != "busy")
            return bad("status must be \"online\", \"away\" or \"busy\"");
        status = p["status"].asString();
    }
    if (p.isMember("text")) {
        if (!p["text"].isString() || p["text"].asString().size() > 100 || !valid_utf8(p["text"].asString()))
            return bad("text must be a string of at most 100 bytes");
        text = p["text"].asString();
    }
    if (p.isMember("hide_last_seen")) {
        if (!p["hide_last_seen"].isBool()) return bad("hide_last_seen must be true or false");
        hide = p["hide_last_seen"].asBool() ? "true" : "false";
    }
    if (!status && !text && !hide) return bad("give status, text or hide_last_seen");
    // Kept until changed; the plugin hears of it (NOTIFY) and publishes the presence.
    const auto row = db.exec(
        "INSERT INTO presence_settings AS s (user_id, status, status_text, hide_last_seen)"
        " VALUES ($1, coalesce($2, 'online'), coalesce($3, ''), coalesce($4::boolean, false))"
        " ON CONFLICT (user_id) DO UPDATE SET status = coalesce($2, s.status),"
        "   status_text = coalesce($3, s.status_text), hide_last_seen = coalesce($4::boolean, s.hide_last_seen)"
        " RETURNING status, status_text, hide_last_seen",
        {std::to_string(me), status, text, hide});
    Json::Value res(Json::objectValue);
    res["status"] = row.str(0, 0);
    res["text"] = row.str(0, 1);
    res["hide_last_seen"] = row.boolean(0, 2);
    return ok(std::move(res));
}

namespace {
bool short_text(const Json::Value& v, std::size_t most) {
    return v.isString() && !v.asString().empty() && v.asString().size() <= most && valid_utf8(v.asString());
}
} // namespace

method_outcome pg_requests::push_register(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (r.guest) return fail(error_code::forbidden, "guests get no push notifications");
    const Json::Value& p = r.params;
    if (p["platform"] != "fcm" && p["platform"] != "apns") return bad("platform must be \"fcm\" or \"apns\"");
    if (!short_text(p["token"], 4096)) return bad("token must be the device's push token");
    if (!short_text(p["app_id"], 200)) return bad("app_id must name the app (bundle id / package name)");
    std::optional<std::string> locale;
    if (p.isMember("locale")) {
        if (!short_text(p["locale"], 35)) return bad("locale must be a language tag such as en or pt-BR");
        locale = p["locale"].asString();
    }
    // A token belongs to one installation: registering it again (e.g. after
    // a different user logged in on that phone) moves it.
    const auto row = db.exec("INSERT INTO push_devices (user_id, platform, token, app_id, locale)"
                             " VALUES ($1, $2, $3, $4, coalesce($5, 'en'))"
                             " ON CONFLICT (platform, token) DO UPDATE SET user_id = excluded.user_id,"
                             "   app_id = excluded.app_id, locale = excluded.locale RETURNING id",
                             {std::to_string(me), p["platform"].asString(), p["token"].asString(),
                              p["app_id"].asString(), locale});
    Json::Value res(Json::objectValue);
    res["device"] = Json::Int64(row.int64(0, 0));
    return ok(std::move(res));
}

method_outcome pg_requests::push_unregister(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (!short_text(r.params["token"], 4096)) return bad("token must be the device's push token");
    const auto gone = db.exec("DELETE FROM push_devices WHERE user_id = $1 AND token = $2 RETURNING id",
                              {std::to_string(me), r.params["token"].asString()});
    Json::Value res(Json::objectValue);
    res["removed"] = gone.rows() > 0;
    return ok(std::move(res));
}

method_outcome pg_requests::push_settings(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (!r.params["preview"].isBool()) return bad("preview must be true (show the text) or false (\"New message\")");
    db.exec("UPDATE users SET push_preview = $2 WHERE id = $1",
            {std::to_string(me), r.params["preview"].asBool() ? "true" : "false"});
    Json::Value res(Json::objectValue);
    res["preview"] = r.params["preview"].asBool();
    return ok(std::move(res));
}

method_outcome pg_requests::conv_notify(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    const Json::Value& p = r.params;
    std::optional<std::string> level, until;
    if (p.isMember("level")) {
        if (p["level"] != "default" && p["level"] != "all" && p["level"] != "mentions" && p["level"] != "none")
            return bad("level must be default, all, mentions or none");
        level = p["level"].asString();
    }
    if (p.isMember("muted_until")) {
        if (!p["muted_until"].isIntegral() || p["muted_until"].asInt64() < 0)
            return bad("muted_until must be a time in ms since the epoch (0: not muted)");
        until = std::to_string(p["muted_until"].asInt64());
    }
    if (!level && !until) return bad("give level or muted_until");
    const auto row = db.exec("UPDATE members SET notify = coalesce($3, notify),"
                             "  muted_until = CASE WHEN $4::bigint IS NULL THEN muted_until"
                             "                     ELSE nullif($4::bigint, 0) END"
                             " WHERE conv_id = $1 AND user_id = $2 RETURNING notify, coalesce(muted_until, 0)",
                             {std::to_string(c.conv), std::to_string(me), level, until});
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(c.conv);
    res["level"] = row.str(0, 0);
    res["muted_until"] = Json::Int64(row.int64(0, 1));
    return ok(std::move(res));
}

method_outcome pg_requests::email_set(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (r.guest) return fail(error_code::forbidden, "guests get no e-mail");
    const Json::Value& a = r.params["address"];
    // null stops the digests; an address is checked loosely (the SMTP server has the last word).
    if (!a.isNull()) {
        const std::string s = a.isString() ? a.asString() : "";
        const auto at = s.find('@');
        if (s.size() > 254 || at == std::string::npos || at == 0 || at + 1 == s.size() || s.find('@', at + 1) != std::string::npos ||
            s.find_first_of(" \t\r\n<>") != std::string::npos)
            return bad("address must be an e-mail address, or null to stop the digests");
    }
    db.exec("UPDATE users SET email = $2 WHERE id = $1",
            {std::to_string(me), a.isNull() ? std::optional<std::string>() : a.asString()});
    Json::Value res(Json::objectValue);
    res["address"] = a;
    return ok(std::move(res));
}

} // namespace mqchat::bridge
