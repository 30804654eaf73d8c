#pragma once
/// Topic names: the one place that knows how chat topics are spelled.
///
/// | topic                         | kind            |
/// |-------------------------------|-----------------|
/// | {prefix}conv/{cid}/send       | conv_send       |
/// | {prefix}conv/{cid}/stamped    | conv_stamped    |
/// | {prefix}conv/{cid}/msg        | conv_msg        |
/// | {prefix}conv/{cid}/typing     | conv_typing     |
/// | {prefix}conv/{cid}/receipt    | conv_receipt    |
/// | {prefix}user/{uid}/inbox      | user_inbox      |
/// | {prefix}presence/{uid}        | presence        |
/// | {prefix}rpc/{method}          | rpc             |
/// | {prefix}rpc/{method}/stamped  | rpc_stamped     |
/// | {prefix}fabric/presence/{b}   | fabric_presence |
/// | {prefix}fabric/broker/{b}     | fabric_broker   |
///
/// The fabric topics carry what brokers tell each other when there are
/// several (docs/architecture.md, "Several brokers"): broker {b}'s device
/// counts, and whether its link to the hub is up. No client reads or writes them.
///
/// The prefix (default `chat/`) is configurable and always ends in `/`.

#include <cstdint>
#include <string>
#include <string_view>

namespace mqchat {

enum class topic_kind {
    outside,      ///< not under the prefix: not ours
    invalid,      ///< under the prefix but not a topic we know (or malformed)
    conv_send,
    conv_stamped, ///< a send after the plugin checked it and stamped the sender
    conv_msg,
    conv_typing,
    conv_receipt,
    user_inbox,
    presence,
    rpc,
    rpc_stamped, ///< a request after the plugin checked it and stamped the caller
    fabric_presence, ///< a broker's device counts, for the other brokers
    fabric_broker,   ///< a broker's link to the hub: "1" up, "0" down (Mosquitto's bridge notification)
};

struct parsed_topic {
    topic_kind kind = topic_kind::outside;
    std::int64_t conv = 0;      ///< for conv_* kinds
    std::string_view user;      ///< for user_inbox and presence (a view into the topic)
    std::string_view method;    ///< for rpc and rpc_stamped
    std::string_view broker;    ///< for fabric_presence and fabric_broker
};

/// A conversation id as it appears in a topic: decimal, no sign, no leading
/// zero, 1 .. 2^63-1. Returns 0 when `text` is not one.
std::int64_t parse_conv_id(std::string_view text);

class topic_names {
public:
    explicit topic_names(std::string prefix = "chat/");

    const std::string& prefix() const { return prefix_; }

    /// Classifies a concrete topic (as in PUBLISH or an ACL read check).
    /// Wildcards, empty segments and extra segments under the prefix give `invalid`.
    parsed_topic parse(std::string_view topic) const;

    /// True when a topic or subscription filter lies under the prefix, including
    /// filters whose wildcards could match it (`#`, `+/…`, `ch+`…).
    bool may_touch_prefix(std::string_view filter) const;
    /// True when every topic a filter can match lies under the prefix: the
    /// filter begins with the prefix itself, literally (`chat/#`, `chat/conv/+/msg`).
    /// A filter that may touch the prefix without lying within it (`#`, `+/+`)
    /// is someone else's subscription that chat deliveries could reach.
    bool within_prefix(std::string_view filter) const {
        return filter.size() >= prefix_.size() && filter.compare(0, prefix_.size(), prefix_) == 0;
    }
    /// The same for a NUL-terminated topic, read no further than the prefix
    /// (no strlen): the first question every callback asks, on every message
    /// of the broker, chat or not.
    bool within_prefix(const char* topic) const {
        for (const char c : prefix_)
            if (*topic++ != c) return false; // a shorter topic stops at its NUL (the prefix has none)
        return true;
    }

    std::string conv(std::int64_t cid, std::string_view leaf) const;
    std::string conv_send(std::int64_t cid) const { return conv(cid, "send"); }
    std::string conv_msg(std::int64_t cid) const { return conv(cid, "msg"); }
    std::string inbox(std::string_view user) const;
    std::string presence(std::string_view user) const;
    /// Where the plugin moves a checked send. Clients cannot publish here, so
    /// nothing reaches the bridge without passing the plugin's message check
    /// (a will message, which skips that check, stays on .../send and is dropped).
    std::string conv_stamped(std::int64_t cid) const { return conv(cid, "stamped"); }
    /// The filter the bridge subscribes to (inside a shared subscription).
    std::string all_stamped() const { return prefix_ + "conv/+/stamped"; }
    std::string rpc(std::string_view method) const { return prefix_ + "rpc/" + std::string(method); }
    /// Where the plugin moves a checked request (see conv_stamped).
    std::string rpc_stamped(std::string_view method) const { return rpc(method) + "/stamped"; }
    std::string all_rpc_stamped() const { return prefix_ + "rpc/+/stamped"; }
    /// Receipts, which the bridge stores (inside a shared subscription).
    std::string all_receipts() const { return prefix_ + "conv/+/receipt"; }
    /// Presence, which the bridge keeps (last seen).
    std::string all_presence() const { return prefix_ + "presence/+"; }
    /// Broker `name`'s device counts, and its link state (the `notification_topic`
    /// of its Mosquitto bridge to the hub).
    std::string fabric_presence(std::string_view name) const { return prefix_ + "fabric/presence/" + std::string(name); }
    std::string fabric_broker(std::string_view name) const { return prefix_ + "fabric/broker/" + std::string(name); }

private:
    std::string prefix_;
};

/// Splits `$share/{group}/{filter}` and returns the filter; other topics unchanged.
std::string_view strip_shared_subscription(std::string_view topic);

} // namespace mqchat
