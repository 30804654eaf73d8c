#pragma once
/// Client-side chat behaviour for tests: a sender that follows the resend
/// rule (resend until acked), and a log of what a member received.

#include <json/json.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mqtt_client.hpp"

namespace mqchat::test {

/// Parses a JSON payload from the server; throws on anything else.
Json::Value json_of(const std::string& text);


struct outgoing {
    std::string id;
    std::string body;
};

class chat_sender {
public:
    chat_sender(mqtt_client& client, std::string user, std::int64_t conv);

    /// Sends everything, keeping at most `window` unacknowledged, resending
    /// any message not acked within `resend_after`, until all are acked or
    /// `deadline` passes. Every `duplicate_every`-th message (0: none) is
    /// deliberately sent twice. `on_ack(n)` runs after each new ack.
    /// Returns true when everything was acked.
    bool send_all(const std::vector<outgoing>& messages, std::size_t window, std::chrono::milliseconds resend_after,
                  std::chrono::milliseconds deadline, std::size_t duplicate_every = 0,
                  const std::function<void(std::size_t)>& on_ack = {});

    std::map<std::string, std::int64_t> acked; ///< client id → seq from the ack
    std::size_t publishes = 0;                 ///< every PUBLISH, resends and duplicates included
    std::size_t conflicting_acks = 0;          ///< an id acked twice with different seqs
    std::vector<std::string> errors;           ///< error notices seen on the inbox

private:
    void read_inbox(std::chrono::milliseconds wait);

    mqtt_client& client_;
    std::string inbox_, send_topic_;
};

struct delivered {
    std::int64_t conv = 0, seq = 0, ts = 0;
    std::string id, sender, body;
};

/// Parses the stored-message JSON members receive; throws if malformed.
delivered parse_delivered(const std::string& payload);

/// Collects every message arriving on `topic` until `count` distinct seqs have
/// arrived or `timeout` passes. Keeps duplicates (by seq) in `raw`.
struct delivery_log {
    std::vector<delivered> raw;
    std::vector<delivered> first_seen; ///< in arrival order, each seq once
    std::size_t duplicates = 0;
    std::set<std::int64_t> seen;

    void add(const received& r);
    void collect(mqtt_client& client, const std::string& topic, std::size_t count, std::chrono::milliseconds timeout);
    /// Empty when first_seen is exactly seqs 1..n in increasing order; else what is wrong.
    std::string check_gapless(std::size_t n) const;
};

} // namespace mqchat::test
