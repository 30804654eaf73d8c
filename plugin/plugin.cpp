// mqchat_plugin.so: entry points only. Version, init (parse options, start the
// worker process, register one callback per event) and cleanup.
// Each event lives in its own file: auth.cpp, acl.cpp, message.cpp, tick.cpp, reload.cpp, disconnect.cpp.

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <chrono>
#include <memory>

#include "context.hpp"

using namespace mqchat::plugin;

namespace {

struct registration {
    int event;
    MOSQ_FUNC_generic_callback fn;
};
constexpr registration callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, on_basic_auth},
    {MOSQ_EVT_ACL_CHECK, on_acl_check},
    {MOSQ_EVT_MESSAGE, on_message},
    {MOSQ_EVT_TICK, on_tick},
    {MOSQ_EVT_RELOAD, on_reload},
    {MOSQ_EVT_DISCONNECT, on_disconnect},
};

} // namespace

// Everything else in the plugin is hidden (CXX_VISIBILITY_PRESET) so our
// symbols never clash with the broker's or another plugin's.
#define MQCHAT_EXPORT __attribute__((visibility("default")))

extern "C" {

MQCHAT_EXPORT int mosquitto_plugin_version(int supported_version_count, const int* supported_versions) {
    for (int i = 0; i < supported_version_count; ++i)
        if (supported_versions[i] == 5) return 5;
    return -1;
}

MQCHAT_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata, struct mosquitto_opt* options,
                          int option_count) {
    try {
        mqchat::option_list opts;
        for (int i = 0; i < option_count; ++i) opts.emplace_back(options[i].key, options[i].value);
        auto ctx = std::make_unique<plugin_context>(identifier, parse_config(opts));
        ctx->token_keys = load_token_keys(ctx->config);
        // Before the workers start, so a port in use stops nothing half-started.
        ctx->metrics_endpoint = serve_metrics(ctx->config.metrics_listen);

        ctx->workers.start();
        if (!ctx->workers.wait_first_load(std::chrono::milliseconds(ctx->config.startup_wait_ms)))
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "mqchat: could not load users within %d ms; chat logins are refused "
                                 "until the database answers",
                                 ctx->config.startup_wait_ms);
        ctx->apply_pending_changes();

        for (const auto& cb : callbacks) {
            if (mosquitto_callback_register(identifier, cb.event, cb.fn, nullptr, ctx.get()) != MOSQ_ERR_SUCCESS) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: cannot register callback for event %d", cb.event);
                return MOSQ_ERR_UNKNOWN;
            }
        }
        mosquitto_log_printf(MOSQ_LOG_INFO,
                             "mqchat: plugin ready (topic prefix %s, %s, max payload %zu bytes, %s)",
                             ctx->config.topic_prefix.c_str(),
                             ctx->config.exclusive ? "exclusive" : "deferring other traffic", ctx->config.max_payload,
                             ctx->token_keys ? ("tokens with " + std::to_string(ctx->token_keys->size()) + " keys").c_str()
                                             : "passwords only");
        *userdata = ctx.release();
        return MOSQ_ERR_SUCCESS;
    } catch (const std::invalid_argument& e) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: bad configuration: %s", e.what());
        return MOSQ_ERR_INVAL;
    } catch (const std::exception& e) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: cannot start: %s", e.what());
        return MOSQ_ERR_UNKNOWN;
    }
}

MQCHAT_EXPORT int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
    std::unique_ptr<plugin_context> ctx(static_cast<plugin_context*>(userdata));
    if (!ctx) return MOSQ_ERR_SUCCESS;
    for (const auto& cb : callbacks) mosquitto_callback_unregister(ctx->id, cb.event, cb.fn, nullptr);
    ctx->metrics_endpoint.reset();
    ctx->workers.stop();
    return MOSQ_ERR_SUCCESS;
}

} // extern "C"
