#include "http_get.hpp"

#include <curl/curl.h>

#include <sstream>

namespace mqchat::test {

namespace {
size_t append(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}
} // namespace

http_answer http_get(const std::string& url) {
    http_answer a;
    CURL* c = curl_easy_init();
    if (!c) return a;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
        char* type = nullptr;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) a.content_type = type;
    }
    curl_easy_cleanup(c);
    return a;
}

std::string url_encode(const std::string& text) {
    char* e = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
    std::string out = e ? e : "";
    curl_free(e);
    return out;
}

double sample_value(const std::string& exposition, const std::string& series) {
    std::istringstream in(exposition);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
            return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

} // namespace mqchat::test
