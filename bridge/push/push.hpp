#pragma once
/// What a push provider's client reports for one push (fcm.hpp, apns.hpp);
/// push_sender decides from it what becomes of the queued push.

#include <string>

namespace mqchat::bridge {

enum class push_outcome {
    sent,
    retry,          ///< 429 / 5xx / no connection: try again later (retry_after_s when the server said)
    invalid_token,  ///< the token is dead (UNREGISTERED, 404, 410): delete the device
    rejected,       ///< the request itself is wrong (4xx): drop the push, log it
};

struct push_result {
    push_outcome outcome = push_outcome::retry;
    long retry_after_s = -1;
    std::string detail; ///< for the log
};

} // namespace mqchat::bridge
