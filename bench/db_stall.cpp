// Case "db_stall": PostgreSQL frozen (SIGSTOP of the whole cluster, as a
// stalled disk or a paused VM would) for 30 s while members keep chatting,
// typing and sending receipts, and 1,000 clients log in with made-up names.
// The broker with the plugin must not notice the database: members' typing
// and receipts arrive as fast as before, every made-up login is refused, and
// every message sent during the freeze is stored and delivered once when the
// database wakes.
//
// Side by side, in the same run: bare Mosquitto (a password file, the same
// members on the same topic shapes, the same made-up logins refused by the
// password file), whose p99 is what "not noticing" means on this machine.
//
// Every member is in a conversation with one other; each sends typing twice
// a second (with its send time in "at"), a receipt every second and a chat
// message every two seconds. Reported: typing and receipt p99 before and
// during the freeze, the made-up logins' outcomes and how long they took,
// and lost or doubled messages.

#include <mosquitto.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

struct traffic_figures {
    std::vector<double> typing_before, typing_during, receipt_before, receipt_during;
    std::size_t sent = 0, delivered_once = 0, delivered_twice = 0, acked = 0;
    std::size_t refused = 0, accepted = 0, unanswered = 0; ///< the made-up logins
    double made_up_seconds = 0;                             ///< until the last made-up login had its answer
};

struct member_plan {
    std::string user, password; ///< on bare Mosquitto everyone logs in as "member"; `user` names them in payloads
    std::string own_prefix, peer_prefix; ///< topics: {prefix}typing, {prefix}receipt, {prefix}send / msg
    std::string inbox;
};

/// Logins with made-up names, all at once, on their own thread: counts CONNACKs.
void made_up_logins(int port, int n, traffic_figures& f) {
    client_pool pool("127.0.0.1", port);
    std::size_t answered = 0;
    pool.on().on_connect = [&](int, int rc) {
        ++answered;
        if (rc == 0) ++f.accepted;
        else ++f.refused;
    };
    for (int i = 0; i < n; ++i) pool.add({"", "nobody-" + std::to_string(i) + "-" + std::to_string(now_ns() % 100000), "guess", 5, ""});
    const auto start = clock::now();
    pool.connect_all();
    pool.run([&] { return answered >= static_cast<std::size_t>(n); }, std::chrono::seconds(120));
    f.made_up_seconds = std::chrono::duration<double>(clock::now() - start).count();
    f.unanswered = static_cast<std::size_t>(n) - answered;
    pool.disconnect_all();
}

