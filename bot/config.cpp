#include "config.hpp"

#include <fstream>
#include <stdexcept>

#include "common/log.hpp"
#include "common/names.hpp"
#include "common/options.hpp"
#include "common/secret_file.hpp"
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
    c.model.url = r.string("llm_url", "");
    c.model.model = r.string("llm_model", "");
    const std::string key_file = r.string("llm_api_key_file", "");
    c.model.timeout_ms = static_cast<int>(r.integer("llm_timeout_ms", c.model.timeout_ms, 100, 60000));
    c.model.max_tokens = static_cast<int>(r.integer("llm_max_tokens", c.model.max_tokens, 16, 4000));
    c.model.ca_file = r.string("llm_ca_file", "");
    c.log_level = r.string("log_level", c.log_level);
    std::string problems = r.errors();
    auto add = [&](const std::string& what) { problems += (problems.empty() ? "" : "; ") + what; };
    if (!c.mqtt_username.empty() && !valid_user_name(c.mqtt_username))
        add("mqtt_username '" + c.mqtt_username + "' is not a valid user name");
    if (!password_file.empty()) {
        try {
            c.mqtt_password = read_secret_line(password_file);
        } catch (const std::runtime_error& e) {
            add(std::string("mqtt_password_file: ") + e.what());
        }
    }
    if (c.mqtt_uri.rfind("tcp://", 0) != 0 && c.mqtt_uri.rfind("mqtt://", 0) != 0)
        add("mqtt_uri '" + c.mqtt_uri + "' must be tcp://HOST:PORT");
    if (c.topic_prefix.empty() || c.topic_prefix.back() != '/') add("topic_prefix '" + c.topic_prefix + "' must end in /");
    if (!c.model.url.empty()) {
        if (c.model.url.rfind("http://", 0) != 0 && c.model.url.rfind("https://", 0) != 0)
            add("llm_url '" + c.model.url + "' must be an http(s) URL");
        if (c.model.model.empty()) add("llm_model is required with llm_url");
    }
    if (!key_file.empty()) {
        try {
            c.model.api_key = read_secret_line(key_file);
        } catch (const std::runtime_error& e) {
            add(std::string("llm_api_key_file: ") + e.what());
        }
    }
    try {
        log::parse_level(c.log_level);
    } catch (const std::invalid_argument& e) {
        add(std::string("log_level ") + e.what());
    }
    if (!problems.empty()) throw std::invalid_argument(path + ": " + problems);
    return c;
}

} // namespace mqchat::bot
