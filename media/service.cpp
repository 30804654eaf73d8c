#include "service.hpp"

#include <json/json.h>

#include <chrono>

#include "common/json.hpp"

namespace mqchat::media {

reply error_reply(int status, std::string_view code, std::string_view message) {
    Json::Value v;
    v["error"]["code"] = std::string(code);
    v["error"]["message"] = std::string(message);
    return json_reply(status, json::write(v));
}

reply json_reply(int status, std::string json) {
    reply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = std::move(json);
    r.body += '\n';
    return r;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace mqchat::media
