#include "mosquitto_link.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <thread>
#include <utility>

#include "common/envelope.hpp"
#include "common/log.hpp"

namespace mqchat::bridge {

namespace {
struct library {
    library() { mosquitto_lib_init(); }
    ~library() { mosquitto_lib_cleanup(); }
};
void init_library_once() { static const library once; }

constexpr int keepalive_s = 20;
} // namespace

broker_address parse_broker_uri(const std::string& uri) {
    broker_address a;
    std::string rest = uri;
    for (const char* scheme : {"tcp://", "mqtt://"}) {
        const std::string s(scheme);
        if (rest.compare(0, s.size(), s) == 0) {
            rest = rest.substr(s.size());
            break;
        }
    }
    if (rest.find("://") != std::string::npos)
        throw std::invalid_argument("mqtt_uri: only tcp://HOST:PORT is supported, got " + uri);
    const auto colon = rest.rfind(':');
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        std::size_t used = 0;
        try {
            a.port = std::stoi(port, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != port.size() || port.empty() || a.port < 1 || a.port > 65535)
            throw std::invalid_argument("mqtt_uri: bad port in " + uri);
    }
    if (a.host.empty()) throw std::invalid_argument("mqtt_uri: no host in " + uri);
    return a;
}

/// Done when the broker acknowledged the publish (or it could not be sent).
class mosquitto_link::handle : public publish_handle {
public:
    bool done() const override { return state_.load() != 0; }
    bool ok() const override { return state_.load() == 1; }
    void finish(bool ok) { state_.store(ok ? 1 : 2); }

private:
    std::atomic<int> state_{0}; ///< 0 in flight, 1 acknowledged, 2 failed
};

mosquitto_link::mosquitto_link(link_settings settings)
    : settings_(std::move(settings)), address_(parse_broker_uri(settings_.uri)) {
    init_library_once();
    // clean_session false: the broker keeps the shared subscription and
    // queues sends for a bridge that is restarting.
    mosq_ = mosquitto_new(settings_.client_id.c_str(), false, this);
    if (!mosq_) throw std::runtime_error("mosquitto_new failed");
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    // A PUBACK and the stored message follow each other within a millisecond:
    // with Nagle on, the second write waits for the broker's delayed ACK (40 ms).
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_username_pw_set(mosq_, settings_.username.c_str(), settings_.password.c_str());
    mosquitto_reconnect_delay_set(mosq_, 1, 5, true);
    mosquitto_connect_v5_callback_set(mosq_, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq_, on_disconnect);
    mosquitto_message_v5_callback_set(mosq_, on_message);
    mosquitto_publish_v5_callback_set(mosq_, on_publish);
    mosquitto_subscribe_v5_callback_set(mosq_, on_subscribe);
}

mosquitto_link::~mosquitto_link() {
    disconnect();
    mosquitto_destroy(mosq_);
}

void mosquitto_link::connect(const std::atomic<bool>& stop) {
    mosquitto_property* props = nullptr;
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 static_cast<std::uint32_t>(settings_.session_expiry_s));
    bool reported = false;
    while (!stop && !loop_running_) {
        const int rc = mosquitto_connect_bind_v5(mosq_, address_.host.c_str(), address_.port, keepalive_s, nullptr, props);
        if (rc == MOSQ_ERR_SUCCESS) {
            // The library's thread reads, writes and reconnects from here on
            // (or the caller, read_some()).
            if (!settings_.read_by_caller && mosquitto_loop_start(mosq_) != MOSQ_ERR_SUCCESS)
                throw std::runtime_error("mosquitto_loop_start failed");
            loop_running_ = true;
            break;
        }
        if (!reported)
            log::warning() << "cannot connect to the broker yet (" << mosquitto_strerror(rc) << "); retrying";
        reported = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    mosquitto_property_free_all(&props);
    // "Running" means sends are being received: wait for the subscription.
    if (settings_.read_by_caller) {
        const auto subscribed = [this] {
            std::lock_guard lock(mutex_);
            return subscribed_;
        };
        while (!stop && loop_running_ && !subscribed()) read_some(100);
        return;
    }
    std::unique_lock lock(mutex_);
    while (!stop && !subscribed_) arrived_.wait_for(lock, std::chrono::milliseconds(100));
}

void mosquitto_link::read_some(int timeout_ms) {
    bool room = false;
    {
        std::lock_guard lock(mutex_);
        room = inbox_.size() < settings_.inbox_max;
    }
    int rc = MOSQ_ERR_SUCCESS;
    if (room) {
        rc = read_available(timeout_ms);
        last_read_ = std::chrono::steady_clock::now();
    } else {
        // Full: no reading (the broker's session queue holds what follows),
        // but the connection is kept alive.
        rc = mosquitto_loop_misc(mosq_);
        if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(mosq_)) rc = mosquitto_loop_write(mosq_, 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 10)));
    }
    if (rc == MOSQ_ERR_SUCCESS) return;
    // Lost (on_disconnect has said so): connect again after 1, 2, 4, then
    // every 5 s, as libmosquitto's own thread would — but without waiting
    // for the TCP handshake: a broker host that drops connection attempts
    // would hold a blocking connect (and this loop, and its health) for the
    // kernel's two minutes of SYN retries. mosquitto_loop() above finishes
    // the connection; on_connect counts it done.
    const auto now = std::chrono::steady_clock::now();
    if (reconnect_at_ == std::chrono::steady_clock::time_point{})
        reconnect_at_ = now + std::chrono::seconds(std::min(5, 1 << std::min(reconnect_failures_, 3)));
    if (now >= reconnect_at_) {
        reconnect_at_ = {};
        ++reconnect_failures_; // until on_connect says otherwise
        mosquitto_reconnect_async(mosq_);
    } else if (timeout_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 50)));
    }
}

