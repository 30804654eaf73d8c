#pragma once
/// A logged-in user that makes requests (docs/protocol.md, "Requests") and
/// reads its inbox: replies matched by MQTT 5 correlation data, everything
/// else kept as notices.

#include <json/json.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mqtt_client.hpp"

namespace mqchat::test {

struct rpc_caller {
    std::string name;
    std::unique_ptr<mqtt_client> client;
    int next = 0;
    std::vector<Json::Value> notices; ///< inbox messages that were not replies

    /// Logs in and subscribes to the inbox; throws when either fails.
    rpc_caller(int port, const std::string& user, const std::string& password, int protocol = 5,
               const std::string& bind_address = "");
    std::string inbox() const { return "chat/user/" + name + "/inbox"; }

    /// Sends a request and returns the reply; throws when none comes in 10 s.
    Json::Value call(const std::string& method, const Json::Value& params = Json::Value(Json::objectValue));
    Json::Value reply(const std::string& corr);
    /// The code of the next error notice (not a reply) on the inbox, or "(none)".
    std::string notice_error();
    /// Waits up to 10 s for a notice (not a reply) with the given "notice"
    /// value; null when none came.
    Json::Value notice(const std::string& kind);
    /// Publishes `envelope` on chat/conv/{conv}/send and returns what the
    /// inbox says of it: the ack or the error naming its id; throws when
    /// neither comes in 10 s.
    Json::Value send(std::int64_t conv, const Json::Value& envelope);
};

/// A JSON object from key/value pairs: params({{"conv", 12}, {"limit", 50}}).
Json::Value params(std::initializer_list<std::pair<const char*, Json::Value>> items);

/// A reply's error code ("not_member", …), or "" when it carries a result.
inline std::string code_of(const Json::Value& reply) { return reply["error"]["code"].asString(); }

} // namespace mqchat::test
