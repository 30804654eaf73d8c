// MOSQ_EVT_BASIC_AUTH: users in the mqchat database log in with their
// password, or with a token (a JWT signed by the app's backend) when the
// plugin has token keys; guests log in with a guest token only.
//
// A user the database does not know is not ours: the answer is DEFER, so the
// broker's other auth (password_file, another plugin) decides, unless the
// plugin is exclusive. Nothing here waits on the network or on Argon2id
// beyond the wait budget: a user memory does not know is asked of the
// database on the lookup worker, a password memory cannot vouch for is
// checked on the password workers (once per user and password; a reconnect
// with the same password compares a keyed digest in memory), and a login
// whose answer is not in yet is told to come back (context.hpp,
// come_back_later).

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "common/forwarded.hpp"
#include "common/names.hpp"
#include "common/password.hpp"
#include "common/token.hpp"
#include "context.hpp"

namespace mqchat::plugin {

namespace {

int not_ours(const plugin_context& ctx) { return ctx.config.exclusive ? MOSQ_ERR_AUTH : MOSQ_ERR_PLUGIN_DEFER; }

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Refuses a login: one log line with the reason in words, and a count by
/// `reason` (a fixed word: the metrics' label).
int refuse(plugin_context& ctx, const char* reason, const char* user, const char* address, const std::string& why) {
    ctx.counted.logins_refused.with({reason}).inc();
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: refused login of %s from %s: %s", user, address ? address : "?",
                         why.c_str());
    return MOSQ_ERR_AUTH;
}

/// A web visitor with the site's public key (docs/desks.md, "Visitors from
/// a website"): under a random knock name, for a few minutes, allowed its
/// inbox and desk.visit only — which answers with a guest token.
constexpr std::int64_t knock_lifetime_s = 600;

int admit_knock(plugin_context& ctx, const mosquitto_evt_basic_auth& ed, const token::token_claims& key,
                const char* address) {
    if (!valid_knock_name(ed.username))
        return refuse(ctx, "knock", ed.username, address, "a site key logs in with a knock name: k- and 16 or more random characters");
    const std::string over = ctx.limiter.allow_knock(address ? address : "?", key.subject, steady_ns());
    if (!over.empty()) return refuse(ctx, "knock_limit", ed.username, address, over);
    const std::int64_t until = std::min(key.exp, now_s() + knock_lifetime_s);
    if (!ctx.users.add_knock(ed.username, key.subject, until + ctx.rules_for_tokens.leeway_s))
        return refuse(ctx, "knock", ed.username, address, "this knock name is in use");
    if (const char* id = mosquitto_client_id(ed.client)) ctx.token_expiry[id] = until + ctx.rules_for_tokens.leeway_s;
    mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: visitor %s from %s knocks with site key %s (desk %s)", ed.username,
                         address ? address : "?", key.subject.c_str(), key.site_desk.c_str());
    return MOSQ_ERR_SUCCESS;
}

int check_token(plugin_context& ctx, const mosquitto_evt_basic_auth& ed, const char* address) {
    const token::verdict v = token::verify(ed.password, *ctx.token_keys, ctx.rules_for_tokens, now_s());
    const std::string name = ed.username;
    if (!v.ok) {
        // Ours to refuse only if the name is ours; a stranger's token-shaped
        // password may still be good for the broker's other auth.
        bool undecided = false;
        if (!ctx.find_user(name, undecided) && !ctx.config.exclusive) {
            mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: token of %s from %s not accepted (%s); deferring",
                                 ed.username, address ? address : "?", v.reason.c_str());
            return MOSQ_ERR_PLUGIN_DEFER;
        }
        return refuse(ctx, "bad_token", ed.username, address, "token " + v.reason);
    }
    if (!v.claims.site_desk.empty()) return admit_knock(ctx, ed, v.claims, address);
    if (valid_knock_name(name)) return refuse(ctx, "knock", ed.username, address, "k-… names log in with a site key only");
    if (v.claims.subject != name) return refuse(ctx, "bad_token", ed.username, address, "token is for '" + v.claims.subject + "'");
    if (v.claims.guest_conv) {
        if (!valid_user_name(name)) return refuse(ctx, "guest", ed.username, address, "not a valid guest name");
        if (!ctx.users.add_guest(name, v.claims.guest_conv, v.claims.exp + ctx.rules_for_tokens.leeway_s))
            return refuse(ctx, "guest", ed.username, address, "a registered user has this name; guest tokens are for visitors");
    } else {
        bool undecided = false;
        const user_entry* user = ctx.find_user(name, undecided);
        if (!user && undecided) return ctx.defer_login();
        if (!user || user->guest) return refuse(ctx, "unknown_user", ed.username, address, "token for an unknown user");
        if (user->banned) return refuse(ctx, "banned", ed.username, address, "banned");
    }
    if (const char* id = mosquitto_client_id(ed.client))
        ctx.token_expiry[id] = v.claims.exp + ctx.rules_for_tokens.leeway_s;
    return MOSQ_ERR_SUCCESS;
}