int mosquitto_link::read_available(int timeout_ms) {
    // The library's own mosquitto_loop() waits in pselect() on the socket
    // and on a pipe the library writes a byte to for every packet it queues,
    // then reads one packet and one byte of that pipe. Driven from outside
    // (mosquitto_socket, loop_read/write/misc: the library's documented way
    // into another event loop), one poll() is followed by every whole packet
    // already there: 19 system calls a stored message instead of 26, and the
    // bridge's CPU a fifth lower (docs/benchmarks.md, 2026-12-04). The pipe
    // is then never read; the library's writes to it fail once it is full
    // (it is non-blocking) and it ignores them.
    const int sock = mosquitto_socket(mosq_);
    if (sock < 0) return MOSQ_ERR_NO_CONN;
    pollfd fd{sock, static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)), 0};
    if (poll(&fd, 1, timeout_ms) < 0) return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    int rc = MOSQ_ERR_SUCCESS;
    if (fd.revents & (POLLIN | POLLERR | POLLHUP)) {
        // loop_read() reads about a packet a call here and does not say
        // whether it found one: a call that brought no callback found none
        // whole, and the rest waits for the next poll().
        for (int reads = 0; reads < max_packets_a_read; ++reads) {
            const std::uint64_t before = callbacks_;
            rc = mosquitto_loop_read(mosq_, 1);
            if (rc != MOSQ_ERR_SUCCESS || callbacks_ == before) break;
            std::lock_guard lock(mutex_);
            if (inbox_.size() >= settings_.inbox_max) break;
        }
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(mosq_)) rc = mosquitto_loop_write(mosq_, 1);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_misc(mosq_);
    return rc;
}

void mosquitto_link::read_waiting() {
    if (settings_.read_by_caller) read_some(0); // and the keepalive, through a long store call
}

void mosquitto_link::idle(std::chrono::milliseconds how_long) {
    if (!settings_.read_by_caller) {
        std::this_thread::sleep_for(how_long);
        return;
    }
    const auto until = std::chrono::steady_clock::now() + how_long;
    for (auto now = std::chrono::steady_clock::now(); now < until; now = std::chrono::steady_clock::now())
        read_some(static_cast<int>(
            std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count())));
}

void mosquitto_link::disconnect() {
    if (!loop_running_) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true; // a network thread waiting for inbox room goes on
    }
    room_.notify_all();
    mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    if (!settings_.read_by_caller) mosquitto_loop_stop(mosq_, false);
    loop_running_ = false;
}

bool mosquitto_link::take_front(incoming& out) {
    if (inbox_.empty()) return false;
    out = std::move(inbox_.front());
    inbox_.pop_front();
    if (inbox_.size() + 1 == settings_.inbox_max) room_.notify_all();
    return true;
}

