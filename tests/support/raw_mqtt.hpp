#pragma once
/// A bare MQTT 3.1.1 and 5 client on a plain TCP socket, for tests that must
/// control every byte: it encodes packets itself (so it can send what
/// libmosquitto refuses to: NUL or malformed UTF-8 in a topic, a wildcard in
/// a PUBLISH, a retained will, any flag or property), and it records every
/// packet the broker sends, raw and decoded, in arrival order.
///
/// It has no thread of its own: packets are read while the test waits for
/// one (connect(), wait_for(), ping(), pump()…). Incoming QoS 1 and 2
/// publishes are acknowledged as they are read unless auto_ack is off, which
/// lets a test leave them unacknowledged to see them redelivered.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mqchat::test {

/// MQTT control packet types (the high nibble of the first byte).
enum mqtt_type : std::uint8_t {
    CONNECT = 1,
    CONNACK = 2,
    PUBLISH = 3,
    PUBACK = 4,
    PUBREC = 5,
    PUBREL = 6,
    PUBCOMP = 7,
    SUBSCRIBE = 8,
    SUBACK = 9,
    UNSUBSCRIBE = 10,
    UNSUBACK = 11,
    PINGREQ = 12,
    PINGRESP = 13,
    DISCONNECT = 14,
    AUTH = 15,
};

/// MQTT 5 property identifiers.
enum mqtt_prop : std::uint8_t {
    PAYLOAD_FORMAT = 0x01,
    MESSAGE_EXPIRY = 0x02,
    CONTENT_TYPE = 0x03,
    RESPONSE_TOPIC = 0x08,
    CORRELATION_DATA = 0x09,
    SUBSCRIPTION_ID = 0x0B,
    SESSION_EXPIRY = 0x11,
    ASSIGNED_CLIENT_ID = 0x12,
    SERVER_KEEP_ALIVE = 0x13,
    AUTH_METHOD = 0x15,
    AUTH_DATA = 0x16,
    REQUEST_PROBLEM_INFO = 0x17,
    WILL_DELAY = 0x18,
    REQUEST_RESPONSE_INFO = 0x19,
    RESPONSE_INFO = 0x1A,
    SERVER_REFERENCE = 0x1C,
    REASON_STRING = 0x1F,
    RECEIVE_MAXIMUM = 0x21,
    TOPIC_ALIAS_MAXIMUM = 0x22,
    TOPIC_ALIAS = 0x23,
    MAXIMUM_QOS = 0x24,
    RETAIN_AVAILABLE = 0x25,
    USER_PROPERTY = 0x26,
    MAXIMUM_PACKET_SIZE = 0x27,
    WILDCARD_SUB_AVAILABLE = 0x28,
    SUB_ID_AVAILABLE = 0x29,
    SHARED_SUB_AVAILABLE = 0x2A,
};

/// One MQTT 5 property. Its wire type follows from the identifier: numbers
/// (byte, two- and four-byte integers, variable byte integers) are in
/// `number`; strings and binary data in `value`; a user property's name in
/// `value` and its value in `second`.
struct mqtt_property {
    std::uint8_t id = 0;
    std::uint32_t number = 0;
    std::string value;
    std::string second;

    static mqtt_property num(std::uint8_t id, std::uint32_t n) { return {id, n, {}, {}}; }
    static mqtt_property str(std::uint8_t id, std::string s) { return {id, 0, std::move(s), {}}; }
    static mqtt_property user(std::string name, std::string v) { return {USER_PROPERTY, 0, std::move(name), std::move(v)}; }
    bool operator==(const mqtt_property& o) const {
        return id == o.id && number == o.number && value == o.value && second == o.second;
    }
};
using mqtt_properties = std::vector<mqtt_property>;

/// The first property with `id`, or nullptr.
const mqtt_property* find_property(const mqtt_properties& props, std::uint8_t id);

/// A packet as the broker sent it: the raw bytes, and what they say.
struct mqtt_packet {
    std::uint8_t type = 0;  ///< mqtt_type
    std::uint8_t flags = 0; ///< the low nibble of the first byte
    std::string raw;        ///< the whole packet: fixed header, variable header, payload

    int reason = 0;               ///< CONNACK return/reason code; PUBACK…PUBCOMP, DISCONNECT, AUTH reason code
    bool session_present = false; ///< CONNACK
    std::uint16_t packet_id = 0;  ///< PUBLISH (QoS > 0), PUBACK…PUBCOMP, SUBACK, UNSUBACK
    std::vector<std::uint8_t> reasons; ///< SUBACK / UNSUBACK (MQTT 5) codes, one per filter

