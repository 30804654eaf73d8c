#pragma once
/// A small HTTP server for operators' endpoints (/metrics, /healthz,
/// /readyz) on libmicrohttpd, answering on the library's own thread: the
/// caller's threads (the broker's, the bridge's loop) never serve a request.
/// GET and HEAD only; anything else gets 405, an unknown path 404.

#include <sys/socket.h>

#include <functional>
#include <map>
#include <string>

struct MHD_Daemon;

namespace mqchat {

struct http_reply {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

/// "PORT" (loopback), "HOST:PORT" or "[IPv6]:PORT"; the host must be a
/// numeric address. Throws std::invalid_argument naming the value.
struct listen_address {
    std::string host = "127.0.0.1";
    int port = 0;
};
listen_address parse_listen_address(const std::string& text);
/// `where` as a socket address for libmicrohttpd's MHD_OPTION_SOCK_ADDR;
/// `ipv6` says whether it is one (MHD_USE_IPv6 then).
sockaddr_storage socket_address(const listen_address& where, bool& ipv6);

class http_endpoint {
public:
    using handler = std::function<http_reply()>;

    /// Starts listening; throws std::runtime_error naming the address when it cannot.
    http_endpoint(const listen_address& where, std::map<std::string, handler> routes);
    ~http_endpoint();
    http_endpoint(const http_endpoint&) = delete;
    http_endpoint& operator=(const http_endpoint&) = delete;

    int port() const { return port_; }
    /// Runs a route's handler; for the library's callback.
    http_reply answer(const std::string& path, bool head) const;

private:
    std::map<std::string, handler> routes_;
    MHD_Daemon* daemon_ = nullptr;
    int port_ = 0;
};

} // namespace mqchat
