#pragma once
/// The one MQTT packet the gateway reads: a client's first, its CONNECT
/// (MQTT 3.1, 3.1.1 and 5). Everything after it passes through as bytes.
///
/// The gateway reads it for two things: the user name, for its log lines,
/// and — for a web visitor's knock login (a `k-…` name) — to put the
/// visitor's address in front of the password (common/forwarded.hpp), so the
/// plugin's per-address cap counts visitors and not the gateway.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mqchat::gateway {

/// How long the first packet in `bytes` is: 0 while its fixed header is not
/// all there yet (or, with `complete`, while its body is not); nullopt when
/// the bytes cannot start a CONNECT (another packet type or a bad length).
std::optional<std::size_t> connect_length(std::string_view bytes, bool& complete);

struct connect_packet {
    int version = 0; ///< 3, 4 (3.1.1) or 5
    std::string client_id, username;
    bool has_username = false, has_password = false;
    std::size_t flags_at = 0;    ///< offset of the connect flags in the body
    std::size_t password_at = 0; ///< offset of the password field in the body (its end when there is none)
};

/// Reads a whole CONNECT (fixed header included); nullopt when it is not
/// one or its fields do not add up to its length.
std::optional<connect_packet> parse_connect(std::string_view packet);

/// The same CONNECT with `password` as its password (the flag set); nullopt
/// when it would not fit (a password is at most 65,535 bytes).
std::optional<std::string> with_password(std::string_view packet, const connect_packet& parsed,
                                         std::string_view password);

/// The password of a parsed CONNECT ("" when it has none).
std::string_view password_of(std::string_view packet, const connect_packet& parsed);

} // namespace mqchat::gateway
