#include "context.hpp"

#include <mqtt_protocol.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/envelope.hpp"

namespace mqchat::plugin {

void plugin_context::apply_pending_changes() {
    if (!sync.has_pending()) return;
    for (auto& c : sync.take()) {
        using k = directory_change::kind;
        switch (c.what) {
        case k::snapshot:
            recently_missed.clear();
            members_version_base = c.version;
            members_version_of.clear();
            for (auto& gone : users.replace_all(*c.snapshot)) to_kick.push_back(std::move(gone));
            for (const auto& u : *c.snapshot) {
                if (u.banned) to_kick.push_back(u.name);
                presence.choice_changed(u.name, limiter.devices(u.name), u.presence);
            }
            if (!first_load_applied) offline_at_start = c.names;
            first_load_applied = true;
            break;
        case k::upsert_user:
            recently_missed.clear();
            users.upsert(c.user);
            if (c.user.banned) to_kick.push_back(c.user.name);
            presence.choice_changed(c.user.name, limiter.devices(c.user.name), c.user.presence);
            break;
        case k::upsert_credentials:
            recently_missed.clear();
            users.set_credentials(c.user.name, c.user.password_hash, c.user.bridge, c.user.banned);
            if (c.user.banned) {
                mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: user %s is banned; disconnecting its clients",
                                     c.user.name.c_str());
                to_kick.push_back(c.user.name);
            }
            break;
        case k::remove_user:
            if (users.remove(c.name)) {
                mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: user %s was deleted; disconnecting its clients",
                                     c.name.c_str());
                to_kick.push_back(std::move(c.name));
            }
            break;
        case k::add_member:
            recently_missed.clear();
            users.add_member(c.conv, c.name);
            note_members_version(c.conv, c.version);
            break;
        case k::remove_member:
            users.remove_member(c.conv, c.name);
            note_members_version(c.conv, c.version);
            break;
        case k::log:
            mosquitto_log_printf(c.log_level, "%s", c.log_text.c_str());
            break;
        }
    }
}

namespace {
constexpr auto miss_memory = std::chrono::seconds(60);
constexpr std::size_t max_misses = 100000;
} // namespace

bool plugin_context::missed_lately(const std::string& key) {
    const auto it = recently_missed.find(key);
    if (it == recently_missed.end()) return false;
    if (std::chrono::steady_clock::now() - it->second < miss_memory) return true;
    recently_missed.erase(it);
    return false;
}

void plugin_context::remember_miss(const std::string& key) {
    if (recently_missed.size() >= max_misses) recently_missed.clear();
    recently_missed[key] = std::chrono::steady_clock::now();
}

user_entry* plugin_context::find_user(const std::string& name) {
    if (user_entry* u = users.find(name)) return u;
    if (!sync.healthy() || missed_lately(name)) return nullptr;
    bool answered = false;
    const auto record = lookup.user(name, answered);
    if (record) {
        users.upsert(*record);
        return users.find(name);
    }
    if (answered) remember_miss(name);
    return nullptr;
}

bool plugin_context::member_with_lookup(user_entry& user, std::string_view name_view, std::int64_t conv) {
    if (users.is_member(user, conv)) return true;
    const std::string name(name_view);
    const std::string key = std::to_string(conv) + " " + name;
    if (!sync.healthy() || missed_lately(key)) return false;
    const auto member = lookup.is_member(name, conv);
    if (member && *member) {
        users.add_member(conv, name);
        return true;
    }
    if (member) remember_miss(key);
    return false;
}

password::remember_key load_login_key(const plugin_config& config) {
    if (config.login_key_file.empty()) return password::remember_key::random();
    try {
        return password::remember_key::from_file(config.login_key_file);
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(std::string("plugin_opt_login_key_file: ") + e.what());
    }
}

void plugin_context::devices_changed(const std::string& user) {
    if (!presence.enabled() || user.empty()) return;
    const user_entry* u = users.find(user);
    if (u && u->bridge) return;
    presence.publish(user, limiter.devices(user), u ? u->presence : presence_choice{});
}

