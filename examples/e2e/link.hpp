// What the e2e module needs from the client's MQTT session: requests and a
// send that waits for its ack; and HTTP to the media service for files. chat_cli hands in its own.
#pragma once

#include <json/json.h>

#include <functional>
#include <string>

namespace e2e {

struct server {
    /// A request (docs/protocol.md, "Requests"): its result, or throws the server's error.
    std::function<Json::Value(const std::string& method, const Json::Value& params)> call;
    /// Publishes an envelope to a conversation and waits for its ack; returns the seq.
    std::function<long long(const std::string& conv, const Json::Value& envelope)> send;
    /// Subscribes to a topic (QoS 1).
    std::function<void(const std::string& topic)> subscribe;
    /// The next message that is not a reply, within `wait_ms`: false when none came.
    std::function<bool(int wait_ms, std::string& topic, std::string& payload)> next;
    /// PUTs the file at `path` to a media service upload URL; returns its JSON reply, throws when
    /// the service refuses.
    std::function<std::string(const std::string& url, const std::string& path)> upload;
    /// GETs a media service download URL into the file at `path`; throws when it fails.
    std::function<void(const std::string& url, const std::string& path)> download;
};

} // namespace e2e
