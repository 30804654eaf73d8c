#include "config.hpp"

#include <fstream>
#include <stdexcept>

#include "common/names.hpp"
#include "common/options.hpp"
#include "common/topics.hpp"

namespace mqchat::bot {

bot_config load_config(const std::string& path) {
    option_reader r(read_option_file(path));
    bot_config c;
    c.mqtt_uri = r.string("mqtt_uri", c.mqtt_uri);
    c.mqtt_username = r.required_string("mqtt_username");
    const std::string password_file = r.required_string("mqtt_password_file");
    c.mqtt_client_id = r.string("mqtt_client_id", c.mqtt_username);
    c.topic_prefix = r.string("topic_prefix", c.topic_prefix);
    c.session_expiry_s = static_cast<int>(r.integer("session_expiry_s", c.session_expiry_s, 60, 30 * 24 * 3600));
    c.request_timeout_ms = static_cast<int>(r.integer("request_timeout_ms", c.request_timeout_ms, 100, 600000));
    c.rules_refresh_s = static_cast<int>(r.integer("rules_refresh_s", c.rules_refresh_s, 1, 3600));
    std::string problems = r.errors();
    auto add = [&](const std::string& what) { problems += (problems.empty() ? "" : "; ") + what; };
    if (!c.mqtt_username.empty() && !valid_user_name(c.mqtt_username))
        add("mqtt_username '" + c.mqtt_username + "' is not a valid user name");
    if (!password_file.empty()) {
        std::ifstream in(password_file);
        if (!in || !std::getline(in, c.mqtt_password) || c.mqtt_password.empty())
            add("mqtt_password_file " + password_file + " cannot be read or is empty");
    }
    if (c.mqtt_uri.rfind("tcp://", 0) != 0 && c.mqtt_uri.rfind("mqtt://", 0) != 0)
        add("mqtt_uri '" + c.mqtt_uri + "' must be tcp://HOST:PORT");
    if (c.topic_prefix.empty() || c.topic_prefix.back() != '/') add("topic_prefix '" + c.topic_prefix + "' must end in /");
    if (!problems.empty()) throw std::invalid_argument(path + ": " + problems);
    return c;
}

} // namespace mqchat::bot
