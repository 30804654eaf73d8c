#include "raw_mqtt.hpp"

#include "environment.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace mqchat::test {

namespace {

using clock_type = std::chrono::steady_clock;

enum class wire { byte, u16, u32, varint, string, binary, pair };

wire wire_of(std::uint8_t id) {
    switch (id) {
    case PAYLOAD_FORMAT:
    case REQUEST_PROBLEM_INFO:
    case REQUEST_RESPONSE_INFO:
    case MAXIMUM_QOS:
    case RETAIN_AVAILABLE:
    case WILDCARD_SUB_AVAILABLE:
    case SUB_ID_AVAILABLE:
    case SHARED_SUB_AVAILABLE: return wire::byte;
    case SERVER_KEEP_ALIVE:
    case RECEIVE_MAXIMUM:
    case TOPIC_ALIAS_MAXIMUM:
    case TOPIC_ALIAS: return wire::u16;
    case MESSAGE_EXPIRY:
    case SESSION_EXPIRY:
    case WILL_DELAY:
    case MAXIMUM_PACKET_SIZE: return wire::u32;
    case SUBSCRIPTION_ID: return wire::varint;
    case CORRELATION_DATA:
    case AUTH_DATA: return wire::binary;
    case USER_PROPERTY: return wire::pair;
    default: return wire::string; // content type, response topic, client id, reason string…
    }
}

const char* property_name(std::uint8_t id) {
    switch (id) {
    case PAYLOAD_FORMAT: return "format";
    case MESSAGE_EXPIRY: return "expiry";
    case CONTENT_TYPE: return "content-type";
    case RESPONSE_TOPIC: return "response-topic";
    case CORRELATION_DATA: return "correlation";
    case SUBSCRIPTION_ID: return "sub-id";
    case SESSION_EXPIRY: return "session-expiry";
    case ASSIGNED_CLIENT_ID: return "assigned-id";
    case SERVER_KEEP_ALIVE: return "server-keep-alive";
    case AUTH_METHOD: return "auth-method";
    case AUTH_DATA: return "auth-data";
    case REQUEST_PROBLEM_INFO: return "request-problem-info";
    case WILL_DELAY: return "will-delay";
    case REQUEST_RESPONSE_INFO: return "request-response-info";
    case RESPONSE_INFO: return "response-info";
    case SERVER_REFERENCE: return "server-reference";
    case REASON_STRING: return "reason-string";
    case RECEIVE_MAXIMUM: return "receive-max";
    case TOPIC_ALIAS_MAXIMUM: return "alias-max";
    case TOPIC_ALIAS: return "alias";
    case MAXIMUM_QOS: return "max-qos";
    case RETAIN_AVAILABLE: return "retain-available";
    case USER_PROPERTY: return "user";
    case MAXIMUM_PACKET_SIZE: return "max-packet";
    case WILDCARD_SUB_AVAILABLE: return "wildcards-available";
    case SUB_ID_AVAILABLE: return "sub-ids-available";
    case SHARED_SUB_AVAILABLE: return "shared-available";
    default: return nullptr;
    }
}

/// Reads MQTT fields from a packet body; any read past the end marks it bad.
struct reader {
    const std::string& s;
    std::size_t at = 0;
    bool bad = false;

    std::size_t left() const { return at < s.size() ? s.size() - at : 0; }
    std::uint8_t byte() {
        if (left() < 1) return bad = true, 0;
        return static_cast<std::uint8_t>(s[at++]);
    }
    std::uint16_t u16() {
        const std::uint16_t hi = byte(), lo = byte();
        return static_cast<std::uint16_t>(hi << 8 | lo);
    }
    std::uint32_t u32() {
        std::uint32_t n = 0;
        for (int i = 0; i < 4; ++i) n = n << 8 | byte();
        return n;
    }
    std::uint32_t varint() {
        std::uint32_t n = 0;
        for (int shift = 0; shift < 28; shift += 7) {
            const std::uint8_t b = byte();
            n |= static_cast<std::uint32_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return n;
        }
        bad = true;
        return n;
    }
    std::string bytes(std::size_t n) {
        if (left() < n) {
            bad = true;
            at = s.size();
            return {};
        }
        std::string out = s.substr(at, n);
        at += n;
        return out;
    }
    std::string str() { return bytes(u16()); }
    std::string rest() { return bytes(left()); }

