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
} // namespace

parsed_topic topic_names::parse(std::string_view topic) const {
    // Runs for every chat message several times (ACL write, message check,
    // ACL read per subscriber): one pass, no allocation.
    parsed_topic out;
    if (topic.size() < prefix_.size() || topic.compare(0, prefix_.size(), prefix_) != 0) return out;
    out.kind = topic_kind::invalid;

    std::string_view seg[4];
    int n = 0;
    std::size_t start = prefix_.size();
    for (std::size_t i = start; i <= topic.size(); ++i) {
        const char c = i < topic.size() ? topic[i] : '/';
        if (c == '+' || c == '#') return out;
        if (c != '/') continue;
        if (i == start || n == 4) return out; // empty segment, or too many
        seg[n++] = topic.substr(start, i - start);
        start = i + 1;
    }

    if (n == 3 && seg[0] == "conv") {
        out.conv = parse_conv_id(seg[1]);
        if (out.conv == 0) return out;
        const std::string_view leaf = seg[2];
        if (leaf == "send") out.kind = topic_kind::conv_send;
        else if (leaf == "msg") out.kind = topic_kind::conv_msg;
        else if (leaf == "typing") out.kind = topic_kind::conv_typing;
        else if (leaf == "receipt") out.kind = topic_kind::conv_receipt;
        else if (leaf == "stamped") out.kind = topic_kind::conv_stamped;
        return out;
    }
    if (n == 3 && seg[0] == "user" && seg[2] == "inbox" && valid_user_name(seg[1])) {
        out.kind = topic_kind::user_inbox;
        out.user = seg[1];
    } else if (n == 2 && seg[0] == "presence" && valid_user_name(seg[1])) {
        out.kind = topic_kind::presence;
        out.user = seg[1];
    } else if ((n == 2 || (n == 3 && seg[2] == "stamped")) && seg[0] == "rpc" && is_method_name(seg[1])) {
        out.kind = n == 2 ? topic_kind::rpc : topic_kind::rpc_stamped;
        out.method = seg[1];
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
