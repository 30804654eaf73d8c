#pragma once
/// The plugin's state: one struct, handed to every callback as userdata.

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/envelope.hpp"
#include "common/http_endpoint.hpp"
#include "common/password.hpp"
#include "common/rpc.hpp"
#include "common/topics.hpp"
#include "config.hpp"
#include "delivery_hold.hpp"
#include "directory.hpp"
#include "fabric.hpp"
#include "limits.hpp"
#include "plugin_metrics.hpp"
#include "presence.hpp"
#include "tokens.hpp"
#include "wait_budget.hpp"
#include "worker_process.hpp"

namespace mqchat::plugin {

/// The key from plugin_opt_login_key_file, or a random one when it is not set.
/// Throws std::invalid_argument naming the option when the file is unusable.
password::remember_key load_login_key(const plugin_config& config);

/// What BASIC_AUTH returns for a login the plugin cannot decide yet (its
/// password check or its database lookup is still under way). Mosquitto 2.0
/// answers anything but success and "not authorised" by closing the
/// connection without a CONNACK; clients take that as a network failure and
/// come back, by which time the verdict is in memory. (2.0 has no way to send
/// "server busy" from a plugin; 2.1's delayed auth would.)
constexpr int come_back_later = MOSQ_ERR_UNKNOWN;

/// A three-way answer: memory and, within the wait budget, the workers
/// could not say yet.
enum class known { yes, no, undecided };

struct plugin_context {
    plugin_context(mosquitto_plugin_id_t* id_, plugin_config config_);

