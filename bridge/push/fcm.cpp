#include "fcm.hpp"

#include <curl/curl.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/json.hpp"
#include "jws.hpp"

namespace mqchat::bridge {

namespace {

std::string form_escape(const std::string& s) {
    std::unique_ptr<char, decltype(&curl_free)> out(curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size())),
                                                    &curl_free);
    if (!out) throw std::bad_alloc();
    return out.get();
}

} // namespace

fcm_client::fcm_client(fcm_settings settings, http_client& http) : settings_(std::move(settings)), http_(http) {
    std::ifstream in(settings_.service_account_file);
    std::stringstream text;
    text << in.rdbuf();
    Json::Value key;
    std::string why;
    if (!in || !json::parse(text.str(), key, why))
        throw std::runtime_error("fcm_service_account_file " + settings_.service_account_file + " is not readable JSON");
    client_email_ = key["client_email"].asString();
    private_key_pem_ = key["private_key"].asString();
    token_uri_ = key["token_uri"].isString() ? key["token_uri"].asString() : "https://oauth2.googleapis.com/token";
    if (client_email_.empty() || private_key_pem_.empty())
        throw std::runtime_error("fcm_service_account_file " + settings_.service_account_file +
                                 " has no client_email or private_key");
    try { // fails now, at start, on a bad key
        assertion(0);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error("fcm_service_account_file " + settings_.service_account_file +
                                 ": private_key: " + e.what());
    }
}

std::string fcm_client::assertion(std::int64_t now_s) const {
    Json::Value header(Json::objectValue), claims(Json::objectValue);
    header["alg"] = "RS256";
    header["typ"] = "JWT";
    claims["iss"] = client_email_;
    claims["scope"] = "https://www.googleapis.com/auth/firebase.messaging";
    claims["aud"] = token_uri_;
    claims["iat"] = Json::Int64(now_s);
    claims["exp"] = Json::Int64(now_s + 3600);
    return sign_jws(header, claims, private_key_pem_);
}

bool fcm_client::refresh_token(std::string& why) {
    const auto now = std::chrono::steady_clock::now();
    if (!access_token_.empty() && now < token_expires_) return true;
    const std::int64_t now_s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const http_response r = http_.post(
        token_uri_, {"Content-Type: application/x-www-form-urlencoded"},
        "grant_type=" + form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + assertion(now_s));
    Json::Value v;
    std::string parse_error;
    if (r.status != 200 || !json::parse(r.body, v, parse_error) || !v["access_token"].isString()) {
        why = "OAuth token request: " + (r.status ? "HTTP " + std::to_string(r.status) + " " + r.body : r.error);
        return false;
    }
    access_token_ = v["access_token"].asString();
    const long ttl = v["expires_in"].isIntegral() ? v["expires_in"].asInt() : 3600;
    token_expires_ = now + std::chrono::seconds(std::max(0L, ttl - 60)); // renewed a minute early
    return true;
}

push_result fcm_client::send(const Json::Value& push) {
    push_result out;
    std::string why;
    if (!refresh_token(why)) {
        out.detail = why;
        return out; // retry later
    }
    const std::string conv = std::to_string(push["conv"].asInt64());
    Json::Value m(Json::objectValue);
    m["token"] = push["token"];
    m["notification"]["title"] = push["title"];
    m["notification"]["body"] = push["body"];
    // Data values must be strings in FCM.
    m["data"]["conv"] = conv;
    m["data"]["seq"] = std::to_string(push["seq"].asInt64());
    m["data"]["sender"] = push["sender"];
    m["android"]["priority"] = "high";
    m["android"]["collapse_key"] = "conv-" + conv; // a newer push of the conversation replaces this one
    m["android"]["notification"]["tag"] = "conv-" + conv;
    m["android"]["notification"]["notification_count"] = push["badge"];
    m["apns"]["headers"]["apns-collapse-id"] = "conv-" + conv;
    m["apns"]["payload"]["aps"]["badge"] = push["badge"];
    Json::Value body(Json::objectValue);
    body["message"] = std::move(m);
    const http_response r =
        http_.post(settings_.base_url + "/v1/projects/" + settings_.project_id + "/messages:send",
                   {"Authorization: Bearer " + access_token_, "Content-Type: application/json"}, json::write(body));
    out.retry_after_s = r.retry_after_s;
    out.detail = r.status ? "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300) : r.error;
    if (r.status == 200) out.outcome = push_outcome::sent;
    else if (r.status == 0 || r.status == 429 || r.status >= 500) out.outcome = push_outcome::retry;
    else if (r.status == 401) {
        access_token_.clear(); // expired early: a new one next time
        out.outcome = push_outcome::retry;
    } else if (r.status == 404 || r.body.find("UNREGISTERED") != std::string::npos)
        out.outcome = push_outcome::invalid_token;
    else out.outcome = push_outcome::rejected;
    return out;
}

} // namespace mqchat::bridge
