#include "delivery_hold.hpp"

namespace mqchat::plugin {

void delivery_hold::hold(message m) {
    held_[m.conv].push_back(std::move(m));
    ++count_;
}

std::vector<delivery_hold::message> delivery_hold::release(const std::function<std::int64_t(std::int64_t)>& applied,
                                                           clock::time_point now, clock::duration longest,
                                                           std::vector<std::pair<std::int64_t, std::int64_t>>& late) {
    std::vector<message> out;
    for (auto it = held_.begin(); it != held_.end();) {
        auto& queue = it->second;
        std::int64_t have = applied(it->first);
        while (!queue.empty()) {
            message& head = queue.front();
            if (head.needed > have) {
                if (now - head.since < longest) break;
                late.emplace_back(it->first, head.needed);
                have = head.needed; // waited once; later messages do not wait for it again
            }
            out.push_back(std::move(head));
            queue.pop_front();
            --count_;
        }
        it = queue.empty() ? held_.erase(it) : std::next(it);
    }
    return out;
}

} // namespace mqchat::plugin
