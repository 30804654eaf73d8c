#include "config.hpp"

#include <arpa/inet.h>

#include <stdexcept>

#include "common/config_files.hpp"
#include "common/http_endpoint.hpp"
#include "common/names.hpp"
#include "common/topics.hpp"

namespace mqchat::plugin {

plugin_config parse_config(const option_list& options) {
    option_reader r(options, "plugin_opt_");
    plugin_config c;
    c.db = r.required_string("db_conninfo");
    c.topic_prefix = r.string("topic_prefix", c.topic_prefix);
    c.exclusive = r.boolean("exclusive", c.exclusive);
    c.max_payload = static_cast<std::size_t>(r.integer("max_payload", 16384, 256, 1 << 20));
    c.startup_wait_ms = static_cast<int>(r.integer("startup_wait_ms", 10000, 0, 600000));
    c.listen_backlog = static_cast<int>(r.integer("listen_backlog", 0, 0, 65535));
    c.rate_per_s = static_cast<double>(r.integer("rate_per_s", 0, 0, 100000));
    c.rate_burst = static_cast<double>(r.integer("rate_burst", 0, 0, 1000000));
    c.flood_disconnect = static_cast<int>(r.integer("flood_disconnect", 100, 0, 1000000));
    c.max_connections_per_user = static_cast<int>(r.integer("max_connections_per_user", 0, 0, 100000));
    c.max_client_id_length = static_cast<int>(r.integer("max_client_id_length", 128, 1, 65535));
    c.jwt_hs256_secret_file = r.string("jwt_hs256_secret_file", "");
    c.jwt_jwks_file = r.string("jwt_jwks_file", "");
    c.jwt_issuer = r.string("jwt_issuer", "");
    c.jwt_audience = r.string("jwt_audience", "");
    c.jwt_leeway_s = static_cast<int>(r.integer("jwt_leeway_s", 30, 0, 3600));
    c.login_key_file = r.string("login_key_file", "");
    c.presence = r.boolean("presence", c.presence);
    c.typing_per_s = static_cast<int>(r.integer("typing_per_s", c.typing_per_s, 0, 100000));
    c.wait_budget_ms = static_cast<int>(r.integer("wait_budget_ms", c.wait_budget_ms, 0, 1000));
    c.password_threads = static_cast<int>(r.integer("password_threads", c.password_threads, 0, 64));
    c.member_change_wait_ms =
        static_cast<int>(r.integer("member_change_wait_ms", c.member_change_wait_ms, 0, 600000));
    c.knocks_per_minute_per_address = static_cast<int>(
        r.integer("knocks_per_minute_per_address", c.knocks_per_minute_per_address, 0, 1000000));
    c.knocks_per_minute_per_site_key = static_cast<int>(
        r.integer("knocks_per_minute_per_site_key", c.knocks_per_minute_per_site_key, 0, 10000000));
    const std::string forwarded_by = r.string("forwarded_by", "");
    c.fabric_username = r.string("fabric_username", "");
    c.broker_name = r.string("broker_name", "");
    c.fabric_grace_ms = static_cast<int>(r.integer("fabric_grace_ms", c.fabric_grace_ms, 0, 600000));
    c.metrics_listen = r.string("metrics_listen", "");
    std::string errors = r.errors();
    auto problem = [&errors](const std::string& text) { errors += (errors.empty() ? "" : "; ") + text; };
    if (!c.fabric_username.empty() && !valid_user_name(c.fabric_username))
        problem("plugin_opt_fabric_username: '" + c.fabric_username + "' is not a valid user name");
    if (!c.fabric_username.empty() && c.broker_name.empty())
        problem("plugin_opt_broker_name: required with plugin_opt_fabric_username (this broker's name among them)");
    if (!c.broker_name.empty() && !valid_user_name(c.broker_name))
        problem("plugin_opt_broker_name: '" + c.broker_name + "' must be 1-64 letters, digits, '.', '_' or '-'");
    c.forwarded_by = list_items(forwarded_by);
    for (const auto& a : c.forwarded_by) {
        unsigned char scratch[sizeof(in6_addr)];
        if (inet_pton(AF_INET, a.c_str(), scratch) != 1 && inet_pton(AF_INET6, a.c_str(), scratch) != 1)
            problem("plugin_opt_forwarded_by: '" + a + "' is not a numeric IPv4 or IPv6 address");
    }
    if (!c.metrics_listen.empty()) {
        try {
            parse_listen_address(c.metrics_listen);
        } catch (const std::invalid_argument& e) {
            problem("plugin_opt_metrics_listen: " + std::string(e.what()));
        }
    }
    try {
        topic_names check(c.topic_prefix);
    } catch (const std::invalid_argument& e) {
        errors += (errors.empty() ? "plugin_opt_" : "; plugin_opt_") + std::string(e.what());
    }
    if (!errors.empty()) throw std::invalid_argument(errors);
    return c;
}

} // namespace mqchat::plugin
