#pragma once
/// Device counts across several brokers (docs/architecture.md, "Several
/// brokers"). Each broker counts its own clients (limits) and tells the
/// others through the hub on {prefix}fabric/presence/{its name}:
///   {"run": "<this process's random id>", "snapshot": true|false,
///    "devices": {"alice": 2, "bob": 0, ...}}
/// A snapshot is the whole table (sent when another broker's link comes up,
/// so a broker that (re)joins learns everyone); otherwise only what changed
/// since the last flush. A new `run` of a broker replaces what an earlier
/// run of it said.
///
/// A broker's link state arrives on {prefix}fabric/broker/{name} ("1"/"0",
/// the notification of its Mosquitto bridge; the hub publishes the "0" as
/// the link's will when the broker dies). Its devices still count for
/// `grace` after a "0", so that its clients, reconnecting to another broker
/// through the load balancer, never show offline in between; then they go.
///
/// Pure bookkeeping: no broker calls, so it is unit-tested as it is.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mqchat::plugin {

class fabric_presence {
public:
    using clock = std::chrono::steady_clock;

    fabric_presence(std::string broker_name, std::string run, std::chrono::milliseconds grace)
        : name_(std::move(broker_name)), run_(std::move(run)), grace_(grace) {}

    const std::string& name() const { return name_; }
    /// The user's devices on the other brokers.
    int remote_devices(const std::string& user) const {
        const auto it = remote_total_.find(user);
        return it == remote_total_.end() ? 0 : it->second;
    }
    /// Another broker's devices, as last heard (for tests and the log).
    int devices_on(const std::string& broker, const std::string& user) const;

    /// A local count changed: told to the others at the next flush.
    void local_changed(const std::string& user, int devices) { outgoing_[user] = devices; }

    /// A message on another broker's presence topic. Returns the users whose
    /// remote count changed. Malformed payloads change nothing (returns none).
    std::vector<std::string> on_presence(std::string_view broker, std::string_view payload);
    /// A broker's link state. "1" (up): our whole table goes to it at the next
    /// flush; "0" (down): its devices go after the grace period.
    void on_link(std::string_view broker, std::string_view payload, clock::time_point now);

    /// What to publish on our presence topic now: a snapshot of `local`
    /// (every device count of this broker) when one was asked for, else the
    /// changes since the last flush, else nothing (empty string).
    std::string take_outgoing(const std::unordered_map<std::string, int>& local);
    /// Forgets brokers whose grace ran out; returns the users whose remote
    /// count changed.
    std::vector<std::string> expire(clock::time_point now);

    std::size_t brokers_known() const { return brokers_.size(); }

    /// The payload format (also for tests).
    static std::string payload(std::string_view run, bool snapshot, const std::map<std::string, int>& devices);

private:
    struct remote_broker {
        std::string run;
        std::unordered_map<std::string, int> devices;
        bool down = false;
        clock::time_point down_since{};
    };
    /// Sets broker `b`'s count of `user`, keeping remote_total_; records a change.
    void set(remote_broker& b, const std::string& user, int devices, std::vector<std::string>& changed);
    std::vector<std::string> forget(const std::string& broker);

    const std::string name_, run_;
    const std::chrono::milliseconds grace_;
    std::unordered_map<std::string, remote_broker> brokers_;
    std::unordered_map<std::string, int> remote_total_;
    std::map<std::string, int> outgoing_;
    bool snapshot_wanted_ = true; ///< the first flush tells everything
};

} // namespace mqchat::plugin
