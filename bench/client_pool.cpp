#include "client_pool.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mqchat::bench {

struct client_pool::entry {
    client_pool* pool;
    int index;
    mosquitto* mosq = nullptr;
    int fd = -1;
    bool want_out = false;
    bool started = false;
    bool connected = false;
    bool answered = false; ///< a CONNACK came (accepted or refused): no retry
    pool_client_options options;
    std::chrono::milliseconds backoff{0}; ///< before the next retry; doubles, from 100 ms to 2 s
};

namespace {
struct lib_init {
    lib_init() { mosquitto_lib_init(); }
} const init_once;
} // namespace

client_pool::client_pool(std::string host, int port) : host_(std::move(host)), port_(port) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::runtime_error("epoll_create1 failed");
}

client_pool::~client_pool() {
    for (auto* e : clients_) {
        mosquitto_destroy(e->mosq);
        delete e;
    }
    close(epoll_);
}

int client_pool::add(const pool_client_options& options) {
    auto* e = new entry{this, static_cast<int>(clients_.size()), nullptr, -1, false, false, false, false, options, {}};
    e->mosq = mosquitto_new(options.client_id.empty() ? nullptr : options.client_id.c_str(), true, e);
    if (!e->mosq) {
        delete e;
        throw std::runtime_error("mosquitto_new failed");
    }
    mosquitto_int_option(e->mosq, MOSQ_OPT_PROTOCOL_VERSION, options.protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (!options.username.empty()) mosquitto_username_pw_set(e->mosq, options.username.c_str(), options.password.c_str());
    mosquitto_max_inflight_messages_set(e->mosq, 0);
    mosquitto_int_option(e->mosq, MOSQ_OPT_TCP_NODELAY, 1); // latency, not Nagle, is what we measure
    mosquitto_connect_v5_callback_set(e->mosq, cb_connect);
    mosquitto_message_v5_callback_set(e->mosq, cb_message);
    mosquitto_publish_v5_callback_set(e->mosq, cb_publish);
    mosquitto_subscribe_v5_callback_set(e->mosq, cb_subscribe);
    mosquitto_disconnect_v5_callback_set(e->mosq, cb_disconnect);
    clients_.push_back(e);
    return e->index;
}

void client_pool::arm(entry& e) {
    const bool out = mosquitto_want_write(e.mosq);
    if (e.fd >= 0 && out == e.want_out) return;
    const int fd = mosquitto_socket(e.mosq);
    if (fd < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    ev.data.ptr = &e;
    if (e.fd != fd) {
        e.fd = fd;
        if (record_arrivals_) {
            const int on = 1;
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
        }
        epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    } else {
        epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
    }
    e.want_out = out;
}

void client_pool::connect_all() {
    for (auto* e : clients_)
        if (!e->started) connect_one(e->index);
}

void client_pool::connect_one(int client) {
    entry& e = *clients_[static_cast<std::size_t>(client)];
    const char* bind = e.options.bind_address.empty() ? nullptr : e.options.bind_address.c_str();
    const int port = e.options.port ? e.options.port : port_;
    if (mosquitto_connect_bind_async(e.mosq, host_.c_str(), port, 60, bind) != MOSQ_ERR_SUCCESS)
        throw std::runtime_error("connect failed for client " + std::to_string(e.index));
    e.started = true;
    e.want_out = false;
    e.fd = -1;
    arm(e);
}

int client_pool::publish(int client, const std::string& topic, const void* payload, int len, int qos) {
    entry& e = *clients_[static_cast<std::size_t>(client)];
    int mid = 0;
    mosquitto_publish(e.mosq, &mid, topic.c_str(), len, payload, qos, false);
    arm(e);
    return mid;
}

int client_pool::subscribe(int client, const std::string& filter, int qos) {
    entry& e = *clients_[static_cast<std::size_t>(client)];
    int mid = 0;
    mosquitto_subscribe(e.mosq, &mid, filter.c_str(), qos);
    arm(e);
    return mid;
}

void client_pool::disconnect_all() {
    stopping_ = true;
    for (auto* e : clients_) {
        mosquitto_disconnect(e->mosq);
        mosquitto_loop_write(e->mosq, 1);
    }
}

bool client_pool::run(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                      const std::function<void()>& tick) {
    const auto until = clock::now() + timeout;
    epoll_event events[256];
    while (!done()) {
        const auto now = clock::now();
        if (now >= until) return false;
        if (tick) tick();
        const int n = epoll_wait(epoll_, events, 256, tick ? 1 : 10);
        for (int i = 0; i < n; ++i) {
            auto& e = *static_cast<entry*>(events[i].data.ptr);
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (record_arrivals_) peek_arrival(e);
                mosquitto_loop_read(e.mosq, 1);
                arrival_ns_ = 0;
            }
            if (events[i].events & EPOLLOUT) mosquitto_loop_write(e.mosq, 1);
            arm(e);
        }
        if (!retries_.empty()) {
            const auto due = clock::now();
            for (auto it = retries_.begin(); it != retries_.end();) {
                if (it->first > due) {
                    ++it;
                    continue;
                }
                entry& e = *it->second;
                it = retries_.erase(it);
                if (mosquitto_reconnect_async(e.mosq) == MOSQ_ERR_SUCCESS) arm(e);
            }
        }
        if (clock::now() - last_misc_ > std::chrono::seconds(1)) {
            last_misc_ = clock::now();
            for (auto* e : clients_) {
                mosquitto_loop_misc(e->mosq); // keep-alive pings
                arm(*e);
            }
        }
    }
    return true;
}

// The time the kernel gave the first unread bytes of this client's socket
// (SO_TIMESTAMPNS: when they were queued on it), peeked without taking them.
// A read may bring several packets; the time is the first's, and every
// callback clears it, so any further packet of the same read is timed when
// it is read — later than it arrived, never earlier.
void client_pool::peek_arrival(entry& e) {
    arrival_ns_ = 0;
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(e.fd, &msg, MSG_PEEK | MSG_DONTWAIT) <= 0) return;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            timespec arrived, real, mono;
            std::memcpy(&arrived, CMSG_DATA(c), sizeof arrived);
            clock_gettime(CLOCK_REALTIME, &real);
            clock_gettime(CLOCK_MONOTONIC, &mono);
            const auto ns = [](const timespec& t) { return std::int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
            arrival_ns_ = ns(arrived) - ns(real) + ns(mono);
        }
}

