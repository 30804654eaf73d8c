#include "request_helpers.hpp"

#include "common/json.hpp"
#include "common/names.hpp"

namespace mqchat::bridge::request_helpers {

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

stored_message message_from_row(const pg::result& r, int row, int first_col) {
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
    if (!r.is_null(row, first_col + 13)) {
        std::string why;
        json::parse(r.text(row, first_col + 13), m.media, why);
    }
    if (!r.is_null(row, first_col + 14)) {
        std::string why;
        json::parse(r.text(row, first_col + 14), m.e2e, why);
    }
    return m;
}

bool short_text(const Json::Value& v, std::size_t most) {
    return v.isString() && !v.asString().empty() && v.asString().size() <= most && valid_utf8(v.asString());
}

bool one_line_text(const Json::Value& v, std::size_t most) {
    if (!short_text(v, most)) return false;
    for (const char c : v.asString())
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return true;
}

} // namespace mqchat::bridge::request_helpers
