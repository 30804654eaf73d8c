#pragma once
/// The bridge's settings, read once from its config file (`key value` lines,
/// see docs/operations.md). Validated as a whole: every problem in one message.

#include <cstddef>
#include <string>

namespace mqchat::bridge {

struct bridge_config {
    std::string mqtt_uri = "tcp://127.0.0.1:1883";
    std::string mqtt_username = "mqchat-bridge";
    std::string mqtt_password;          ///< read from mqtt_password_file
    std::string mqtt_client_id = "mqchat-bridge";
    std::string share_group = "mqchat"; ///< bridges in one group share the load
    std::string db;                     ///< libpq conninfo (required)
    std::string topic_prefix = "chat/";
    std::size_t batch_max = 500;        ///< sends stored in one transaction at most
    int session_expiry_s = 7 * 24 * 3600; ///< how long the broker queues for a stopped bridge
    /// Push to Firebase Cloud Messaging (off unless both are set; docs/notifications.md).
    std::string fcm_project_id;
    std::string fcm_service_account_file;
    std::string fcm_base_url = "https://fcm.googleapis.com";
    std::string push_ca_file; ///< trust this CA bundle for push providers instead of the system's
    /// Push to APNs (off unless apns_key_file is set).
    std::string apns_key_file, apns_key_id, apns_team_id;
    std::string apns_base_url = "https://api.push.apple.com";
    /// E-mail digests (off unless smtp_url is set).
    std::string smtp_url, smtp_from, smtp_username, smtp_password;
    int email_digest_delay_s = 3600;
};

/// Throws std::invalid_argument (bad options) or std::runtime_error (unreadable file).
bridge_config load_config(const std::string& path);

} // namespace mqchat::bridge
