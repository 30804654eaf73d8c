#include "context.hpp"

#include <mqtt_protocol.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include <sodium.h>

#include "common/envelope.hpp"
#include "common/names.hpp"

namespace mqchat::plugin {

namespace {
int password_threads(const plugin_config& config) {
    if (config.password_threads > 0) return config.password_threads;
    const unsigned cores = std::thread::hardware_concurrency();
    return cores > 2 ? static_cast<int>(cores - 1) : 1; // the broker's thread keeps a core
}
std::string member_key(std::int64_t conv, std::string_view name) { return std::to_string(conv) + " " + std::string(name); }
} // namespace

plugin_context::plugin_context(mosquitto_plugin_id_t* id_, plugin_config config_)
    : id(id_), config(std::move(config_)), topics(config.topic_prefix),
      workers(worker_settings{config.db, password_threads(config), 10000, 10000}) {
    if (config.fabric())
        fabric = std::make_unique<fabric_presence>(config.broker_name, password::random_hex(8),
                                                   std::chrono::milliseconds(config.fabric_grace_ms));
}

void plugin_context::apply_workers_results() {
    workers.receive();
    apply_lookup_answers();
    apply_password_verdicts();
    for (auto& c : workers.take_changes()) {
        using k = directory_change::kind;
        switch (c.what) {
        case k::snapshot:
            recently_missed.clear();
            users_asked_.clear();
            members_asked_.clear();
            members_version_base = c.version;
            members_version_of.clear();
            for (auto& gone : users.replace_all(*c.snapshot)) to_kick.push_back(std::move(gone));
            for (const auto& u : *c.snapshot) {
                if (u.banned) to_kick.push_back(u.name);
                presence.choice_changed(u.name, total_devices(u.name), u.presence);
            }
            if (!first_load_applied) offline_at_start = c.names;
            first_load_applied = true;
            break;
        case k::upsert_user:
            recently_missed.clear();
            users.upsert(c.user);
            if (c.user.banned) to_kick.push_back(c.user.name);
            presence.choice_changed(c.user.name, total_devices(c.user.name), c.user.presence);
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
            users_asked_.erase(c.name);
            if (users.remove(c.name)) {
                mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: user %s was deleted; disconnecting its clients",
                                     c.name.c_str());
                presence.forget(c.name);
                to_kick.push_back(std::move(c.name));
            }
            break;
        case k::add_member:
            recently_missed.clear();
            users.add_member(c.conv, c.name);
            note_members_version(c.conv, c.version);
            break;
        case k::remove_member:
            members_asked_.erase(member_key(c.conv, c.name));
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

void plugin_context::apply_lookup_answers() {
    for (auto& a : workers.take_answers()) {
        using k = lookup_answer::kind;
        switch (a.what) {
        case k::user_found:
            // NOTIFY may have brought the user (or its removal) meanwhile: that is newer.
            if (users_asked_.erase(a.name) && !users.find(a.name)) {
                recently_missed.clear();
                users.upsert(*a.user);
            }
            break;
        case k::no_such_user:
            if (users_asked_.erase(a.name) && !users.find(a.name)) remember_miss(a.name);
            break;
        case k::member:
        case k::not_member: {
            const std::string key = member_key(a.conv, a.name);
            if (!members_asked_.erase(key)) break;
            if (a.what == k::member) {
                recently_missed.clear();
                users.add_member(a.conv, a.name);
            } else {
                remember_miss(key);
            }
            break;
        }
        case k::log:
            mosquitto_log_printf(static_cast<int>(a.conv), "%s", a.name.c_str());
            break;
        }
    }
}

void plugin_context::apply_password_verdicts() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& v : workers.take_verdicts()) {
        user_entry* u = users.find(v.user);
        if (!u || u->password_hash != v.stored_hash) continue; // the password changed meanwhile
        if (!v.good) {
            if (refused_digests_.size() >= 100000) refused_digests_.clear();
            refused_digests_[v.digest] = now + std::chrono::seconds(60);
            continue;
        }
        u->remembered = v.digest;
        if (config.persist_logins()) workers.remember_login(v.user, v.digest);
        mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: password of %s checked with Argon2id; remembered%s",
                             v.user.c_str(), config.persist_logins() ? " across restarts" : "");
    }
}

