// Attachments (docs/media.md): media.upload grants a single-use upload URL
// for the media service, media.url hands members signed download URLs.
// The bytes never pass through MQTT or the bridge; the bridge only decides
// who may send what where, and signs (common/media_url.hpp).

#include <chrono>

#include "common/json.hpp"
#include "common/media_url.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;

namespace {

constexpr std::size_t max_name = 255, max_type = 100;
constexpr int max_ids_per_url_request = 50;
/// Uploads granted and not yet finished that one user may hold at once: a
/// row each, so a client asking in a loop cannot fill the table.
constexpr int max_open_uploads = 20;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// "type/subtype" in lowercase letters, digits and + - . (what libmagic names).
bool valid_mime(const std::string& t) {
    const auto slash = t.find('/');
    if (t.size() < 3 || t.size() > max_type || slash == std::string::npos || slash == 0 || slash + 1 == t.size() ||
        t.find('/', slash + 1) != std::string::npos)
        return false;
    for (char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '+' || c == '-' || c == '.'))
            return false;
    return true;
}

/// A file name as a label: one line, no path.
bool valid_file_name(const Json::Value& v) {
    if (!one_line_text(v, max_name)) return false;
    const std::string& s = v.asString();
    return s.find('/') == std::string::npos && s.find('\\') == std::string::npos && s != "." && s != "..";
}

/// "image/jpeg" is allowed by "image/jpeg" or "image/*".
bool type_allowed(const std::string& type, const std::vector<std::string>& allowed) {
    const std::string family = type.substr(0, type.find('/')) + "/*";
    for (const auto& a : allowed)
        if (a == type || a == family) return true;
    return false;
}

/// PostgreSQL's text[] literal of simple words (types are checked words).
std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += '"';
        out += items[i];
        out += '"';
    }
    return out + "}";
}

std::vector<std::string> from_text_array(std::string_view text) {
    std::vector<std::string> out;
    if (text.size() < 2) return out;
    text = text.substr(1, text.size() - 2); // {a,b}
    while (!text.empty()) {
        const auto comma = text.find(',');
        std::string item(text.substr(0, comma));
        if (item.size() >= 2 && item.front() == '"') item = item.substr(1, item.size() - 2);
        out.push_back(std::move(item));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    return out;
}

} // namespace

method_outcome pg_requests::media_upload(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (media_.base_url.empty() || media_.url_secret.empty())
        return fail(error_code::internal, "this server takes no attachments (media_base_url, media_url_secret_file)");
    conv_access c;
    method_outcome error;
    if (!conv_param(db, r.params, me, c, error)) return error;
    const Json::Value& encrypted = r.params["encrypted"];
    if (!encrypted.isNull() && !encrypted.isBool()) return bad("encrypted must be true or false");
    const bool e2e_conv =
        db.exec("SELECT encrypted FROM conversations WHERE id = $1", {std::to_string(c.conv)}).boolean(0, 0);
    if (e2e_conv != encrypted.asBool())
        return e2e_conv ? fail(error_code::forbidden, "conversation " + std::to_string(c.conv) +
                                                          " is end-to-end encrypted: upload the file encrypted"
                                                          " (encrypted: true, with no name or type)")
                        : fail(error_code::forbidden, "conversation " + std::to_string(c.conv) +
                                                          " is not end-to-end encrypted: upload the file itself");
    if (e2e_conv) return media_upload_encrypted(db, r, me, c.conv);
    const Json::Value& name = r.params["name"];
    if (!valid_file_name(name))
        return bad("name must be the file's name: 1-255 bytes of UTF-8 on one line, without '/' or '\\'");
    const Json::Value& type = r.params["type"];
    if (!type.isString() || !valid_mime(type.asString()))
        return bad("type must be the file's MIME type, e.g. image/jpeg (lowercase)");
    const Json::Value& size = r.params["size"];
    if (!size.isIntegral() || !size.isInt64() || size.asInt64() < 1)
        return bad("size must be the file's size in bytes (at least 1)");

    // A support conversation takes its desk's policy where the desk has one.
    std::int64_t max_bytes = media_.max_bytes;
    std::vector<std::string> types = media_.types;
    const auto desk = db.exec("SELECT d.media_max_bytes, d.media_types FROM support_conversations s"
                              "  JOIN desks d ON d.id = s.desk_id WHERE s.conv_id = $1",
                              {std::to_string(c.conv)});
    if (desk.rows() == 1) {
        if (!desk.is_null(0, 0)) max_bytes = desk.int64(0, 0);
        if (!desk.is_null(0, 1)) types = from_text_array(desk.text(0, 1));
    }
    if (size.asInt64() > max_bytes)
        return fail(error_code::too_large, "a file in conversation " + std::to_string(c.conv) + " may have at most " +
                                               std::to_string(max_bytes) + " bytes");
    if (!type_allowed(type.asString(), types))
        return fail(error_code::type_not_allowed, "files of type " + type.asString() + " are not taken here");

    return grant_upload(db, me, c.conv, name.asString(), type.asString(), size.asInt64(), max_bytes, types, false);
}

