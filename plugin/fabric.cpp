#include "fabric.hpp"

#include "common/json.hpp"
#include "common/names.hpp"

namespace mqchat::plugin {

int fabric_presence::devices_on(const std::string& broker, const std::string& user) const {
    const auto b = brokers_.find(broker);
    if (b == brokers_.end()) return 0;
    const auto d = b->second.devices.find(user);
    return d == b->second.devices.end() ? 0 : d->second;
}

void fabric_presence::set(remote_broker& b, const std::string& user, int devices, std::vector<std::string>& changed) {
    const auto it = b.devices.find(user);
    const int before = it == b.devices.end() ? 0 : it->second;
    if (before == devices) return;
    if (devices == 0) b.devices.erase(it);
    else b.devices[user] = devices;
    int& total = remote_total_[user];
    total += devices - before;
    if (total <= 0) remote_total_.erase(user);
    changed.push_back(user);
}

std::vector<std::string> fabric_presence::on_presence(std::string_view broker, std::string_view payload) {
    std::vector<std::string> changed;
    if (broker == name_) return changed; // our own, back from the hub (it should not be)
    Json::Value v;
    std::string error;
    if (!json::parse(payload, v, error) || !v.isObject() || !v["run"].isString() || !v["devices"].isObject())
        return changed;
    const std::string run = v["run"].asString();
    const bool snapshot = v["snapshot"].isBool() && v["snapshot"].asBool();
    remote_broker& b = brokers_[std::string(broker)];
    b.down = false; // it speaks: it is up
    if (b.run != run || snapshot) {
        // A new run of that broker, or its whole table: what it said before is void.
        std::vector<std::string> gone;
        for (const auto& [user, n] : b.devices)
            if (!v["devices"].isMember(user)) gone.push_back(user);
        for (const auto& user : gone) set(b, user, 0, changed);
        b.run = run;
    }
    const Json::Value& devices = v["devices"];
    for (auto it = devices.begin(); it != devices.end(); ++it) {
        const std::string user = it.name();
        if (!valid_user_name(user) || !it->isInt()) continue;
        set(b, user, std::max(0, it->asInt()), changed);
    }
    return changed;
}

void fabric_presence::on_link(std::string_view broker, std::string_view payload, clock::time_point now) {
    if (broker == name_) return;
    if (payload == "1") {
        snapshot_wanted_ = true; // it (re)joined: it must learn what we have
        const auto it = brokers_.find(std::string(broker));
        if (it != brokers_.end()) it->second.down = false;
    } else if (payload == "0") {
        const auto it = brokers_.find(std::string(broker));
        if (it != brokers_.end() && !it->second.down) {
            it->second.down = true;
            it->second.down_since = now;
        }
    }
}

std::string fabric_presence::take_outgoing(const std::unordered_map<std::string, int>& local) {
    if (snapshot_wanted_) {
        snapshot_wanted_ = false;
        outgoing_.clear();
        return payload(run_, true, std::map<std::string, int>(local.begin(), local.end()));
    }
    if (outgoing_.empty()) return "";
    std::string out = payload(run_, false, outgoing_);
    outgoing_.clear();
    return out;
}

std::vector<std::string> fabric_presence::forget(const std::string& broker) {
    std::vector<std::string> changed;
    const auto it = brokers_.find(broker);
    if (it == brokers_.end()) return changed;
    std::vector<std::string> users;
    for (const auto& [user, n] : it->second.devices) users.push_back(user);
    for (const auto& user : users) set(it->second, user, 0, changed);
    brokers_.erase(it);
    return changed;
}

std::vector<std::string> fabric_presence::expire(clock::time_point now) {
    std::vector<std::string> changed;
    std::vector<std::string> gone;
    for (const auto& [name, b] : brokers_)
        if (b.down && now - b.down_since >= grace_) gone.push_back(name);
    for (const auto& name : gone)
        for (auto& user : forget(name)) changed.push_back(std::move(user));
    return changed;
}

std::string fabric_presence::payload(std::string_view run, bool snapshot, const std::map<std::string, int>& devices) {
    Json::Value v(Json::objectValue);
    v["run"] = std::string(run);
    v["snapshot"] = snapshot;
    Json::Value& d = v["devices"] = Json::Value(Json::objectValue);
    for (const auto& [user, n] : devices) d[user] = n;
    return json::write(v);
}

} // namespace mqchat::plugin
