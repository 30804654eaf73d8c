#include "config.hpp"

#include <filesystem>
#include <stdexcept>

#include "common/log.hpp"
#include "common/options.hpp"

namespace mqchat::gateway {

namespace {

void read_keys(option_reader& r, gateway_config& c) {
    c.listen = r.string("listen", c.listen);
    c.listen_tls = r.string("listen_tls", c.listen_tls);
    c.certfile = r.string("certfile", c.certfile);
    c.keyfile = r.string("keyfile", c.keyfile);
    c.broker = r.string("broker", c.broker);
    c.http_dir = r.string("http_dir", c.http_dir);
    c.max_connections = static_cast<int>(r.integer("max_connections", c.max_connections, 1, 1'000'000));
    c.max_message_bytes = static_cast<int>(r.integer("max_message_bytes", c.max_message_bytes, 1024, 268'435'456));
    c.handshake_timeout_s = static_cast<int>(r.integer("handshake_timeout_s", c.handshake_timeout_s, 1, 300));
    c.forward_visitor_address = r.boolean("forward_visitor_address", c.forward_visitor_address);
    c.metrics_listen = r.string("metrics_listen", c.metrics_listen);
    c.log_level = r.string("log_level", c.log_level);
}

} // namespace

gateway_config load_config(const std::vector<std::string>& paths) {
    if (paths.empty()) throw std::invalid_argument("no config file given");
    gateway_config c;
    c.files = paths;
    config_problems errors;
    c.settings = read_config_files(paths, [&](option_reader& r) { read_keys(r, c); }, errors);
    const auto from = [&c](const std::string& key) { return file_of(c.settings, key); };
    const auto address = [&](const char* key, const std::string& value, listen_address& out) {
        try {
            out = parse_listen_address(value);
        } catch (const std::invalid_argument& e) {
            errors.add(from(key), std::string(key) + " " + e.what());
        }
    };
    if (!c.listen.empty()) address("listen", c.listen, c.plain);
    if (!c.listen_tls.empty()) address("listen_tls", c.listen_tls, c.tls);
    if (c.listen.empty() && c.listen_tls.empty())
        errors.add(from("listen"), "listen and listen_tls are both empty: nothing to serve");
    if (!c.metrics_listen.empty()) {
        listen_address unused;
        address("metrics_listen", c.metrics_listen, unused);
    }
    if (c.broker.find(':') == std::string::npos)
        errors.add(from("broker"), "broker '" + c.broker + "' is not HOST:PORT");
    else
        address("broker", c.broker, c.upstream);
    if (!c.listen_tls.empty()) {
        for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"certfile", &c.certfile},
                                         {"keyfile", &c.keyfile}}) {
            std::error_code ec;
            if (value->empty())
                errors.add(from("listen_tls"), std::string("listen_tls needs ") + key);
            else if (!std::filesystem::is_regular_file(*value, ec))
                errors.add(from(key), std::string(key) + " '" + *value + "' is not a readable file");
        }
    }
    if (!c.http_dir.empty()) {
        std::error_code ec;
        if (c.http_dir[0] != '/' || !std::filesystem::is_directory(c.http_dir, ec))
            errors.add(from("http_dir"), "http_dir '" + c.http_dir + "' is not an absolute path to a directory");
    }
    try {
        log::parse_level(c.log_level);
    } catch (const std::invalid_argument& e) {
        errors.add(from("log_level"), std::string("log_level ") + e.what());
    }
    if (const std::string e = errors.message(); !e.empty()) throw std::invalid_argument(e);
    return c;
}

} // namespace mqchat::gateway
