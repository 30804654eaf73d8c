#pragma once
/// The bridge's view of the broker: stamped sends and requests in, QoS 1 publishes out.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace mqchat::bridge {

struct incoming {
    std::string topic;
    std::string payload;
    /// When the link took it from the broker (store lag: observe/health.hpp).
    std::chrono::steady_clock::time_point arrived = {};
};

/// The outcome of one QoS 1 publish, known once the broker has acknowledged it.
class publish_handle {
public:
    virtual ~publish_handle() = default;
    virtual bool done() const = 0;
    virtual bool ok() const = 0; ///< only meaningful when done()
};

/// What goes along with a publish as MQTT 5 properties.
struct publish_extras {
    /// > 0: the user property mqchat-mv (schema/004_membership_versions.sql says why).
    std::int64_t members_version = 0;
    /// Non-empty: the correlation data of the request this answers.
    std::string correlation_data = {};
};

class mqtt_link {
public:
    virtual ~mqtt_link() = default;

    /// Waits up to `wait` for the next stamped send or request; false on timeout.
    virtual bool next(incoming& out, std::chrono::milliseconds wait) = 0;
    /// Publishes at QoS 1. Never blocks on the network; failures show in the handle.
    virtual std::shared_ptr<publish_handle> publish(const std::string& topic, const std::string& payload,
                                                    const publish_extras& extras = {}) = 0;
    /// True once after every (re)connection: what was in flight may be lost.
    virtual bool take_reconnected() = 0;
    /// Waits `how_long` (a retry's pause), keeping the connection alive: a
    /// link read by its caller (link_settings::read_by_caller) reads meanwhile.
    virtual void idle(std::chrono::milliseconds how_long) { std::this_thread::sleep_for(how_long); }
    /// Reads what has come, without waiting (a link read by its caller; others have a thread for it).
    virtual void read_waiting() {}
};

} // namespace mqchat::bridge
