#pragma once
/// mqchat-bot's settings: one file of `key value` lines (docs/assistant.md,
/// "Running the assistant"), read at start and again on SIGHUP, validated
/// as a whole: every problem in one message naming the file.

#include <string>

#include "language_model.hpp"

namespace mqchat::bot {

struct bot_config {
    std::string mqtt_uri = "tcp://127.0.0.1:1883";
    std::string mqtt_username;          ///< a user of role bot (required)
    std::string mqtt_password;          ///< read from mqtt_password_file (required)
    std::string mqtt_client_id;         ///< default: the username
    std::string topic_prefix = "chat/";
    int session_expiry_s = 24 * 3600;   ///< how long the broker keeps messages for a stopped assistant
    int request_timeout_ms = 10000;     ///< a request unanswered this long counts as failed
    int rules_refresh_s = 30;           ///< how often a desk's rules are read again
    std::string log_level = "info";     ///< debug, info, warning, error
    /// A language model drafting answers from the entries (llm_* keys; url empty: none).
    model_settings model;
};

/// Throws std::invalid_argument with every problem, each naming `path`.
bot_config load_config(const std::string& path);

} // namespace mqchat::bot
