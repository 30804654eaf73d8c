#pragma once
/// Answers requests (common/rpc.hpp). The ingest loop hands each stamped
/// request here and publishes what comes back: the reply to the caller's
/// inbox first, then any notices to other users (e.g. "you were added").

#include <string>
#include <string_view>
#include <vector>

#include "common/rpc.hpp"

namespace mqchat::bridge {

struct outgoing_message {
    std::string topic;
    std::string payload;
    std::string correlation_data; ///< MQTT 5 correlation data of the reply, or empty
};

class request_handler {
public:
    virtual ~request_handler() = default;
    virtual std::vector<outgoing_message> handle(const rpc::request& r) = 0;
    /// Whether `method` is one this handler answers (metrics label only those).
    virtual bool answers(std::string_view method) const = 0;
};

} // namespace mqchat::bridge
