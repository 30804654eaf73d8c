#include "mqtt_connect.hpp"

#include <cstdint>

namespace mqchat::gateway {

namespace {

/// A variable byte integer (MQTT's remaining length, v5's property length):
/// its value and size, nullopt when longer than four bytes; size 0 while
/// the bytes end before it does.
struct varint {
    std::uint32_t value = 0;
    std::size_t size = 0;
};
std::optional<varint> read_varint(std::string_view bytes, std::size_t at) {
    varint v;
    std::uint32_t shift = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (at + i >= bytes.size()) return varint{};
        const auto b = static_cast<unsigned char>(bytes[at + i]);
        v.value |= static_cast<std::uint32_t>(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            v.size = i + 1;
            return v;
        }
        shift += 7;
    }
    return std::nullopt;
}

void write_varint(std::string& out, std::size_t value) {
    do {
        unsigned char b = value & 0x7F;
        value >>= 7;
        if (value) b |= 0x80;
        out += static_cast<char>(b);
    } while (value);
}

/// Reads the body of a CONNECT field by field.
class reader {
public:
    explicit reader(std::string_view body) : body_(body) {}
    bool bytes(std::size_t n) {
        if (body_.size() - at_ < n) return false;
        at_ += n;
        return true;
    }
    std::optional<unsigned char> byte() {
        if (at_ >= body_.size()) return std::nullopt;
        return static_cast<unsigned char>(body_[at_++]);
    }
    /// A two-byte length and that many bytes.
    std::optional<std::string_view> field() {
        if (body_.size() - at_ < 2) return std::nullopt;
        const std::size_t n = (static_cast<unsigned char>(body_[at_]) << 8) | static_cast<unsigned char>(body_[at_ + 1]);
        if (body_.size() - at_ - 2 < n) return std::nullopt;
        const std::string_view f = body_.substr(at_ + 2, n);
        at_ += 2 + n;
        return f;
    }
    /// v5 properties: a length and that many bytes.
    bool properties() {
        const auto len = read_varint(body_, at_);
        if (!len || len->size == 0) return false;
        at_ += len->size;
        return bytes(len->value);
    }
    std::size_t at() const { return at_; }
    bool done() const { return at_ == body_.size(); }

private:
    std::string_view body_;
    std::size_t at_ = 0;
};

} // namespace

std::optional<std::size_t> connect_length(std::string_view bytes, bool& complete) {
    complete = false;
    if (bytes.empty()) return 0;
    if (static_cast<unsigned char>(bytes[0]) != 0x10) return std::nullopt;
    const auto len = read_varint(bytes, 1);
    if (!len) return std::nullopt;
    if (len->size == 0) return 0;
    const std::size_t total = 1 + len->size + len->value;
    complete = bytes.size() >= total;
    return total;
}

std::optional<connect_packet> parse_connect(std::string_view packet) {
    bool complete = false;
    const auto total = connect_length(packet, complete);
    if (!total || !complete || *total != packet.size()) return std::nullopt;
    const auto len = read_varint(packet, 1);
    const std::string_view body = packet.substr(1 + len->size);
    reader r(body);
    connect_packet c;
    const auto protocol = r.field();
    const auto level = r.byte();
    if (!protocol || !level) return std::nullopt;
    if (!((*protocol == "MQTT" && (*level == 4 || *level == 5)) || (*protocol == "MQIsdp" && *level == 3)))
        return std::nullopt;
    c.version = *level;
    c.flags_at = r.at();
    const auto flags = r.byte();
    if (!flags || (*flags & 0x01) || !r.bytes(2)) return std::nullopt; // reserved bit, keep alive
    if (c.version == 5 && !r.properties()) return std::nullopt;
    const auto id = r.field();
    if (!id) return std::nullopt;
    c.client_id = *id;
    if (*flags & 0x04) { // a will: v5 will properties, topic, payload
        if (c.version == 5 && !r.properties()) return std::nullopt;
        if (!r.field() || !r.field()) return std::nullopt;
    }
    if (*flags & 0x80) {
        const auto user = r.field();
        if (!user) return std::nullopt;
        c.username = *user;
        c.has_username = true;
    }
    c.password_at = r.at();
    if (*flags & 0x40) {
        if (!r.field()) return std::nullopt;
        c.has_password = true;
    }
    if (!r.done()) return std::nullopt;
    return c;
}

std::string_view password_of(std::string_view packet, const connect_packet& parsed) {
    if (!parsed.has_password) return {};
    const auto len = read_varint(packet, 1);
    reader r(packet.substr(1 + len->size + parsed.password_at));
    return r.field().value_or(std::string_view{});
}

std::optional<std::string> with_password(std::string_view packet, const connect_packet& parsed,
                                         std::string_view password) {
    if (password.size() > 0xFFFF) return std::nullopt;
    const auto len = read_varint(packet, 1);
    const std::string_view body = packet.substr(1 + len->size);
    std::string new_body(body.substr(0, parsed.password_at));
    new_body[parsed.flags_at] = static_cast<char>(static_cast<unsigned char>(new_body[parsed.flags_at]) | 0x40);
    new_body += static_cast<char>(password.size() >> 8);
    new_body += static_cast<char>(password.size() & 0xFF);
    new_body += password;
    if (new_body.size() > 268'435'455) return std::nullopt;
    std::string out(1, '\x10');
    write_varint(out, new_body.size());
    out += new_body;
    return out;
}

} // namespace mqchat::gateway