void client_pool::cb_connect(mosquitto*, void* obj, int rc, int, const mqtt5__property*) {
    auto* e = static_cast<entry*>(obj);
    e->answered = true;
    e->backoff = {};
    if (rc == 0 && !e->connected) {
        e->connected = true;
        ++e->pool->connected_;
    }
    if (e->pool->handlers_.on_connect) e->pool->handlers_.on_connect(e->index, rc);
    e->pool->arrival_ns_ = 0;
}

void client_pool::cb_message(mosquitto*, void* obj, const mosquitto_message* m, const mqtt5__property*) {
    auto* e = static_cast<entry*>(obj);
    if (e->pool->handlers_.on_message) e->pool->handlers_.on_message(e->index, *m);
    e->pool->arrival_ns_ = 0; // the peeked time was the first packet's (peek_arrival)
}

void client_pool::cb_publish(mosquitto*, void* obj, int mid, int reason, const mqtt5__property*) {
    auto* e = static_cast<entry*>(obj);
    if (e->pool->handlers_.on_publish) e->pool->handlers_.on_publish(e->index, mid, reason);
    e->pool->arrival_ns_ = 0;
}

void client_pool::cb_subscribe(mosquitto*, void* obj, int mid, int count, const int* granted, const mqtt5__property*) {
    auto* e = static_cast<entry*>(obj);
    if (e->pool->handlers_.on_subscribe) e->pool->handlers_.on_subscribe(e->index, mid, count > 0 ? granted[0] : -1);
    e->pool->arrival_ns_ = 0;
}

void client_pool::cb_disconnect(mosquitto*, void* obj, int, const mqtt5__property*) {
    auto* e = static_cast<entry*>(obj);
    if (e->started && !e->connected && !e->answered && !e->pool->stopping_) {
        // The connection closed before a CONNACK (the broker asks a login it
        // cannot decide yet to come back; or its accept queue overflowed):
        // try again as a well-behaved app does, after a jittered pause that
        // doubles from 100 ms to 2 s.
        e->fd = -1;
        e->want_out = false;
        e->backoff = std::min(std::chrono::milliseconds(2000),
                              e->backoff.count() ? e->backoff * 2 : std::chrono::milliseconds(100));
        const auto jitter = std::chrono::milliseconds(std::rand() % (e->backoff.count() / 2 + 1));
        e->pool->retries_.emplace_back(clock::now() + e->backoff / 2 + jitter, e);
        ++e->pool->come_backs_;
        return;
    }
    if (e->connected) {
        e->connected = false;
        --e->pool->connected_;
    }
    if (e->pool->handlers_.on_disconnect) e->pool->handlers_.on_disconnect(e->index);
}

} // namespace mqchat::bench
