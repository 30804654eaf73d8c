#include "forwarded.hpp"

namespace mqchat::forwarded {

std::string with_address(std::string_view address, std::string_view password) {
    std::string out(marker);
    out += address;
    out += ';';
    out += password;
    return out;
}

std::optional<login> split(std::string_view password) {
    if (password.substr(0, marker.size()) != marker) return std::nullopt;
    password.remove_prefix(marker.size());
    const auto end = password.find(';');
    login l;
    if (end == std::string_view::npos || end == 0 || end > 45) return l;
    const std::string_view address = password.substr(0, end);
    for (char c : address) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':';
        if (!ok) return l;
    }
    l.address = address;
    l.password = password.substr(end + 1);
    return l;
}

} // namespace mqchat::forwarded
