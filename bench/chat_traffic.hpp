#pragma once
/// The chat world of the stored-chat cases (stored_chat.cpp, brokers.cpp):
/// users, conversations of 2–20 members, senders, and the traffic that runs
/// through them — every member online and subscribed, each message stamped
/// with its send time so that every delivery is a latency sample.

#include <mosquitto.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench.hpp"
#include "client_pool.hpp"

namespace mqchat::bench {

struct chat_world {
    int users = 0, senders = 0;                     ///< users u0…; the first `senders` of them send
    std::vector<std::int64_t> convs;                // conversation ids
    std::vector<std::vector<std::size_t>> members;  // per conversation: user indexes
    std::vector<std::vector<std::size_t>> sends_to; // per sender: conversation indexes
};

inline chat_world build_world(pg::connection& db, int users, int senders, int conversations) {
    chat_world w;
    w.users = users;
    w.senders = senders;
    add_users(db, "u", users, cheap_hash("pw"));
    std::mt19937 rng(42);
    w.sends_to.resize(static_cast<std::size_t>(senders));
    for (int c = 0; c < conversations; ++c) {
        const int size = 2 + static_cast<int>(rng() % 19);
        std::vector<std::size_t> m{static_cast<std::size_t>(c % senders)};
        while (static_cast<int>(m.size()) < size) {
            const std::size_t u = static_cast<std::size_t>(senders) + rng() % static_cast<std::size_t>(users - senders);
            if (std::find(m.begin(), m.end(), u) == m.end()) m.push_back(u);
        }
        std::vector<std::string> names;
        for (auto u : m) names.push_back(numbered("u", u));
        w.convs.push_back(add_conversation(db, names));
        w.members.push_back(m);
        w.sends_to[static_cast<std::size_t>(c % senders)].push_back(static_cast<std::size_t>(c));
    }
    return w;
}

/// Reads what follows `key` in a compact JSON payload (no full parse: the
/// generator must stay cheaper than what it measures).
inline bool field_after(const mosquitto_message& m, const char* key, std::string_view& out) {
    const std::string_view p(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
    const auto at = p.find(key);
    if (at == std::string_view::npos) return false;
    out = p.substr(at + std::strlen(key));
    return true;
}

/// Which broker a run measures, and so where a sender publishes and what
/// tells it a message is done.
enum class chat_path {
    /// mqchat: to chat/conv/<id>/send; done when the bridge's ack (after the
    /// commit and the delivery) reaches the sender's inbox.
    stored,
    /// Bare Mosquitto: straight to the group topic chat/conv/<id>/msg; done
    /// at the broker's PUBACK.
    bare,
};

/// Each sender keeps this many messages un-acked at saturation.
constexpr int in_flight_per_sender = 8;

struct saturation {
    double acked_per_s = 0;     ///< messages acked (stored, or PUBACKed) per second
    double delivered_per_s = 0; ///< deliveries to members per second
    std::uint64_t acked = 0;    ///< in the measured time
};

/// Send → delivery, at the delivery's arrival: when the kernel queued it on
/// the member's socket (client_pool::record_arrivals), which is what the
/// member's own device would see. One generator thread reads 300 members'
/// sockets in turn, so a burst of deliveries is read one after another —
/// that wait is the generator's, not the stack's; it is in read_* (the time
/// this thread read each delivery, as every figure was until 2026-12-04).
struct latency {
    double achieved_per_s = 0;
    double p50_ms = 0, p99_ms = 0, p999_ms = 0;
    double read_p50_ms = 0, read_p99_ms = 0, read_p999_ms = 0;
    double arrival_timed = 0; ///< the share of samples with a kernel arrival time (the rest: read time)
};

/// The chat world's users logged in to one broker, every member subscribed
/// QoS 1 to its conversations' group topics, and the traffic both runs
/// share: senders cycling through their conversations, each message stamped
/// with its send time in the body, so every delivery is a latency sample.
class chat_traffic {
public:
    /// User u connects to ports[u % ports.size()] (members spread over brokers).
    /// `e2e_bytes` > 0: every message is an end-to-end encrypted envelope
    /// (docs/protocol.md) with one ciphertext of that many base64 characters
    /// per member of the conversation, or with `e2e_group` one group
    /// (Megolm) ciphertext of that size — the conversations must be encrypted.
    chat_traffic(const chat_world& world, const std::vector<int>& ports, chat_path path, std::size_t e2e_bytes = 0,
                 bool e2e_group = false)
        : world_(world), path_(path), e2e_bytes_(e2e_bytes), e2e_group_(e2e_group), ports_(ports),
          pool_("127.0.0.1", ports.at(0)),
          outstanding_(static_cast<std::size_t>(world.senders), 0),
          next_conv_(static_cast<std::size_t>(world.senders), 0), run_(next_run()) {
        pool_.record_arrivals(true);
        connect_and_subscribe();
        pool_.on().on_message = [this](int client, const mosquitto_message& m) { on_message(client, m); };
        pool_.on().on_publish = [this](int client, int, int) {
            // With mqchat a PUBACK only says the broker took the message.
            if (path_ == chat_path::bare) done(static_cast<std::size_t>(client));
        };
    }
    ~chat_traffic() { pool_.disconnect_all(); }
    chat_traffic(const chat_traffic&) = delete;
    chat_traffic& operator=(const chat_traffic&) = delete;

    /// Closed loop: every sender tops its window up whenever an ack frees a
    /// slot, for `time`.
    saturation keep_full(std::chrono::milliseconds time) {
        const std::uint64_t acked0 = acked_, delivered0 = delivered_;
        const auto t0 = clock::now();
        pool_.run([] { return false; }, time, [this] {
            for (std::size_t k = 0; k < outstanding_.size(); ++k)
                while (outstanding_[k] < in_flight_per_sender) send(k);
        });
        const double secs = std::chrono::duration<double>(clock::now() - t0).count();
        return {static_cast<double>(acked_ - acked0) / secs, static_cast<double>(delivered_ - delivered0) / secs,
                acked_ - acked0};
    }

    /// Open loop: `rate` messages a second, round robin over the senders
    /// whatever is in flight, for `time`; then waits for what is under way.
    /// Latencies are those of the messages sent in this phase.
    latency offer(double rate, std::chrono::milliseconds time) {
        latencies_.clear();
        read_latencies_.clear();
        arrival_timed_ = 0;
        timeline_.clear();
        loop_gaps_.clear();
        measure_since_ns_ = now_ns();
        std::int64_t last_tick_ns = measure_since_ns_;
        std::uint64_t sent = 0;
        std::size_t next_sender = 0;
        const std::uint64_t acked0 = acked_;
        const auto t0 = clock::now();
        pool_.run([] { return false; }, time, [&] {
            // The generator's own lateness: a pass of its loop that comes
            // more than 2 ms after the last one (it waits 1 ms at most).
            const std::int64_t tick_ns = now_ns();
            if (tick_ns - last_tick_ns > 2'000'000)
                loop_gaps_.emplace_back(static_cast<double>(last_tick_ns - measure_since_ns_) / 1e6,
                                        static_cast<double>(tick_ns - last_tick_ns) / 1e6);
            last_tick_ns = tick_ns;
            const auto due = static_cast<std::uint64_t>(std::chrono::duration<double>(clock::now() - t0).count() * rate);
            for (; sent < due; ++sent) send(next_sender++ % outstanding_.size());
        });
        drain();
        measure_since_ns_ = -1;
        latency l;
        l.achieved_per_s = static_cast<double>(acked_ - acked0) / std::chrono::duration<double>(time).count();
        l.p50_ms = percentile(latencies_, 50);
        l.p99_ms = percentile(latencies_, 99);
        l.p999_ms = percentile(latencies_, 99.9);
        l.read_p50_ms = percentile(read_latencies_, 50);
        l.read_p99_ms = percentile(read_latencies_, 99);
        l.read_p999_ms = percentile(read_latencies_, 99.9);
        l.arrival_timed =
            static_cast<double>(arrival_timed_) / static_cast<double>(std::max<std::size_t>(1, read_latencies_.size()));
        return l;
    }

    /// Waits until every message sent is acked and delivered to every
    /// member, so that the next phase starts on an idle broker.
    void drain() {
        pool_.run([this] { return std::all_of(outstanding_.begin(), outstanding_.end(), [](int o) { return o <= 0; }); },
                  std::chrono::seconds(60));
        pool_.run([this] { return delivered_ >= expected_deliveries_; }, std::chrono::seconds(60));
    }

    /// The latency samples (ms, at arrival) of the last offer(), for pooling several.
    const std::vector<double>& samples() const { return latencies_; }

    /// The last offer()'s samples as (ms since the phase began at send,
    /// latency ms at arrival, latency ms when read), in the order read:
    /// whether slow deliveries come together (a stall) or spread out
    /// (waiting for a core).
    const std::vector<std::array<double, 3>>& timeline() const { return timeline_; }
    /// The last offer()'s passes of the generator's own loop that came late:
    /// (ms since the phase began, ms since the pass before), gaps over 2 ms.
    const std::vector<std::pair<double, double>>& loop_gaps() const { return loop_gaps_; }

    /// "N sent, N acked, …" for the notes.
    std::string counts() const {
        return std::to_string(sent_) + " sent, " + std::to_string(acked_) + " acked, " + std::to_string(delivered_) +
               " of " + std::to_string(expected_deliveries_) + " deliveries, " + std::to_string(errors_) +
               " error notices, " + std::to_string(disconnects_) + " disconnects";
    }

private:
    void connect_and_subscribe() {
        for (int u = 0; u < world_.users; ++u)
            pool_.add({numbered("u", u), numbered("u", u), "pw", 5, "",
                       ports_[static_cast<std::size_t>(u) % ports_.size()]});
        std::size_t subacks = 0, expected_subacks = 0, refused = 0;
        pool_.on().on_connect = [&](int, int rc) { refused += rc != 0; };
        pool_.on().on_subscribe = [&](int, int, int granted) { subacks += granted == 1; };
        pool_.connect_all();
        const auto users = static_cast<std::size_t>(world_.users);
        if (!pool_.run([&] { return pool_.connected() == users || refused; }, std::chrono::seconds(60)) || refused)
            throw std::runtime_error("chat users could not connect");
        for (std::size_t c = 0; c < world_.convs.size(); ++c)
            for (auto u : world_.members[c]) {
                pool_.subscribe(static_cast<int>(u), conv_topic(c, "/msg"), 1);
                ++expected_subacks;
            }
        if (path_ == chat_path::stored)
            for (int u = 0; u < world_.senders; ++u) {
                pool_.subscribe(u, "chat/user/" + numbered("u", u) + "/inbox", 1);
                ++expected_subacks;
            }
        if (!pool_.run([&] { return subacks == expected_subacks; }, std::chrono::seconds(60)))
            throw std::runtime_error("subscriptions were refused");
        pool_.on().on_connect = nullptr;
        pool_.on().on_subscribe = nullptr;
        pool_.on().on_disconnect = [this](int) { ++disconnects_; };
    }

    std::string conv_topic(std::size_t conv, const char* suffix) const {
        return "chat/conv/" + std::to_string(world_.convs[conv]) + suffix;
    }

    void send(std::size_t sender) {
        const auto& list = world_.sends_to[sender];
        const std::size_t c = list[next_conv_[sender]++ % list.size()];
        const std::string payload = e2e_bytes_ ? e2e_payload(sender, c) :
                                    "{\"id\":\"" + message_id(sender) +
                                    "\",\"body\":\"t" + std::to_string(now_ns()) + " " +
                                    sentences_[sent_ % sentences_.size()] + "\",\"ack\":false}";
        pool_.publish(static_cast<int>(sender), conv_topic(c, path_ == chat_path::stored ? "/send" : "/msg"),
                      payload.data(), static_cast<int>(payload.size()), 1);
        ++outstanding_[sender];
        expected_deliveries_ += world_.members[c].size();
    }

    /// "s<sender>-<run>.<n>": the sender first (the ack handler reads it),
    /// and unique across the traffic runs of one process — two runs on the
    /// same database (e2e_chat's phases) reusing an id would be, rightly,
    /// acked as resends and not delivered again.
    std::string message_id(std::size_t sender) {
        std::string id = "s"; // built with += : GCC 12's -Wrestrict misreads "s" + std::string
        id += std::to_string(sender);
        id += '-';
        id += std::to_string(run_);
        id += '.';
        id += std::to_string(++sent_);
        return id;
    }
    static int next_run() {
        static int runs = 0;
        return ++runs;
    }

    /// An e2e envelope: one group ciphertext, or per member a ciphertext "t<send time>AAAA…" (base64
    /// characters all), so that a delivery still carries its send time.
    std::string e2e_payload(std::size_t sender, std::size_t c) {
        std::string stamp = "t";
        stamp += std::to_string(now_ns());
        const std::string body = stamp + std::string(e2e_bytes_ > stamp.size() ? e2e_bytes_ - stamp.size() : 0, 'A');
        std::string p = "{\"id\":\"" + message_id(sender) + "\",\"type\":\"e2e\",\"ack\":false,\"e2e\":{\"sender_device\":\"d\",";
        if (e2e_group_)
            return p + "\"session_id\":\"" + std::string(43, 'S') + "\",\"ciphertext\":\"" + body + "\"}}";
        p += "\"ciphertexts\":{";
        bool first = true;
        for (auto u : world_.members[c]) {
            p.append(first ? "\"" : ",\"").append(numbered("u", u)).append("/d\":{\"type\":1,\"body\":\"");
            p.append(body).append("\"}");
            first = false;
        }
        return p + "}}}";
    }

    void done(std::size_t sender) {
        if (sender < outstanding_.size()) --outstanding_[sender];
        ++acked_;
    }

    void on_message(int client, const mosquitto_message& m) {
        const std::string_view topic(m.topic);
        std::string_view rest;
        if (topic.size() > 6 && topic.substr(topic.size() - 6) == "/inbox") {
            if (field_after(m, "\"ack\":\"s", rest)) {
                std::size_t sender = 0;
                std::from_chars(rest.data(), rest.data() + rest.size(), sender);
                done(sender);
            } else {
                ++errors_;
            }
        } else if (field_after(m, "\"body\":\"t", rest) || field_after(m, "\"ciphertext\":\"t", rest)) {
            ++delivered_;
            // mqchat: the sender's own copy is its ack ("ack": false).
            std::string_view id;
            if (path_ == chat_path::stored && field_after(m, "\"id\":\"s", id)) {
                std::size_t sender = 0;
                std::from_chars(id.data(), id.data() + id.size(), sender);
                if (static_cast<std::size_t>(client) == sender) done(sender);
            }
            std::int64_t stamp = 0;
            std::from_chars(rest.data(), rest.data() + rest.size(), stamp);
            if (measure_since_ns_ >= 0 && stamp >= measure_since_ns_) {
                const std::int64_t read = now_ns(), arrived = pool_.arrival_ns();
                arrival_timed_ += arrived != 0;
                latencies_.push_back(static_cast<double>((arrived ? arrived : read) - stamp) / 1e6);
                read_latencies_.push_back(static_cast<double>(read - stamp) / 1e6);
                timeline_.push_back({static_cast<double>(stamp - measure_since_ns_) / 1e6, latencies_.back(),
                                     read_latencies_.back()});
            }
        }
    }

    /// Ten words each, drawn log-uniformly from 20,000 (a few common, most
    /// rare), as a chat message's text is: what search indexes costs what
    /// it costs for real messages. Made once, so the generator stays cheap.
    static std::vector<std::string> make_sentences() {
        std::mt19937 rng(11);
        std::uniform_real_distribution<double> u(0, 1);
        std::vector<std::string> out(1000);
        for (auto& text : out)
            for (int k = 0; k < 10; ++k) {
                if (k) text += ' ';
                auto n = static_cast<std::size_t>(std::pow(20000.0, u(rng)));
                text += 'w';
                do {
                    text += static_cast<char>('a' + n % 26);
                    n /= 26;
                } while (n);
            }
        return out;
    }

    const std::vector<std::string> sentences_ = make_sentences();
    const chat_world& world_;
    const chat_path path_;
    const std::size_t e2e_bytes_;
    const bool e2e_group_;
    const std::vector<int> ports_;
    client_pool pool_;
    std::vector<int> outstanding_;        ///< per sender: sent and not yet acked
    std::vector<std::size_t> next_conv_;  ///< per sender: its next conversation, round robin
    const int run_;                       ///< this traffic's number in the process (message ids)
    std::uint64_t sent_ = 0, acked_ = 0, delivered_ = 0, expected_deliveries_ = 0, errors_ = 0, disconnects_ = 0;
    std::int64_t measure_since_ns_ = -1; ///< deliveries of messages sent since then are samples; -1: none
    std::vector<double> latencies_, read_latencies_;
    std::size_t arrival_timed_ = 0;
    std::vector<std::array<double, 3>> timeline_;
    std::vector<std::pair<double, double>> loop_gaps_;
};

/// CPU milliseconds a process spent per 1,000 messages, between two samples.
inline double ms_per_1000(double cpu_before, double cpu_after, std::uint64_t messages) {
    return (cpu_after - cpu_before) * 1000 * 1000.0 / static_cast<double>(std::max<std::uint64_t>(messages, 1));
}

} // namespace mqchat::bench