method_outcome pg_requests::media_upload_encrypted(pg::connection& db, const rpc::request& r, std::int64_t me,
                                                   std::int64_t conv) {
    // The server cannot see inside, so it asks nothing it would have to trust: the name and the type
    // travel in the message's ciphertext, and the upload has a placeholder of each.
    if (r.params.isMember("name") || r.params.isMember("type"))
        return bad("an encrypted upload has no name or type: they go inside the message's ciphertext");
    const Json::Value& size = r.params["size"];
    if (!size.isIntegral() || !size.isInt64() || size.asInt64() < 1)
        return bad("size must be the encrypted file's size in bytes (at least 1)");
    if (size.asInt64() > media_.max_bytes)
        return fail(error_code::too_large, "a file in conversation " + std::to_string(conv) + " may have at most " +
                                               std::to_string(media_.max_bytes) + " bytes (encrypted)");
    return grant_upload(db, me, conv, "encrypted.bin", "application/octet-stream", size.asInt64(), media_.max_bytes,
                        {"application/octet-stream"}, true);
}

method_outcome pg_requests::grant_upload(pg::connection& db, std::int64_t me, std::int64_t conv, const std::string& name,
                                         const std::string& type, std::int64_t size, std::int64_t max_bytes,
                                         const std::vector<std::string>& types, bool encrypted) {
    const std::string id = media_url::new_media_id();
    const std::int64_t expires = now_s() + media_.upload_ttl_s;
    // The quota and the open uploads are counted and the row made in one
    // statement; concurrent grants to one user may overshoot by one file.
    const auto granted = db.exec(
        "WITH used AS ("
        "  SELECT coalesce(sum(coalesce(size, declared_size)) FILTER (WHERE status <> 'refused'), 0) AS bytes,"
        "         count(*) FILTER (WHERE status IN ('pending', 'receiving') AND upload_expires_at > now()) AS open"
        "    FROM media WHERE uploader_id = $2::bigint AND created_at > now() - interval '1 day')"
        " INSERT INTO media (id, uploader_id, conv_id, declared_name, declared_type, declared_size, max_bytes,"
        "                    allowed_types, upload_expires_at, encrypted)"
        " SELECT $1, $2::bigint, $3::bigint, $4, $5, $6::bigint, $7::bigint, $8::text[], to_timestamp($9::bigint),"
        "        $12::boolean"
        "   FROM used WHERE used.bytes + $6::bigint <= $10::bigint AND used.open < $11::bigint"
        " RETURNING id",
        {id, std::to_string(me), std::to_string(conv), name, type, std::to_string(size), std::to_string(max_bytes),
         text_array(types), std::to_string(expires), std::to_string(media_.quota_bytes_per_day),
         std::to_string(max_open_uploads), encrypted ? "true" : "false"});
    if (granted.rows() == 0) {
        const auto used = db.exec(
            "SELECT coalesce(sum(coalesce(size, declared_size)) FILTER (WHERE status <> 'refused'), 0),"
            "       count(*) FILTER (WHERE status IN ('pending', 'receiving') AND upload_expires_at > now())"
            "  FROM media WHERE uploader_id = $1 AND created_at > now() - interval '1 day'",
            {std::to_string(me)});
        if (used.int64(0, 1) >= max_open_uploads)
            return fail(error_code::rate_limited, "at most " + std::to_string(max_open_uploads) +
                                                      " uploads may be open at once; finish or let one expire");
        return fail(error_code::quota_exceeded,
                    "your uploads of the last 24 hours and this one would exceed " +
                        std::to_string(media_.quota_bytes_per_day) + " bytes (" + std::to_string(used.int64(0, 0)) +
                        " used)");
    }
    Json::Value out(Json::objectValue);
    out["media"] = id;
    out["upload_url"] = media_.base_url + media_url::signed_path(media_.url_secret, media_url::upload, id, expires);
    out["method"] = "PUT";
    out["expires"] = Json::Int64(expires * 1000);
    out["max_bytes"] = Json::Int64(max_bytes);
    return ok(out);
}

