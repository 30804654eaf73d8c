// MOSQ_EVT_RELOAD (SIGHUP): read the token keys again, so an operator can
// rotate the JWKS or the HS256 secret without a restart. A file that does not
// load leaves the old keys in place and says why.

#include "context.hpp"

namespace mqchat::plugin {

int on_reload(int, void*, void* userdata) {
    return guarded("reload", MOSQ_ERR_PLUGIN_DEFER, [&] {
        auto& ctx = *static_cast<plugin_context*>(userdata);
        if (!ctx.config.tokens_enabled()) return MOSQ_ERR_PLUGIN_DEFER;
        try {
            auto keys = load_token_keys(ctx.config);
            mosquitto_log_printf(MOSQ_LOG_INFO, "mqchat: reloaded %zu token keys", keys->size());
            ctx.token_keys = std::move(keys);
        } catch (const std::exception& e) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: keeping the old token keys: %s", e.what());
        }
        return MOSQ_ERR_PLUGIN_DEFER; // let other plugins reload too
    });
}

} // namespace mqchat::plugin
