#pragma once
/// A plain HTTP GET for tests of operators' endpoints (/metrics, /healthz,
/// /readyz, Prometheus' API), on libcurl.

#include <string>

namespace mqchat::test {

struct http_answer {
    long status = 0; ///< 0: no answer (refused, timed out)
    std::string body;
    std::string content_type;
};

/// GET `url` with a 5 s timeout; never throws for network failures.
http_answer http_get(const std::string& url);

/// `text` escaped for a URL's query string.
std::string url_encode(const std::string& text);

/// The value of the sample `series` (e.g. `mqchat_logins_total{outcome="accepted"}`)
/// in a Prometheus text exposition; -1 when it is not there.
double sample_value(const std::string& exposition, const std::string& series);

} // namespace mqchat::test
