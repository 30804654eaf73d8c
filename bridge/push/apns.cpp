#include "apns.hpp"

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/json.hpp"
#include "jws.hpp"

namespace mqchat::bridge {


apns_client::apns_client(apns_settings settings, http_client& http) : settings_(std::move(settings)), http_(http) {
    std::ifstream in(settings_.key_file);
    std::stringstream text;
    text << in.rdbuf();
    key_pem_ = text.str();
    if (!in || key_pem_.empty()) throw std::runtime_error("apns_key_file " + settings_.key_file + " cannot be read");
    if (settings_.key_id.size() != 10 || settings_.team_id.size() != 10)
        throw std::runtime_error("apns_key_id and apns_team_id are 10 characters each");
    try { // fails now, at start, on a bad key
        provider_token(0);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error("apns_key_file " + settings_.key_file + ": " + e.what());
    }
}

std::string apns_client::provider_token(std::int64_t now_s) const {
    Json::Value header(Json::objectValue), claims(Json::objectValue);
    header["alg"] = "ES256";
    header["kid"] = settings_.key_id;
    claims["iss"] = settings_.team_id;
    claims["iat"] = Json::Int64(now_s);
    return sign_jws(header, claims, key_pem_);
}

push_result apns_client::send(const Json::Value& push) {
    const auto now = std::chrono::steady_clock::now();
    if (token_.empty() || now - token_made_ > std::chrono::minutes(50)) {
        token_ = provider_token(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
        token_made_ = now;
    }
    const std::string conv = std::to_string(push["conv"].asInt64());
    Json::Value body(Json::objectValue);
    body["aps"]["alert"]["title"] = push["title"];
    body["aps"]["alert"]["body"] = push["body"];
    body["aps"]["badge"] = push["badge"];
    body["aps"]["sound"] = "default";
    body["aps"]["thread-id"] = "conv-" + conv;
    body["conv"] = Json::Int64(push["conv"].asInt64());
    body["seq"] = Json::Int64(push["seq"].asInt64());
    body["sender"] = push["sender"];
    const http_response r = http_.post(settings_.base_url + "/3/device/" + push["token"].asString(),
                                       {"authorization: bearer " + token_, "apns-topic: " + push["app_id"].asString(),
                                        "apns-push-type: alert", "apns-priority: 10", "apns-collapse-id: conv-" + conv,
                                        "content-type: application/json"},
                                       json::write(body));
    push_result out;
    out.retry_after_s = r.retry_after_s;
    out.detail = r.status ? "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300) : r.error;
    if (r.status == 200) out.outcome = push_outcome::sent;
    else if (r.status == 410 || r.body.find("BadDeviceToken") != std::string::npos ||
             r.body.find("Unregistered") != std::string::npos)
        out.outcome = push_outcome::invalid_token;
    else if (r.status == 403 && r.body.find("ExpiredProviderToken") != std::string::npos) {
        token_.clear(); // a new one next time
        out.outcome = push_outcome::retry;
    } else if (r.status == 0 || r.status == 429 || r.status >= 500) out.outcome = push_outcome::retry;
    else out.outcome = push_outcome::rejected;
    return out;
}

} // namespace mqchat::bridge