method_outcome pg_requests::media_url(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (media_.base_url.empty() || media_.url_secret.empty())
        return fail(error_code::internal, "this server takes no attachments (media_base_url, media_url_secret_file)");
    const Json::Value& p = r.params["media"];
    std::vector<std::string> ids;
    if (p.isString()) {
        ids.push_back(p.asString());
    } else if (p.isArray() && !p.empty() && p.size() <= max_ids_per_url_request) {
        for (const auto& v : p) ids.push_back(v.isString() ? v.asString() : std::string());
    } else {
        return bad("media must be an upload's id, or a list of 1-" + std::to_string(max_ids_per_url_request));
    }
    for (const auto& id : ids)
        if (!media_url::valid_media_id(id)) return bad("media ids are 32 hex digits, as messages carry them");

    // A member of the conversation may fetch what a message there carries;
    // the uploader may fetch its own upload before sending it (a preview).
    // Not once the message is deleted or purged.
    const auto rows = db.exec(
        "SELECT md.id, md.thumb_sha256 IS NOT NULL, mqchat_media_json(md), md.seq IS NOT NULL"
        "  FROM media md JOIN members mb ON mb.conv_id = md.conv_id AND mb.user_id = $2"
        " WHERE md.id = ANY($1::text[]) AND md.status = 'ready'"
        "   AND (md.seq IS NULL AND md.uploader_id = $2"
        "        OR EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = md.conv_id AND m.seq = md.seq AND NOT m.deleted))",
        {text_array(ids), std::to_string(me)});
    // Expiries on a 5-minute grid: the same media asked again soon gets the
    // same URL, which the client's HTTP cache already holds.
    constexpr std::int64_t grid = 300;
    const std::int64_t expires = (now_s() + media_.url_ttl_s + grid - 1) / grid * grid;
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value m;
        std::string why;
        json::parse(rows.text(i, 2), m, why);
        const std::string id = rows.str(i, 0);
        m["url"] = media_.base_url + media_url::signed_path(media_.url_secret, media_url::media, id, expires);
        if (rows.boolean(i, 1))
            m["thumb_url"] = media_.base_url + media_url::signed_path(media_.url_secret, media_url::thumb, id, expires);
        m["expires"] = Json::Int64(expires * 1000);
        list.append(std::move(m));
    }
    if (p.isString() && list.empty())
        return fail(error_code::not_found, "no attachment " + ids.front() + " you may see");
    Json::Value out(Json::objectValue);
    out["media"] = list;
    return ok(out);
}

} // namespace mqchat::bridge