    mqtt_properties properties() {
        mqtt_properties out;
        const std::uint32_t len = varint();
        if (bad || len > left()) {
            bad = true;
            return out;
        }
        const std::size_t end = at + len;
        while (at < end && !bad) {
            mqtt_property p;
            p.id = static_cast<std::uint8_t>(varint());
            switch (wire_of(p.id)) {
            case wire::byte: p.number = byte(); break;
            case wire::u16: p.number = u16(); break;
            case wire::u32: p.number = u32(); break;
            case wire::varint: p.number = varint(); break;
            case wire::string:
            case wire::binary: p.value = str(); break;
            case wire::pair:
                p.value = str();
                p.second = str();
                break;
            }
            out.push_back(std::move(p));
        }
        if (at != end) bad = true;
        return out;
    }
};

std::string describe_publish(const mqtt_packet& p) {
    std::string out = "PUBLISH q" + std::to_string(p.qos) + " r" + (p.retain ? "1" : "0") + " d" + (p.dup ? "1" : "0");
    if (p.qos > 0) out += " id=" + std::to_string(p.packet_id);
    out += " '" + escape_bytes(p.topic) + "'";
    if (p.topic != p.resolved_topic) out += " (= '" + escape_bytes(p.resolved_topic) + "')";
    if (p.payload.size() <= 64) {
        out += " '" + escape_bytes(p.payload) + "'";
    } else { // long payloads by their start, length and FNV-1a hash
        std::uint32_t h = 2166136261u;
        for (const char c : p.payload) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
        char hash[16];
        std::snprintf(hash, sizeof hash, "%08x", h);
        out += " '" + escape_bytes(p.payload.substr(0, 32)) + "'... (" + std::to_string(p.payload.size()) +
               " bytes, fnv1a " + hash + ")";
    }
    return out;
}

} // namespace

const mqtt_property* find_property(const mqtt_properties& props, std::uint8_t id) {
    for (const auto& p : props)
        if (p.id == id) return &p;
    return nullptr;
}

const char* packet_name(int type) {
    static const char* const names[] = {"RESERVED", "CONNECT",  "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",
                                        "PUBREL",   "PUBCOMP",  "SUBSCRIBE", "SUBACK",    "UNSUBSCRIBE", "UNSUBACK",
                                        "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
    return type >= 0 && type < 16 ? names[type] : "?";
}

std::string escape_bytes(const std::string& s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
            out += ch;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

std::string hex_code(int code) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(code & 0xFF));
    return buf;
}

std::string describe(const mqtt_properties& props) {
    if (props.empty()) return "";
    std::string out = "{";
    for (std::size_t i = 0; i < props.size(); ++i) {
        const mqtt_property& p = props[i];
        if (i) out += ", ";
        const char* name = property_name(p.id);
        out += name ? name : "prop-" + hex_code(p.id);
        out += "=";
        switch (wire_of(p.id)) {
        case wire::byte:
        case wire::u16:
        case wire::u32:
        case wire::varint: out += std::to_string(p.number); break;
        case wire::string:
        case wire::binary: out.append("'").append(escape_bytes(p.value)).append("'"); break;
        case wire::pair:
            out.append("'").append(escape_bytes(p.value)).append("':'").append(escape_bytes(p.second)).append("'");
            break;
        }
    }
    return out + "}";
}

