#pragma once
/// Server-owned presence: the plugin publishes a retained message on
/// {prefix}presence/{user} whenever the user's number of devices or chosen
/// status changes:
///   {"state": "online"|"away"|"busy"|"offline", "devices": N,
///    "last_seen": <ms since the epoch>, "text"?: "…"}
/// `state` is the user's chosen status while a device is connected and
/// "offline" when none is; `last_seen` is left out when the user hides it.
/// Clients cannot publish here (ACL), so presence cannot be forged, and a
/// user with two devices stays online when one of them drops.

#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/topics.hpp"
#include "directory.hpp"

namespace mqchat::plugin {

class presence_publisher {
public:
    presence_publisher(const topic_names& topics, bool enabled) : topics_(topics), enabled_(enabled) {}
    bool enabled() const { return enabled_; }

    /// Publishes the user's presence now: `devices` connected, with its choice.
    void publish(const std::string& user, int devices, const presence_choice& choice);
    /// Publishes again only if the choice differs from what was published.
    void choice_changed(const std::string& user, int devices, const presence_choice& choice);
    /// Users a previous run of the broker left online (from the database):
    /// offline now, unless they are already back.
    void mark_offline(const std::string& user, const presence_choice& choice);
    /// A user deleted or erased: its retained presence is cleared (an empty
    /// retained message), so no "last seen" outlives the account or greets
    /// a new user given the name later.
    void forget(const std::string& user);

    /// The JSON published for these values (for tests and the bridge's docs).
    static std::string payload(int devices, const presence_choice& choice, std::int64_t now_ms);

private:
    const topic_names& topics_;
    const bool enabled_;
    std::unordered_map<std::string, presence_choice> published_; ///< last choice published per user
};

} // namespace mqchat::plugin
