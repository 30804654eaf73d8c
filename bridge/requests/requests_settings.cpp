// Requests that set the caller's own preferences: presence status, push
// devices and previews, per-conversation notifications, the digest address.

#include <algorithm>
#include <optional>
#include <set>

#include "common/json.hpp"
#include "common/names.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

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
        if (!a.isString() || !valid_email_address(a.asString()))
            return bad("address must be an e-mail address, or null to stop the digests");
    }
    db.exec("UPDATE users SET email = $2 WHERE id = $1",
            {std::to_string(me), a.isNull() ? std::optional<std::string>() : a.asString()});
    Json::Value res(Json::objectValue);
    res["address"] = a;
    return ok(std::move(res));
}

} // namespace mqchat::bridge