bool mosquitto_link::next(incoming& out, std::chrono::milliseconds wait) {
    if (settings_.read_by_caller) {
        {
            std::lock_guard lock(mutex_);
            if (take_front(out)) return true;
        }
        // One read takes every packet already here, so that a batch takes
        // every send that has come.
        read_some(static_cast<int>(wait.count()));
        std::lock_guard lock(mutex_);
        return take_front(out);
    }
    std::unique_lock lock(mutex_);
    if (inbox_.empty() && wait.count() > 0) arrived_.wait_for(lock, wait, [this] { return !inbox_.empty(); });
    return take_front(out);
}

std::shared_ptr<publish_handle> mosquitto_link::publish(const std::string& topic, const std::string& payload,
                                                        const publish_extras& extras) {
    auto h = std::make_shared<handle>();
    mosquitto_property* props = nullptr;
    if (extras.members_version > 0)
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, members_version_property,
                                           std::to_string(extras.members_version).c_str());
    if (!extras.correlation_data.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, extras.correlation_data.data(),
                                      static_cast<std::uint16_t>(extras.correlation_data.size()));
    // Held across the call: the PUBACK may arrive on the library's thread
    // before this function returns, and must find the handle.
    std::lock_guard lock(mutex_);
    int mid = 0;
    const int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1,
                                        false, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        log::warning() << "publish failed (" << mosquitto_strerror(rc) << "); the outbox will republish";
        h->finish(false);
        return h;
    }
    // QoS 1 messages are queued while disconnected and resent after a
    // reconnection, so a handle completes once the broker has the message.
    pending_[mid] = h;
    return h;
}

bool mosquitto_link::connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
}

std::size_t mosquitto_link::queued() const {
    std::lock_guard lock(mutex_);
    return inbox_.size();
}

std::chrono::steady_clock::duration mosquitto_link::oldest_waiting() const {
    std::lock_guard lock(mutex_);
    if (inbox_.empty()) return {};
    return std::chrono::steady_clock::now() - inbox_.front().arrived;
}

void mosquitto_link::on_connect(mosquitto* mosq, void* self_, int rc, int flags, const mosquitto_property*) {
    auto* self = static_cast<mosquitto_link*>(self_);
    ++self->callbacks_;
    if (rc != 0) {
        log::warning() << "the broker refused the connection (" << mosquitto_reason_string(rc)
                  << "); retrying";
        return;
    }
    // Each (re)connection: make sure of the subscription (the session may have
    // expired) and tell the ingest loop to republish from the outbox.
    std::vector<int> mids;
    for (const auto& filter : self->settings_.filters) {
        int mid = 0;
        mosquitto_subscribe_v5(mosq, &mid, filter.c_str(), 1, MQTT_SUB_OPT_NO_LOCAL, nullptr);
        mids.push_back(mid);
    }
    for (const auto& filter : self->settings_.unsubscribe)
        mosquitto_unsubscribe_v5(mosq, nullptr, filter.c_str(), nullptr);
    bool first = false;
    {
        std::lock_guard lock(self->mutex_);
        self->added_mids_.clear();
        // CONNACK's flags, bit 0: the broker kept the session, and with it
        // what was published to these filters while we were away.
        const bool session_kept = (flags & 1) != 0;
        for (const auto& filter : self->added_filters_) {
            int mid = 0;
            if (mosquitto_subscribe_v5(mosq, &mid, filter.c_str(), 1, MQTT_SUB_OPT_NO_LOCAL, nullptr) == MOSQ_ERR_SUCCESS)
                self->added_mids_[mid] = {filter, !session_kept};
        }
        first = !self->connected_ && !self->subscribed_;
        self->connected_ = true;
        self->subscribe_mids_ = std::move(mids);
    }
    if (!first) self->reconnected_ = true;
    self->reconnect_failures_ = 0;
    self->connects_.fetch_add(1, std::memory_order_relaxed);
    log::info() << "connected to " << self->settings_.name;
}

void mosquitto_link::on_disconnect(mosquitto*, void* self_, int rc, const mosquitto_property*) {
    auto* self = static_cast<mosquitto_link*>(self_);
    {
        std::lock_guard lock(self->mutex_);
        if (!self->connected_) return;
        self->connected_ = false;
    }
    self->disconnects_.fetch_add(1, std::memory_order_relaxed);
    if (rc != 0) log::info() << "lost the broker (" << mosquitto_strerror(rc) << "); reconnecting";
}

