#include "common/rpc.hpp"

#include <sodium.h>

#include "common/json.hpp"
#include "common/names.hpp"

namespace mqchat::rpc {

namespace {

bool fail(envelope_error& error, std::string_view code, std::string message) {
    error.code = code;
    error.message = std::move(message);
    return false;
}

std::string to_base64(const std::string& bytes) {
    std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    out.pop_back(); // the NUL
    return out;
}

bool from_base64(const std::string& text, std::string& bytes) {
    bytes.assign(text.size(), '\0');
    std::size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(), text.size(),
                          nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    bytes.resize(len);
    return true;
}

Json::Value reply_base(const request& r) {
    Json::Value v(Json::objectValue);
    v["method"] = r.method;
    if (!r.corr.empty()) v["corr"] = r.corr;
    return v;
}

} // namespace

bool parse_client_request(std::string_view payload, std::size_t max_payload, request& out, std::string& reply_to,
                          envelope_error& error) {
    if (payload.size() > max_payload)
        return fail(error, error_code::payload_too_large,
                    "request of " + std::to_string(payload.size()) + " bytes; the limit is " +
                        std::to_string(max_payload));
    Json::Value v;
    std::string why;
    if (!json::parse(payload, v, why)) return fail(error, error_code::invalid_json, "malformed JSON: " + why);
    if (!v.isObject()) return fail(error, error_code::invalid_request, "a request is a JSON object");
    if (v.isMember("corr")) {
        const Json::Value& c = v["corr"];
        if (!c.isString() || c.asString().empty() || c.asString().size() > max_corr_length ||
            !valid_utf8(c.asString()))
            return fail(error, error_code::invalid_request, "corr must be a string of 1 to 128 characters");
        out.corr = c.asString();
        v.removeMember("corr");
    }
    if (v.isMember("reply_to")) {
        if (!v["reply_to"].isString()) return fail(error, error_code::invalid_request, "reply_to must be a topic");
        reply_to = v["reply_to"].asString();
        v.removeMember("reply_to");
    }
    out.params = std::move(v);
    return true;
}

std::string stamp(const request& r) {
    Json::Value v(Json::objectValue);
    v["caller"] = r.caller;
    if (r.guest) v["guest"] = true;
    if (!r.site_key.empty()) v["site_key"] = r.site_key;
    v["params"] = r.params;
    if (!r.corr.empty()) v["corr"] = r.corr;
    if (!r.corr_data.empty()) v["corr_data"] = to_base64(r.corr_data);
    return json::write(v);
}

bool parse_stamped(std::string_view payload, std::string_view method, request& out, std::string& error) {
    Json::Value v;
    if (!json::parse(payload, v, error)) return false;
    if (!v.isObject() || !v["caller"].isString() || !v["params"].isObject()) {
        error = "not a stamped request";
        return false;
    }
    out.method = std::string(method);
    out.caller = v["caller"].asString();
    out.guest = v["guest"].isBool() && v["guest"].asBool();
    out.site_key = v["site_key"].isString() ? v["site_key"].asString() : "";
    out.params = v["params"];
    out.corr = v["corr"].isString() ? v["corr"].asString() : "";
    if (v["corr_data"].isString() && !from_base64(v["corr_data"].asString(), out.corr_data)) {
        error = "corr_data is not base64";
        return false;
    }
    return true;
}

std::string result_json(const request& r, const Json::Value& result) {
    Json::Value v = reply_base(r);
    v["result"] = result;
    return json::write(v);
}

std::string error_json(const request& r, std::string_view code, std::string_view message, std::int64_t retry_after_ms) {
    Json::Value v = reply_base(r);
    v["error"]["code"] = std::string(code);
    v["error"]["message"] = std::string(message);
    if (retry_after_ms > 0) v["error"]["retry_after_ms"] = Json::Int64(retry_after_ms);
    return json::write(v);
}

} // namespace mqchat::rpc
