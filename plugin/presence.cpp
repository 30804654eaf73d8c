#include "presence.hpp"

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include <chrono>

#include "common/json.hpp"

namespace mqchat::plugin {

namespace {
std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
} // namespace

std::string presence_publisher::payload(int devices, const presence_choice& choice, std::int64_t now) {
    Json::Value v(Json::objectValue);
    v["state"] = devices > 0 ? choice.status : "offline";
    v["devices"] = devices;
    if (!choice.hide_last_seen) v["last_seen"] = Json::Int64(now);
    if (!choice.text.empty()) v["text"] = choice.text;
    return json::write(v);
}

void presence_publisher::publish(const std::string& user, int devices, const presence_choice& choice) {
    if (!enabled_) return;
    const std::string topic = topics_.presence(user);
    const std::string body = payload(devices, choice, now_ms());
    // Retained: whoever subscribes later (a contact opening the app) gets the
    // current state at once. QoS 1 so the bridge, which keeps last seen, gets it.
    mosquitto_broker_publish_copy(nullptr, topic.c_str(), static_cast<int>(body.size()), body.data(), 1, true, nullptr);
    published_[user] = choice;
}

void presence_publisher::choice_changed(const std::string& user, int devices, const presence_choice& choice) {
    const auto it = published_.find(user);
    if (it != published_.end() && it->second == choice) return;
    if (it == published_.end() && devices == 0) return; // nothing shown yet; the next connection shows it
    publish(user, devices, choice);
}

void presence_publisher::forget(const std::string& user) {
    published_.erase(user);
    if (!enabled_) return;
    const std::string topic = topics_.presence(user);
    mosquitto_broker_publish_copy(nullptr, topic.c_str(), 0, nullptr, 1, true, nullptr);
}

void presence_publisher::mark_offline(const std::string& user, const presence_choice& choice) {
    if (published_.count(user)) return; // already published by this run
    publish(user, 0, choice);
}

} // namespace mqchat::plugin
