#include "http_client.hpp"

#include <strings.h>

#include <cstdlib>
#include <stdexcept>

namespace mqchat::bridge {

namespace {
struct global_init {
    global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }
} const once;

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* out) {
    std::string line(data, size * n);
    constexpr const char* name = "retry-after:";
    if (line.size() > 12 && strncasecmp(line.c_str(), name, 12) == 0)
        *static_cast<long*>(out) = std::strtol(line.c_str() + 12, nullptr, 10);
    return size * n;
}
} // namespace

http_client::http_client(std::string ca_file) : curl_(curl_easy_init()), ca_file_(std::move(ca_file)) {
    if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

http_client::~http_client() { curl_easy_cleanup(curl_); }

http_response http_client::post(const std::string& url, const std::vector<std::string>& headers,
                                const std::string& body, long timeout_ms) {
    http_response out;
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &out.retry_after_s);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms / 2);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    if (!ca_file_.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file_.c_str());
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &out.status);
    else out.error = curl_easy_strerror(rc);
    curl_slist_free_all(list);
    return out;
}

} // namespace mqchat::bridge
