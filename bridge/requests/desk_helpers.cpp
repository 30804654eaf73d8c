#include "desk_helpers.hpp"

#include "common/json.hpp"
#include "common/names.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge::desk_helpers {

using namespace request_helpers;

bool desk_name_param(const Json::Value& params, std::string& out) {
    const Json::Value& v = params["desk"];
    if (!v.isString() || !valid_desk_name(v.asString())) return false;
    out = v.asString();
    return true;
}

bool conv_id_param(const Json::Value& params, std::int64_t& out) {
    const Json::Value& v = params["conv"];
    if (!v.isIntegral() || !v.isInt64() || v.asInt64() < 1) return false;
    out = v.asInt64();
    return true;
}

std::vector<std::string> desk_watchers(pg::connection& db, std::int64_t desk, std::int64_t but) {
    const auto r = db.exec("SELECT u.name FROM users u WHERE u.id <> $2 AND NOT u.banned AND"
                           " (u.desk_supervisor OR EXISTS (SELECT 1 FROM desk_agents a WHERE a.desk_id = $1 AND a.user_id = u.id))",
                           {std::to_string(desk), std::to_string(but)});
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
}

support_row lock_support(pg::connection& db, std::int64_t conv) {
    const auto r = db.exec("SELECT s.desk_id, d.name, s.status, coalesce(v.name, ''), coalesce(s.visitor_id, 0),"
                           "       coalesce(a.name, ''), coalesce(s.assignee_id, 0), s.rating IS NOT NULL"
                           "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id"
                           "  LEFT JOIN users v ON v.id = s.visitor_id LEFT JOIN users a ON a.id = s.assignee_id"
                           " WHERE s.conv_id = $1 FOR UPDATE OF s",
                           {std::to_string(conv)});
    support_row s;
    if (r.rows() == 0) return s;
    s.found = true;
    s.desk = r.int64(0, 0);
    s.desk_name = r.str(0, 1);
    s.status = r.str(0, 2);
    s.visitor = r.str(0, 3);
    s.visitor_id = r.int64(0, 4);
    s.assignee = r.str(0, 5);
    s.assignee_id = r.int64(0, 6);
    s.rated = r.boolean(0, 7);
    return s;
}

agent_standing standing(pg::connection& db, std::int64_t desk, std::int64_t me) {
    const auto r = db.exec("SELECT u.desk_supervisor, a.capacity FROM users u"
                           "  LEFT JOIN desk_agents a ON a.desk_id = $1 AND a.user_id = u.id WHERE u.id = $2",
                           {std::to_string(desk), std::to_string(me)});
    agent_standing s;
    if (r.rows() == 0) return s;
    s.supervisor = r.boolean(0, 0);
    s.agent = !r.is_null(0, 1);
    s.capacity = s.agent ? r.int64(0, 1) : 0;
    return s;
}

std::optional<method_outcome> over_capacity(pg::connection& db, const support_row& s, const agent_standing& a,
                                            std::int64_t me) {
    if (!a.agent || a.supervisor) return std::nullopt;
    db.exec("SELECT 1 FROM desk_agents WHERE desk_id = $1 AND user_id = $2 FOR UPDATE",
            {std::to_string(s.desk), std::to_string(me)});
    const std::int64_t held =
        db.exec("SELECT count(*) FROM support_conversations WHERE assignee_id = $1 AND desk_id = $2 AND status = 'assigned'",
                {std::to_string(me), std::to_string(s.desk)})
            .int64(0, 0);
    if (held < a.capacity) return std::nullopt;
    return fail(error_code::forbidden, "you hold " + std::to_string(held) + " conversations, your capacity at " +
                                           s.desk_name + "; close one first");
}

std::int64_t queue_position(pg::connection& db, std::int64_t conv) {
    return db
        .exec("SELECT count(*) FROM support_conversations q JOIN support_conversations s ON s.conv_id = $1"
              " WHERE q.desk_id = s.desk_id AND q.status = 'queued' AND (q.queued_at, q.conv_id) <= (s.queued_at, s.conv_id)",
              {std::to_string(conv)})
        .int64(0, 0);
}

Json::Value stored_details(std::string_view text) {
    Json::Value details;
    std::string why;
    return json::parse(text, details, why) && details.isObject() ? details : Json::Value(Json::objectValue);
}

Json::Value notice_body(const char* what, std::int64_t conv, const std::string& desk) {
    Json::Value n(Json::objectValue);
    n["notice"] = what;
    n["conv"] = Json::Int64(conv);
    n["desk"] = desk;
    return n;
}

pg::result desk_overview(pg::connection& db, const std::string& name) {
    return db.exec(
        "SELECT d.name, d.title, d.routing,"
        "  NOT EXISTS (SELECT 1 FROM desk_hours h WHERE h.desk_id = d.id) OR EXISTS (SELECT 1 FROM desk_hours h"
        "    WHERE h.desk_id = d.id AND h.day = extract(isodow FROM now() AT TIME ZONE d.time_zone)"
        "      AND (now() AT TIME ZONE d.time_zone)::time >= h.opens AND (now() AT TIME ZONE d.time_zone)::time < h.closes),"
        "  (SELECT count(*) FROM desk_agents a JOIN presence p ON p.user_id = a.user_id"
        "    WHERE a.desk_id = d.id AND p.devices > 0 AND p.state = 'online'),"
        "  (SELECT count(*) FROM support_conversations s WHERE s.desk_id = d.id AND s.status = 'queued'),"
        "  mqchat_desk_average_wait_ms(d.id),"
        "  d.prechat_fields::text,"
        "  (SELECT u.name FROM desk_assistants a JOIN users u ON u.id = a.bot_id AND NOT u.banned WHERE a.desk_id = d.id),"
        "  d.email IS NOT NULL, d.media_max_bytes, array_to_string(d.media_types, ',')"
        "  FROM desks d WHERE $1 = '' OR d.name = $1 ORDER BY d.name",
        {name});
}

Json::Value desk_overview_row(const pg::result& row, int i) {
    Json::Value res(Json::objectValue);
    res["desk"] = row.str(i, 0);
    res["title"] = row.str(i, 1);
    res["routing"] = row.str(i, 2);
    res["open"] = row.boolean(i, 3);
    res["agents_online"] = Json::Int64(row.int64(i, 4));
    res["waiting"] = Json::Int64(row.int64(i, 5));
    res["average_wait_ms"] = row.is_null(i, 6) ? Json::Value() : Json::Value(Json::Int64(row.int64(i, 6)));
    Json::Value prechat;
    std::string why;
    res["prechat"] = json::parse(row.text(i, 7), prechat, why) && prechat.isArray() ? prechat : Json::Value(Json::arrayValue);
    // Its assistant answers at any hour: a widget offers the chat, not the offline form.
    res["assistant"] = row.is_null(i, 8) ? Json::Value() : Json::Value(row.str(i, 8));
    return res;
}

} // namespace mqchat::bridge::desk_helpers