    std::string topic; ///< PUBLISH: the topic name as sent (empty when only an alias was sent)
    std::string resolved_topic; ///< PUBLISH: the topic, an alias resolved
    std::string payload;
    int qos = 0;
    bool retain = false, dup = false;

    mqtt_properties properties; ///< MQTT 5, in the order they were sent
    std::string malformed;      ///< non-empty when the packet could not be decoded: why
};

/// "CONNACK", "PUBLISH", …
const char* packet_name(int type);
/// A line saying everything decoded from the packet (properties in their
/// order, payload escaped), e.g. `PUBLISH q1 r0 d0 id=1 'a/b' 'hi' {user=k:v}`.
/// A payload over 64 bytes is written as its start, length and hash.
std::string describe(const mqtt_packet& p);
std::string describe(const mqtt_properties& props);
/// Printable text: bytes outside 0x20–0x7e as \xNN.
std::string escape_bytes(const std::string& s);
std::string hex_code(int code); ///< "0x87"

/// MQTT wire encoding, for tests that build packets by hand.
namespace mqtt_encode {
std::string u16(std::size_t n);
std::string u32(std::uint32_t n);
std::string varint(std::size_t n);
std::string str(const std::string& s); ///< two-byte length + bytes (UTF-8 strings and binary data alike)
std::string properties(const mqtt_properties& props); ///< length + properties
} // namespace mqtt_encode

struct raw_will {
    std::string topic, payload;
    int qos = 0;
    bool retain = false;
    mqtt_properties properties = {}; ///< MQTT 5: will delay, message expiry, content type, response topic…
};

struct raw_connect {
    int protocol = 5; ///< 4 (MQTT 3.1.1) or 5
    std::string client_id;
    bool clean = true; ///< clean session (3.1.1) / clean start (5)
    std::uint16_t keep_alive = 60;
    std::optional<std::string> username, password;
    std::optional<raw_will> will;
    mqtt_properties properties = {}; ///< MQTT 5: session expiry, receive maximum, maximum packet size…
};

struct raw_subscription {
    std::string filter;
    int qos = 0;
    bool no_local = false;            ///< MQTT 5 subscription options
    bool retain_as_published = false;
    int retain_handling = 0;
};

struct raw_publish {
    std::string topic, payload;
    int qos = 0;
    bool retain = false, dup = false;
    mqtt_properties properties = {};
    std::uint16_t packet_id = 0; ///< 0: the client picks the next one (QoS > 0)
};

/// MQTT over WebSocket (RFC 6455, as browsers speak it): the upgrade
/// request, then every packet written in masked binary frames.
struct raw_websocket {
    int port = 0;
    std::string from = "127.0.0.1";  ///< the local address to connect from (any of 127.0.0.0/8)
    std::string path = "/mqtt";
    std::string subprotocol = "mqtt";
    std::size_t frame_max = 0;       ///< >0: writes split into frames of at most this many bytes
};

class raw_mqtt {
public:
    /// Opens a TCP connection to 127.0.0.1:port (throws if it cannot).
    /// `protocol` says how to decode what comes back until connect() says otherwise.
    explicit raw_mqtt(int port, int protocol = 5);
    /// The same over WebSocket; throws with the server's status line when
    /// the upgrade is not accepted (101).
    explicit raw_mqtt(const raw_websocket& ws, int protocol = 5);
    ~raw_mqtt();
    raw_mqtt(const raw_mqtt&) = delete;
    raw_mqtt& operator=(const raw_mqtt&) = delete;

    /// Acknowledge incoming QoS 1/2 publishes (PUBACK; PUBREC, then PUBCOMP
    /// on PUBREL) and release our own QoS 2 publishes (PUBREL on PUBREC) as
    /// they are read. On by default.
    bool auto_ack = true;

    // ---- sending: each writes one packet and returns at once

    void send_connect(const raw_connect& c);
    /// Returns the packet id used.
    std::uint16_t send_subscribe(const std::vector<raw_subscription>& subs, const mqtt_properties& props = {},
                                 std::uint16_t packet_id = 0);
    std::uint16_t send_unsubscribe(const std::vector<std::string>& filters, const mqtt_properties& props = {},
                                   std::uint16_t packet_id = 0);
    /// Returns the packet id used (0 for QoS 0).
    std::uint16_t send_publish(const raw_publish& m);
    /// PUBACK / PUBREC / PUBREL / PUBCOMP with a reason code (MQTT 5; left
    /// out when 0 and there are no properties, as the spec allows).
    void send_ack(mqtt_type type, std::uint16_t packet_id, int reason = 0, const mqtt_properties& props = {});
    void send_pingreq();
    /// DISCONNECT; reason 0x04 asks an MQTT 5 broker to publish the will.
    void send_disconnect(int reason = 0, const mqtt_properties& props = {});
    /// Any packet: the first byte as given, then the remaining length and `body`.
    void send_packet(std::uint8_t first_byte, const std::string& body);
    void send_bytes(const std::string& bytes);
    /// Closes the socket without a DISCONNECT (the broker publishes the will).
    void drop();

