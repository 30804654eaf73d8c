#pragma once
/// A web visitor's own address, carried from mqchat-gateway to the plugin.
///
/// Behind the gateway every WebSocket client reaches Mosquitto from the
/// gateway's address, and Mosquitto 2.0 reads no PROXY protocol, so the
/// plugin's per-address cap on visitors' knock logins (docs/desks.md) would
/// count every visitor as one. The gateway therefore puts the address it
/// saw in front of a knock login's password — `mqchat-from:ADDRESS;` then
/// the password as sent — and the plugin takes it off again, believing it
/// only from the addresses its `plugin_opt_forwarded_by` names (the way a
/// web server believes X-Forwarded-For from its own proxies only).

#include <optional>
#include <string>
#include <string_view>

namespace mqchat::forwarded {

inline constexpr std::string_view marker = "mqchat-from:";

/// `password` with `address` in front.
std::string with_address(std::string_view address, std::string_view password);

struct login {
    std::string address, password;
};
/// The address and the password as sent, if `password` starts with the
/// marker; nullopt otherwise. A marked password whose address is not a
/// plausible numeric address (at most 45 characters of hex digits, dots and
/// colons, then ';') is returned with an empty address.
std::optional<login> split(std::string_view password);

} // namespace mqchat::forwarded
