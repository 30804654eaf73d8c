// MOSQ_EVT_MESSAGE: the check every chat message passes before anyone sees it.
//
// A send on {prefix}conv/{cid}/send (the ACL has already made sure the sender
// is a member) must be a valid envelope within the size limit. It is then
// re-written with the authenticated sender, whatever `sender` the client put
// in, and moved to {prefix}conv/{cid}/stamped, the topic the bridge reads.
//
// A refused message gets PUBACK/PUBREC 0x87: Mosquitto 2.0 answers every
// plugin refusal with "not authorized" and drops the event's reason code and
// string (src/handle_publish.c). The real reason goes to the sender's inbox
// as {"error": {"code", "message"}, "id", "conv"}, which MQTT 3.1.1 clients
// can read too.

#include <mqtt_protocol.h>

#include <cstdlib>
#include <cstring>

#include "common/envelope.hpp"
#include "context.hpp"

namespace mqchat::plugin {

namespace {

/// The membership version the bridge sent with a stored message (user
/// property mqchat-mv, see schema/004), taken off the message: it is for the
/// plugins, not for members. 0 when there is none.
std::int64_t take_members_version(mosquitto_evt_message& ed) {
    if (!ed.properties) return 0;
    std::int64_t version = 0;
    bool others = false;
    char* name = nullptr;
    char* value = nullptr;
    for (const mosquitto_property* p = ed.properties; p; p = mosquitto_property_next(p)) {
        if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY ||
            !mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false)) {
            others = true;
            continue;
        }
        if (std::strcmp(name, members_version_property) == 0) version = std::strtoll(value, nullptr, 10);
        else others = true;
        mosquitto_free(name);
        mosquitto_free(value);
        name = value = nullptr;
    }
    // The broker keeps whatever list we leave here, and the bridge sends no
    // other properties; anything else stays as it came.
    if (version > 0 && !others) {
        mosquitto_property_free_all(&ed.properties);
        ed.properties = nullptr;
    }
    return version > 0 ? version : 0;
}

