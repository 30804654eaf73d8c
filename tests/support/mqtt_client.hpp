#pragma once
/// A real MQTT client for tests (libmosquitto, its own network thread):
/// connect, subscribe and publish return the broker's reason codes, and
/// received messages queue up for the test to wait on.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct mosquitto;
struct mosquitto_message;
struct mqtt5__property;

namespace mqchat::test {

struct received {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retain = false;
    std::vector<std::pair<std::string, std::string>> user_properties = {}; ///< MQTT 5
    std::string correlation_data = {};                                     ///< MQTT 5
};

struct client_options {
    std::string client_id;
    std::string username;
    std::string password;
    int protocol = 5;          ///< 5 or 4 (MQTT 3.1.1)
    bool clean = true;         ///< clean start / clean session
    int session_expiry_s = 0;  ///< MQTT 5: keep the session this long after a disconnect
    std::string cafile = {};   ///< non-empty: TLS, trusting this CA certificate
    std::string bind_address = {}; ///< non-empty: connect from this local address (e.g. 127.0.0.7)
};

class mqtt_client {
public:
    mqtt_client(int port, client_options options);
    ~mqtt_client();
    mqtt_client(const mqtt_client&) = delete;
    mqtt_client& operator=(const mqtt_client&) = delete;

    /// Connects and returns the CONNACK reason code (0 = accepted), or -1
    /// if the connection closed or timed out without one. A connection the
    /// broker closes without a CONNACK is tried again until `timeout`, as
    /// real clients do (the plugin asks a login it cannot decide yet to come
    /// back), unless retry_when_closed(false) was called.
    int connect(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void retry_when_closed(bool retry) { retry_when_closed_ = retry; }
    /// How many times connect() was told to come back.
    int come_backs() const { return come_backs_; }
    bool connected() const;
    /// How many times an established connection has closed (by the broker or by us).
    int disconnects() const;
    void disconnect();
    /// Sets a last will (before connect()).
    void set_will(const std::string& topic, const std::string& payload, int qos = 1);
    /// MQTT 5 DISCONNECT with reason 0x04: the broker publishes the will.
    void disconnect_with_will();

    /// Subscribes and returns the SUBACK code (the granted QoS, or >= 0x80).
    int subscribe(const std::string& filter, int qos = 1);
    /// Publishes; for QoS > 0 waits for PUBACK / PUBREC and returns its reason
    /// code (0 = accepted); -1 on timeout. QoS 0 returns 0 once sent.
    int publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// MQTT 5 request: publishes at QoS 1 with a response topic and
    /// correlation data (either may be empty) and returns the PUBACK code.
    int publish_request(const std::string& topic, const std::string& payload, const std::string& response_topic,
                        const std::string& correlation_data);
    /// Publishes without waiting for the acknowledgement.
    void publish_async(const std::string& topic, const std::string& payload, int qos = 1);

    /// Waits for the next message on `topic` (any topic when empty).
    bool wait_message(received& out, std::chrono::milliseconds timeout, const std::string& topic = "");
    /// Everything received so far on `topic` (any when empty), removed from the queue.
    std::vector<received> take_all(const std::string& topic = "");
    std::size_t pending() const;

private:
    static void on_connect(mosquitto*, void*, int, int, const mqtt5__property*);
    static void on_disconnect(mosquitto*, void*, int, const mqtt5__property*);
    static void on_publish(mosquitto*, void*, int, int, const mqtt5__property*);
    static void on_subscribe(mosquitto*, void*, int, int, const int*, const mqtt5__property*);
    static void on_message(mosquitto*, void*, const mosquitto_message*, const mqtt5__property*);

    client_options options_;
    int port_;
    mosquitto* mosq_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    int connack_ = -2;  ///< -2: waiting
    bool connected_ = false;
    int disconnects_ = 0;
    bool retry_when_closed_ = true;
    int come_backs_ = 0;
    std::map<int, int> acks_;      ///< mid → reason code
    std::map<int, int> subacks_;   ///< mid → first granted code
    std::deque<received> messages_;
};

/// A client of `user` on 127.0.0.1:`port` with client id `client_id`,
/// connected; throws when the login is refused.
std::unique_ptr<mqtt_client> login(int port, const std::string& user, const std::string& password,
                                   const std::string& client_id);

/// Subscribes as a member who may meet an undecided membership lookup: while
/// the plugin's lookups are past their wait budget (a loaded machine) it
/// refuses what it cannot decide from memory — a conversation it has not
/// heard of yet — and the client is to try again (docs/protocol.md, "Come
/// back later"). Tries again on 0x87 for up to `patience`; returns the last
/// SUBACK code. Only for subscriptions a test expects to be granted.
int subscribe_as_member(mqtt_client& c, const std::string& filter,
                        std::chrono::milliseconds patience = std::chrono::seconds(10));

} // namespace mqchat::test
