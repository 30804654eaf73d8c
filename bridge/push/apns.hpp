#pragma once
/// Apple Push Notification service over HTTP/2 with token-based auth: an
/// ES256 provider token made from the .p8 key (key id, team id), renewed
/// every 50 minutes (Apple refuses one older than an hour), then one
/// POST /3/device/{token} per push.

#include <json/json.h>

#include <chrono>
#include <string>

#include "http_client.hpp"
#include "push.hpp"

namespace mqchat::bridge {

struct apns_settings {
    std::string key_file; ///< the .p8 key (PEM, EC P-256) from the developer account
    std::string key_id;   ///< its 10-character Key ID
    std::string team_id;  ///< the Team ID
    std::string base_url = "https://api.push.apple.com"; ///< api.sandbox.push.apple.com for development builds
};

class apns_client {
public:
    /// Reads and checks the key; throws std::runtime_error naming what is wrong.
    apns_client(apns_settings settings, http_client& http);

    push_result send(const Json::Value& push);

    /// The provider token for `now_s` (exposed for tests).
    std::string provider_token(std::int64_t now_s) const;

private:
    apns_settings settings_;
    http_client& http_;
    std::string key_pem_;
    std::string token_;
    std::chrono::steady_clock::time_point token_made_{};
};

} // namespace mqchat::bridge
