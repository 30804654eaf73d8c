#pragma once
/// mqchat-gateway's network side: WebSocket clients (MQTT over WebSocket,
/// subprotocol `mqtt`) carried byte for byte to Mosquitto's plain MQTT
/// listener, one TCP connection each, and the web files served over HTTP on
/// the same ports.
///
/// Why a process of its own: Mosquitto 2.0's WebSocket listener (through
/// libwebsockets) polls every open WebSocket connection on each pass of the
/// broker's loop, so with thousands of visitors connected each packet pays
/// for all of them (docs/benchmarks.md). Here one event loop (Boost.Asio,
/// epoll) wakes only for connections with something to do, and the broker
/// sees ordinary TCP clients, which it serves with epoll too.
///
/// Nothing of MQTT is read but the client's CONNECT (mqtt_connect.hpp) and
/// the broker's answer to it (for the refusal's log line); the rest passes
/// through as it comes, in order, with back pressure both ways: a side is
/// read again only once what was read from it is written to the other.

#include <atomic>
#include <memory>

#include "config.hpp"

namespace mqchat::gateway {

class server {
public:
    /// Binds the listeners; throws std::runtime_error naming the address (or
    /// the certificate) that does not work.
    explicit server(const gateway_config& config);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    int plain_port() const; ///< 0 when there is no plain listener
    int tls_port() const;   ///< 0 when there is no TLS listener
    /// Serves until `stopping` is set; open connections are closed on return.
    void run(const std::atomic<bool>& stopping);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace mqchat::gateway
