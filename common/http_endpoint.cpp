#include "http_endpoint.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace mqchat {

namespace {

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                      const char*, size_t* upload_size, void** state) {
    // The first call per request only announces it (its headers); answer on the second.
    static int announced;
    if (*state != &announced) {
        *state = &announced;
        return MHD_YES;
    }
    const bool head = std::strcmp(method, "HEAD") == 0;
    http_reply reply;
    if (!head && std::strcmp(method, "GET") != 0) {
        reply = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    } else if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    } else {
        try {
            reply = static_cast<const http_endpoint*>(cls)->answer(url, head);
        } catch (const std::exception& e) {
            reply = {500, "text/plain; charset=utf-8", std::string("error: ") + e.what() + "\n"};
        }
    }
    MHD_Response* response =
        MHD_create_response_from_buffer(reply.body.size(), reply.body.data(), MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, "Content-Type", reply.content_type.c_str());
    MHD_add_response_header(response, "Cache-Control", "no-store");
    const MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(reply.status), response);
    MHD_destroy_response(response);
    return queued;
}

} // namespace

listen_address parse_listen_address(const std::string& text) {
    const auto bad = [&](const std::string& why) {
        return std::invalid_argument("'" + text + "' is not a listen address (" + why +
                                     "; PORT, HOST:PORT or [IPv6]:PORT with a numeric host)");
    };
    listen_address out;
    std::string port = text;
    if (!text.empty() && text[0] == '[') {
        const auto close = text.find("]:");
        if (close == std::string::npos) throw bad("no ]:PORT");
        out.host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        in6_addr a6{};
        if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) throw bad("bad IPv6 address");
    } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
        out.host = text.substr(0, colon);
        port = text.substr(colon + 1);
        in_addr a4{};
        if (inet_pton(AF_INET, out.host.c_str(), &a4) != 1) throw bad("bad IPv4 address");
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        throw bad("bad port");
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535) throw bad("port out of range");
    return out;
}

sockaddr_storage socket_address(const listen_address& where, bool& ipv6) {
    sockaddr_storage addr{};
    ipv6 = where.host.find(':') != std::string::npos;
    if (ipv6) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<std::uint16_t>(where.port));
        inet_pton(AF_INET6, where.host.c_str(), &a6->sin6_addr);
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<std::uint16_t>(where.port));
        inet_pton(AF_INET, where.host.c_str(), &a4->sin_addr);
    }
    return addr;
}

http_endpoint::http_endpoint(const listen_address& where, std::map<std::string, handler> routes)
    : routes_(std::move(routes)) {
    bool ipv6 = false;
    sockaddr_storage addr = socket_address(where, ipv6);
    const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | (ipv6 ? static_cast<unsigned>(MHD_USE_IPv6) : 0u);
    // A few connections at once are plenty for scrapers and probes; each
    // one gets 10 s, so a stuck client cannot hold the thread.
    daemon_ = MHD_start_daemon(flags, static_cast<std::uint16_t>(where.port), nullptr, nullptr, &on_request, this,
                               MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_CONNECTION_LIMIT,
                               16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!daemon_)
        throw std::runtime_error("cannot listen on " + where.host + ":" + std::to_string(where.port) +
                                 " (in use, or not an address of this host)");
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : where.port;
}

http_endpoint::~http_endpoint() {
    if (daemon_) MHD_stop_daemon(daemon_);
}

http_reply http_endpoint::answer(const std::string& path, bool head) const {
    const auto route = routes_.find(path);
    http_reply reply = route == routes_.end() ? http_reply{404, "text/plain; charset=utf-8", "not found\n"} : route->second();
    if (head) reply.body.clear();
    return reply;
}

} // namespace mqchat
