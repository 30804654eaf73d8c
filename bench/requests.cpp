// Case "requests": how many requests the bridge answers, and what they cost
// live chat (issue #12). Through the whole shipped stack: clients → mosquitto
// with the plugin (its limits on) → bridge → PostgreSQL and back.
//
//  - requests_capacity_per_s: requesters each keep one mixed history /
//    search / sync / conv.list request in flight (a closed loop: the bridge
//    saturated, its queue never overflowing); what it answers per second.
//  - chat_p99_under_requests_ms: two members chat at 10 messages a second,
//    send to delivery; first with no requests (the idle p99), then while
//    requests are offered at twice the capacity.
//  - reconnect_storm_s: 10,000 clients reconnect at once, each subscribing to
//    its inbox and asking `sync` and `conv.list` (coming back after
//    `overloaded` when told to): the time until every one has both answers,
//    and the chat p99 meanwhile.

#include <mosquitto.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

constexpr int messages_per_conv = 200;

struct world {
    std::int64_t first_conv = 0; ///< conversation of requester i: first_conv + i / group
    int group = 10;
    std::int64_t chat_conv = 0;
};

/// `prefix`0 … in conversations of `group`, each with messages_per_conv
/// messages; and chat0, chat1 in a conversation of their own.
std::int64_t seed_group(pg::connection& db, const std::string& prefix, int users, int group) {
    add_users(db, prefix, users, cheap_hash("pw"));
    const int convs = (users + group - 1) / group;
    const std::int64_t first_conv =
        db.exec("WITH c AS (INSERT INTO conversations (title, last_seq) SELECT $1 || g, $2"
                "            FROM generate_series(0, $3 - 1) g RETURNING id, last_seq),"
                " o AS (INSERT INTO conversation_outbox SELECT id, last_seq FROM c)" // all published
                " SELECT min(id) FROM c",
                {prefix, std::to_string(messages_per_conv), std::to_string(convs)})
            .int64(0, 0);
    db.exec("INSERT INTO members (conv_id, user_id)"
            " SELECT $1 + substr(u.name, length($2) + 1)::int / $3, u.id FROM users u"
            " WHERE u.name ~ ('^' || $2 || '[0-9]+$')",
            {std::to_string(first_conv), prefix, std::to_string(group)});
    db.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
            " SELECT m.conv_id, s, m.user_id, 'm-' || s,"
            "        'message ' || s || ' about the weather, the harbour and the benchmark', 1700000000000 + s * 1000"
            " FROM (SELECT DISTINCT ON (conv_id) conv_id, user_id FROM members"
            "        WHERE conv_id >= $1 ORDER BY conv_id, user_id) m, generate_series(1, $2) s",
            {std::to_string(first_conv), std::to_string(messages_per_conv)});
    return first_conv;
}

/// A mixed request of requester `i` (its conversation `conv`), in the 3.1.1
/// form: the correlation in the payload.
std::string mixed_request(int kind, std::int64_t conv, const std::string& corr, std::mt19937& rng, std::string& method) {
    switch (kind % 4) {
    case 0:
        method = "history";
        return "{\"corr\":\"" + corr + "\",\"conv\":" + std::to_string(conv) +
               ",\"before\":" + std::to_string(2 + rng() % (messages_per_conv - 1)) + "}";
    case 1:
        method = "search";
        return "{\"corr\":\"" + corr + "\",\"q\":\"harbour\",\"conv\":" + std::to_string(conv) + "}";
    case 2:
        method = "sync";
        return "{\"corr\":\"" + corr + "\",\"cursors\":{\"" + std::to_string(conv) +
               "\":" + std::to_string(messages_per_conv - 10) + "}}";
    default:
        method = "conv.list";
        return "{\"corr\":\"" + corr + "\"}";
    }
}