    mosquitto_plugin_id_t* id;
    const plugin_config config;
    const topic_names topics;
    directory users;
    /// The directory worker, the lookup worker and the password threads, in
    /// a process of their own (worker_process.hpp says why).
    worker_process workers;
    /// The broker thread's waits for database lookups and for password
    /// checks, each within its own budget so a storm of one kind never
    /// starves the other.
    wait_budget lookup_budget{config.wait_budget_ms};
    wait_budget password_budget{config.wait_budget_ms};
    delivery_hold held;
    limits limiter{config};
    presence_publisher presence{topics, config.presence};
    /// Device counts of the other brokers; null for a broker on its own.
    std::unique_ptr<fabric_presence> fabric;
    /// When this plugin started (the fabric's tables need a moment to arrive).
    const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    /// Users a previous run left online (from the first load): published
    /// offline on the first TICK, after Mosquitto has restored its retained
    /// messages (which still say online).
    std::vector<std::string> offline_at_start;
    bool first_load_applied = false;
    /// Keys the digests of logins that passed Argon2id (see auth.cpp).
    const password::remember_key login_key{load_login_key(config)};
    /// Client ids to disconnect on the next TICK (flooding: more than
    /// flood_disconnect refusals in 10 s).
    std::vector<std::string> clients_to_kick;
    std::unique_ptr<token::key_set> token_keys; ///< null: tokens are off
    const token::rules rules_for_tokens{token_rules(config)};
    /// Clients logged in with a token, by client id, and when it expires:
    /// TICK disconnects them then. A password login of the same id clears it.
    std::unordered_map<std::string, std::int64_t> token_expiry;
    std::int64_t next_expiry_check = 0;
    /// Users deleted from the database whose clients must be disconnected;
    /// kicked from TICK, never from inside another callback.
    std::vector<std::string> to_kick;
    bool backlog_done = false; ///< the first TICK widens the listen backlog once
    /// Names (and "conv name" pairs) the database recently said do not exist,
    /// so a flood of them costs one query each. Cleared whenever something is added.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> recently_missed;
    /// Membership versions applied (schema/004): every change up to
    /// `members_version_base` is in memory, and per conversation up to its entry.
    std::int64_t members_version_base = 0;
    std::unordered_map<std::int64_t, std::int64_t> members_version_of;
    /// The verdict of the last ACL write check on typing or a receipt. The
    /// ACL check must parse them (a will gets no message check), and
    /// Mosquitto runs the message check of the same PUBLISH right after it
    /// with the same payload: that check takes this instead of parsing again.
    /// Cleared at every write check under the prefix, so it never outlives
    /// its publish.
    struct checked_write {
        const mosquitto* client = nullptr;
        const void* payload = nullptr;
        std::uint32_t payloadlen = 0;
        topic_kind kind = topic_kind::outside;
        std::int64_t conv = 0;
        bool typing = false;
        std::int64_t at = -1;
        receipt rc;
        bool matches(const mosquitto* c, const void* p, std::uint32_t len, const parsed_topic& t) const {
            return c == client && p == payload && len == payloadlen && t.kind == kind && t.conv == conv;
        }
    } last_write_check;
    plugin_metrics counted;
    /// /metrics for operators (plugin_opt_metrics_listen); null when not set.
    std::unique_ptr<http_endpoint> metrics_endpoint;
    /// Logins told to come back since the last TICK's summary line, and when
    /// that line was last written.
    int logins_deferred = 0;
    std::int64_t deferred_logged_s = 0;

private:
    /// Counts a refusal; false when the client is flooding (it is then queued
    /// for a kick) or the user has had enough notices this second.
    bool answer_refusal(const mosquitto* client, const char* user, const char* topic, const std::string& message);
    bool missed_lately(const std::string& key);
    void note_members_version(std::int64_t conv, std::int64_t version);
    void remember_miss(const std::string& key);
    void apply_workers_results();
    void apply_lookup_answers();
    /// Waits (within the lookup budget) for the lookup with `ticket` (0: none
    /// was queued), then applies what the worker has answered.
    void await_lookup(std::uint64_t ticket);
    void apply_password_verdicts();
    std::int64_t members_version_applied(std::int64_t conv) const;
    void release_held_messages();
    /// Waits for a worker while the budget lasts: `wait(deadline)` blocks at
    /// most until the deadline it is given.
    template <class Wait>
    static void wait_within(wait_budget& budget, Wait&& wait) {
        const auto start = wait_budget::clock::now();
        const auto deadline = budget.deadline(start);
        if (deadline <= start) return;
        wait(deadline);
        budget.spend(wait_budget::clock::now() - start);
    }
    /// Questions put to `lookup` and not answered yet ("name" and "conv name"):
    /// an answer is applied only while its question stands, so a removal that
    /// arrives through NOTIFY meanwhile is not undone by an older read.
    std::unordered_set<std::string> users_asked_, members_asked_;
    /// Digests of passwords Argon2id refused, until when they are known bad.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> refused_digests_;

public:
    /// Brings `users` up to date with what the workers have seen (directory
    /// changes, lookup answers, password verdicts). Cheap when nothing
    /// changed (two loads, inline); call it first in every callback that
    /// reads the directory.
    void apply_pending_changes() {
        if (workers.has_news()) apply_workers_results();
    }

    /// The user, from memory or — when memory has not heard of it yet — from
    /// the database, asked on the lookup worker and waited for within the
    /// budget. Null when there is no such user, or when that is not known yet
    /// (then `undecided` is set).
    user_entry* find_user(const std::string& name, bool& undecided);
    /// Membership, from memory or, when memory says no, from the database
    /// like find_user (misses remembered for a minute). For subscriptions and
    /// sends only; deliveries never get here.
    known member_with_lookup(user_entry& user, std::string_view name, std::int64_t conv);
    /// The password check: a keyed digest against the one remembered, or a
    /// verdict of the Argon2id workers, waited for within the budget.
    known password_matches(user_entry& user, const std::string& name, std::string_view password);
    /// Counts a login told to come back (summarised in the log once a second).
    int defer_login() {
        ++logins_deferred;
        counted.logins_come_back.inc();
        return come_back_later;
    }

