// MOSQ_EVT_ACL_CHECK: who may subscribe, read and write under the chat prefix.
//
// Runs for every subscribe and for every delivery to every subscriber, so it
// is a handful of hash lookups. Policy (docs/protocol.md has the table):
//   - Outside the prefix: not ours. DEFER, or DENY when exclusive.
//   - A subscription that may reach chat topics without lying within the
//     prefix (`#`, `+/+`, `$share/g/#`: an operator's monitoring tool, a
//     Node-RED flow) is not ours either: DEFER (DENY when exclusive). What
//     the plugin decides is each delivery of a chat topic to it (READ,
//     retained messages included), so such a subscriber who is not a member
//     receives nothing of chat.
//   - Inside the prefix, only our users; everyone else is denied, whatever
//     the broker's other auth would say.
//   - Chat subscriptions name concrete topics; wildcards are the bridge's alone.
//   - Members read .../msg, typing and receipts and write send, typing and
//     receipts of their conversations; a user reads only their own inbox.
//   - Only the bridge identity writes .../msg and inboxes and reads .../stamped;
//     nobody writes .../stamped (the plugin moves checked sends there) or presence.

#include "common/envelope.hpp"
#include "context.hpp"

namespace mqchat::plugin {

namespace {

enum class access { read, write, subscribe };

bool bridge_may(const parsed_topic& t, access a) {
    if (a != access::write) return true;
    return t.kind == topic_kind::conv_msg || t.kind == topic_kind::user_inbox || t.kind == topic_kind::conv_receipt;
}

bool member_may(plugin_context& ctx, user_entry& user, std::string_view name, const parsed_topic& t, access a) {
    // A subscription, and a send that memory would refuse, may look past
    // memory (a member added a moment ago, before its notice arrived): a
    // member's sends are in memory, and a non-member's misses are remembered
    // (one lookup per conversation and user a minute). Deliveries and other
    // writes happen per message and stay in memory.
    //
    // When the database cannot answer within the wait budget, a subscription
    // is refused (the client may subscribe again), but a send goes on to the
    // bridge: it stores only what a member sent (mqchat_store_batch checks
    // membership in the same transaction) and answers anyone else with
    // not_member, so a slow database never costs a real member a message.
    auto member = [&] {
        return a == access::subscribe ? ctx.member_with_lookup(user, name, t.conv) == known::yes
                                      : ctx.users.is_member(user, t.conv);
    };
    switch (t.kind) {
    case topic_kind::conv_send:
        return a == access::write && ctx.member_with_lookup(user, name, t.conv) != known::no;
    case topic_kind::conv_msg:
        return a != access::write && member();
    case topic_kind::conv_typing:
    case topic_kind::conv_receipt:
        return member();
    case topic_kind::user_inbox:
        return a != access::write && t.user == name;
    case topic_kind::rpc: // anyone of ours may ask; the bridge checks what it may see
        return a == access::write;
    case topic_kind::presence: {
        if (a == access::write) return false;
        if (t.user == name) return true;
        const user_entry* other = ctx.users.find(t.user);
        return other && ctx.users.share_conversation(user, *other);
    }
    default:
        return false;
    }
}

/// The refused payload's message id, so the notice names the message (a
/// client stops resending what a notice with its id refuses).
std::string id_in(const plugin_context& ctx, const mosquitto_evt_acl_check& ed) {
    return message_id_of(std::string_view(static_cast<const char*>(ed.payload), ed.payloadlen), ctx.config.max_payload);
}

/// A refused PUBLISH says why on the sender's inbox (capped; see refuse_publish).
int refuse_write(plugin_context& ctx, const mosquitto_evt_acl_check& ed, const char* username, const parsed_topic& t) {
    switch (t.kind) {
    case topic_kind::invalid:
        return ctx.refuse_publish(ed.client, username, error_code::invalid_topic, "not a chat topic", id_in(ctx, ed), 0,
                                  ed.topic);
    case topic_kind::conv_send:
    case topic_kind::conv_typing:
    case topic_kind::conv_receipt:
        return ctx.refuse_publish(ed.client, username, error_code::not_member,
                                  "not a member of conversation " + std::to_string(t.conv), id_in(ctx, ed), t.conv,
                                  ed.topic);
    default:
        return ctx.refuse_publish(ed.client, username, error_code::not_authorized, "only the server writes this topic",
                                  id_in(ctx, ed), t.conv, ed.topic);
    }
}

/// What a will must not get past either. Mosquitto does not run the message
/// check on a will, only this ACL check (when the will is sent), so the
/// rules that matter for wills live here too: nothing under the prefix is
/// retained, and typing and receipts are the plain client forms, without a
/// "user" (the plugin's stamp says who they are from; a will cannot be stamped).
int check_write(plugin_context& ctx, const mosquitto_evt_acl_check& ed, const char* username, const parsed_topic& t) {
    if (ed.retain)
        return ctx.refuse_publish(ed.client, username, error_code::retain_not_allowed,
                                  "chat messages cannot be retained", id_in(ctx, ed), t.conv, ed.topic);
    auto& verdict = ctx.last_write_check;
    const std::string_view payload(static_cast<const char*>(ed.payload), static_cast<std::size_t>(ed.payloadlen));
    envelope_error error;
    if (t.kind == topic_kind::conv_typing) { // a will cannot be stamped: only a plain one passes
        if (!parse_typing(payload, verdict.typing, verdict.at, error))
            return ctx.refuse_publish(ed.client, username, error.code, error.message, id_in(ctx, ed), t.conv, ed.topic);
    } else if (t.kind == topic_kind::conv_receipt) {
        if (!parse_receipt(payload, verdict.rc, error))
            return ctx.refuse_publish(ed.client, username, error.code, error.message, id_in(ctx, ed), t.conv, ed.topic);
    } else {
        return MOSQ_ERR_SUCCESS;
    }
    // Handed to the message check of this same publish (context.hpp).
    verdict.client = ed.client;
    verdict.payload = ed.payload;
    verdict.payloadlen = ed.payloadlen;
    verdict.kind = t.kind;
    verdict.conv = t.conv;
    return MOSQ_ERR_SUCCESS;
}

/// A check of a topic or filter within the prefix (on_acl_check has seen to that).
[[gnu::noinline]] int check(plugin_context& ctx, const mosquitto_evt_acl_check& ed) {
    const access a = ed.access == MOSQ_ACL_READ    ? access::read
                     : ed.access == MOSQ_ACL_WRITE ? access::write
                                                   : access::subscribe;
    const std::string_view topic = a == access::subscribe ? strip_shared_subscription(ed.topic) : ed.topic;
    ctx.apply_pending_changes();
    if (a == access::write) ctx.last_write_check.client = nullptr; // matches nothing until check_write fills it

    const char* username = mosquitto_client_username(ed.client);
    // Connected clients passed BASIC_AUTH, so their user is in memory: no lookup here.
    user_entry* user = username ? ctx.users.find(username) : nullptr;
    if (!user || user->banned) return MOSQ_ERR_ACL_DENIED; // banned: until the kick lands

    if (user->bridge) {
        // The bridge may use wildcards (its shared subscription on .../send).
        if (a == access::subscribe) return MOSQ_ERR_SUCCESS;
        return bridge_may(ctx.topics.parse(topic), a) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    if (a == access::subscribe && topic.size() != std::string_view(ed.topic).size())
        return MOSQ_ERR_ACL_DENIED; // shared subscriptions on chat topics are the bridge's
    const parsed_topic t = ctx.topics.parse(topic); // wildcards parse as invalid
    if (!member_may(ctx, *user, username, t, a))
        return a == access::write ? refuse_write(ctx, ed, username, t) : MOSQ_ERR_ACL_DENIED;
    if (a == access::write) return check_write(ctx, ed, username, t);
    return MOSQ_ERR_SUCCESS;
}

} // namespace

int on_acl_check(int, void* event_data, void* userdata) {
    auto& ctx = *static_cast<plugin_context*>(userdata);
    const auto& ed = *static_cast<mosquitto_evt_acl_check*>(event_data);
    // READ and WRITE name a concrete topic, and a subscription is ours only
    // when it lies within the prefix: a prefix compare says it either way.
    // Every delivery and publish of the whole broker comes here, and most of
    // a shared broker's traffic is not ours: that compare answers it, before
    // check() and its stack frame are set up (nothing of the directory
    // matters to it).
    bool ours;
    if (ed.access == MOSQ_ACL_READ || ed.access == MOSQ_ACL_WRITE) {
        ours = ctx.topics.within_prefix(ed.topic);
    } else if (ed.access == MOSQ_ACL_SUBSCRIBE) {
        ours = ctx.topics.within_prefix(strip_shared_subscription(ed.topic));
    } else if (ed.access == MOSQ_ACL_UNSUBSCRIBE) { // leaving a chat topic is always allowed
        return ctx.topics.within_prefix(strip_shared_subscription(ed.topic)) ? MOSQ_ERR_SUCCESS
                                                                             : MOSQ_ERR_PLUGIN_DEFER;
    } else {
        return MOSQ_ERR_ACL_DENIED;
    }
    if (!ours) return ctx.config.exclusive ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_PLUGIN_DEFER;
    return guarded("ACL check", MOSQ_ERR_ACL_DENIED, [&] { return check(ctx, ed); });
}

} // namespace mqchat::plugin