std::string describe(const mqtt_packet& p) {
    std::string out;
    auto codes = [&] {
        std::string s = "[";
        for (std::size_t i = 0; i < p.reasons.size(); ++i) s += (i ? "," : "") + hex_code(p.reasons[i]);
        return s + "]";
    };
    switch (p.type) {
    case CONNACK: out = std::string("CONNACK sp=") + (p.session_present ? "1" : "0") + " rc=" + hex_code(p.reason); break;
    case PUBLISH: out = describe_publish(p); break;
    case PUBACK:
    case PUBREC:
    case PUBREL:
    case PUBCOMP:
        out = std::string(packet_name(p.type)) + " id=" + std::to_string(p.packet_id) + " rc=" + hex_code(p.reason);
        break;
    case SUBACK:
    case UNSUBACK: out = std::string(packet_name(p.type)) + " id=" + std::to_string(p.packet_id) + " " + codes(); break;
    case DISCONNECT:
    case AUTH: out = std::string(packet_name(p.type)) + " rc=" + hex_code(p.reason); break;
    default: out = packet_name(p.type); break;
    }
    if (p.flags != 0 && p.type != PUBLISH && p.type != PUBREL) out += " flags=" + hex_code(p.flags);
    if (!p.properties.empty()) out += " " + describe(p.properties);
    if (!p.malformed.empty()) out += " MALFORMED(" + p.malformed + ")";
    return out;
}

namespace mqtt_encode {

std::string u16(std::size_t n) { return {static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)}; }

std::string u32(std::uint32_t n) {
    return {static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xFF), static_cast<char>((n >> 8) & 0xFF),
            static_cast<char>(n & 0xFF)};
}

std::string varint(std::size_t n) {
    std::string out;
    do {
        unsigned char b = n % 128;
        n /= 128;
        if (n) b |= 0x80;
        out += static_cast<char>(b);
    } while (n);
    return out;
}

std::string str(const std::string& s) { return u16(s.size()) + s; }

std::string properties(const mqtt_properties& props) {
    std::string body;
    for (const auto& p : props) {
        body += varint(p.id);
        switch (wire_of(p.id)) {
        case wire::byte: body += static_cast<char>(p.number & 0xFF); break;
        case wire::u16: body += u16(p.number); break;
        case wire::u32: body += u32(p.number); break;
        case wire::varint: body += varint(p.number); break;
        case wire::string:
        case wire::binary: body += str(p.value); break;
        case wire::pair: body += str(p.value) + str(p.second); break;
        }
    }
    return varint(body.size()) + body;
}

} // namespace mqtt_encode

// ---------------------------------------------------------------- client

