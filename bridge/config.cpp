#include "config.hpp"

#include <fstream>
#include <stdexcept>

#include "common/http_endpoint.hpp"
#include "common/log.hpp"
#include "common/names.hpp"
#include "common/options.hpp"
#include "common/secret_file.hpp"
#include "common/token.hpp"
#include "common/topics.hpp"

namespace mqchat::bridge {

namespace {

/// Reads the keys one file sets over `c`: what the file leaves out keeps the
/// value of an earlier file, or the default.
/// "type/subtype" or "type/*", lowercase: what media.upload compares with.
bool valid_type_pattern(const std::string& t) {
    const auto slash = t.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() || t.size() > 100) return false;
    if (t.substr(slash + 1) == "*") return t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") == slash;
    return t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-./") == std::string::npos &&
           t.find('/', slash + 1) == std::string::npos;
}

void read_keys(option_reader& r, bridge_config& c, std::string& password_file, std::string& visitor_secret_file,
               std::string& smtp_password_file, std::string& media_secret_file, std::string& media_types) {
    c.mqtt_uri = r.string("mqtt_uri", c.mqtt_uri);
    c.mqtt_username = r.string("mqtt_username", c.mqtt_username);
    password_file = r.string("mqtt_password_file", password_file);
    c.mqtt_client_id = r.string("mqtt_client_id", c.mqtt_client_id);
    c.share_group = r.string("share_group", c.share_group);
    c.db = r.string("db_conninfo", c.db);
    c.topic_prefix = r.string("topic_prefix", c.topic_prefix);
    c.batch_max = static_cast<std::size_t>(r.integer("batch_max", static_cast<std::int64_t>(c.batch_max), 1, 10000));
    c.store_linger_us = static_cast<int>(r.integer("store_linger_us", c.store_linger_us, 0, 100000));
    c.session_expiry_s = static_cast<int>(r.integer("session_expiry_s", c.session_expiry_s, 60, 365 * 24 * 3600));
    c.request_threads = static_cast<int>(r.integer("request_threads", c.request_threads, 1, 64));
    c.replica_db = r.string("replica_conninfo", c.replica_db);
    c.replica_max_lag_ms = static_cast<int>(r.integer("replica_max_lag_ms", c.replica_max_lag_ms, 0, 3600000));
    c.request_queue_max =
        static_cast<std::size_t>(r.integer("request_queue_max", static_cast<std::int64_t>(c.request_queue_max), 1, 1000000));
    c.inbox_max = static_cast<std::size_t>(r.integer("inbox_max", static_cast<std::int64_t>(c.inbox_max), 100, 10000000));
    c.fcm_project_id = r.string("fcm_project_id", c.fcm_project_id);
    c.fcm_service_account_file = r.string("fcm_service_account_file", c.fcm_service_account_file);
    c.fcm_base_url = r.string("fcm_base_url", c.fcm_base_url);
    c.push_ca_file = r.string("push_ca_file", c.push_ca_file);
    c.apns_key_file = r.string("apns_key_file", c.apns_key_file);
    c.apns_key_id = r.string("apns_key_id", c.apns_key_id);
    c.apns_team_id = r.string("apns_team_id", c.apns_team_id);
    c.apns_base_url = r.string("apns_base_url", c.apns_base_url);
    c.smtp_url = r.string("smtp_url", c.smtp_url);
    c.smtp_from = r.string("smtp_from", c.smtp_from);
    c.smtp_username = r.string("smtp_username", c.smtp_username);
    c.smtp_password = r.string("smtp_password", c.smtp_password);
    smtp_password_file = r.string("smtp_password_file", smtp_password_file);
    c.email_digest_delay_s =
        static_cast<int>(r.integer("email_digest_delay_s", c.email_digest_delay_s, 1, 30 * 24 * 3600));
    visitor_secret_file = r.string("visitor_token_secret_file", visitor_secret_file);
    c.visitor_token_ttl_s =
        static_cast<int>(r.integer("visitor_token_ttl_s", c.visitor_token_ttl_s, 60, 30 * 24 * 3600));
    c.visitor_token_issuer = r.string("visitor_token_issuer", c.visitor_token_issuer);
    c.visitor_token_audience = r.string("visitor_token_audience", c.visitor_token_audience);
    c.media_base_url = r.string("media_base_url", c.media_base_url);
    media_secret_file = r.string("media_url_secret_file", media_secret_file);
    c.media_max_bytes = r.integer("media_max_bytes", c.media_max_bytes, 1, std::int64_t(1) << 40);
    media_types = r.string("media_types", media_types);
    c.media_quota_bytes_per_day =
        r.integer("media_quota_bytes_per_day", c.media_quota_bytes_per_day, 1, std::int64_t(1) << 50);
    c.media_upload_ttl_s = static_cast<int>(r.integer("media_upload_ttl_s", c.media_upload_ttl_s, 10, 24 * 3600));
    c.media_url_ttl_s = static_cast<int>(r.integer("media_url_ttl_s", c.media_url_ttl_s, 60, 7 * 24 * 3600));
    c.metrics_listen = r.string("metrics_listen", c.metrics_listen);
    c.ready_store_lag_ms = static_cast<int>(r.integer("ready_store_lag_ms", c.ready_store_lag_ms, 100, 3600000));
    c.log_level = r.string("log_level", c.log_level);
    c.retention_interval_s =
        static_cast<int>(r.integer("retention_interval_s", c.retention_interval_s, 0, 7 * 24 * 3600));
    c.retention_batch_rows = static_cast<int>(r.integer("retention_batch_rows", c.retention_batch_rows, 1, 100000));
    c.retention_pause_ms = static_cast<int>(r.integer("retention_pause_ms", c.retention_pause_ms, 0, 60000));
    c.search_index_interval_ms =
        static_cast<int>(r.integer("search_index_interval_ms", c.search_index_interval_ms, 0, 60000));
}

} // namespace

