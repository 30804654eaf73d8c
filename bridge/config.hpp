#pragma once
/// The bridge's settings, read once at start from one or more config files
/// (`key value` lines, see docs/operations.md) into one struct. A key in a
/// later file overrides the same key in an earlier one, so a generated file
/// can come first and the operator's own file last. Validated as a whole:
/// every problem in every file in one message, each naming its file.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config_files.hpp"

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
    /// While sends arrive faster than one per store call, a batch of fewer
    /// than 16 waits up to this long after its first message for more
    /// (batch_pacer); 0: never.
    int store_linger_us = 1000;
    /// Requests are answered on their own threads, each with its own
    /// database connection, off the store-and-deliver loop; at most
    /// request_queue_max wait, beyond that a request gets `overloaded`.
    int request_threads = 2;
    std::size_t request_queue_max = 2000;
    /// A streaming replica for older history pages, search and threads
    /// (empty: none), used while at most replica_max_lag_ms behind.
    std::string replica_db;
    int replica_max_lag_ms = 2000;
    /// Messages from the broker held in memory at most; when full the bridge
    /// stops reading and the broker's session queue holds the rest.
    std::size_t inbox_max = 20000;
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
    /// Guest tokens for web visitors (desk.visit; docs/desks.md): signed with
    /// the plugin's HS256 secret (visitor_token_secret_file, the same file as
    /// plugin_opt_jwt_hs256_secret_file), valid visitor_token_ttl_s, with the
    /// issuer and audience the plugin requires. Empty secret: no web visitors.
    std::string visitor_token_secret;
    int visitor_token_ttl_s = 24 * 3600;
    std::string visitor_token_issuer, visitor_token_audience;
    /// Attachments (docs/media.md): the media service's public base URL as
    /// clients reach it ("": no attachments), the secret its URLs are signed
    /// with (media_url_secret_file, the same file as the media service's
    /// url_secret_file), and what may be sent: bytes per file, MIME types
    /// ("image/*" for a family), bytes per user per day, how long an upload
    /// URL and a download URL live.
    std::string media_base_url;
    std::string media_url_secret;
    std::int64_t media_max_bytes = 25 << 20;
    std::vector<std::string> media_types = {"image/jpeg", "image/png",  "image/gif",  "image/webp",
                                            "application/pdf", "text/plain", "audio/mpeg", "audio/ogg",
                                            "video/mp4",  "video/webm"};
    std::int64_t media_quota_bytes_per_day = std::int64_t(500) << 20;
    int media_upload_ttl_s = 600;
    int media_url_ttl_s = 3600;
    /// Operators' HTTP endpoint: /metrics, /healthz, /readyz ("" : none;
    /// "PORT" listens on loopback, "HOST:PORT" where told).
    std::string metrics_listen;
    /// /readyz fails once a message has waited this long to be stored.
    int ready_store_lag_ms = 10000;
    std::string log_level = "info"; ///< debug, info, warning, error
    /// Retention (docs/data-rights.md): a purge round every
    /// retention_interval_s (0: this bridge purges nothing), in batches of
    /// retention_batch_rows with retention_pause_ms between them.
    int retention_interval_s = 60;
    int retention_batch_rows = 1000;
    int retention_pause_ms = 50;
    /// How often this bridge merges new messages' search entries into the
    /// search index (bridge/search/search_indexer.hpp); 0: never (then a
    /// store transaction that finds the pending list full does it).
    int search_index_interval_ms = 1000;

    /// Where the values came from: the files in the order read, and for each
    /// key a file set, its value and the last file that set it.
    std::vector<std::string> files;
    config_settings settings;
};

/// Reads `paths` in order (at least one). Throws std::invalid_argument with
/// every problem found, one line per file (`FILE: key 'value' is …; unknown
/// option …`), plus a line for required keys that no file sets.
bridge_config load_config(const std::vector<std::string>& paths);
inline bridge_config load_config(const std::string& path) { return load_config(std::vector<std::string>{path}); }

/// One line per key the files set: `key value (file)`, secrets masked. For
/// `mqchat-bridge --check`, so an operator sees which file won.
std::string describe_settings(const bridge_config& c);

} // namespace mqchat::bridge