raw_mqtt::raw_mqtt(int port, int protocol) : protocol_(protocol) {
    fd_ = connect_loopback(port);
    if (fd_ < 0) throw std::runtime_error("raw MQTT connect to port " + std::to_string(port) + " failed");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_mqtt::raw_mqtt(const raw_websocket& ws, int protocol) : protocol_(protocol), websocket_(true), frame_max_(ws.frame_max) {
    fd_ = connect_loopback(ws.port, ws.from);
    if (fd_ < 0) {
        throw std::runtime_error("WebSocket connect to port " + std::to_string(ws.port) + " from " + ws.from + " failed");
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string request = "GET " + ws.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(ws.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!ws.subprotocol.empty()) request += "Sec-WebSocket-Protocol: " + ws.subprotocol + "\r\n";
    request += "\r\n";
    ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    // The answer's head; what follows it is already WebSocket frames.
    std::string head;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (head.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        char chunk[4096];
        const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
        if (got <= 0) break;
        head.append(chunk, static_cast<std::size_t>(got));
    }
    const auto end = head.find("\r\n\r\n");
    const std::string status = head.substr(0, head.find("\r\n"));
    // RFC 6455's example key has this answer.
    if (end == std::string::npos || status.rfind("HTTP/1.1 101", 0) != 0 ||
        head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos) {
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error("WebSocket upgrade refused: " + (status.empty() ? "(no answer)" : status));
    }
    frames_ = head.substr(end + 4);
    unwrap_frames();
}

raw_mqtt::~raw_mqtt() { drop(); }

bool raw_mqtt::unwrap_frames() {
    while (frames_.size() >= 2) {
        const auto b0 = static_cast<unsigned char>(frames_[0]), b1 = static_cast<unsigned char>(frames_[1]);
        std::size_t length = b1 & 0x7F, at = 2;
        if (length == 126) {
            if (frames_.size() < 4) return true;
            length = (static_cast<unsigned char>(frames_[2]) << 8) | static_cast<unsigned char>(frames_[3]);
            at = 4;
        } else if (length == 127) {
            if (frames_.size() < 10) return true;
            length = 0;
            for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<unsigned char>(frames_[i]);
            at = 10;
        }
        if (b1 & 0x80) at += 4; // a server never masks; skip a key if one does
        if (frames_.size() < at + length) return true;
        const std::string payload = frames_.substr(at, length);
        frames_.erase(0, at + length);
        const int opcode = b0 & 0x0F;
        if (opcode == 0x8) return false; // close
        if (opcode == 0x0 || opcode == 0x1 || opcode == 0x2) buffer_ += payload;
    }
    return true;
}

void raw_mqtt::drop() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = true;
}

std::uint16_t raw_mqtt::next_id() {
    if (++last_id_ == 0) last_id_ = 1;
    return last_id_;
}

void raw_mqtt::write_all(const std::string& plain) {
    std::string bytes = plain;
    if (websocket_) {
        // Binary frames, masked as a client's must be (a fixed key: tests only).
        bytes.clear();
        const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
        const std::size_t step = frame_max_ ? frame_max_ : std::max<std::size_t>(plain.size(), 1);
        for (std::size_t at = 0; at < plain.size(); at += step) {
            const std::string part = plain.substr(at, step);
            // Each piece a binary message of its own: MQTT over WebSocket
            // lets a packet span messages, and a receiver must join them.
            bytes += static_cast<char>(0x82);
            if (part.size() < 126) {
                bytes += static_cast<char>(0x80 | part.size());
            } else if (part.size() < 65536) {
                bytes += static_cast<char>(0x80 | 126);
                bytes += static_cast<char>(part.size() >> 8);
                bytes += static_cast<char>(part.size() & 0xFF);
            } else {
                bytes += static_cast<char>(0x80 | 127);
                for (int i = 7; i >= 0; --i) bytes += static_cast<char>((part.size() >> (8 * i)) & 0xFF);
            }
            bytes.append(reinterpret_cast<const char*>(key), 4);
            for (std::size_t i = 0; i < part.size(); ++i) bytes += static_cast<char>(part[i] ^ key[i % 4]);
        }
    }
    std::size_t done = 0;
    while (fd_ >= 0 && done < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return; // the broker closed; reading says so
        done += static_cast<std::size_t>(n);
    }
}

void raw_mqtt::send_packet(std::uint8_t first_byte, const std::string& body) {
    write_all(std::string(1, static_cast<char>(first_byte)) + mqtt_encode::varint(body.size()) + body);
}

void raw_mqtt::send_bytes(const std::string& bytes) {
    sent_.push_back("BYTES " + escape_bytes(bytes.substr(0, 40)));
    write_all(bytes);
}

void raw_mqtt::send_connect(const raw_connect& c) {
    using namespace mqtt_encode;
    protocol_ = c.protocol;
    std::uint8_t flags = c.clean ? 0x02 : 0;
    if (c.will) flags = static_cast<std::uint8_t>(flags | 0x04 | (c.will->qos & 3) << 3 | (c.will->retain ? 0x20 : 0));
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    std::string body = str("MQTT") + static_cast<char>(c.protocol) + static_cast<char>(flags) + u16(c.keep_alive);
    if (c.protocol == 5) body += properties(c.properties);
    body += str(c.client_id);
    if (c.will) {
        if (c.protocol == 5) body += properties(c.will->properties);
        body += str(c.will->topic) + str(c.will->payload);
    }
    if (c.username) body += str(*c.username);
    if (c.password) body += str(*c.password);
    sent_.push_back("CONNECT v" + std::to_string(c.protocol) + " '" + escape_bytes(c.client_id) + "'");
    send_packet(CONNECT << 4, body);
}

std::uint16_t raw_mqtt::send_subscribe(const std::vector<raw_subscription>& subs, const mqtt_properties& props,
                                       std::uint16_t packet_id) {
    using namespace mqtt_encode;
    const std::uint16_t id = packet_id ? packet_id : next_id();
    std::string body = u16(id);
    if (protocol_ == 5) body += properties(props);
    std::string what;
    for (const auto& s : subs) {
        std::uint8_t options = static_cast<std::uint8_t>(s.qos & 3);
        if (s.no_local) options |= 0x04;
        if (s.retain_as_published) options |= 0x08;
        options |= static_cast<std::uint8_t>((s.retain_handling & 3) << 4);
        body += str(s.filter) + static_cast<char>(options);
        what += " '" + escape_bytes(s.filter) + "'";
    }
    sent_.push_back("SUBSCRIBE id=" + std::to_string(id) + what);
    send_packet(SUBSCRIBE << 4 | 0x02, body);
    return id;
}

std::uint16_t raw_mqtt::send_unsubscribe(const std::vector<std::string>& filters, const mqtt_properties& props,
                                         std::uint16_t packet_id) {
    using namespace mqtt_encode;
    const std::uint16_t id = packet_id ? packet_id : next_id();
    std::string body = u16(id);
    if (protocol_ == 5) body += properties(props);
    for (const auto& f : filters) body += str(f);
    sent_.push_back("UNSUBSCRIBE id=" + std::to_string(id));
    send_packet(UNSUBSCRIBE << 4 | 0x02, body);
    return id;
}

std::uint16_t raw_mqtt::send_publish(const raw_publish& m) {
    using namespace mqtt_encode;
    const std::uint16_t id = m.qos > 0 ? (m.packet_id ? m.packet_id : next_id()) : 0;
    std::string body = str(m.topic);
    if (m.qos > 0) body += u16(id);
    if (protocol_ == 5) body += properties(m.properties);
    body += m.payload;
    const auto first = static_cast<std::uint8_t>(PUBLISH << 4 | (m.dup ? 0x08 : 0) | (m.qos & 3) << 1 | (m.retain ? 1 : 0));
    sent_.push_back("PUBLISH q" + std::to_string(m.qos) + " id=" + std::to_string(id) + " '" +
                    escape_bytes(m.topic.substr(0, 60)) + "'");
    send_packet(first, body);
    return id;
}

void raw_mqtt::send_ack(mqtt_type type, std::uint16_t packet_id, int reason, const mqtt_properties& props) {
    std::string body = mqtt_encode::u16(packet_id);
    if (protocol_ == 5 && (reason != 0 || !props.empty())) {
        body += static_cast<char>(reason);
        if (!props.empty()) body += mqtt_encode::properties(props);
    }
    sent_.push_back(std::string(packet_name(type)) + " id=" + std::to_string(packet_id));
    send_packet(static_cast<std::uint8_t>(type << 4 | (type == PUBREL ? 0x02 : 0)), body);
}

void raw_mqtt::send_pingreq() {
    sent_.push_back("PINGREQ");
    send_packet(PINGREQ << 4, "");
}

void raw_mqtt::send_disconnect(int reason, const mqtt_properties& props) {
    std::string body;
    if (protocol_ == 5 && (reason != 0 || !props.empty())) {
        body += static_cast<char>(reason);
        if (!props.empty()) body += mqtt_encode::properties(props);
    }
    sent_.push_back("DISCONNECT rc=" + hex_code(reason));
    send_packet(DISCONNECT << 4, body);
}

// ---- reading

bool raw_mqtt::read_some(std::chrono::milliseconds wait) {
    if (fd_ < 0 || closed_) return false;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, wait.count())));
    if (ready <= 0) return true; // nothing yet
    char chunk[65536];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) {
        closed_ = true;
        return false;
    }
    if (websocket_) {
        frames_.append(chunk, static_cast<std::size_t>(got));
        if (!unwrap_frames()) closed_ = true; // the packets before the close frame still count
    } else {
        buffer_.append(chunk, static_cast<std::size_t>(got));
    }
    // Take every complete packet off the buffer.
    while (buffer_.size() >= 2) {
        std::size_t length = 0, at = 1;
        bool complete_header = false;
        for (int shift = 0; at < buffer_.size() && shift < 28; shift += 7) {
            const auto b = static_cast<unsigned char>(buffer_[at++]);
            length |= static_cast<std::size_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) {
                complete_header = true;
                break;
            }
        }
        if (!complete_header || buffer_.size() < at + length) break;
        const auto first = static_cast<std::uint8_t>(buffer_[0]);
        std::string raw = buffer_.substr(0, at + length);
        buffer_.erase(0, at + length);
        decode(first, std::move(raw), at);
    }
    return true;
}

