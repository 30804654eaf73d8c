#include "mqtt_client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace mqchat::test {

namespace {
struct lib_init {
    lib_init() { mosquitto_lib_init(); }
} const init_once;
} // namespace

mqtt_client::mqtt_client(int port, client_options options) : options_(std::move(options)), port_(port) {
    mosq_ = mosquitto_new(options_.client_id.empty() ? nullptr : options_.client_id.c_str(), options_.clean, this);
    if (!mosq_) throw std::runtime_error("mosquitto_new failed");
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION,
                         options_.protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (!options_.username.empty())
        mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                                  options_.password.empty() ? nullptr : options_.password.c_str());
    mosquitto_connect_v5_callback_set(mosq_, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq_, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq_, on_publish);
    mosquitto_subscribe_v5_callback_set(mosq_, on_subscribe);
    mosquitto_message_v5_callback_set(mosq_, on_message);
    mosquitto_max_inflight_messages_set(mosq_, 0);
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_reconnect_delay_set(mosq_, 1, 2, false);
    if (!options_.cafile.empty() &&
        mosquitto_tls_set(mosq_, options_.cafile.c_str(), nullptr, nullptr, nullptr, nullptr) != MOSQ_ERR_SUCCESS)
        throw std::runtime_error("mosquitto_tls_set failed for " + options_.cafile);
}

mqtt_client::~mqtt_client() {
    disconnect();
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
}

int mqtt_client::connect(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(10);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            connack_ = -2;
        }
        mosquitto_property* props = nullptr;
        if (options_.protocol == 5 && options_.session_expiry_s > 0)
            mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                         static_cast<std::uint32_t>(options_.session_expiry_s));
        const int rc = mosquitto_connect_bind_v5(mosq_, "127.0.0.1", port_, 30,
                                                 options_.bind_address.empty() ? nullptr : options_.bind_address.c_str(),
                                                 props);
        mosquitto_property_free_all(&props);
        if (rc != MOSQ_ERR_SUCCESS) return -1;
        mosquitto_loop_start(mosq_);
        int answer = -1;
        {
            std::unique_lock lock(mutex_);
            if (!cv_.wait_until(lock, deadline, [this] { return connack_ != -2; })) return -1;
            answer = connack_;
        }
        // Closed without a CONNACK: the plugin asks a client whose login it
        // cannot decide yet to come back (a password check under way), and
        // real clients reconnect. So does this one, sooner than libmosquitto's
        // own reconnect would.
        if (answer != -1 || !retry_when_closed_ || std::chrono::steady_clock::now() + pause >= deadline) return answer;
        mosquitto_disconnect(mosq_);
        mosquitto_loop_stop(mosq_, true);
        ++come_backs_;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
}

bool mqtt_client::connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
}

int mqtt_client::disconnects() const {
    std::lock_guard lock(mutex_);
    return disconnects_;
}

void mqtt_client::disconnect() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    std::lock_guard lock(mutex_);
    connected_ = false;
}

void mqtt_client::set_will(const std::string& topic, const std::string& payload, int qos) {
    mosquitto_will_set_v5(mosq_, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, false, nullptr);
}

void mqtt_client::disconnect_with_will() {
    mosquitto_disconnect_v5(mosq_, MQTT_RC_DISCONNECT_WITH_WILL_MSG, nullptr);
    mosquitto_loop_stop(mosq_, false);
    std::lock_guard lock(mutex_);
    connected_ = false;
}

int mqtt_client::subscribe(const std::string& filter, int qos) {
    int mid = 0;
    if (mosquitto_subscribe(mosq_, &mid, filter.c_str(), qos) != MOSQ_ERR_SUCCESS) return -1;
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return subacks_.count(mid) != 0; })) return -1;
    return subacks_[mid];
}

int mqtt_client::publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                         std::chrono::milliseconds timeout) {
    int mid = 0;
    if (mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                          retain) != MOSQ_ERR_SUCCESS)
        return -1;
    if (qos == 0) return 0;
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return acks_.count(mid) != 0; })) return -1;
    const int code = acks_[mid];
    acks_.erase(mid);
    return code;
}