void plugin_context::await_lookup(std::uint64_t ticket) {
    // Not worth waiting for a worker that is stuck (a frozen database).
    if (ticket && workers.lookup_responsive(lookup_budget.per_second()))
        wait_within(lookup_budget, [&](auto deadline) { workers.wait_answered(ticket, deadline); });
    apply_lookup_answers();
}

user_entry* plugin_context::find_user(const std::string& name, bool& undecided) {
    undecided = false;
    if (user_entry* u = users.find(name)) return u;
    if (!valid_user_name(name) || missed_lately(name)) return nullptr;
    if (users_asked_.size() >= max_misses) users_asked_.clear();
    const std::uint64_t ticket = workers.ask_user(name);
    if (ticket) users_asked_.insert(name);
    await_lookup(ticket);
    if (user_entry* u = users.find(name)) return u;
    undecided = !missed_lately(name);
    if (undecided) lookup_budget.overflowed(wait_budget::clock::now());
    return nullptr;
}

known plugin_context::member_with_lookup(user_entry& user, std::string_view name_view, std::int64_t conv) {
    if (users.is_member(user, conv)) return known::yes;
    const std::string name(name_view);
    const std::string key = member_key(conv, name);
    if (user.guest || missed_lately(key)) return known::no; // a guest's one conversation is in its token
    if (members_asked_.size() >= max_misses) members_asked_.clear();
    const std::uint64_t ticket = workers.ask_member(name, conv);
    if (ticket) members_asked_.insert(key);
    await_lookup(ticket);
    if (users.is_member(user, conv)) return known::yes;
    if (missed_lately(key)) return known::no;
    lookup_budget.overflowed(wait_budget::clock::now());
    return known::undecided;
}

known plugin_context::password_matches(user_entry& user, const std::string& name, std::string_view password) {
    const std::string digest = password::remember_digest(login_key, name, password, user.password_hash);
    auto settled = [&]() -> std::optional<bool> {
        if (user.remembered.size() == digest.size() &&
            sodium_memcmp(user.remembered.data(), digest.data(), digest.size()) == 0)
            return true;
        if (const auto it = refused_digests_.find(digest); it != refused_digests_.end()) {
            if (std::chrono::steady_clock::now() < it->second) return false;
            refused_digests_.erase(it);
        }
        return std::nullopt;
    };
    if (const auto v = settled()) return *v ? known::yes : known::no;
    // Wait only for a lone first login (no other check in the last two
    // seconds): it gets its verdict at once. In a storm the broker's time is
    // better spent on the clients already in; those come back.
    const bool lone = workers.passwords_quiet(std::chrono::seconds(2));
    const bool queued = workers.submit_password(name, std::string(password), user.password_hash, digest);
    if (queued && lone) wait_within(password_budget, [&](auto deadline) { workers.wait_password(digest, deadline); });
    apply_password_verdicts();
    // `user` may have been replaced meanwhile only by apply_pending_changes,
    // which is not called here, so the reference still stands.
    if (const auto v = settled()) return *v ? known::yes : known::no;
    password_budget.overflowed(wait_budget::clock::now());
    return known::undecided;
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
    // A knock (a web visitor with a site key, for a moment) has no presence:
    // retained presence per random name would pile up in the broker.
    if (!presence.enabled() || user.empty() || valid_knock_name(user)) return;
    const user_entry* u = users.find(user);
    if (u && u->bridge) return;
    if (fabric) fabric->local_changed(user, limiter.devices(user));
    // A user no longer in the directory was deleted or erased: its presence
    // was cleared then (presence.forget), and its last client going must
    // not bring it back.
    if (!u) return;
    presence.publish(user, total_devices(user), u->presence);
}

