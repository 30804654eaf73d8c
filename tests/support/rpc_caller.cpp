#include "rpc_caller.hpp"

#include <chrono>
#include <stdexcept>

#include "chat.hpp"

namespace mqchat::test {

using namespace std::chrono_literals;

rpc_caller::rpc_caller(int port, const std::string& user, const std::string& password, int protocol,
                       const std::string& bind_address)
    : name(user) {
    client = std::make_unique<mqtt_client>(port, client_options{"", user, password, protocol, true, 0, "", bind_address});
    if (client->connect() != 0) throw std::runtime_error("login of " + user + " failed");
    if (client->subscribe(inbox(), 1) < 0) throw std::runtime_error("inbox subscription failed");
}

Json::Value rpc_caller::call(const std::string& method, const Json::Value& params) {
    const std::string corr = name + "-" + std::to_string(++next);
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    const int rc = client->publish_request("chat/rpc/" + method, Json::writeString(w, params), inbox(), corr);
    if (rc != 0) throw std::runtime_error(method + " refused with " + std::to_string(rc));
    return reply(corr);
}

Json::Value rpc_caller::reply(const std::string& corr) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        received r;
        if (!client->wait_message(r, 200ms, inbox())) continue;
        if (r.correlation_data == corr) return json_of(r.payload);
        notices.push_back(json_of(r.payload));
    }
    throw std::runtime_error("no reply to " + corr);
}

std::string rpc_caller::notice_error() {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        for (auto it = notices.begin(); it != notices.end(); ++it)
            if (it->isMember("error") && !it->isMember("method")) {
                const std::string code = (*it)["error"]["code"].asString();
                notices.erase(it);
                return code;
            }
        received r;
        if (client->wait_message(r, 200ms, inbox())) notices.push_back(json_of(r.payload));
    }
    return "(none)";
}

Json::Value rpc_caller::notice(const std::string& kind) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        for (auto it = notices.begin(); it != notices.end(); ++it)
            if ((*it)["notice"] == kind) {
                Json::Value v = *it;
                notices.erase(it);
                return v;
            }
        received r;
        if (client->wait_message(r, 200ms, inbox())) notices.push_back(json_of(r.payload));
    }
    return Json::Value();
}

Json::Value rpc_caller::send(std::int64_t conv, const Json::Value& envelope) {
    const std::string id = envelope["id"].asString();
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    client->publish("chat/conv/" + std::to_string(conv) + "/send", Json::writeString(w, envelope));
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        for (auto it = notices.begin(); it != notices.end(); ++it)
            if ((*it)["ack"].asString() == id || (*it)["id"].asString() == id) {
                Json::Value v = *it;
                notices.erase(it);
                return v;
            }
        received r;
        if (client->wait_message(r, 200ms, inbox())) notices.push_back(json_of(r.payload));
    }
    throw std::runtime_error("no ack or error for " + id);
}

Json::Value params(std::initializer_list<std::pair<const char*, Json::Value>> items) {
    Json::Value v(Json::objectValue);
    for (const auto& [k, val] : items) v[k] = val;
    return v;
}

} // namespace mqchat::test
