#pragma once
/// The clients' HTTP server of mqchat-media, on libmicrohttpd: a thread per
/// connection (an upload's thread writes the body to disk and then waits
/// for its own inspection; a download's thread streams from storage), at
/// most max_connections of them, each closed after connection_timeout_s
/// idle, with headers and URL limited to 16 KiB. Routes:
///   PUT|POST   /upload/{id}          upload.hpp
///   GET|HEAD   /media/{id}[/thumb]   download.hpp
///   OPTIONS    any of them           CORS preflight
/// Every reply carries Access-Control-Allow-Origin from cors_origins;
/// anything else is 404 or 405 with a JSON error.

#include <string>

#include "service.hpp"

struct MHD_Daemon;
struct MHD_Connection;

namespace mqchat::media {

class http_server {
public:
    /// Starts listening on config.listen; throws std::runtime_error when it cannot.
    explicit http_server(service& svc);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    int port() const { return port_; }

    /// For the library's callbacks.
    struct request_state;
    int handle(MHD_Connection* connection, const char* url, const char* method, const char* upload_data,
               std::size_t* upload_data_size, request_state*& state);
    void completed(request_state* state, int how);

private:
    int send(MHD_Connection* connection, reply r, const std::string& origin);
    std::string allowed_origin(const std::string& origin) const;

    service& svc_;
    MHD_Daemon* daemon_ = nullptr;
    int port_ = 0;
};

} // namespace mqchat::media