void raw_mqtt::decode(std::uint8_t first, std::string raw, std::size_t header_len) {
    mqtt_packet p;
    p.type = first >> 4;
    p.flags = first & 0x0F;
    const std::string body = raw.substr(header_len);
    p.raw = std::move(raw);
    reader r{body};
    const bool v5 = protocol_ == 5;
    switch (p.type) {
    case CONNACK:
        p.session_present = r.byte() & 1;
        p.reason = r.byte();
        if (v5 && r.left()) p.properties = r.properties();
        break;
    case PUBLISH: {
        p.dup = p.flags & 0x08;
        p.qos = (p.flags >> 1) & 3;
        p.retain = p.flags & 1;
        p.topic = r.str();
        if (p.qos > 0) p.packet_id = r.u16();
        if (v5) p.properties = r.properties();
        p.payload = r.rest();
        p.resolved_topic = p.topic;
        if (const mqtt_property* alias = find_property(p.properties, TOPIC_ALIAS)) {
            const auto a = static_cast<std::uint16_t>(alias->number);
            if (!p.topic.empty()) aliases_[a] = p.topic;
            else if (aliases_.count(a)) p.resolved_topic = aliases_[a];
        }
        break;
    }
    case PUBACK:
    case PUBREC:
    case PUBREL:
    case PUBCOMP:
        p.packet_id = r.u16();
        if (v5 && r.left()) p.reason = r.byte();
        if (v5 && r.left()) p.properties = r.properties();
        break;
    case SUBACK:
    case UNSUBACK:
        p.packet_id = r.u16();
        if (v5) p.properties = r.properties();
        while (r.left()) p.reasons.push_back(r.byte());
        break;
    case DISCONNECT:
    case AUTH:
        if (r.left()) p.reason = r.byte();
        if (r.left()) p.properties = r.properties();
        break;
    default: break;
    }
    if (r.bad) p.malformed = "truncated";
    else if (r.left()) p.malformed = std::to_string(r.left()) + " bytes left over";
    log_.push_back(std::move(p));
    react(log_.back());
}

