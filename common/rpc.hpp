#pragma once
/// Requests and replies over MQTT (docs/protocol.md, "Requests").
///
/// A client publishes a JSON object on `{prefix}rpc/{method}`. The reply goes
/// to the caller's inbox, matched by MQTT 5 correlation data, or by the
/// `corr` string an MQTT 3.1.1 client puts in the request. The plugin checks
/// the request, stamps the caller and moves it to `{prefix}rpc/{method}/stamped`,
/// where the bridge answers it.

#include <json/json.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/envelope.hpp"

namespace mqchat::rpc {

inline constexpr std::size_t max_corr_length = 128;

struct request {
    std::string method;
    Json::Value params{Json::objectValue}; ///< the request body without corr / reply_to
    std::string corr;                      ///< MQTT 3.1.1 correlation (a string), or empty
    std::string corr_data;                 ///< MQTT 5 correlation data (bytes), or empty
    std::string caller;                    ///< stamped: the authenticated user
    bool guest = false;                    ///< stamped: the caller logged in with a guest token
    std::string site_key;                  ///< stamped: the site key's id when the caller knocked with one
};

/// Checks a client's request body: a JSON object of at most `max_payload`
/// bytes. `corr` (a string of at most 128 characters) and `reply_to` are
/// taken out of it; `reply_to` is returned for the plugin to check. On
/// failure, `out.corr` is set when the body had a usable one, so the error
/// reply can still be matched.
bool parse_client_request(std::string_view payload, std::size_t max_payload, request& out, std::string& reply_to,
                          envelope_error& error);

/// What the plugin forwards: {"caller", "guest"?, "site_key"?, "params", "corr"?, "corr_data"? (base64)}.
std::string stamp(const request& r);
/// The bridge's side of stamp(); `method` comes from the topic.
bool parse_stamped(std::string_view payload, std::string_view method, request& out, std::string& error);

/// The reply on the caller's inbox: {"method", "corr"?, "result": …}.
std::string result_json(const request& r, const Json::Value& result);
/// An error reply: {"method", "corr"?, "error": {"code", "message", "retry_after_ms"?}};
/// `retry_after_ms` > 0 says when to try again (`overloaded`).
std::string error_json(const request& r, std::string_view code, std::string_view message,
                       std::int64_t retry_after_ms = 0);

} // namespace mqchat::rpc