void plugin_context::note_members_version(std::int64_t conv, std::int64_t version) {
    if (version <= members_version_base) return;
    std::int64_t& v = members_version_of[conv];
    v = std::max(v, version);
}

void plugin_context::await_members_version(std::int64_t conv, std::int64_t needed) {
    auto applied = [&] {
        const auto it = members_version_of.find(conv);
        return std::max(members_version_base, it == members_version_of.end() ? 0 : it->second);
    };
    if (applied() >= needed) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
    while (sync.healthy() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        apply_pending_changes();
        if (applied() >= needed) return;
    }
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "mqchat: membership change %lld of conversation %lld has not reached this broker; "
                         "delivering without it",
                         static_cast<long long>(needed), static_cast<long long>(conv));
    note_members_version(conv, needed); // wait once, not for every message
}

/// Hands the broker a payload it owns (allocated by mosquitto, NUL-terminated
/// like the broker's own) and frees what it replaces.
void replace_message(mosquitto_evt_message& ed, const std::string& payload, const std::string& topic) {
    void* p = mosquitto_malloc(payload.size() + 1);
    char* t = mosquitto_strdup(topic.c_str());
    if (!p || !t) {
        mosquitto_free(p);
        mosquitto_free(t);
        throw std::bad_alloc();
    }
    std::memcpy(p, payload.data(), payload.size());
    static_cast<char*>(p)[payload.size()] = '\0';
    ed.payload = p; // the broker frees the old payload when the pointer changed
    ed.payloadlen = static_cast<std::uint32_t>(payload.size());
    mosquitto_free(ed.topic); // the broker keeps whatever topic we leave here
    ed.topic = t;
}

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool plugin_context::answer_refusal(const mosquitto* client, const char* user, const char* topic,
                                    const std::string& message) {
    const std::int64_t now = steady_ns();
    // A client refused again and again is flooding: it goes, and its flood is
    // not answered. That bounds notices and log lines per client; may_notify
    // bounds them per user when flood_disconnect is 0.
    const char* client_id = mosquitto_client_id(client);
    const int refusals = client_id ? limiter.count_refusal(client_id, now) : 0;
    if (config.flood_disconnect > 0 && refusals > config.flood_disconnect) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: client %s of %s keeps sending what is refused; disconnecting it",
                             client_id, user);
        clients_to_kick.emplace_back(client_id);
        limiter.forget_refusals(client_id); // counted afresh if it comes back
        return false;
    }
    if (!limiter.may_notify(user, now)) return false;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: refused message from %s on %s: %s", user, topic, message.c_str());
    return true;
}

int plugin_context::refuse_publish(const mosquitto* client, const char* user, std::string_view code,
                                   const std::string& message, std::string_view client_msg_id, std::int64_t conv,
                                   const char* topic) {
    if (answer_refusal(client, user, topic, message)) notify_error(user, code, message, client_msg_id, conv);
    return MOSQ_ERR_ACL_DENIED;
}

int plugin_context::refuse_request(const mosquitto* client, const char* user, const rpc::request& r,
                                   std::string_view code, const std::string& message, const char* topic) {
    if (!answer_refusal(client, user, topic, message)) return MOSQ_ERR_ACL_DENIED;
    const std::string inbox = topics.inbox(user);
    const std::string payload = rpc::error_json(r, code, message);
    mosquitto_property* props = nullptr;
    if (!r.corr_data.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, r.corr_data.data(),
                                      static_cast<std::uint16_t>(r.corr_data.size()));
    // The broker takes the property list.
    mosquitto_broker_publish_copy(nullptr, inbox.c_str(), static_cast<int>(payload.size()), payload.data(), 1, false,
                                  props);
    return MOSQ_ERR_ACL_DENIED;
}

void plugin_context::notify_error(std::string_view user, std::string_view code, std::string_view message,
                                  std::string_view client_id, std::int64_t conv) const {
    const std::string topic = topics.inbox(user);
    const std::string payload = error_json(code, message, client_id, conv);
    mosquitto_broker_publish_copy(nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1,
                                  false, nullptr);
}

} // namespace mqchat::plugin