/// Drives the members for `warm` then `frozen` (calling freeze/thaw around
/// it), with `made_up` logins at the start of the frozen phase; then waits
/// until every chat message sent is delivered (or `settle` passes).
traffic_figures drive(int port, const std::vector<member_plan>& members, bool chat, int made_up,
                      std::chrono::seconds warm, std::chrono::seconds frozen, const std::function<void()>& freeze,
                      const std::function<void()>& thaw) {
    traffic_figures f;
    client_pool pool("127.0.0.1", port);
    const int n = static_cast<int>(members.size());
    for (const auto& m : members)
        pool.add({m.user + "-" + std::to_string(pool.size()), chat ? m.user : "member", m.password, 5, ""});
    int subacks = 0;
    pool.on().on_subscribe = [&](int, int, int granted) { subacks += granted >= 0 && granted < 0x80; };
    pool.on().on_connect = [&](int c, int rc) {
        if (rc != 0) return;
        const auto& m = members[static_cast<std::size_t>(c)];
        pool.subscribe(c, m.peer_prefix + "typing", 0);
        pool.subscribe(c, m.peer_prefix + "receipt", 0);
        pool.subscribe(c, m.peer_prefix + (chat ? "msg" : "send"), 1);
        if (chat) pool.subscribe(c, m.inbox, 1);
    };
    pool.connect_all();
    if (!pool.run([&] { return subacks >= n * (chat ? 4 : 3); }, std::chrono::seconds(60)))
        throw std::runtime_error("members did not all log in and subscribe");

    enum class phase { before, during, after } now_in = phase::before;
    std::map<std::string, std::int64_t> receipt_sent;            ///< "user k" → send time
    std::map<std::string, int> delivered;                         ///< message id → deliveries
    std::set<std::string> sent_ids;
    std::vector<int> receipt_k(static_cast<std::size_t>(n), 0), message_k(static_cast<std::size_t>(n), 0);
    pool.on().on_message = [&](int c, const mosquitto_message& msg) {
        const std::string_view topic(msg.topic);
        const std::string_view text(static_cast<const char*>(msg.payload), static_cast<std::size_t>(msg.payloadlen));
        const bool during = now_in == phase::during;
        if (topic.size() >= 6 && topic.substr(topic.size() - 6) == "typing") {
            const auto at = text.find("\"at\":");
            if (at == std::string_view::npos) return;
            const double ms = static_cast<double>(now_ns() - std::strtoll(text.data() + at + 5, nullptr, 10)) / 1e6;
            (during ? f.typing_during : f.typing_before).push_back(ms);
        } else if (topic.size() >= 7 && topic.substr(topic.size() - 7) == "receipt") {
            // {"user":"…","delivered":k} with the plugin; {"delivered":k,"user":"…"} as sent on bare Mosquitto.
            const auto d = text.find("\"delivered\":");
            const auto u = text.find("\"user\":\"");
            if (d == std::string_view::npos || u == std::string_view::npos) return;
            const auto end = text.find('"', u + 8);
            const std::string key = std::string(text.substr(u + 8, end - u - 8)) + " " +
                                    std::to_string(std::strtoll(text.data() + d + 12, nullptr, 10));
            const auto it = receipt_sent.find(key);
            if (it == receipt_sent.end()) return;
            (during ? f.receipt_during : f.receipt_before).push_back(static_cast<double>(now_ns() - it->second) / 1e6);
        } else if (topic.size() >= 5 && topic.substr(topic.size() - 5) == "inbox") {
            if (text.find("\"ack\":") != std::string_view::npos) ++f.acked;
        } else {
            const auto i = text.find("\"id\":\"");
            if (i == std::string_view::npos) return;
            const std::string id(text.substr(i + 6, text.find('"', i + 6) - i - 6));
            // Both members of a pair read its topic: count the peer's copy only.
            if (id.rfind(members[static_cast<std::size_t>(c)].user + "-m", 0) == 0) return;
            ++delivered[id];
        }
    };

    // Each member's next typing, receipt and message, spread over the second.
    std::vector<clock::time_point> next_typing(static_cast<std::size_t>(n)), next_receipt(static_cast<std::size_t>(n)),
        next_message(static_cast<std::size_t>(n));
    const auto t0 = clock::now();
    for (int i = 0; i < n; ++i) {
        const auto offset = std::chrono::milliseconds(i * 997 % 1000);
        next_typing[static_cast<std::size_t>(i)] = t0 + offset / 2;
        next_receipt[static_cast<std::size_t>(i)] = t0 + offset;
        next_message[static_cast<std::size_t>(i)] = t0 + offset * 2;
    }
    bool sending = true;
    auto tick = [&] {
        if (!sending) return;
        const auto now = clock::now();
        for (int i = 0; i < n; ++i) {
            const auto u = static_cast<std::size_t>(i);
            const auto& m = members[u];
            if (now >= next_typing[u]) {
                next_typing[u] += std::chrono::milliseconds(500);
                const std::string json = "{\"typing\":true,\"at\":" + std::to_string(now_ns()) + "}";
                pool.publish(i, m.own_prefix + "typing", json.data(), static_cast<int>(json.size()), 0);
            }
            if (now >= next_receipt[u]) {
                next_receipt[u] += std::chrono::seconds(1);
                const int k = ++receipt_k[u];
                receipt_sent[m.user + " " + std::to_string(k)] = now_ns();
                // The plugin stamps the user; on bare Mosquitto the sender names itself.
                const std::string json = chat ? "{\"delivered\":" + std::to_string(k) + "}"
                                              : "{\"delivered\":" + std::to_string(k) + ",\"user\":\"" + m.user + "\"}";
                pool.publish(i, m.own_prefix + "receipt", json.data(), static_cast<int>(json.size()), 0);
            }
            if (now >= next_message[u]) {
                next_message[u] += std::chrono::seconds(2);
                const std::string id = m.user + "-m" + std::to_string(++message_k[u]);
                sent_ids.insert(id);
                const std::string json = "{\"id\":\"" + id + "\",\"body\":\"hello\"}";
                pool.publish(i, m.own_prefix + "send", json.data(), static_cast<int>(json.size()), 1);
            }
        }
    };

    pool.run([] { return false; }, warm, tick);
    now_in = phase::during;
    freeze();
    std::thread storm([&] { made_up_logins(port, made_up, f); });
    pool.run([] { return false; }, frozen, tick);
    storm.join();
    now_in = phase::after;
    sending = false;
    thaw();
    // Everything sent is delivered to the peer (stored first, with the plugin), then nothing more.
    pool.run([&] { return delivered.size() >= sent_ids.size() && (!chat || f.acked >= sent_ids.size()); },
             std::chrono::seconds(120));
    pool.run([] { return false; }, std::chrono::seconds(1));
    f.sent = sent_ids.size();
    for (const auto& id : sent_ids) {
        const auto it = delivered.find(id);
        if (it == delivered.end()) continue;
        ++f.delivered_once;
        if (it->second > 1) ++f.delivered_twice;
    }
    pool.disconnect_all();
    return f;
}

} // namespace