int authenticate(plugin_context& ctx, const mosquitto_evt_basic_auth& ed, const char* address) {
    if (!ed.username) return not_ours(ctx);
    if (!ctx.users.loaded()) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mqchat: %s login of %s: user database not loaded yet",
                             ctx.config.exclusive ? "deferring" : "not deciding", ed.username);
        return ctx.config.exclusive ? ctx.defer_login() : MOSQ_ERR_PLUGIN_DEFER;
    }
    // The fabric's name is how this broker knows its own bridge to the hub
    // (context.cpp, from_fabric): a client with it could pass anything unchecked.
    if (ctx.fabric && ctx.config.fabric_username == ed.username)
        return refuse(ctx, "fabric_name", ed.username, address, "this name is the brokers' fabric link (plugin_opt_fabric_username)");
    if (ctx.token_keys && ed.password && token::looks_like_token(ed.password)) return check_token(ctx, ed, address);

    const std::string name = ed.username;
    bool undecided = false;
    user_entry* user = ctx.find_user(name, undecided);
    // A name the database could not be asked about in time: on a shared
    // broker it may well be a device, so the broker's other auth decides; on
    // a chat-only broker the client comes back once the answer is in.
    if (!user) return undecided && ctx.config.exclusive ? ctx.defer_login() : not_ours(ctx);
    if (!ed.password) return refuse(ctx, "no_password", ed.username, address, "no password");
    if (user->guest) return refuse(ctx, "guest", ed.username, address, "guests log in with a guest token");
    if (user->banned) return refuse(ctx, "banned", ed.username, address, "banned");

    switch (ctx.password_matches(*user, name, ed.password)) {
    case known::yes: break;
    case known::no: return refuse(ctx, "wrong_password", ed.username, address, "wrong password");
    case known::undecided: return ctx.defer_login();
    }
    if (const char* id = mosquitto_client_id(ed.client)) ctx.token_expiry.erase(id);
    return MOSQ_ERR_SUCCESS;
}

/// Limits that apply once we know who it is: the client id's shape and the
/// user's connection count.
int admit(plugin_context& ctx, const mosquitto_evt_basic_auth& ed, const char* address) {
    const char* id = mosquitto_client_id(ed.client);
    if (!id || !ctx.limiter.acceptable_client_id(id))
        return refuse(ctx, "client_id", ed.username, address,
                      "client id must be 1 to " + std::to_string(ctx.config.max_client_id_length) +
                          " printable ASCII characters without / + #");
    // The bridge identity is the operator's own infrastructure (two
    // connections per bridge process, and as many processes as they run):
    // no connection limit, and no devices for presence.
    if (const user_entry* u = ctx.users.find(ed.username); u && u->bridge) return MOSQ_ERR_SUCCESS;
    const int before = ctx.limiter.devices(ed.username);
    std::string displaced;
    const int elsewhere = ctx.fabric ? ctx.fabric->remote_devices(ed.username) : 0;
    if (!ctx.limiter.admit(ed.client, ed.username, id, &displaced, elsewhere))
        return refuse(ctx, "too_many_connections", ed.username, address,
                      "too many connections (at most " + std::to_string(ctx.config.max_connections_per_user) +
                          (elsewhere ? ", " + std::to_string(elsewhere) + " of them on other brokers)" : ")"));
    if (ctx.limiter.devices(ed.username) != before) ctx.devices_changed(ed.username);
    if (!displaced.empty()) ctx.devices_changed(displaced);
    return MOSQ_ERR_SUCCESS;
}

int check(plugin_context& ctx, const mosquitto_evt_basic_auth& ed) {
    ctx.apply_pending_changes();
    const char* peer = mosquitto_client_address(ed.client);
    // A visitor's knock through mqchat-gateway carries the visitor's address
    // in front of its password (common/forwarded.hpp): believed from the
    // gateways plugin_opt_forwarded_by names, refused from anyone else.
    mosquitto_evt_basic_auth login = ed;
    std::string address = peer ? peer : "?";
    std::optional<forwarded::login> carried;
    if (ed.password && (carried = forwarded::split(ed.password))) {
        const auto& trusted = ctx.config.forwarded_by;
        if (std::find(trusted.begin(), trusted.end(), address) == trusted.end())
            return refuse(ctx, "forwarded", ed.username, peer,
                          "a forwarded address from " + address + ", which plugin_opt_forwarded_by does not name");
        if (carried->address.empty())
            return refuse(ctx, "forwarded", ed.username, peer, "a forwarded address that is not a numeric address");
        address = carried->address;
        login.password = carried->password.data();
    }
    int verdict = authenticate(ctx, login, address.c_str());
    if (verdict == MOSQ_ERR_SUCCESS) verdict = admit(ctx, login, address.c_str());
    if (verdict == MOSQ_ERR_SUCCESS) ctx.counted.logins_accepted.inc();
    else if (verdict == MOSQ_ERR_PLUGIN_DEFER) ctx.counted.logins_not_ours.inc();
    return verdict; // refusals and come-backs were counted where they were decided
}

} // namespace

int on_basic_auth(int, void* event_data, void* userdata) {
    return guarded("basic auth", MOSQ_ERR_AUTH, [&] {
        return check(*static_cast<plugin_context*>(userdata), *static_cast<mosquitto_evt_basic_auth*>(event_data));
    });
}

} // namespace mqchat::plugin
