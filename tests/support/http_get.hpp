#pragma once
/// A plain HTTP GET for tests of operators' endpoints (/metrics, /healthz,
/// /readyz, Prometheus' API), and any request with headers and a body (the
/// media service's uploads and downloads), on libcurl.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mqchat::test {

struct http_answer {
    long status = 0; ///< 0: no answer (refused, timed out)
    std::string body;
    std::string content_type;
};

/// GET `url` with a 5 s timeout; never throws for network failures.
http_answer http_get(const std::string& url);

struct http_response {
    long status = 0;                           ///< 0: no answer (refused, timed out, reset)
    std::string body;
    std::map<std::string, std::string> headers; ///< names in lowercase; the last of a repeated header
    std::string error;                         ///< curl's reason when there was no answer
};

/// `method` ("GET", "HEAD", "PUT", "POST", "OPTIONS" …) with `headers`
/// ("Name: value") and a body when given (PUT streams it, with curl's
/// "Expect: 100-continue" for large ones). Never throws for network failures.
http_response http_request(const std::string& method, const std::string& url,
                           const std::vector<std::string>& headers = {},
                           const std::optional<std::string>& body = std::nullopt, long timeout_ms = 15000);

/// Writes `request` exactly as given to 127.0.0.1:port (bytes curl would
/// tidy or refuse: `..` in a path, bad escapes, no HTTP at all) and returns
/// everything that comes back until the server closes or `timeout_ms`
/// passes. Throws when it cannot connect.
std::string raw_http(int port, const std::string& request, long timeout_ms = 5000);

/// `text` escaped for a URL's query string.
std::string url_encode(const std::string& text);

/// The value of the sample `series` (e.g. `mqchat_logins_total{outcome="accepted"}`)
/// in a Prometheus text exposition; -1 when it is not there.
double sample_value(const std::string& exposition, const std::string& series);

} // namespace mqchat::test