/// The check of a message on a topic within the prefix (on_message has seen to that).
[[gnu::noinline]] int check(plugin_context& ctx, mosquitto_evt_message& ed) {
    ctx.apply_pending_changes();
    const parsed_topic t = ctx.topics.parse(ed.topic);
    if (t.kind == topic_kind::conv_msg && !ed.retain) { // only the bridge may write here (ACL)
        const std::int64_t needed = take_members_version(ed);
        if (ctx.must_hold(t.conv, needed)) {
            // A removal this broker has not heard of yet may concern this
            // message: keep it until TICK knows, and let the original go to a
            // topic nobody may read (the bridge's publish is still accepted).
            ctx.held.hold({ed.topic, std::string(static_cast<const char*>(ed.payload), ed.payloadlen), ed.qos,
                           t.conv, needed, delivery_hold::clock::now()});
            replace_topic(ed, ctx.topics.conv(t.conv, "held"));
            ctx.counted.deliveries_held.inc();
        }
        return MOSQ_ERR_SUCCESS;
    }
    if (ctx.from_fabric(ed.client)) {
        // Checked and stamped by the broker it came from; other brokers' news is ours to read.
        if (t.kind == topic_kind::fabric_presence)
            ctx.remote_devices_changed(ctx.fabric->on_presence(
                t.broker, std::string_view(static_cast<const char*>(ed.payload), ed.payloadlen)));
        else if (t.kind == topic_kind::fabric_broker)
            ctx.fabric->on_link(t.broker, std::string_view(static_cast<const char*>(ed.payload), ed.payloadlen),
                                std::chrono::steady_clock::now());
        return MOSQ_ERR_SUCCESS;
    }
    if (t.kind != topic_kind::conv_send && t.kind != topic_kind::rpc && t.kind != topic_kind::conv_receipt &&
        t.kind != topic_kind::conv_typing && !ed.retain)
        return MOSQ_ERR_SUCCESS; // nothing to check or stamp

    const char* username = mosquitto_client_username(ed.client);
    user_entry* user = username ? ctx.users.find(username) : nullptr;
    if (!user || user->banned) return MOSQ_ERR_ACL_DENIED; // the ACL allows nobody else in; belt and braces
    if (user->bridge) return MOSQ_ERR_SUCCESS;

    const std::string_view body(static_cast<const char*>(ed.payload), ed.payloadlen);
    // Only refusals read the id this way; a valid send carries it in its envelope.
    auto id = [&] { return message_id_of(body, ctx.config.max_payload); };
    if (ed.retain) // anywhere under the prefix
        return ctx.refuse_publish(ed.client, username, error_code::retain_not_allowed,
                                  "chat messages cannot be retained", id(), t.conv, ed.topic);
    if (t.kind == topic_kind::rpc) {
        const int verdict = check_request(ctx, ed, *user, username, t);
        if (verdict == MOSQ_ERR_SUCCESS) ctx.counted.requests.inc();
        return verdict;
    }
    // Typing and receipts were parsed by the ACL check of this publish
    // (context.hpp, last_write_check); parsed again only if that is not it.
    const bool checked = ctx.last_write_check.matches(ed.client, ed.payload, ed.payloadlen, t);
    if (t.kind == topic_kind::conv_typing) {
        bool typing = ctx.last_write_check.typing;
        std::int64_t at = ctx.last_write_check.at;
        envelope_error error;
        if (!checked && !parse_typing(body, typing, at, error))
            return ctx.refuse_publish(ed.client, username, error.code, error.message, id(), t.conv, ed.topic);
        // Typing is frequent and worthless when late: over its own small
        // rate it is dropped without a word (it is never stored anyway).
        if (ctx.limiter.typing_capped() && !ctx.limiter.allow_typing(*user, steady_ns())) return MOSQ_ERR_ACL_DENIED;
        const typing_stamp stamp(typing, at, username);
        replace_payload(ed, stamp.size(), [&](char* out) { stamp.write_to(out); });
        ctx.counted.typing.inc();
        return MOSQ_ERR_SUCCESS;
    }
    if (t.kind == topic_kind::conv_receipt) {
        // The ACL has checked membership; what remains is the shape, and the
        // user it is from, which only the plugin may say.
        receipt rc = ctx.last_write_check.rc;
        envelope_error error;
        if (!checked && !parse_receipt(body, rc, error))
            return ctx.refuse_publish(ed.client, username, error.code, error.message, id(), t.conv, ed.topic);
        if (!ctx.limiter.allow_message(*user, steady_ns()))
            return ctx.refuse_publish(ed.client, username, error_code::rate_limited,
                                      "sending too fast; slow down and resend", id(), t.conv, ed.topic);
        replace_message(ed, stamp_receipt(rc, username), ed.topic);
        ctx.counted.receipts.inc();
        return MOSQ_ERR_SUCCESS;
    }
    if (t.kind != topic_kind::conv_send) return MOSQ_ERR_SUCCESS;

    send_envelope env;
    envelope_error error;
    if (!parse_send(body, ctx.config.max_payload, env, error))
        return ctx.refuse_publish(ed.client, username, error.code, error.message, env.id, t.conv, ed.topic);
    // The bucket is per user, so a user cannot multiply its rate by opening
    // more connections; only well-formed sends spend from it.
    if (!ctx.limiter.allow_message(*user, steady_ns()))
        return ctx.refuse_publish(ed.client, username, error_code::rate_limited,
                                  "sending too fast; slow down and resend", env.id, t.conv, ed.topic);

    replace_message(ed, stamp_send(env, username, user->guest), ctx.topics.conv_stamped(t.conv));
    ctx.counted.sends.inc();
    return MOSQ_ERR_SUCCESS;
}

} // namespace

int on_message(int, void* event_data, void* userdata) {
    auto& ctx = *static_cast<plugin_context*>(userdata);
    auto& ed = *static_cast<mosquitto_evt_message*>(event_data);
    // Not ours: answered before check() and its stack frame are set up.
    if (!ctx.topics.within_prefix(ed.topic)) return MOSQ_ERR_SUCCESS;
    return guarded("message check", MOSQ_ERR_ACL_DENIED, [&] { return check(ctx, ed); });
}

} // namespace mqchat::plugin