void run_db_stall(const settings& s) {
    const int pairs = s.quick ? 10 : 50;
    const int made_up = s.quick ? 100 : 1000;
    const auto warm = std::chrono::seconds(s.quick ? 1 : 10);
    const auto frozen = std::chrono::seconds(s.quick ? 3 : 30);

    test::temp_dir dir("bench-stall");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    std::vector<member_plan> chat_members, bare_members;
    {
        pg::connection c(db.conninfo());
        add_users(c, "m", pairs * 2, cheap_hash("pw"));
        add_bridge_user(c);
        for (int p = 0; p < pairs; ++p) {
            const std::string a = numbered("m", 2 * static_cast<std::uint64_t>(p)), b = numbered("m", 2 * static_cast<std::uint64_t>(p) + 1);
            const std::string conv = "chat/conv/" + std::to_string(add_conversation(c, {a, b})) + "/";
            chat_members.push_back({a, "pw", conv, conv, "chat/user/" + a + "/inbox"});
            chat_members.push_back({b, "pw", conv, conv, "chat/user/" + b + "/inbox"});
            // Bare Mosquitto: the same topic shapes, one set per pair, and one
            // login for all (the password file's); each names itself in its payloads.
            const std::string pair = "bare/pair-" + std::to_string(p) + "/";
            bare_members.push_back({a, "pw", pair, pair, ""});
            bare_members.push_back({b, "pw", pair, pair, ""});
        }
    }
    // With the plugin, as shipped (mosquitto.conf): limits on, login key, backlog.
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(dir);
    test::broker with_plugin(dir, db.conninfo(), o, "stall-plugin");
    with_plugin.start();
    test::bridge store(dir, db.conninfo(), with_plugin.port(), bridge_password, "stall-bridge");
    store.start();
    const auto chat = drive(with_plugin.port(), chat_members, true, made_up, warm, frozen, [&] { db.freeze(); },
                            [&] { db.thaw(); });
    store.stop();
    with_plugin.stop();

    test::broker bare(dir, "", bare_with_passwords(dir, {{"member", "pw"}}), "stall-bare");
    bare.start();
    const auto base = drive(bare.port(), bare_members, false, made_up, warm, frozen, [] {}, [] {});
    bare.stop();

    auto p99 = [](std::vector<double> v) { return v.empty() ? -1.0 : percentile(v, 99); };
    const std::string during = "during the " + std::to_string(frozen.count()) + " s freeze, " +
                               std::to_string(pairs * 2) + " members, " + std::to_string(made_up) +
                               " made-up logins; baseline = bare Mosquitto, same traffic";
    report("stall_typing_p99_ms", p99(chat.typing_during), "ms", p99(base.typing_during), during);
    report("stall_receipt_p99_ms", p99(chat.receipt_during), "ms", p99(base.receipt_during), during);
    report("stall_typing_p99_before_ms", p99(chat.typing_before), "ms", p99(base.typing_before),
           "the same before the freeze");
    report("stall_made_up_refused", static_cast<double>(chat.refused), "logins", static_cast<double>(base.refused),
           std::to_string(chat.accepted) + " accepted, " + std::to_string(chat.unanswered) + " unanswered (bare: " +
               std::to_string(base.accepted) + ", " + std::to_string(base.unanswered) + ")");
    report("stall_made_up_s", chat.made_up_seconds, "s", base.made_up_seconds,
           "until every made-up login had its answer");
    report("stall_messages_lost", static_cast<double>(chat.sent - chat.delivered_once), "messages", std::nullopt,
           std::to_string(chat.sent) + " sent, " + std::to_string(chat.acked) + " acks; stored and delivered after the thaw");
    report("stall_messages_doubled", static_cast<double>(chat.delivered_twice), "messages", std::nullopt,
           "delivered more than once");
    if (chat.refused != static_cast<std::size_t>(made_up) || chat.sent != chat.delivered_once)
        throw std::runtime_error("a made-up login got in or was not answered, or a message was lost");
}

} // namespace mqchat::bench
