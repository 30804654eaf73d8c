#include "config.hpp"

#include <fstream>
#include <stdexcept>

#include "common/names.hpp"
#include "common/options.hpp"
#include "common/topics.hpp"

namespace mqchat::bridge {

bridge_config load_config(const std::string& path) {
    option_reader r(read_option_file(path));
    bridge_config c;
    c.mqtt_uri = r.string("mqtt_uri", c.mqtt_uri);
    c.mqtt_username = r.string("mqtt_username", c.mqtt_username);
    const std::string password_file = r.required_string("mqtt_password_file");
    c.mqtt_client_id = r.string("mqtt_client_id", c.mqtt_client_id);
    c.share_group = r.string("share_group", c.share_group);
    c.db = r.required_string("db_conninfo");
    c.topic_prefix = r.string("topic_prefix", c.topic_prefix);
    c.batch_max = static_cast<std::size_t>(r.integer("batch_max", 500, 1, 10000));
    c.session_expiry_s = static_cast<int>(r.integer("session_expiry_s", c.session_expiry_s, 60, 365 * 24 * 3600));
    c.fcm_project_id = r.string("fcm_project_id", "");
    c.fcm_service_account_file = r.string("fcm_service_account_file", "");
    c.fcm_base_url = r.string("fcm_base_url", c.fcm_base_url);
    c.push_ca_file = r.string("push_ca_file", "");
    c.apns_key_file = r.string("apns_key_file", "");
    c.apns_key_id = r.string("apns_key_id", "");
    c.apns_team_id = r.string("apns_team_id", "");
    c.apns_base_url = r.string("apns_base_url", c.apns_base_url);
    c.smtp_url = r.string("smtp_url", "");
    c.smtp_from = r.string("smtp_from", "");
    c.smtp_username = r.string("smtp_username", "");
    c.smtp_password = r.string("smtp_password", "");
    c.email_digest_delay_s = static_cast<int>(r.integer("email_digest_delay_s", 3600, 1, 30 * 24 * 3600));

    std::string errors = r.errors();
    auto add = [&errors](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };
    if (!valid_user_name(c.mqtt_username)) add("mqtt_username '" + c.mqtt_username + "' is not a valid user name");
    if (!valid_user_name(c.share_group)) add("share_group '" + c.share_group + "' is not a valid group name");
    try {
        topic_names check(c.topic_prefix);
    } catch (const std::invalid_argument& e) {
        add(e.what());
    }
    if (!password_file.empty()) {
        std::ifstream in(password_file);
        if (!in || !std::getline(in, c.mqtt_password) || c.mqtt_password.empty())
            add("mqtt_password_file '" + password_file + "' cannot be read or is empty");
    }
    if (!c.smtp_url.empty() && c.smtp_from.empty()) add("smtp_url needs smtp_from");
    if (!c.apns_key_file.empty() && (c.apns_key_id.empty() || c.apns_team_id.empty()))
        add("apns_key_file needs apns_key_id and apns_team_id");
    if (c.fcm_project_id.empty() != c.fcm_service_account_file.empty())
        add("fcm_project_id and fcm_service_account_file go together");
    if (!errors.empty()) throw std::invalid_argument(path + ": " + errors);
    return c;
}

} // namespace mqchat::bridge
