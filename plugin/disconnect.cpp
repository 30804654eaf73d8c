// MOSQ_EVT_DISCONNECT: a connection the plugin admitted is gone; it no
// longer counts against its user's connection limit.

#include "context.hpp"

namespace mqchat::plugin {

int on_disconnect(int, void* event_data, void* userdata) {
    return guarded("disconnect", MOSQ_ERR_SUCCESS, [&] {
        auto& ctx = *static_cast<plugin_context*>(userdata);
        ctx.limiter.release(static_cast<mosquitto_evt_disconnect*>(event_data)->client);
        return MOSQ_ERR_SUCCESS;
    });
}

} // namespace mqchat::plugin
