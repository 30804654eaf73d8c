#pragma once
/// Stored messages waiting for a membership change this broker has not
/// applied yet (schema/004), without the broker's thread waiting for it.
///
/// The bridge sends each stored message with the conversation's membership
/// version. When the plugin has not yet applied that version (the NOTIFY of
/// a removal is late), the message check diverts the original to a topic
/// nobody may read and keeps a copy here; so does every later message of the
/// same conversation, to keep seq order. TICK releases them in order, with
/// mosquitto_broker_publish, once the version is applied or the wait is over.
/// Mosquitto queues messages a plugin publishes and delivers them at the start
/// of its next loop, before it reads any more packets, so a release from TICK
/// still comes before anything the bridge publishes after it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mqchat::plugin {

class delivery_hold {
public:
    using clock = std::chrono::steady_clock;

    struct message {
        std::string topic, payload;
        int qos = 1;
        std::int64_t conv = 0;
        std::int64_t needed = 0; ///< the membership version it waits for (0: only for order)
        clock::time_point since;
    };

    /// Whether the conversation has messages waiting (a new one must queue behind them).
    bool holding(std::int64_t conv) const { return held_.count(conv) != 0; }
    std::size_t size() const { return count_; }

    void hold(message m);

    /// Takes, in order, the messages that may go now: those at the head of
    /// their conversation whose version `applied(conv)` has reached, or that
    /// waited longer than `longest` (then `late` gets the conversation and the
    /// version it gave up waiting for, which the caller counts as applied).
    std::vector<message> release(const std::function<std::int64_t(std::int64_t)>& applied, clock::time_point now,
                                 clock::duration longest, std::vector<std::pair<std::int64_t, std::int64_t>>& late);

private:
    std::unordered_map<std::int64_t, std::deque<message>> held_;
    std::size_t count_ = 0;
};

} // namespace mqchat::plugin