/// Two members chatting at 10 messages a second: send-to-delivery latencies.
class chat_pair {
public:
    chat_pair(int port, std::int64_t conv) : pool_("127.0.0.1", port), topic_("chat/conv/" + std::to_string(conv) + "/") {
        pool_.add({"chat0-bench", "chat0", "pw", 5, ""});
        pool_.add({"chat1-bench", "chat1", "pw", 5, ""});
        int subscribed = 0;
        pool_.on().on_subscribe = [&](int, int, int granted) { subscribed += granted == 1; };
        pool_.on().on_connect = [&](int c, int rc) {
            if (rc == 0 && c == 1) pool_.subscribe(1, topic_ + "msg", 1);
        };
        pool_.connect_all();
        if (!pool_.run([&] { return subscribed == 1; }, std::chrono::seconds(30)))
            throw std::runtime_error("the chat pair could not log in");
        pool_.on().on_message = [this](int, const mosquitto_message& m) {
            const std::string_view text(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
            const auto at = text.find("\"body\":\"t");
            if (at == std::string_view::npos) return;
            latencies_.push_back(static_cast<double>(now_ns() - std::strtoll(text.data() + at + 9, nullptr, 10)) / 1e6);
        };
    }

    /// Chats for `how_long` (or until `done`), returns the latencies of that stretch.
    std::vector<double> chat(std::chrono::milliseconds how_long, const std::function<bool()>& done = {}) {
        latencies_.clear();
        auto next = clock::now();
        int n = 0;
        const auto until = clock::now() + how_long;
        pool_.run([&] { return clock::now() >= until || (done && done()); }, how_long + std::chrono::seconds(1), [&] {
            if (clock::now() < next) return;
            next += std::chrono::milliseconds(100);
            const std::string json = "{\"id\":\"c" + std::to_string(sent_++) + "\",\"body\":\"t" +
                                     std::to_string(now_ns()) + "\"}";
            pool_.publish(0, topic_ + "send", json.data(), static_cast<int>(json.size()), 1);
            ++n;
        });
        // What is still on its way counts (late is what this measures).
        pool_.run([&] { return latencies_.size() >= static_cast<std::size_t>(n); }, std::chrono::seconds(30));
        return latencies_;
    }

private:
    client_pool pool_;
    std::string topic_;
    std::vector<double> latencies_;
    int sent_ = 0;
};

/// Requesters offering `per_s` mixed requests each for `how_long`; counts replies.
struct offered_load {
    std::atomic<std::uint64_t> results{0}, overloaded{0}, other{0};
};

/// `per_s` 0: a closed loop, each requester sending its next request when
/// the last one is answered (saturation without overload).
void offer_requests(int port, const std::string& prefix, int from, int count, const world& w, double per_s,
                    std::chrono::milliseconds how_long, offered_load& load) {
    client_pool pool("127.0.0.1", port);
    for (int i = 0; i < count; ++i) pool.add({"", prefix + std::to_string(from + i), "pw", 4, ""});
    int subscribed = 0;
    pool.on().on_subscribe = [&](int, int, int granted) { subscribed += granted == 1; };
    pool.on().on_connect = [&](int c, int rc) {
        if (rc == 0) pool.subscribe(c, "chat/user/" + prefix + std::to_string(from + c) + "/inbox", 1);
    };
    std::vector<bool> waiting(static_cast<std::size_t>(count), false);
    pool.on().on_message = [&](int c, const mosquitto_message& m) {
        const std::string_view text(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
        if (text.find("\"result\"") != std::string_view::npos) ++load.results;
        else if (text.find("\"overloaded\"") != std::string_view::npos) ++load.overloaded;
        else ++load.other;
        waiting[static_cast<std::size_t>(c)] = false;
    };
    pool.connect_all();
    if (!pool.run([&] { return subscribed == count; }, std::chrono::seconds(60)))
        throw std::runtime_error("requesters could not log in and subscribe");
    std::mt19937 rng(42);
    std::vector<clock::time_point> next(static_cast<std::size_t>(count));
    const bool closed = per_s <= 0;
    const auto period = std::chrono::nanoseconds(closed ? 0 : static_cast<std::int64_t>(1e9 / per_s));
    const auto t0 = clock::now();
    for (int i = 0; i < count; ++i) next[static_cast<std::size_t>(i)] = t0 + period * i / count;
    std::uint64_t k = 0;
    const auto until = t0 + how_long;
    pool.run([&] { return clock::now() >= until; }, how_long + std::chrono::seconds(1), [&] {
        const auto now = clock::now();
        for (int i = 0; i < count; ++i) {
            auto& at = next[static_cast<std::size_t>(i)];
            if (closed) {
                if (waiting[static_cast<std::size_t>(i)]) continue;
                waiting[static_cast<std::size_t>(i)] = true;
            } else {
                if (now < at) continue;
                at += period;
            }
            std::string method;
            const std::string body = mixed_request(static_cast<int>(k), w.first_conv + (from + i) / w.group,
                                                   numbered("q", static_cast<std::uint64_t>(k)), rng, method);
            ++k;
            pool.publish(i, "chat/rpc/" + method, body.data(), static_cast<int>(body.size()), 1);
        }
    });
    pool.run([] { return false; }, std::chrono::seconds(2)); // the last answers
    pool.disconnect_all();
}

/// One worker's share of the reconnect storm: connect, subscribe to the
/// inbox, ask sync and conv.list, come back after `overloaded`. Returns how
/// many clients got both answers.
std::size_t storm_worker(int port, const std::string& prefix, int lo, int hi, const world& w) {
    client_pool pool("127.0.0.1", port);
    const int n = hi - lo;
    for (int i = lo; i < hi; ++i) pool.add({prefix + std::to_string(i) + "-phone", prefix + std::to_string(i), "pw", 4, ""});
    std::vector<int> answered(static_cast<std::size_t>(n), 0); // bit 1: sync, bit 2: conv.list
    std::vector<std::pair<clock::time_point, std::pair<int, int>>> retries; // when, (client, which)
    std::size_t complete = 0;
    auto ask = [&](int c, int which) {
        const std::int64_t conv = w.first_conv + (lo + c) / w.group;
        const std::string corr = std::to_string(which);
        const std::string body = which == 1 ? "{\"corr\":\"1\",\"cursors\":{\"" + std::to_string(conv) + "\":" +
                                                  std::to_string(messages_per_conv - 5) + "}}"
                                            : std::string("{\"corr\":\"2\"}");
        const std::string topic = which == 1 ? "chat/rpc/sync" : "chat/rpc/conv.list";
        pool.publish(c, topic, body.data(), static_cast<int>(body.size()), 1);
        (void)corr;
    };
    pool.on().on_connect = [&](int c, int rc) {
        if (rc == 0) pool.subscribe(c, "chat/user/" + prefix + std::to_string(lo + c) + "/inbox", 1);
    };
    pool.on().on_subscribe = [&](int c, int, int granted) {
        if (granted != 1) return;
        ask(c, 1);
        ask(c, 2);
    };
    std::mt19937 rng(static_cast<unsigned>(lo));
    pool.on().on_message = [&](int c, const mosquitto_message& m) {
        const std::string_view text(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
        const int which = text.find("\"corr\":\"1\"") != std::string_view::npos ? 1 : 2;
        auto& got = answered[static_cast<std::size_t>(c)];
        if (text.find("\"result\"") != std::string_view::npos) {
            if (got & which) return;
            got |= which;
            if (got == 3) ++complete;
        } else {
            // overloaded (or rate_limited): come back after the hint, with jitter.
            const auto hint = text.find("\"retry_after_ms\":");
            const long ms = hint == std::string_view::npos ? 1000 : std::strtol(text.data() + hint + 17, nullptr, 10);
            retries.push_back({clock::now() + std::chrono::milliseconds(ms + static_cast<long>(rng() % (ms / 2 + 1))),
                               {c, which}});
        }
    };
    pool.connect_all();
    pool.run([&] { return complete >= static_cast<std::size_t>(n); }, std::chrono::seconds(300), [&] {
        if (retries.empty()) return;
        const auto now = clock::now();
        for (auto it = retries.begin(); it != retries.end();) {
            if (it->first > now) {
                ++it;
                continue;
            }
            ask(it->second.first, it->second.second);
            it = retries.erase(it);
        }
    });
    pool.disconnect_all();
    pool.run([] { return false; }, std::chrono::milliseconds(300));
    return complete;
}

} // namespace

void run_requests(const settings& s) {
    const int requesters = s.quick ? 60 : 400;
    const int storm_clients = s.quick ? 300 : 10000;
    const auto phase = std::chrono::seconds(s.quick ? 2 : 10);

    test::temp_dir dir("bench-requests");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    world w;
    world storm_world;
    {
        pg::connection c(db.conninfo());
        add_bridge_user(c);
        w.first_conv = seed_group(c, "r", requesters, w.group);
        storm_world.first_conv = seed_group(c, "s", storm_clients, storm_world.group);
        add_users(c, "chat", 2, cheap_hash("pw"));
        w.chat_conv = add_conversation(c, {"chat0", "chat1"});
        c.exec("ANALYZE");
    }
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(dir);
    test::broker b(dir, db.conninfo(), o, "requests");
    b.start();
    test::bridge store(dir, db.conninfo(), b.port(), bridge_password, "requests-bridge");
    store.start();

    chat_pair chat(b.port(), w.chat_conv);
    chat.chat(std::chrono::seconds(2)); // warm
    auto idle = chat.chat(phase);

    // Capacity: every requester with one request in flight at all times (a
    // closed loop: the bridge saturated, its queue never full).
    auto measure = [&](double per_s, bool with_chat, std::vector<double>* chat_latencies) {
        offered_load load;
        const int threads = 2;
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t)
            ts.emplace_back([&, t] {
                offer_requests(b.port(), "r", t * requesters / threads, requesters / threads, w, per_s,
                               phase + std::chrono::seconds(2), load);
            });
        std::this_thread::sleep_for(std::chrono::seconds(s.quick ? 2 : 3)); // logged in and going
        const std::uint64_t r0 = load.results;
        const auto t0 = clock::now();
        if (with_chat) *chat_latencies = chat.chat(phase - std::chrono::seconds(1));
        else std::this_thread::sleep_for(phase - std::chrono::seconds(1));
        const double rate = static_cast<double>(load.results - r0) /
                            std::chrono::duration<double>(clock::now() - t0).count();
        for (auto& t : ts) t.join();
        return std::make_pair(rate, load.overloaded.load());
    };
    const auto [capacity, refused] = measure(0, false, nullptr);
    // Twice the capacity, within each user's rate of 20 a second.
    const double twice = std::min(19.0, 2 * capacity / requesters);
    std::vector<double> under;
    const auto [served_under, refused_under] = measure(twice, true, &under);

    // The reconnect storm: first logins done once (their passwords are then
    // remembered). Then, as a baseline, all reconnect at once without asking
    // anything, the chat going on: what the connections alone cost.
    connect_storm(b, "s", storm_clients, 0);
    std::vector<double> during_plain_storm;
    {
        std::atomic<bool> done{false};
        std::thread chatting([&] { during_plain_storm = chat.chat(std::chrono::seconds(300), [&] { return done.load(); }); });
        connect_storm(b, "s", storm_clients, 0);
        done = true;
        chatting.join();
    }
    std::vector<double> during_storm;
    const auto t_storm = clock::now();
    std::atomic<bool> storm_done{false};
    // Workers are forked before the chat thread starts: a fork copies only
    // the thread that calls it.
    const int per_worker = 5000;
    std::vector<std::pair<pid_t, int>> workers;
    for (int lo = 0; lo < storm_clients; lo += per_worker) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
        const pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            std::size_t complete = 0;
            try {
                complete = storm_worker(b.port(), "s", lo, std::min(storm_clients, lo + per_worker), storm_world);
            } catch (...) {
            }
            const std::string line = std::to_string(complete) + "\n";
            _exit(write(fds[1], line.data(), line.size()) > 0 ? 0 : 1);
        }
        close(fds[1]);
        workers.emplace_back(pid, fds[0]);
    }
    std::thread chat_thread([&] { during_storm = chat.chat(std::chrono::seconds(300), [&] { return storm_done.load(); }); });
    std::size_t complete = 0;
    for (auto& [pid, fd] : workers) {
        char buf[32] = {};
        if (read(fd, buf, sizeof buf - 1) > 0) complete += std::strtoull(buf, nullptr, 10);
        close(fd);
        waitpid(pid, nullptr, 0);
    }
    const double storm_s = std::chrono::duration<double>(clock::now() - t_storm).count();
    storm_done = true;
    chat_thread.join();
    store.stop();
    b.stop();

    auto p99 = [](std::vector<double> v) { return v.empty() ? -1.0 : percentile(v, 99); };
    const double idle_p99 = p99(idle);
    report("requests_capacity_per_s", capacity, "req/s", std::nullopt,
           std::to_string(requesters) + " requesters, one history, search, sync or conv.list each in flight; " +
               std::to_string(refused) + " overloaded replies");
    report("chat_p99_idle_ms", idle_p99, "ms", std::nullopt, "two members at 10 messages/s, no requests");
    report("chat_p99_under_requests_ms", p99(under), "ms", idle_p99,
           "requests offered at " + std::to_string(static_cast<int>(twice * requesters)) + "/s (served " +
               std::to_string(static_cast<int>(served_under)) + "/s, " + std::to_string(refused_under) +
               " overloaded); goal <= max(3 x idle p99, 50 ms); baseline = idle p99");
    report("reconnect_storm_s", storm_s, "s", std::nullopt,
           std::to_string(complete) + " of " + std::to_string(storm_clients) +
               " clients reconnected at once and got sync and conv.list answered");
    report("chat_p99_during_reconnect_storm_ms", p99(during_storm), "ms", p99(during_plain_storm),
           "baseline = the same clients reconnecting at once without requests (idle: " +
               std::to_string(static_cast<int>(idle_p99 * 10) / 10.0).substr(0, 4) + " ms)");
    if (complete != static_cast<std::size_t>(storm_clients))
        throw std::runtime_error("not every client of the reconnect storm got its answers");
}

} // namespace mqchat::bench
