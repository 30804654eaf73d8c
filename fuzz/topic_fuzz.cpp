// Fuzz target for topic names (common/topics.hpp).
//
// Feeds arbitrary bytes, as a topic and as a subscription filter, to
// topic_names("chat/") and topic_names("apps/chat/") and checks:
//  - parse says `outside` exactly when the topic does not start with the prefix;
//  - a result that is neither outside nor invalid comes from a topic without
//    '+', '#' or NUL, its user / method views point into the topic, and the
//    topic_names builders (conv, inbox, presence, rpc, rpc_stamped)
//    rebuild exactly the same topic string;
//  - parse_conv_id accepts only canonical decimal ids (to_string round trip);
//  - builders fed with what the input could be (a user name, a conv id) give
//    topics that parse back to the same kind and value;
//  - strip_shared_subscription returns a suffix of its input;
//  - may_touch_prefix agrees, for every well-formed MQTT filter, with a
//    separate reference matcher: "some topic under the prefix matches this
//    filter". A false "no" there would let a subscription skip the plugin's
//    ACL, so both directions are checked.
// A violated invariant stops the run with __builtin_trap().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/names.hpp"
#include "common/topics.hpp"

using namespace mqchat;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    while (true) {
        const auto slash = s.find('/');
        out.push_back(s.substr(0, slash));
        if (slash == std::string_view::npos) return out;
        s.remove_prefix(slash + 1);
    }
}

/// An MQTT subscription filter as a broker accepts it: non-empty, no NUL,
/// '+' and '#' only as whole levels, '#' only last.
bool valid_filter(std::string_view f) {
    if (f.empty() || f.find('\0') != std::string_view::npos) return false;
    const auto levels = split(f);
    for (std::size_t i = 0; i < levels.size(); ++i) {
        const std::string_view l = levels[i];
        if (l.find_first_of("+#") == std::string_view::npos) continue;
        if (l == "+") continue;
        if (l == "#" && i + 1 == levels.size()) continue;
        return false;
    }
    return true;
}

/// Reference for may_touch_prefix on a valid filter: can it match a topic
/// `prefix + rest` (rest possibly empty)? Such a topic has the prefix's
/// levels and then at least one more.
bool reference_touches(std::string_view prefix, std::string_view filter) {
    prefix.remove_suffix(1);
    const auto p = split(prefix);
    const auto f = split(filter);
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "#") return true; // matches the rest, whatever it is
        if (i >= p.size()) return true; // the prefix is matched and f has another level
        if (f[i] != "+" && f[i] != p[i]) return false;
    }
    return false; // the filter ended inside (or exactly at the end of) the prefix
}

std::string_view leaf_of(topic_kind k) {
    switch (k) {
    case topic_kind::conv_send: return "send";
    case topic_kind::conv_stamped: return "stamped";
    case topic_kind::conv_msg: return "msg";
    case topic_kind::conv_typing: return "typing";
    case topic_kind::conv_receipt: return "receipt";
    default: return "";
    }
}

void check_parse(const topic_names& t, std::string_view topic) {
    const parsed_topic p = t.parse(topic);
    check((p.kind == topic_kind::outside) == !starts_with(topic, t.prefix()));
    if (p.kind == topic_kind::outside || p.kind == topic_kind::invalid) return;

    check(topic.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos);
    std::string rebuilt;
    switch (p.kind) {
    case topic_kind::conv_send:
        check(p.conv > 0);
        rebuilt = t.conv_send(p.conv);
        break;
    case topic_kind::conv_msg:
        check(p.conv > 0);
        rebuilt = t.conv_msg(p.conv);
        break;
    case topic_kind::conv_stamped:
        check(p.conv > 0);
        rebuilt = t.conv_stamped(p.conv);
        break;
    case topic_kind::conv_typing:
    case topic_kind::conv_receipt:
        check(p.conv > 0);
        rebuilt = t.conv(p.conv, leaf_of(p.kind));
        break;
    case topic_kind::user_inbox:
        check(inside(p.user, topic) && valid_user_name(p.user));
        rebuilt = t.inbox(p.user);
        break;
    case topic_kind::presence:
        check(inside(p.user, topic) && valid_user_name(p.user));
        rebuilt = t.presence(p.user);
        break;
    case topic_kind::rpc:
        check(inside(p.method, topic) && !p.method.empty());
        check(p.method.find_first_of(std::string_view("/+#\0", 4)) == std::string_view::npos);
        rebuilt = t.rpc(p.method);
        break;
    case topic_kind::rpc_stamped:
        check(inside(p.method, topic) && !p.method.empty());
        check(p.method.find_first_of(std::string_view("/+#\0", 4)) == std::string_view::npos);
        rebuilt = t.rpc_stamped(p.method);
        break;
    case topic_kind::fabric_presence:
        check(inside(p.broker, topic) && valid_user_name(p.broker));
        rebuilt = t.fabric_presence(p.broker);
        break;
    case topic_kind::fabric_broker:
        check(inside(p.broker, topic) && valid_user_name(p.broker));
        rebuilt = t.fabric_broker(p.broker);
        break;
    default: check(false);
    }
    check(rebuilt == topic);
    // Every well-formed topic is one a subscription filter could name.
    check(t.may_touch_prefix(topic));
}

/// The input as a piece of a topic: builders give topics that parse back.
void check_builders(const topic_names& t, std::string_view piece) {
    if (const std::int64_t cid = parse_conv_id(piece); cid != 0) {
        check(cid > 0 && std::to_string(cid) == piece);
        for (const topic_kind k : {topic_kind::conv_send, topic_kind::conv_stamped, topic_kind::conv_msg,
                                   topic_kind::conv_typing, topic_kind::conv_receipt}) {
            const parsed_topic p = t.parse(t.conv(cid, leaf_of(k)));
            check(p.kind == k && p.conv == cid);
        }
    }
    if (valid_user_name(piece)) {
        const std::string inbox = t.inbox(piece), presence = t.presence(piece);
        parsed_topic p = t.parse(inbox);
        check(p.kind == topic_kind::user_inbox && p.user == piece);
        p = t.parse(presence);
        check(p.kind == topic_kind::presence && p.user == piece);
    }
}

void check_filter(const topic_names& t, std::string_view filter) {
    const bool touches = t.may_touch_prefix(filter);
    if (valid_filter(filter)) check(touches == reference_touches(t.prefix(), filter));
    // Anything under the prefix is ours, wildcards or not.
    if (starts_with(filter, t.prefix())) check(touches);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    static const topic_names chat("chat/"), deep("apps/chat/");

    for (const topic_names* t : {&chat, &deep}) {
        check_parse(*t, in);
        check_builders(*t, in);
        check_filter(*t, in);
        // The same bytes placed under the prefix reach the interesting branches sooner.
        const std::string under = t->prefix() + std::string(in);
        check_parse(*t, under);
        check_filter(*t, under);
    }

    const std::string_view stripped = strip_shared_subscription(in);
    check(stripped.empty() || inside(stripped, in));
    check(stripped.size() <= in.size());
    if (!starts_with(in, "$share/")) check(stripped == in);
    else check(stripped.size() < in.size());
    return 0;
}