void mosquitto_link::on_message(mosquitto*, void* self_, const mosquitto_message* m, const mosquitto_property*) {
    auto* self = static_cast<mosquitto_link*>(self_);
    ++self->callbacks_;
    incoming in;
    in.topic = m->topic;
    in.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
    in.arrived = std::chrono::steady_clock::now();
    // Read a turn at a time: it came between the last read and this one.
    // (Its age starts the store loop's linger, batch_pacer.)
    if (self->settings_.read_by_caller && self->last_read_ != std::chrono::steady_clock::time_point{})
        in.arrived = self->last_read_ + (in.arrived - self->last_read_) / 2;
    std::unique_lock lock(self->mutex_);
    // Full: stop reading here (this is the network thread) until the loop
    // has caught up. The broker keeps what follows in the session's queue;
    // QoS 1 means it is redelivered if this connection goes meanwhile. (A
    // link read by its caller does not read while it is full: read_some.)
    if (!self->settings_.read_by_caller)
        self->room_.wait(lock, [&] { return self->inbox_.size() < self->settings_.inbox_max || self->stopping_; });
    self->inbox_.push_back(std::move(in));
    self->arrived_.notify_one();
}

void mosquitto_link::on_publish(mosquitto*, void* self_, int mid, int reason, const mosquitto_property*) {
    auto* self = static_cast<mosquitto_link*>(self_);
    ++self->callbacks_;
    std::lock_guard lock(self->mutex_);
    const auto it = self->pending_.find(mid);
    if (it == self->pending_.end()) return;
    it->second->finish(reason < 0x80);
    self->pending_.erase(it);
}

void mosquitto_link::subscribe(const std::string& filter) {
    std::lock_guard lock(mutex_);
    if (std::find(added_filters_.begin(), added_filters_.end(), filter) == added_filters_.end())
        added_filters_.push_back(filter);
    int mid = 0;
    // Not connected: the next connection subscribes it.
    if (connected_ && mosquitto_subscribe_v5(mosq_, &mid, filter.c_str(), 1, MQTT_SUB_OPT_NO_LOCAL, nullptr) == MOSQ_ERR_SUCCESS)
        added_mids_[mid] = {filter, true};
}

void mosquitto_link::unsubscribe(const std::string& filter) {
    std::lock_guard lock(mutex_);
    added_filters_.erase(std::remove(added_filters_.begin(), added_filters_.end(), filter), added_filters_.end());
    if (connected_) mosquitto_unsubscribe_v5(mosq_, nullptr, filter.c_str(), nullptr);
}

std::vector<std::string> mosquitto_link::take_refused() {
    std::lock_guard lock(mutex_);
    return std::exchange(refused_, {});
}

std::vector<std::string> mosquitto_link::take_granted() {
    std::lock_guard lock(mutex_);
    return std::exchange(granted_, {});
}

void mosquitto_link::on_subscribe(mosquitto*, void* self_, int mid, int count, const int* granted,
                                  const mosquitto_property*) {
    auto* self = static_cast<mosquitto_link*>(self_);
    ++self->callbacks_;
    std::lock_guard lock(self->mutex_);
    if (const auto added = self->added_mids_.find(mid); added != self->added_mids_.end()) {
        const std::string& filter = added->second.filter;
        if (count < 1 || granted[0] >= 0x80) {
            auto& filters = self->added_filters_;
            filters.erase(std::remove(filters.begin(), filters.end(), filter), filters.end());
            self->refused_.push_back(filter);
        } else if (added->second.report_grant) {
            self->granted_.push_back(filter);
        }
        self->added_mids_.erase(added);
        return;
    }
    auto& mids = self->subscribe_mids_;
    const auto it = std::find(mids.begin(), mids.end(), mid);
    if (it == mids.end()) return;
    if (count < 1 || granted[0] >= 0x80) {
        log::warning() << "the broker refused a subscription (reason " << (count > 0 ? granted[0] : -1)
                  << ")";
        return;
    }
    mids.erase(it);
    if (mids.empty()) {
        self->subscribed_ = true;
        self->arrived_.notify_all();
    }
}

} // namespace mqchat::bridge
