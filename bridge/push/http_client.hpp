#pragma once
/// HTTP(S) POSTs on libcurl for the push senders (HTTP/2 when the server
/// offers it, as FCM and APNs do) and the assistant's language model. One
/// easy handle per client, reused, so connections stay open between posts.

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

namespace mqchat::bridge {

struct http_response {
    long status = 0;             ///< 0: no response (connection failed); see error
    std::string body;
    long retry_after_s = -1;     ///< Retry-After in seconds, -1 when absent
    std::string error;           ///< curl's message when status is 0
};

class http_client {
public:
    /// `ca_file`: trust this CA bundle instead of the system's (tests, private CAs).
    explicit http_client(std::string ca_file = "");
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    /// Gives up after `timeout_ms` in all (connecting: at most half of it).
    http_response post(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                       long timeout_ms = 10000);

private:
    CURL* curl_;
    std::string ca_file_;
};

} // namespace mqchat::bridge
