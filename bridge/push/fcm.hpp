#pragma once
/// Firebase Cloud Messaging, HTTP v1 API: an OAuth 2 access token from a
/// service-account key (a JWT grant signed RS256, cached until it expires),
/// then messages:send per push.

#include <json/json.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "http_client.hpp"
#include "push.hpp"

namespace mqchat::bridge {

struct fcm_settings {
    std::string project_id;
    std::string service_account_file; ///< the JSON key Google gives: client_email, private_key, token_uri
    std::string base_url = "https://fcm.googleapis.com";
};

class fcm_client {
public:
    /// Reads the key file; throws std::runtime_error naming what is wrong.
    fcm_client(fcm_settings settings, http_client& http);

    /// Sends one queued push (its payload, schema/functions/mqchat_queue_push.sql: title, body, conv,
    /// seq, sender, badge, token).
    push_result send(const Json::Value& push);

    /// The JWT grant for the token endpoint (exposed for tests).
    std::string assertion(std::int64_t now_s) const;

private:
    bool refresh_token(std::string& why);

    fcm_settings settings_;
    http_client& http_;
    std::string client_email_, private_key_pem_, token_uri_;
    std::string access_token_;
    std::chrono::steady_clock::time_point token_expires_{};
};

} // namespace mqchat::bridge