void raw_mqtt::react(const mqtt_packet& p) {
    if (!auto_ack) return;
    if (p.type == PUBLISH && p.qos == 1) send_ack(PUBACK, p.packet_id);
    else if (p.type == PUBLISH && p.qos == 2) send_ack(PUBREC, p.packet_id);
    else if (p.type == PUBREL) send_ack(PUBCOMP, p.packet_id);
    else if (p.type == PUBREC && p.reason < 0x80) send_ack(PUBREL, p.packet_id);
}

std::optional<std::size_t> raw_mqtt::find(const std::function<bool(const mqtt_packet&)>& pred,
                                          std::chrono::milliseconds timeout, std::size_t from) {
    const auto until = clock_type::now() + timeout;
    std::size_t checked = from;
    while (true) {
        for (; checked < log_.size(); ++checked)
            if (pred(log_[checked])) return seen(checked);
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
        if (left.count() <= 0 || !read_some(left)) {
            for (; checked < log_.size(); ++checked)
                if (pred(log_[checked])) return seen(checked);
            return std::nullopt;
        }
    }
}

std::size_t raw_mqtt::seen(std::size_t at) {
    cursor_ = std::max(cursor_, at + 1);
    return at;
}

const mqtt_packet* raw_mqtt::wait_for(const std::function<bool(const mqtt_packet&)>& pred,
                                      std::chrono::milliseconds timeout, std::size_t from) {
    const auto at = find(pred, timeout, from);
    return at ? &log_[*at] : nullptr;
}

bool raw_mqtt::wait_publishes(std::size_t n, std::chrono::milliseconds timeout, std::size_t from) {
    std::size_t count = 0;
    if (n == 0) return true;
    return wait_for([&](const mqtt_packet& p) { return p.type == PUBLISH && ++count >= n; }, timeout, from) != nullptr;
}

