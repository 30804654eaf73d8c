// Fuzz target for a web client's first packet as mqchat-gateway reads it
// (gateway/mqtt_connect.hpp) and the forwarded address the plugin takes off
// a password (common/forwarded.hpp): bytes a browser controls completely.
//
// Feeds arbitrary bytes as the start of a WebSocket client's stream and checks:
//  - connect_length never claims a complete packet longer than the input;
//  - a CONNECT parse_connect accepts has its password inside the packet, and
//    with_password(p) gives a packet that parses again with the same
//    version, client id and user name, and exactly p as its password;
//  - putting the address in front of that password and splitting it again
//    gives back the address and the password as they were;
//  - forwarded::split on arbitrary bytes returns an address only made of hex
//    digits, dots and colons, and rebuilding from it gives the input back.
// A violated invariant stops the run with __builtin_trap().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/forwarded.hpp"
#include "mqtt_connect.hpp"

using namespace mqchat;
using namespace mqchat::gateway;

namespace {
void check(bool ok) {
    if (!ok) __builtin_trap();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    bool complete = false;
    const auto length = connect_length(bytes, complete);
    if (length && complete) check(*length <= bytes.size());

    if (length && complete) {
        const std::string_view packet = bytes.substr(0, *length);
        if (const auto c = parse_connect(packet)) {
            const std::string_view password = password_of(packet, *c);
            check(!c->has_password || (password.data() >= packet.data() &&
                                       password.data() + password.size() <= packet.data() + packet.size()));
            const std::string fresh = forwarded::with_address("203.0.113.7", password);
            if (const auto again = with_password(packet, *c, fresh)) {
                const auto d = parse_connect(*again);
                check(d.has_value());
                check(d->version == c->version && d->client_id == c->client_id && d->username == c->username);
                check(d->has_password && password_of(*again, *d) == fresh);
                const auto back = forwarded::split(password_of(*again, *d));
                check(back && back->address == "203.0.113.7" && back->password == password);
            }
        }
    }

    if (const auto l = forwarded::split(bytes)) {
        for (char ch : l->address)
            check((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == '.' ||
                  ch == ':');
        if (!l->address.empty()) check(forwarded::with_address(l->address, l->password) == bytes);
    }
    return 0;
}
