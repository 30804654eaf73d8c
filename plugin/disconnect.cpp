// MOSQ_EVT_DISCONNECT: a connection the plugin admitted is gone; it no
// longer counts against its user's connection limit, and when it was one of
// the user's devices (not one a newer connection with its client id took
// over), the user's presence shows one device fewer, or offline.

#include "context.hpp"

namespace mqchat::plugin {

int on_disconnect(int, void* event_data, void* userdata) {
    return guarded("disconnect", MOSQ_ERR_SUCCESS, [&] {
        auto& ctx = *static_cast<plugin_context*>(userdata);
        ctx.devices_changed(ctx.limiter.release(static_cast<mosquitto_evt_disconnect*>(event_data)->client));
        return MOSQ_ERR_SUCCESS;
    });
}

} // namespace mqchat::plugin
