// Case "e2e_keys": how many keys.claim requests the bridge answers a second
// (issue #18), through the whole shipped stack: claimers → mosquitto with the
// plugin → bridge → PostgreSQL and back. Each claim takes one one-time key
// of a device (a locked, emptied row; docs/protocol.md, "End-to-end
// encryption"), so this is the directory's write path, not a read.
//
//  - e2e_key_claims_per_s: claimers each keep one claim in flight (a closed
//    loop: the bridge saturated); claims answered with a one-time key a
//    second. The per-caller limit (60 claims a minute) would measure itself
//    rather than the server, so the case resets the counters every half
//    second, as if there were many more claimers; and there are enough
//    claimers that none nears the plugin's 20 requests a second per user.
//  - e2e_key_claim_duplicates: one-time key ids handed out more than once
//    over the whole run (must be 0).

#include <mosquitto.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "bench.hpp"
#include "client_pool.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

/// A claimer's id of the key in a reply: the text after "one_time_key":{"id":"… (jsoncpp writes members sorted).
std::string key_id_of(std::string_view reply) {
    const auto at = reply.find("\"one_time_key\":{");
    if (at == std::string_view::npos) return "";
    const auto fallback = reply.find("\"fallback\":true", at);
    const auto id = reply.find("\"id\":\"", at);
    if (id == std::string_view::npos) return "";
    if (fallback != std::string_view::npos && fallback < reply.find('}', at)) return "";
    const auto end = reply.find('"', id + 6);
    return std::string(reply.substr(id + 6, end - id - 6));
}

struct tally {
    std::mutex m;
    std::map<std::string, int> handed_out; ///< "owner/key id" → times
    std::atomic<std::uint64_t> answered{0}, other{0};
};

/// `count` claimers from `from` on, each with one claim in flight for `how_long`.
void claim_loop(int port, int from, int count, int owners, std::chrono::milliseconds how_long, tally& t) {
    client_pool pool("127.0.0.1", port);
    for (int i = 0; i < count; ++i) pool.add({"", numbered("c", static_cast<std::uint64_t>(from + i)), "pw", 4, ""});
    int subscribed = 0;
    pool.on().on_subscribe = [&](int, int, int granted) { subscribed += granted == 1; };
    pool.on().on_connect = [&](int c, int rc) {
        if (rc == 0) pool.subscribe(c, "chat/user/" + numbered("c", static_cast<std::uint64_t>(from + c)) + "/inbox", 1);
    };
    std::vector<bool> waiting(static_cast<std::size_t>(count), false);
    std::vector<int> asked(static_cast<std::size_t>(count), 0);
    pool.on().on_message = [&](int c, const mosquitto_message& msg) {
        const std::string_view text(static_cast<const char*>(msg.payload), static_cast<std::size_t>(msg.payloadlen));
        if (text.find("\"method\":\"keys.claim\"") == std::string_view::npos) return; // a keys.low notice etc.
        const std::string id = key_id_of(text);
        if (!id.empty()) {
            ++t.answered;
            std::lock_guard lock(t.m);
            ++t.handed_out[numbered("o", static_cast<std::uint64_t>(asked[static_cast<std::size_t>(c)])) + "/" + id];
        } else {
            ++t.other;
        }
        waiting[static_cast<std::size_t>(c)] = false;
    };
    pool.connect_all();
    if (!pool.run([&] { return subscribed == count; }, std::chrono::seconds(60)))
        throw std::runtime_error("claimers could not log in and subscribe");
    std::mt19937 rng(static_cast<unsigned>(from + 1));
    std::uint64_t k = 0;
    const auto until = clock::now() + how_long;
    pool.run([&] { return clock::now() >= until; }, how_long + std::chrono::seconds(1), [&] {
        for (int i = 0; i < count; ++i) {
            if (waiting[static_cast<std::size_t>(i)]) continue;
            waiting[static_cast<std::size_t>(i)] = true;
            const int owner = static_cast<int>(rng() % static_cast<unsigned>(owners));
            asked[static_cast<std::size_t>(i)] = owner;
            const std::string body = "{\"corr\":\"" + numbered("k", k++) + "\",\"user\":\"" +
                                     numbered("o", static_cast<std::uint64_t>(owner)) + "\"}";
            pool.publish(i, "chat/rpc/keys.claim", body.data(), static_cast<int>(body.size()), 1);
        }
    });
    pool.run([] { return false; }, std::chrono::seconds(2)); // the last answers
    pool.disconnect_all();
}

} // namespace