    // ---- sending and waiting for the answer

    /// CONNECT, then the CONNACK's reason code; -1 when the broker closed the
    /// connection (or nothing came within `timeout`) without one.
    int connect(const raw_connect& c, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// SUBSCRIBE, then the SUBACK's codes (empty when none came).
    std::vector<int> subscribe(const std::vector<raw_subscription>& subs, const mqtt_properties& props = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// One filter: the SUBACK code, or -1.
    int subscribe(const std::string& filter, int qos = 0);
    /// UNSUBSCRIBE, then the UNSUBACK's codes (MQTT 3.1.1: one 0 per filter); empty when none came.
    std::vector<int> unsubscribe(const std::vector<std::string>& filters, const mqtt_properties& props = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// PUBLISH and its flow: QoS 0 returns 0 once written; QoS 1 returns the
    /// PUBACK code; QoS 2 returns the PUBREC code (and, with auto_ack, also
    /// waits for the PUBCOMP when the PUBREC accepted it). -1 when the answer
    /// did not come (the broker closed the connection, or timed out).
    int publish(const raw_publish& m, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// PINGREQ, then waits for the PINGRESP. The broker answers packets in
    /// order, so anything it sent this client in answer to earlier packets
    /// (retained messages after a SUBACK, deliveries of a publish already
    /// acknowledged to its sender) has arrived by then.
    bool ping(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // ---- receiving

    /// Reads until a packet received at position `from` or later satisfies
    /// `pred`; returns it, or nullptr when the connection closed or `timeout`
    /// passed first.
    const mqtt_packet* wait_for(const std::function<bool(const mqtt_packet&)>& pred,
                                std::chrono::milliseconds timeout, std::size_t from = 0);
    /// Waits until `n` PUBLISH packets have arrived since `from` (all positions in log()).
    bool wait_publishes(std::size_t n, std::chrono::milliseconds timeout, std::size_t from = 0);
    /// The next packet after the last one a wait (this one, wait_for,
    /// connect, publish…) returned: what came after what the test has seen.
    /// nullptr when the connection closed or `timeout` passed first.
    const mqtt_packet* next(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Reads whatever arrives within `duration` (to show something does not come).
    void pump(std::chrono::milliseconds duration);
    /// True when the broker has closed the connection, reading until it
    /// does or `timeout` passes.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool closed() const { return closed_; }

    /// Every packet received, in order. Positions never change.
    const std::deque<mqtt_packet>& log() const { return log_; }
    std::size_t received() const { return log_.size(); }
    /// The PUBLISH packets received (from position `from`).
    std::vector<mqtt_packet> publishes(std::size_t from = 0) const;
    /// What this client wrote, one description per packet, in order.
    const std::vector<std::string>& sent() const { return sent_; }

    int protocol() const { return protocol_; }

private:
    void write_all(const std::string& bytes);
    /// Reads once (waiting at most `wait`); false when nothing more will come.
    bool read_some(std::chrono::milliseconds wait);
    void decode(std::uint8_t first, std::string raw, std::size_t header_len);
    void react(const mqtt_packet& p);
    std::optional<std::size_t> find(const std::function<bool(const mqtt_packet&)>& pred,
                                    std::chrono::milliseconds timeout, std::size_t from);
    std::size_t seen(std::size_t at); ///< moves next()'s cursor past `at`
    std::uint16_t next_id();

    /// WebSocket frames read so far into MQTT bytes (buffer_); false when a close frame came.
    bool unwrap_frames();

    int fd_ = -1;
    int protocol_ = 5;
    bool websocket_ = false;
    std::size_t frame_max_ = 0;
    std::string frames_; ///< WebSocket bytes not yet a whole frame
    bool closed_ = false;
    std::uint16_t last_id_ = 0;
    std::string buffer_;
    std::deque<mqtt_packet> log_;
    std::size_t cursor_ = 0;
    std::map<std::uint16_t, std::string> aliases_; ///< topic aliases the broker set
    std::vector<std::string> sent_;
};

/// A raw client logged in as a real client would: when the broker closes
/// the connection without a CONNACK (the plugin asks a login it cannot
/// decide yet to come back; docs/protocol.md), it connects again after a
/// short pause. The client once accepted; null when refused (a CONNACK
/// with a code) or not accepted within `timeout`.
std::unique_ptr<raw_mqtt> raw_connected(int port, const raw_connect& c,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace mqchat::test