bridge_config load_config(const std::vector<std::string>& paths) {
    if (paths.empty()) throw std::invalid_argument("no config file given");
    bridge_config c;
    c.files = paths;
    std::string password_file, visitor_secret_file, smtp_password_file, media_secret_file, media_types;
    config_problems errors;
    c.settings = read_config_files(
        paths,
        [&](option_reader& r) {
            read_keys(r, c, password_file, visitor_secret_file, smtp_password_file, media_secret_file, media_types);
        },
        errors);
    const auto from = [&c](const std::string& key) { return file_of(c.settings, key); };
    require_options(c.settings, paths, {"db_conninfo", "mqtt_password_file"}, errors);
    if (!valid_user_name(c.mqtt_username))
        errors.add(from("mqtt_username"), "mqtt_username '" + c.mqtt_username + "' is not a valid user name");
    if (!valid_user_name(c.share_group))
        errors.add(from("share_group"), "share_group '" + c.share_group + "' is not a valid group name");
    try {
        topic_names check(c.topic_prefix);
    } catch (const std::invalid_argument& e) {
        errors.add(from("topic_prefix"), e.what());
    }
    if (!password_file.empty()) {
        try {
            c.mqtt_password = read_secret_line(password_file);
        } catch (const std::runtime_error& e) {
            errors.add(from("mqtt_password_file"), std::string("mqtt_password_file: ") + e.what());
        }
    }
    if (!smtp_password_file.empty()) {
        try {
            c.smtp_password = read_secret_line(smtp_password_file);
        } catch (const std::runtime_error& e) {
            errors.add(from("smtp_password_file"), std::string("smtp_password_file: ") + e.what());
        }
    }
    // Read later by the push clients; checked here so a bad one stops the start.
    for (const char* key : {"fcm_service_account_file", "apns_key_file"}) {
        const auto it = c.settings.find(key);
        if (it == c.settings.end() || it->second.value.empty()) continue;
        try {
            check_secret_file(it->second.value);
        } catch (const std::runtime_error& e) {
            errors.add(it->second.file, std::string(key) + ": " + e.what());
        }
    }
    if (!visitor_secret_file.empty()) {
        try {
            c.visitor_token_secret = token::read_hs256_secret(visitor_secret_file);
        } catch (const std::runtime_error& e) {
            errors.add(from("visitor_token_secret_file"), std::string("visitor_token_secret_file: ") + e.what());
        }
    }
    if (!media_secret_file.empty()) {
        try {
            c.media_url_secret = read_secret_line(media_secret_file);
            if (c.media_url_secret.size() < 32)
                errors.add(from("media_url_secret_file"), "media_url_secret_file: " + media_secret_file +
                                                              " holds fewer than 32 characters; make one with "
                                                              "`openssl rand -hex 32`");
        } catch (const std::runtime_error& e) {
            errors.add(from("media_url_secret_file"), std::string("media_url_secret_file: ") + e.what());
        }
    }
    if (!c.media_base_url.empty()) {
        if (c.media_base_url.rfind("http://", 0) != 0 && c.media_base_url.rfind("https://", 0) != 0)
            errors.add(from("media_base_url"), "media_base_url '" + c.media_base_url + "' is not an http(s) URL");
        if (c.media_url_secret.empty() && media_secret_file.empty())
            errors.add(from("media_base_url"), "media_base_url needs media_url_secret_file");
        while (!c.media_base_url.empty() && c.media_base_url.back() == '/') c.media_base_url.pop_back();
    }
    if (!media_types.empty()) {
        c.media_types = list_items(media_types);
        for (const auto& t : c.media_types)
            if (!valid_type_pattern(t))
                errors.add(from("media_types"), "media_types: '" + t + "' is not a MIME type (image/jpeg) or family (image/*)");
        if (c.media_types.empty()) errors.add(from("media_types"), "media_types is empty");
    }
    if (!c.metrics_listen.empty()) {
        try {
            parse_listen_address(c.metrics_listen);
        } catch (const std::invalid_argument& e) {
            errors.add(from("metrics_listen"), std::string("metrics_listen ") + e.what());
        }
    }
    try {
        log::parse_level(c.log_level);
    } catch (const std::invalid_argument& e) {
        errors.add(from("log_level"), std::string("log_level ") + e.what());
    }
    if (!c.smtp_url.empty() && c.smtp_from.empty()) errors.add(from("smtp_url"), "smtp_url needs smtp_from");
    if (!c.apns_key_file.empty() && (c.apns_key_id.empty() || c.apns_team_id.empty()))
        errors.add(from("apns_key_file"), "apns_key_file needs apns_key_id and apns_team_id");
    if (c.fcm_project_id.empty() != c.fcm_service_account_file.empty())
        errors.add(from(c.fcm_project_id.empty() ? "fcm_service_account_file" : "fcm_project_id"),
                   "fcm_project_id and fcm_service_account_file go together");
    if (const std::string e = errors.message(); !e.empty()) throw std::invalid_argument(e);
    return c;
}

std::string describe_settings(const bridge_config& c) { return mqchat::describe_settings(c.settings, {"smtp_password"}); }

} // namespace mqchat::bridge
