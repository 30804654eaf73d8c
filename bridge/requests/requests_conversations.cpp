// Requests about conversations: create (one-to-one found again per pair),
// list, list a conversation's members, add and remove members, leave, rename (docs/protocol.md, "Requests").

#include <algorithm>
#include <optional>
#include <set>

#include "common/json.hpp"
#include "common/names.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

method_outcome pg_requests::conv_list(pg::connection& db, const rpc::request& r, std::int64_t me) {
    int limit = 0;
    std::string error;
    if (!page_size(r.params, 50, 200, limit, error)) return bad(error);
    // Latest activity first: the last message's time, or the conversation's creation.
    const int encrypted_col = 9 + message_column_count;
    const auto rows = db.exec(
        std::string("SELECT c.id, coalesce(c.title, ''), c.kind, c.last_seq, mb.read_seq, mb.role,"
                    "  (SELECT count(*) FROM (SELECT 1 FROM messages x WHERE x.conv_id = c.id AND x.seq > mb.read_seq"
                    "     AND x.sender_id IS DISTINCT FROM mb.user_id LIMIT 1000) unread),"
                    "  (SELECT string_agg(u2.name, ',' ORDER BY u2.name) FROM members m2 JOIN users u2 ON u2.id = m2.user_id"
                    "    WHERE m2.conv_id = c.id AND m2.user_id <> mb.user_id AND c.kind = 'direct'),"
                    "  m.conv_id IS NOT NULL, ") +
            message_columns +
            ", c.encrypted" // after the message's columns, at encrypted_col
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
        if (rows.boolean(i, encrypted_col)) c["encrypted"] = true;
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
    // End-to-end encrypted: set once, here, never turned off. A direct one is
    // a conversation of its own beside the pair's plain one.
    if (p.isMember("encrypted") && !p["encrypted"].isBool()) return bad("encrypted must be true or false");
    const bool encrypted = p["encrypted"].asBool();

    const std::vector<std::string> others(names.begin(), names.end());
    return pg::transaction(db, [&]() -> method_outcome {
        const auto found = db.exec("SELECT name FROM users WHERE name = ANY($1::text[]) AND role = 'user'",
                                   {pg::text_array(others)});
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
            // Names have no spaces: "e2e a b" is never a plain pair's key.
            const std::string key = (encrypted ? "e2e " : "") + a + " " + b;
            const auto ins = db.exec("INSERT INTO conversations (kind, direct_key, encrypted) VALUES ('direct', $1, $2)"
                                     " ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                                     {key, encrypted ? "true" : "false"});
            if (ins.rows() == 1) {
                conv = ins.int64(0, 0);
            } else {
                created = false;
                conv = db.exec("SELECT id FROM conversations WHERE direct_key = $1", {key}).int64(0, 0);
            }
        } else {
            conv = db.exec("INSERT INTO conversations (title, kind, encrypted) VALUES (nullif($1, ''), 'group', $2)"
                           " RETURNING id",
                           {title, encrypted ? "true" : "false"})
                       .int64(0, 0);
        }
        const std::string cid = std::to_string(conv);
        db.exec("INSERT INTO members (conv_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                {cid, std::to_string(me), kind == "group" ? "admin" : "member"});
        const auto added = db.exec("INSERT INTO members (conv_id, user_id) SELECT $1, id FROM users"
                                   " WHERE name = ANY($2::text[]) ON CONFLICT DO NOTHING RETURNING user_id",
                                   {cid, pg::text_array(others)});

        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["kind"] = kind;
        o.result["created"] = created;
        if (encrypted) o.result["encrypted"] = true;
        if (added.rows() > 0) {
            Json::Value n(Json::objectValue);
            n["notice"] = "added";
            n["conv"] = Json::Int64(conv);
            n["kind"] = kind;
            n["by"] = r.caller;
            if (!title.empty()) n["title"] = title;
            if (encrypted) n["encrypted"] = true;
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

method_outcome pg_requests::conv_members(pg::connection& db, const rpc::request& r, std::int64_t me) {
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    int limit = 0;
    std::string message, after;
    if (!page_size(r.params, 200, 500, limit, message)) return bad(message);
    if (r.params.isMember("after") && !user_name_param(r.params, "after", after, message)) return bad(message);
    // By name, so that a client pages through a large group with "after" and sees each member once.
    const auto rows = db.exec("SELECT u.name, m.role, (extract(epoch FROM m.joined_at) * 1000)::bigint"
                              "  FROM members m JOIN users u ON u.id = m.user_id"
                              " WHERE m.conv_id = $1 AND u.name > $2 ORDER BY u.name LIMIT $3",
                              {std::to_string(c.conv), after, std::to_string(limit + 1)});
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < rows.rows() && i < limit; ++i) {
        Json::Value m(Json::objectValue);
        m["user"] = rows.str(i, 0);
        m["role"] = rows.str(i, 1);
        m["joined"] = Json::Int64(rows.int64(i, 2));
        list.append(std::move(m));
    }
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(c.conv);
    res["kind"] = c.kind;
    if (db.exec("SELECT encrypted FROM conversations WHERE id = $1", {std::to_string(c.conv)}).boolean(0, 0))
        res["encrypted"] = true;
    res["members"] = std::move(list);
    res["more"] = rows.rows() > limit;
    return ok(std::move(res));
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

} // namespace mqchat::bridge