const mqtt_packet* raw_mqtt::next(std::chrono::milliseconds timeout) {
    const auto at = find([](const mqtt_packet&) { return true; }, timeout, cursor_);
    return at ? &log_[*at] : nullptr;
}

void raw_mqtt::pump(std::chrono::milliseconds duration) {
    const auto until = clock_type::now() + duration;
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
        if (left.count() <= 0 || !read_some(left)) return;
    }
}

bool raw_mqtt::wait_closed(std::chrono::milliseconds timeout) {
    pump(timeout);
    return closed_;
}

int raw_mqtt::connect(const raw_connect& c, std::chrono::milliseconds timeout) {
    const std::size_t from = log_.size();
    send_connect(c);
    const mqtt_packet* p = wait_for([](const mqtt_packet& x) { return x.type == CONNACK || x.type == DISCONNECT; },
                                    timeout, from);
    return p && p->type == CONNACK ? p->reason : -1;
}

std::vector<int> raw_mqtt::subscribe(const std::vector<raw_subscription>& subs, const mqtt_properties& props,
                                     std::chrono::milliseconds timeout) {
    const std::size_t from = log_.size();
    const std::uint16_t id = send_subscribe(subs, props);
    const mqtt_packet* p =
        wait_for([&](const mqtt_packet& x) { return x.type == SUBACK && x.packet_id == id; }, timeout, from);
    if (!p) return {};
    return {p->reasons.begin(), p->reasons.end()};
}

int raw_mqtt::subscribe(const std::string& filter, int qos) {
    const std::vector<int> codes = subscribe({raw_subscription{filter, qos}});
    return codes.empty() ? -1 : codes[0];
}

std::vector<int> raw_mqtt::unsubscribe(const std::vector<std::string>& filters, const mqtt_properties& props,
                                       std::chrono::milliseconds timeout) {
    const std::size_t from = log_.size();
    const std::uint16_t id = send_unsubscribe(filters, props);
    const mqtt_packet* p =
        wait_for([&](const mqtt_packet& x) { return x.type == UNSUBACK && x.packet_id == id; }, timeout, from);
    if (!p) return {};
    if (protocol_ != 5) return std::vector<int>(filters.size(), 0);
    return {p->reasons.begin(), p->reasons.end()};
}

int raw_mqtt::publish(const raw_publish& m, std::chrono::milliseconds timeout) {
    const std::size_t from = log_.size();
    const std::uint16_t id = send_publish(m);
    if (m.qos == 0) return 0;
    const std::uint8_t answer = m.qos == 1 ? PUBACK : PUBREC;
    const mqtt_packet* p = wait_for(
        [&](const mqtt_packet& x) { return (x.type == answer && x.packet_id == id) || x.type == DISCONNECT; }, timeout,
        from);
    if (!p || p->type == DISCONNECT) return -1;
    const int code = p->reason;
    if (m.qos == 2 && auto_ack && code < 0x80 &&
        !wait_for([&](const mqtt_packet& x) { return (x.type == PUBCOMP && x.packet_id == id) || x.type == DISCONNECT; },
                  timeout, from))
        return -1;
    return code;
}

bool raw_mqtt::ping(std::chrono::milliseconds timeout) {
    const std::size_t from = log_.size();
    send_pingreq();
    return wait_for([](const mqtt_packet& x) { return x.type == PINGRESP; }, timeout, from) != nullptr;
}

std::vector<mqtt_packet> raw_mqtt::publishes(std::size_t from) const {
    std::vector<mqtt_packet> out;
    for (std::size_t i = from; i < log_.size(); ++i)
        if (log_[i].type == PUBLISH) out.push_back(log_[i]);
    return out;
}

std::unique_ptr<raw_mqtt> raw_connected(int port, const raw_connect& c, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(10);
    while (std::chrono::steady_clock::now() < until) {
        auto raw = std::make_unique<raw_mqtt>(port, c.protocol);
        const int rc = raw->connect(c);
        if (rc == 0) return raw;
        if (rc != -1) return nullptr;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
    return nullptr;
}

} // namespace mqchat::test
