#pragma once
/// mqchat-gateway's settings, read once at start from one or more config
/// files (`key value` lines, as the bridge's and the media service's:
/// docs/gateway.md, "Options"). A key in a later file overrides the same key
/// in an earlier one. Validated as a whole: every problem in every file in
/// one message, each naming its file and the option.

#include <string>
#include <vector>

#include "common/config_files.hpp"
#include "common/http_endpoint.hpp"

namespace mqchat::gateway {

struct gateway_config {
    /// Plain WebSocket and HTTP for the files ("PORT", "HOST:PORT"; "": none).
    std::string listen = "127.0.0.1:8080";
    /// WebSocket and HTTP over TLS ("": none), with its certificate chain and key.
    std::string listen_tls;
    std::string certfile, keyfile;
    /// Mosquitto's plain MQTT listener, where every WebSocket client is carried (numeric HOST:PORT).
    std::string broker = "127.0.0.1:1883";
    /// Files served to GET and HEAD (the widget, the console, the demo page); "": none.
    std::string http_dir;
    int max_connections = 20000;       ///< WebSocket and HTTP connections at once; beyond, refused
    int max_message_bytes = 1048576;   ///< a client's WebSocket message (and its CONNECT) at most
    int handshake_timeout_s = 10;      ///< TLS, HTTP request and upgrade must be done within
    bool forward_visitor_address = true; ///< put a knock login's address in front of its password
    std::string metrics_listen;        ///< operators' /metrics and /healthz ("": none)
    std::string log_level = "info";

    listen_address plain, tls, upstream; ///< the parsed addresses
    std::vector<std::string> files;
    config_settings settings;
};

/// Reads `paths` in order (at least one). Throws std::invalid_argument with
/// every problem found, one line per file.
gateway_config load_config(const std::vector<std::string>& paths);

} // namespace mqchat::gateway