void plugin_context::remote_devices_changed(const std::vector<std::string>& changed) {
    if (!presence.enabled()) return;
    for (const auto& user : changed) {
        const user_entry* u = users.find(user);
        if (u && u->bridge) continue;
        presence.publish(user, total_devices(user), u ? u->presence : presence_choice{});
    }
}

bool plugin_context::from_fabric(const mosquitto* client) const {
    // Mosquitto names a bridge's own connection by its local_username
    // (examples/fabric/edge-bridge.conf sets it to the fabric's name), and
    // nobody may log in with that name here (auth.cpp): the name says it is ours.
    if (!fabric) return false;
    const char* name = mosquitto_client_username(client);
    return name && config.fabric_username == name;
}

void plugin_context::fabric_tick() {
    if (!fabric) return;
    const std::string out = fabric->take_outgoing(limiter.all_devices());
    if (!out.empty()) {
        const std::string topic = topics.fabric_presence(fabric->name());
        // QoS 1 through the hub to every broker; not retained: a broker that
        // joins asks for everyone's table (its link's "1" notification).
        mosquitto_broker_publish_copy(nullptr, topic.c_str(), static_cast<int>(out.size()), out.data(), 1, false,
                                      nullptr);
    }
    const auto gone = fabric->expire(std::chrono::steady_clock::now());
    if (!gone.empty()) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: a broker's link stayed down %d ms: %zu users' devices there no longer count",
                             config.fabric_grace_ms, gone.size());
        remote_devices_changed(gone);
    }
}

void plugin_context::note_members_version(std::int64_t conv, std::int64_t version) {
    if (version <= members_version_base) return;
    std::int64_t& v = members_version_of[conv];
    v = std::max(v, version);
}

std::int64_t plugin_context::members_version_applied(std::int64_t conv) const {
    const auto it = members_version_of.find(conv);
    return std::max(members_version_base, it == members_version_of.end() ? 0 : it->second);
}

bool plugin_context::must_hold(std::int64_t conv, std::int64_t needed) const {
    return held.holding(conv) || (needed > 0 && members_version_applied(conv) < needed);
}

void plugin_context::release_held_messages() {
    std::vector<std::pair<std::int64_t, std::int64_t>> late;
    // While the directory worker is away the change cannot arrive: no point waiting.
    const auto longest = workers.directory_healthy() ? std::chrono::milliseconds(config.member_change_wait_ms)
                                        : std::chrono::milliseconds(0);
    const auto out = held.release([this](std::int64_t conv) { return members_version_applied(conv); },
                                  std::chrono::steady_clock::now(), longest, late);
    for (const auto& [conv, version] : late) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "mqchat: membership change %lld of conversation %lld has not reached this broker; "
                             "delivering without it",
                             static_cast<long long>(version), static_cast<long long>(conv));
        note_members_version(conv, version); // wait once, not for every message
    }
    for (const auto& m : out)
        mosquitto_broker_publish_copy(nullptr, m.topic.c_str(), static_cast<int>(m.payload.size()), m.payload.data(),
                                      m.qos, false, nullptr);
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

void replace_topic(mosquitto_evt_message& ed, const std::string& topic) {
    char* t = mosquitto_strdup(topic.c_str());
    if (!t) throw std::bad_alloc();
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
    counted.publishes_refused.with({std::string(code)}).inc();
    if (answer_refusal(client, user, topic, message)) notify_error(user, code, message, client_msg_id, conv);
    return MOSQ_ERR_ACL_DENIED;
}

int plugin_context::refuse_request(const mosquitto* client, const char* user, const rpc::request& r,
                                   std::string_view code, const std::string& message, const char* topic) {
    counted.requests_refused.with({std::string(code)}).inc();
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