void run_e2e_keys(const settings& s) {
    // Enough claimers that the plugin's rate per user (20 requests a second)
    // is far above each one's share: the bridge is what saturates.
    const int claimers = s.quick ? 200 : 400;
    // Devices hold at most 200 unclaimed one-time keys (keys.upload's limit): many devices, 200 each.
    const int owners = s.quick ? 150 : 400;
    const int keys_per_owner = 200;
    const auto phase = std::chrono::seconds(s.quick ? 2 : 10);

    test::temp_dir dir("bench-e2e-keys");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    {
        pg::connection c(db.conninfo());
        add_bridge_user(c);
        add_users(c, "c", claimers, cheap_hash("pw"));
        add_users(c, "o", owners, cheap_hash("pw"));
        std::vector<std::string> everyone;
        for (int i = 0; i < claimers; ++i) everyone.push_back(numbered("c", static_cast<std::uint64_t>(i)));
        for (int i = 0; i < owners; ++i) everyone.push_back(numbered("o", static_cast<std::uint64_t>(i)));
        add_conversation(c, everyone);
        // One device per owner with many one-time keys, shaped as uploads
        // make them (a claim does not check signatures again; uploads do).
        c.exec("INSERT INTO e2e_devices (user_id, device, signing_key, identity_key, signature)"
               " SELECT id, 'dev', substr(encode(sha256(convert_to('s' || id, 'UTF8')), 'base64'), 1, 43),"
               "        substr(encode(sha256(convert_to('i' || id, 'UTF8')), 'base64'), 1, 43),"
               "        substr(replace(encode(sha512(convert_to('d' || id, 'UTF8')), 'base64'), E'\\n', ''), 1, 86)"
               "   FROM users WHERE name ~ '^o[0-9]+$'");
        c.exec("INSERT INTO e2e_one_time_keys (device_id, key_id, key, signature)"
               " SELECT d.id, 'k' || g, substr(encode(sha256(convert_to(d.id || '-' || g, 'UTF8')), 'base64'), 1, 43),"
               "        substr(replace(encode(sha512(convert_to(d.id || '-' || g, 'UTF8')), 'base64'), E'\\n', ''), 1, 86)"
               "   FROM e2e_devices d, generate_series(1, $1) g",
               {std::to_string(keys_per_owner)});
        c.exec("ANALYZE");
    }
    test::broker_options o;
    o.plugin_options = shipped_plugin_options(dir);
    test::broker b(dir, db.conninfo(), o, "e2e-keys");
    b.start();
    test::bridge store(dir, db.conninfo(), b.port(), bridge_password, "e2e-keys-bridge");
    store.start();

    tally t;
    std::atomic<bool> done{false};
    // The per-caller limit is not what is measured here: forget the counts twice a second.
    std::thread reset([&] {
        pg::connection c(db.conninfo());
        while (!done) {
            c.exec("DELETE FROM e2e_claim_rate");
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    });
    const int threads = 2;
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
        ts.emplace_back([&, i] {
            claim_loop(b.port(), i * claimers / threads, claimers / threads, owners, phase + std::chrono::seconds(3), t);
        });
    std::this_thread::sleep_for(std::chrono::seconds(3)); // logged in and going
    const std::uint64_t a0 = t.answered;
    const auto t0 = clock::now();
    std::this_thread::sleep_for(phase - std::chrono::seconds(1));
    const double rate =
        static_cast<double>(t.answered - a0) / std::chrono::duration<double>(clock::now() - t0).count();
    for (auto& th : ts) th.join();
    done = true;
    reset.join();

    int duplicates = 0;
    for (const auto& [key, times] : t.handed_out) duplicates += times > 1 ? times - 1 : 0;
    report("e2e_key_claims_per_s", rate, "claims/s", std::nullopt,
           std::to_string(claimers) + " claimers, one claim in flight each, " + std::to_string(owners) +
               " devices; bridge request_threads 2");
    report("e2e_key_claim_duplicates", duplicates, "keys", std::nullopt,
           std::to_string(t.handed_out.size()) + " one-time keys handed out, " + std::to_string(t.other.load()) +
               " other answers");
    if (t.other > 0)
        note(s, "e2e_keys: " + std::to_string(t.other.load()) +
                    " claims found a device without one-time keys (the fallback key): raise the number of devices");
}

} // namespace mqchat::bench
