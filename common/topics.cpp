#include "common/topics.hpp"

#include <stdexcept>

#include "common/names.hpp"

namespace mqchat {

std::int64_t parse_conv_id(std::string_view text) {
    if (text.empty() || text.size() > 19 || text[0] == '0') return 0;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return 0;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
        if (v > static_cast<std::uint64_t>(INT64_MAX)) return 0;
    }
    return static_cast<std::int64_t>(v);
}

topic_names::topic_names(std::string prefix) : prefix_(std::move(prefix)) {
    if (prefix_.empty() || prefix_.back() != '/' || prefix_.front() == '/' ||
        prefix_.front() == '$' || prefix_.find_first_of("+#") != std::string::npos ||
        prefix_.find("//") != std::string::npos)
        throw std::invalid_argument("topic prefix '" + prefix_ +
                                    "' must be a topic path ending in '/', without wildcards "
                                    "or a leading '/' or '$'");
}

namespace {
bool is_method_name(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    return true;
}

/// Takes `text` up to its first '/' and leaves `text` after it; false (and
/// `text` untouched) when there is no '/'. Segments here are short, so a
/// plain loop beats a call to memchr.
bool take_segment(std::string_view& text, std::string_view& segment) {
    for (std::size_t i = 0; i < text.size(); ++i)
        if (text[i] == '/') {
            segment = text.substr(0, i);
            text.remove_prefix(i + 1);
            return true;
        }
    return false;
}

bool take_word(std::string_view& text, std::string_view word) {
    if (text.substr(0, word.size()) != word) return false;
    text.remove_prefix(word.size());
    return true;
}

/// The last segment of {prefix}conv/{cid}/{leaf}.
topic_kind conv_leaf(std::string_view leaf) {
    switch (leaf.size()) {
    case 3: return leaf == "msg" ? topic_kind::conv_msg : topic_kind::invalid;
    case 4: return leaf == "send" ? topic_kind::conv_send : topic_kind::invalid;
    case 6: return leaf == "typing" ? topic_kind::conv_typing : topic_kind::invalid;
    case 7: return leaf == "receipt" ? topic_kind::conv_receipt
                   : leaf == "stamped" ? topic_kind::conv_stamped
                                       : topic_kind::invalid;
    default: return topic_kind::invalid;
    }
}
} // namespace

parsed_topic topic_names::parse(std::string_view topic) const {
    // Runs for every chat message several times (ACL write, message check,
    // ACL read per subscriber): no allocation, each byte looked at about once.
    // Every segment must pass a closed alphabet (a canonical id, a user or
    // method name, a fixed word), none of which has '/', '+', '#' or NUL:
    // wildcards, empty segments and extra segments never make a known kind.
    parsed_topic out;
    if (!within_prefix(topic)) return out;
    out.kind = topic_kind::invalid;
    std::string_view rest = topic.substr(prefix_.size());
    std::string_view segment;

    if (take_word(rest, "conv/")) { // the hot path: conv/{cid}/{leaf}
        if (!take_segment(rest, segment)) return out;
        out.conv = parse_conv_id(segment);
        if (out.conv != 0) out.kind = conv_leaf(rest);
    } else if (take_word(rest, "user/")) {
        if (take_segment(rest, segment) && rest == "inbox" && valid_user_name(segment)) {
            out.kind = topic_kind::user_inbox;
            out.user = segment;
        }
    } else if (take_word(rest, "presence/")) {
        if (valid_user_name(rest)) {
            out.kind = topic_kind::presence;
            out.user = rest;
        }
    } else if (take_word(rest, "fabric/")) {
        const bool presence = take_word(rest, "presence/");
        if ((presence || take_word(rest, "broker/")) && valid_user_name(rest)) {
            out.kind = presence ? topic_kind::fabric_presence : topic_kind::fabric_broker;
            out.broker = rest;
        }
    } else if (take_word(rest, "rpc/")) { // rpc/{method} or rpc/{method}/stamped
        const bool more = take_segment(rest, segment);
        if (!more) segment = rest;
        if (is_method_name(segment) && (!more || rest == "stamped")) {
            out.kind = more ? topic_kind::rpc_stamped : topic_kind::rpc;
            out.method = segment;
        }
    }
    return out;
}

bool topic_names::may_touch_prefix(std::string_view filter) const {
    // Walk the prefix and the filter segment by segment: a literal segment must
    // match, `+` matches any one segment, `#` matches everything below.
    std::string_view p(prefix_);
    p.remove_suffix(1); // drop the trailing '/'
    while (true) {
        const auto fs = filter.find('/');
        const std::string_view fseg = filter.substr(0, fs);
        const auto ps = p.find('/');
        const std::string_view pseg = p.substr(0, ps);
        if (fseg == "#") return true;
        if (fseg != "+" && fseg != pseg) return false;
        if (ps == std::string_view::npos) return fs != std::string_view::npos;
        if (fs == std::string_view::npos) return false;
        filter = filter.substr(fs + 1);
        p = p.substr(ps + 1);
    }
}

std::string topic_names::conv(std::int64_t cid, std::string_view leaf) const {
    std::string t = prefix_;
    t += "conv/";
    t += std::to_string(cid);
    t += '/';
    t += leaf;
    return t;
}

std::string topic_names::inbox(std::string_view user) const {
    return prefix_ + "user/" + std::string(user) + "/inbox";
}

std::string topic_names::presence(std::string_view user) const {
    return prefix_ + "presence/" + std::string(user);
}

std::string_view strip_shared_subscription(std::string_view topic) {
    constexpr std::string_view share = "$share/";
    if (topic.substr(0, share.size()) != share) return topic;
    const auto slash = topic.find('/', share.size());
    if (slash == std::string_view::npos) return {};
    return topic.substr(slash + 1);
}

} // namespace mqchat
