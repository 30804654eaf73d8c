// mqchat-gateway: the web clients' front door (docs/gateway.md). MQTT over
// WebSocket (and over secure WebSocket) carried to Mosquitto's plain MQTT
// listener, and the widget's and console's files over HTTP on the same
// ports. Wiring only: the parts are config and server (with mqtt_connect
// and http_files).
//
// usage: mqchat-gateway [--check] [-c] CONFIG_FILE [[-c] MORE_CONFIG_FILES...]
//   Later files override earlier ones key by key. --check only reads and
//   validates them and prints each setting with the file it came from.

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/daemon.hpp"
#include "common/http_endpoint.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "config.hpp"
#include "server.hpp"

using mqchat::daemon::joined;

int main(int argc, char** argv) {
    const auto command = mqchat::daemon::parse_command_line("mqchat-gateway", argc, argv);
    if (!command) return 2;
    const bool check = command->check;
    const std::vector<std::string>& files = command->files;
    namespace gateway = mqchat::gateway;
    try {
        const auto config = gateway::load_config(files);
        if (check) {
            std::cout << "mqchat-gateway: settings are valid (" << joined(config.files) << ")\n"
                      << mqchat::describe_settings(config.settings);
            return 0;
        }
        mqchat::log::setup("mqchat-gateway", mqchat::log::parse_level(config.log_level));
        mqchat::log::info() << "settings from " << joined(config.files);
        const std::atomic<bool>& stopping = mqchat::daemon::stop_on_signals();
        std::signal(SIGPIPE, SIG_IGN); // a client going away is an error return, not a signal

        gateway::server server(config);
        std::unique_ptr<mqchat::http_endpoint> operators;
        if (!config.metrics_listen.empty()) {
            operators = std::make_unique<mqchat::http_endpoint>(
                mqchat::parse_listen_address(config.metrics_listen),
                std::map<std::string, mqchat::http_endpoint::handler>{
                    {"/metrics",
                     [] {
                         return mqchat::http_reply{200, "text/plain; version=0.0.4; charset=utf-8",
                                                   mqchat::metrics::default_registry().exposition()};
                     }},
                    {"/healthz", [] { return mqchat::http_reply{200, "text/plain; charset=utf-8", "ok\n"}; }}});
            mqchat::log::info() << "metrics on http://" << config.metrics_listen << " (/metrics, /healthz)";
        }
        std::string where;
        if (server.plain_port())
            where += "ws://" + config.plain.host + ":" + std::to_string(server.plain_port());
        if (server.tls_port())
            where += std::string(where.empty() ? "" : " and ") + "wss://" + config.tls.host + ":" +
                     std::to_string(server.tls_port());
        mqchat::log::info() << "running on " << where << " (MQTT over WebSocket to the broker at " << config.broker
                            << (config.http_dir.empty() ? "; no files" : "; files from " + config.http_dir) << ")";
        server.run(stopping);
        mqchat::log::info() << "stopped";
        return 0;
    } catch (const std::exception& e) {
        mqchat::daemon::print_error_lines("mqchat-gateway", e.what());
        return 1;
    }
}
