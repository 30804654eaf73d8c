// MOSQ_EVT_TICK: runs on every pass of the broker's loop (at least every
// 100 ms). Applies directory changes when no packet did so first, releases
// stored messages held for a membership change (delivery_hold.hpp), and
// disconnects clients of deleted users, which is only safe from here. The
// first tick also widens the listen backlog when asked to (the listeners do
// not exist yet when plugins are initialised).

#include <dirent.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>

#include "context.hpp"

namespace mqchat::plugin {

namespace {

/// Mosquitto 2.0 listens with a backlog of 100; a reconnect storm of
/// thousands overflows it and the kernel drops SYNs, which clients retry
/// after 1, 3, 7, 15 … seconds. Calling listen() again on a listening socket
/// only changes its backlog (capped by net.core.somaxconn).
void widen_listen_backlog(int backlog) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    int changed = 0;
    while (const dirent* e = readdir(dir)) {
        const int fd = std::atoi(e->d_name);
        int listening = 0, type = 0;
        socklen_t len = sizeof listening;
        if (fd <= 2 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
        len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        if (listen(fd, backlog) == 0) ++changed;
    }
    closedir(dir);
    mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: listen backlog of %d listening sockets set to %d", changed, backlog);
}

/// Once a second: clients whose token has expired are disconnected, and
/// guests whose every token has expired are forgotten. Without tokens in use
/// it does not even read the clock (TICK runs on every pass of the loop).
void expire_tokens(plugin_context& ctx) {
    if (ctx.token_expiry.empty() && !ctx.users.has_guests()) return;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (now < ctx.next_expiry_check) return;
    ctx.next_expiry_check = now + 1;
    for (auto it = ctx.token_expiry.begin(); it != ctx.token_expiry.end();) {
        if (it->second < now) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: token of client %s expired; disconnecting it", it->first.c_str());
            mosquitto_kick_client_by_clientid(it->first.c_str(), false);
            ctx.counted.clients_kicked.with({"token_expired"}).inc();
            it = ctx.token_expiry.erase(it);
        } else {
            ++it;
        }
    }
    ctx.users.expire_guests(now);
}

/// One line a second at most, however many logins a storm defers.
void log_deferred_logins(plugin_context& ctx) {
    if (ctx.logins_deferred == 0) return;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now == ctx.deferred_logged_s) return;
    ctx.deferred_logged_s = now;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "mqchat: %d logins told to come back (their check is under way: %zu password checks "
                         "waiting or running)",
                         ctx.logins_deferred, ctx.workers.password_backlog());
    ctx.logins_deferred = 0;
}

/// With several brokers, the others' tables arrive a moment after this
/// broker's link to the hub comes up: until then "no device" is not known.
bool fabric_settled(const plugin_context& ctx) {
    const auto settle = std::min(std::chrono::milliseconds(3000), std::chrono::milliseconds(ctx.config.fabric_grace_ms));
    return std::chrono::steady_clock::now() - ctx.started >= settle;
}

} // namespace

int on_tick(int, void*, void* userdata) {
    return guarded("tick", MOSQ_ERR_SUCCESS, [&] {
        auto& ctx = *static_cast<plugin_context*>(userdata);
        if (!ctx.backlog_done) {
            ctx.backlog_done = true;
            if (ctx.config.listen_backlog > 0) widen_listen_backlog(ctx.config.listen_backlog);
        }
        ctx.workers.keep_alive();
        ctx.apply_pending_changes();
        ctx.release_held();
        log_deferred_logins(ctx);
        ctx.fabric_tick();
        if (!ctx.offline_at_start.empty() && (!ctx.fabric || fabric_settled(ctx))) {
            // Mosquitto has restored its retained messages by now: correct the
            // "online" of users whose connections died with the previous run
            // (and, with several brokers, are not on another one either).
            for (const auto& name : ctx.offline_at_start)
                if (ctx.total_devices(name) == 0) {
                    const user_entry* u = ctx.users.find(name);
                    ctx.presence.mark_offline(name, u ? u->presence : presence_choice{});
                }
            ctx.offline_at_start.clear();
        }
        expire_tokens(ctx);
        if (!ctx.clients_to_kick.empty()) ctx.counted.clients_kicked.with({"flood"}).inc(ctx.clients_to_kick.size());
        for (const auto& id : ctx.clients_to_kick) mosquitto_kick_client_by_clientid(id.c_str(), false);
        ctx.clients_to_kick.clear();
        if (!ctx.to_kick.empty()) {
            ctx.counted.clients_kicked.with({"removed_or_banned"}).inc(ctx.to_kick.size());
            for (const auto& name : ctx.to_kick) mosquitto_kick_client_by_username(name.c_str(), false);
            ctx.to_kick.clear();
        }
        // The gauges a scrape reads (the scrape runs on the endpoint's thread
        // and must not touch the broker's data).
        ctx.counted.connections.set(static_cast<double>(ctx.limiter.connection_count()));
        ctx.counted.users_online.set(static_cast<double>(ctx.limiter.all_devices().size()));
        ctx.counted.directory_users.set(static_cast<double>(ctx.users.size()));
        ctx.counted.held_messages.set(static_cast<double>(ctx.held.size()));
        ctx.counted.other_brokers.set(ctx.fabric ? static_cast<double>(ctx.fabric->brokers_known()) : 0.0);
        return MOSQ_ERR_SUCCESS;
    });
}

} // namespace mqchat::plugin
