#pragma once
/// Per-user limits: messages per second (a token bucket per user, across all
/// of the user's devices), connections per user, the shape of client ids,
/// and flood control: a client that keeps sending over its limit is
/// disconnected, and refusal notices are capped so a flood cannot make the
/// broker talk back at the same rate.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config.hpp"

struct mosquitto;

namespace mqchat::plugin {

struct user_entry;

class limits {
public:
    explicit limits(const plugin_config& config) : config_(config) {}

    /// Takes one message from the user's bucket; false when it is empty.
    bool allow_message(user_entry& user, std::int64_t now_ns) const;

    /// Whether typing has a cap at all (typing_per_s > 0): without one the
    /// caller need not even read the clock.
    bool typing_capped() const { return config_.typing_per_s > 0; }
    /// At most typing_per_s typing messages per second per user (across its
    /// devices, like allow_message); false when over.
    bool allow_typing(user_entry& user, std::int64_t now_ns) const;

    /// Counts a refusal for a client; returns how many it has had in the
    /// current 10 s window. More than flood_disconnect: it is flooding.
    int count_refusal(const std::string& client_id, std::int64_t now_ns);
    void forget_refusals(const std::string& client_id) { refusals_.erase(client_id); }
    /// Whether this user may be sent another refusal notice now (at most
    /// 100 a second: a bound for when flood_disconnect is 0).
    bool may_notify(const std::string& user, std::int64_t now_ns);

    /// Counts a web visitor's knock (a site key login) from `address` with
    /// site key `key_id`; "" when allowed, else which limit it is over.
    std::string allow_knock(std::string_view address, std::string_view key_id, std::int64_t now_ns);

    /// A client id the plugin accepts: 1..max printable ASCII characters,
    /// none of them / + # (it may appear in operators' topic patterns).
    bool acceptable_client_id(std::string_view id) const;

    /// Counts a new connection of `user`; false (and nothing counted) when
    /// the user already has the most connections allowed. A connection that
    /// reuses the client id of one of the user's connections is let in: the
    /// broker is about to close the old one (a phone back from a dead network).
    /// When the client id was another user's, that user loses the device and
    /// is named in `displaced`. `elsewhere`: the user's devices on other
    /// brokers, which count against the same limit.
    bool admit(const mosquitto* client, const std::string& user, const std::string& client_id,
               std::string* displaced = nullptr, int elsewhere = 0);
    /// Forgets a connection admitted before; unknown clients are ignored.
    /// Returns the user when this took one of its devices away (not when a
    /// newer connection with the same client id holds it now), else "".
    std::string release(const mosquitto* client);
    int connections(const std::string& user) const;
    /// A user's devices: distinct client ids connected (presence counts these).
    int devices(const std::string& user) const;
    /// Every user with a device here, and how many.
    const std::unordered_map<std::string, int>& all_devices() const { return devices_; }
    std::size_t connection_count() const { return admitted_.size(); }

private:
    struct window {
        std::int64_t start_ns = 0;
        int count = 0;
    };
    const plugin_config& config_;
    std::unordered_map<std::string, window> refusals_; ///< by client id
    std::unordered_map<std::string, window> notices_;  ///< by user
    std::unordered_map<std::string, window> knocks_by_address_;
    std::unordered_map<std::string, window> knocks_by_key_;
    struct admission {
        std::string user, client_id;
    };
    std::unordered_map<const mosquitto*, admission> admitted_;
    std::unordered_map<std::string, const mosquitto*> by_client_id_;
    std::unordered_map<std::string, int> per_user_;
    std::unordered_map<std::string, int> devices_;
};

} // namespace mqchat::plugin