    /// A connection of `user` came or went: publishes its presence if its
    /// number of devices changed (not for the bridge), and tells the other
    /// brokers at the next flush.
    void devices_changed(const std::string& user);
    /// The user's devices on every broker.
    int total_devices(const std::string& user) const {
        return limiter.devices(user) + (fabric ? fabric->remote_devices(user) : 0);
    }
    /// Other brokers' counts of these users changed: publishes their presence here.
    void remote_devices_changed(const std::vector<std::string>& users);
    /// Whether the client is this broker's own bridge to the fabric's hub.
    bool from_fabric(const mosquitto* client) const;
    /// From TICK: tells the other brokers what changed here, and lets the
    /// devices of brokers gone for longer than the grace period go.
    void fabric_tick();

    /// Whether a stored message of `conv` needing membership version `needed`
    /// must be held (delivery_hold) rather than delivered now: the version is
    /// not applied yet, or earlier messages of the conversation are held.
    bool must_hold(std::int64_t conv, std::int64_t needed) const;
    /// From TICK: publishes the held messages that may go now, in order.
    void release_held() {
        if (held.size() != 0) release_held_messages();
    }

    /// Refuses a PUBLISH under the prefix: one log line and a notice on the
    /// sender's inbox, and a client
    /// that keeps getting refused is disconnected on the next TICK.
    /// Returns MOSQ_ERR_ACL_DENIED, for the caller to return.
    int refuse_publish(const mosquitto* client, const char* user, std::string_view code, const std::string& message,
                       std::string_view client_msg_id, std::int64_t conv, const char* topic);

    /// Refuses a request on {prefix}rpc/…: like refuse_publish, but the notice
    /// is the error reply (common/rpc.hpp), with the caller's correlation.
    int refuse_request(const mosquitto* client, const char* user, const rpc::request& r, std::string_view code,
                       const std::string& message, const char* topic);

    /// The refusal notice on a user's inbox (the only way to tell an MQTT 3.1.1
    /// client why, and Mosquitto 2.0 drops the reason string of MQTT 5 acks).
    void notify_error(std::string_view user, std::string_view code, std::string_view message,
                      std::string_view client_id, std::int64_t conv) const;
};

/// Hands the broker a new payload and topic for a message (allocated the way
/// the broker frees them) and frees what they replace.
void replace_message(mosquitto_evt_message& ed, const std::string& payload, const std::string& topic);
/// The same for the topic alone.
void replace_topic(mosquitto_evt_message& ed, const std::string& topic);
/// The same for the payload alone, `size` bytes that `write(char*)` puts
/// straight into the broker's allocation (no copy in between); the topic stays.
template <class Write>
void replace_payload(mosquitto_evt_message& ed, std::size_t size, Write&& write) {
    char* p = static_cast<char*>(mosquitto_malloc(size + 1));
    if (!p) throw std::bad_alloc();
    write(p);
    p[size] = '\0';
    ed.payload = p; // the broker frees the old payload when the pointer changed
    ed.payloadlen = static_cast<std::uint32_t>(size);
}

/// The message check of a request on {prefix}rpc/{method} (request.cpp):
/// checks it, stamps the caller and moves it to .../stamped for the bridge.
int check_request(plugin_context& ctx, mosquitto_evt_message& ed, user_entry& user, const char* username,
                  const parsed_topic& t);

// One file per event.
int on_basic_auth(int event, void* event_data, void* userdata);
int on_acl_check(int event, void* event_data, void* userdata);
int on_message(int event, void* event_data, void* userdata);
int on_tick(int event, void* event_data, void* userdata);
int on_reload(int event, void* event_data, void* userdata);
int on_disconnect(int event, void* event_data, void* userdata);

/// Nanoseconds on the steady clock.
std::int64_t steady_ns();

/// Runs a callback body; an exception is logged and answered with `on_error`
/// (never a grant), so nothing crosses into the broker.
template <class Fn>
int guarded(const char* what, int on_error, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::exception& e) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: %s failed: %s", what, e.what());
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: %s failed", what);
    }
    return on_error;
}

} // namespace mqchat::plugin