int mqtt_client::publish_request(const std::string& topic, const std::string& payload,
                                 const std::string& response_topic, const std::string& correlation_data) {
    mosquitto_property* props = nullptr;
    if (!response_topic.empty()) mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
    if (!correlation_data.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation_data.data(),
                                      static_cast<std::uint16_t>(correlation_data.size()));
    int mid = 0;
    const int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(),
                                        1, false, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) return -1;
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return acks_.count(mid) != 0; })) return -1;
    const int code = acks_[mid];
    acks_.erase(mid);
    return code;
}

void mqtt_client::publish_async(const std::string& topic, const std::string& payload, int qos) {
    mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, false);
}

bool mqtt_client::wait_message(received& out, std::chrono::milliseconds timeout, const std::string& topic) {
    std::unique_lock lock(mutex_);
    bool found = false;
    cv_.wait_for(lock, timeout, [&] {
        for (auto it = messages_.begin(); it != messages_.end(); ++it) {
            if (topic.empty() || it->topic == topic) {
                out = std::move(*it);
                messages_.erase(it);
                found = true;
                return true;
            }
        }
        return false;
    });
    return found;
}

std::vector<received> mqtt_client::take_all(const std::string& topic) {
    std::lock_guard lock(mutex_);
    std::vector<received> out;
    for (auto it = messages_.begin(); it != messages_.end();) {
        if (topic.empty() || it->topic == topic) {
            out.push_back(std::move(*it));
            it = messages_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::size_t mqtt_client::pending() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
}

void mqtt_client::on_connect(mosquitto*, void* obj, int rc, int, const mqtt5__property*) {
    auto* self = static_cast<mqtt_client*>(obj);
    std::lock_guard lock(self->mutex_);
    self->connack_ = rc;
    self->connected_ = rc == 0;
    self->cv_.notify_all();
}

void mqtt_client::on_disconnect(mosquitto*, void* obj, int, const mqtt5__property*) {
    auto* self = static_cast<mqtt_client*>(obj);
    std::lock_guard lock(self->mutex_);
    if (self->connack_ == -2) {
        self->connack_ = -1; // closed before a CONNACK: no session to lose
    } else {
        ++self->disconnects_;
    }
    self->connected_ = false;
    self->cv_.notify_all();
}

void mqtt_client::on_publish(mosquitto*, void* obj, int mid, int reason, const mqtt5__property*) {
    auto* self = static_cast<mqtt_client*>(obj);
    std::lock_guard lock(self->mutex_);
    self->acks_[mid] = reason;
    self->cv_.notify_all();
}

void mqtt_client::on_subscribe(mosquitto*, void* obj, int mid, int count, const int* granted, const mqtt5__property*) {
    auto* self = static_cast<mqtt_client*>(obj);
    std::lock_guard lock(self->mutex_);
    self->subacks_[mid] = count > 0 ? granted[0] : -1;
    self->cv_.notify_all();
}

void mqtt_client::on_message(mosquitto*, void* obj, const mosquitto_message* m, const mqtt5__property* props) {
    auto* self = static_cast<mqtt_client*>(obj);
    received r{m->topic, std::string(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen)),
               m->qos, m->retain};
    char* name = nullptr;
    char* value = nullptr;
    void* data = nullptr;
    std::uint16_t data_len = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &data_len, false)) {
        r.correlation_data.assign(static_cast<const char*>(data), data_len);
        free(data);
    }
    for (const mqtt5__property* p = props; p; p = mosquitto_property_next(p)) {
        if (mosquitto_property_identifier(p) == MQTT_PROP_USER_PROPERTY &&
            mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false)) {
            r.user_properties.emplace_back(name, value);
            free(name);
            free(value);
        }
    }
    std::lock_guard lock(self->mutex_);
    self->messages_.push_back(std::move(r));
    self->cv_.notify_all();
}

std::unique_ptr<mqtt_client> login(int port, const std::string& user, const std::string& password,
                                   const std::string& client_id) {
    auto c = std::make_unique<mqtt_client>(port, client_options{client_id, user, password});
    const int rc = c->connect();
    if (rc != 0) throw std::runtime_error("login of " + user + " on port " + std::to_string(port) + " refused: " +
                                          std::to_string(rc));
    return c;
}

int subscribe_as_member(mqtt_client& c, const std::string& filter, std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    int rc;
    while ((rc = c.subscribe(filter)) == MQTT_RC_NOT_AUTHORIZED && std::chrono::steady_clock::now() < deadline) {
        std::fprintf(stderr, "subscription to %s refused (a lookup past its budget?), trying again\n", filter.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return rc;
}

} // namespace mqchat::test
