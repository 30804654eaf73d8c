// Requests on {prefix}rpc/{method} (MOSQ_EVT_MESSAGE, from message.cpp).
//
// The reply must go to the caller's own inbox: an MQTT 5 response topic or a
// 3.1.1 `reply_to` naming anything else is refused, so nobody can make the
// server write into someone else's inbox. A request that passes is stamped
// with the caller (whether it is a guest, and the site key a web visitor
// knocked with) and moved to .../stamped,
// where only the bridge reads; the caller's correlation data travels inside.

#include <mqtt_protocol.h>

#include "common/rpc.hpp"
#include "context.hpp"

namespace mqchat::plugin {

namespace {
constexpr std::size_t max_correlation_data = 256;
}

int check_request(plugin_context& ctx, mosquitto_evt_message& ed, user_entry& user, const char* username,
                  const parsed_topic& t) {
    rpc::request r;
    r.method = std::string(t.method);
    const std::string inbox = ctx.topics.inbox(username);

    char* response_topic = nullptr;
    void* data = nullptr;
    std::uint16_t data_len = 0;
    if (mosquitto_property_read_binary(ed.properties, MQTT_PROP_CORRELATION_DATA, &data, &data_len, false)) {
        r.corr_data.assign(static_cast<const char*>(data), data_len);
        mosquitto_free(data);
    }
    std::string response;
    if (mosquitto_property_read_string(ed.properties, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false)) {
        response = response_topic;
        mosquitto_free(response_topic);
    }

    std::string reply_to;
    envelope_error error;
    const std::string_view payload(static_cast<const char*>(ed.payload), ed.payloadlen);
    if (r.corr_data.size() > max_correlation_data) {
        r.corr_data.clear();
        return ctx.refuse_request(ed.client, username, r, error_code::invalid_request,
                                  "correlation data longer than 256 bytes", ed.topic);
    }
    if (!rpc::parse_client_request(payload, ctx.config.max_payload, r, reply_to, error))
        return ctx.refuse_request(ed.client, username, r, error.code, error.message, ed.topic);
    if ((!response.empty() && response != inbox) || (!reply_to.empty() && reply_to != inbox))
        return ctx.refuse_request(ed.client, username, r, error_code::not_authorized,
                                  "replies go to your own inbox, " + inbox, ed.topic);
    // A knock (a site key's visitor) may ask for an identity and nothing else.
    if (!user.site_key.empty() && r.method != "desk.visit")
        return ctx.refuse_request(ed.client, username, r, error_code::forbidden,
                                  "with a site key, only desk.visit; then log in with its guest token", ed.topic);
    if (!ctx.limiter.allow_message(user, steady_ns()))
        return ctx.refuse_request(ed.client, username, r, error_code::rate_limited,
                                  "sending too fast; slow down and retry", ed.topic);

    r.caller = username;
    r.guest = user.guest;
    r.site_key = user.site_key;
    // The bridge needs none of the properties (the correlation data is in the
    // payload now), and the broker keeps whatever list we leave.
    mosquitto_property_free_all(&ed.properties);
    ed.properties = nullptr;
    replace_message(ed, rpc::stamp(r), ctx.topics.rpc_stamped(t.method));
    return MOSQ_ERR_SUCCESS;
}

} // namespace mqchat::plugin
