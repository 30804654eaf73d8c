// Case "retention": purges never lock out live traffic. Two members chat
// (open loop, 100 messages a second between them, each message stamped with
// its send time) while the bridge's retention job purges 300,000 expired
// messages (20,000 with --quick) — a tenth of them in the very conversation
// the two are chatting in, the rest in 50 others — with the shipped
// settings: 1,000 rows a transaction, 50 ms between transactions
// (docs/data-rights.md, "Retention").
//
// The baseline, in the same run and on the same database (the old messages
// already there, no retention setting yet): the same chat without a purge.
//
//  - retention_chat_p99_ms: send → delivery p99 while the purge runs;
//    baseline = the p99 without it. retention_chat_p50_ms likewise.
//  - retention_purge_rows_per_s: rows purged a second, with the pauses.
//  - retention_purge_s: how long the purge of them all took.

#include <atomic>
#include <memory>
#include <thread>

#include "bench.hpp"
#include "chat_traffic.hpp"
#include "retention/retention_job.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {

constexpr double chat_rate = 100; // messages a second between the two

/// `n` messages 40 days old: n / 10 at the start of `chat_conv`, the rest
/// over `others` conversations of u0 and u1.
void fill_old(pg::connection& db, std::int64_t chat_conv, int others, std::int64_t n) {
    const std::int64_t in_chat = n / 10, per_other = (n - in_chat) / others;
    const std::string old_ts = "(extract(epoch FROM now() - interval '40 days') * 1000)::bigint";
    db.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
            " SELECT $1::bigint, s, (SELECT id FROM users WHERE name = 'u0'), 'old-' || s,"
            "        'an old message number ' || s || ' about nothing in particular', " + old_ts +
                " FROM generate_series(1, $2::bigint) s",
            {std::to_string(chat_conv), std::to_string(in_chat)});
    db.exec("UPDATE conversations SET last_seq = $2 WHERE id = $1", {std::to_string(chat_conv), std::to_string(in_chat)});
    for (int c = 0; c < others; ++c) {
        const std::int64_t conv = add_conversation(db, {"u0", "u1"});
        db.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
                " SELECT $1::bigint, s, (SELECT id FROM users WHERE name = 'u1'), 'old-' || s,"
                "        'an old message number ' || s || ' about nothing in particular', " + old_ts +
                    " FROM generate_series(1, $2::bigint) s",
                {std::to_string(conv), std::to_string(per_other)});
        db.exec("UPDATE conversations SET last_seq = $2 WHERE id = $1", {std::to_string(conv), std::to_string(per_other)});
    }
}

} // namespace

void run_retention(const settings& s) {
    const std::int64_t old_messages = s.quick ? 20000 : 300000;
    const auto baseline_time = std::chrono::milliseconds(s.quick ? 2000 : 10000);
    const auto chunk = std::chrono::milliseconds(1000);
    test::temp_dir dir("bench-retention");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", bridge_password, "--bridge"});
    chat_world w;
    std::int64_t expired = 0;
    {
        pg::connection c(db.conninfo());
        add_users(c, "u", 2, cheap_hash("pw"));
        w.users = 2;
        w.senders = 2;
        w.convs = {add_conversation(c, {"u0", "u1"})};
        w.members = {{0, 1}};
        w.sends_to = {{0}, {0}};
        const auto t0 = clock::now();
        fill_old(c, w.convs[0], 50, old_messages);
        c.exec("VACUUM ANALYZE messages");
        expired = c.exec("SELECT count(*) FROM messages").int64(0, 0);
        note(s, "retention: " + std::to_string(expired) + " old messages written in " +
                    std::to_string(std::chrono::duration<double>(clock::now() - t0).count()) + " s");
    }

    test::broker mqtt(dir, db.conninfo(), {}, "mosquitto");
    mqtt.start();
    // The bridge's own job stays off: this case runs one with the same
    // settings in-process, to know when it is done.
    test::bridge store(dir, db.conninfo(), mqtt.port(), bridge_password, "bridge", {"retention_interval_s 0"});
    store.start();
    chat_traffic traffic(w, {mqtt.port()}, chat_path::stored);

    traffic.offer(chat_rate, std::chrono::milliseconds(1000)); // warm up
    const latency without = traffic.offer(chat_rate, baseline_time);

    test::admin_ok(db.conninfo(), {"retention", "set", "--kind", "group", "--max-age", "30d"});
    mqchat::bridge::retention_settings rs; // the shipped values: 1,000 rows, 50 ms apart
    mqchat::bridge::retention_job job(db.conninfo(), rs);
    std::vector<double> during;
    // When the last row went, to 10 ms (the chat runs in chunks meanwhile).
    std::atomic<double> purge_s{0};
    std::atomic<bool> stop{false};
    const auto t0 = clock::now();
    job.start();
    std::thread watcher([&] {
        while (!stop && job.purged_total() < static_cast<std::uint64_t>(expired))
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!stop) purge_s = std::chrono::duration<double>(clock::now() - t0).count();
    });
    for (int i = 0; i < 300 && purge_s == 0; ++i) {
        traffic.offer(chat_rate, chunk);
        const auto& samples = traffic.samples();
        during.insert(during.end(), samples.begin(), samples.end());
    }
    stop = true;
    watcher.join();
    if (purge_s == 0) throw std::runtime_error("the purge did not finish in 10 minutes");
    std::vector<double> p50 = during;
    report("retention_chat_p99_ms", percentile(during, 99), "ms", without.p99_ms,
           "two members at 100 msg/s while the job purges; baseline: the same chat without a purge");
    report("retention_chat_p50_ms", percentile(p50, 50), "ms", without.p50_ms);
    report("retention_purge_rows_per_s", static_cast<double>(job.purged_total()) / purge_s.load(), "rows/s", std::nullopt,
           "1,000 rows a transaction, 50 ms apart");
    report("retention_purge_s", purge_s.load(), "s");
    note(s, "retention: purged " + std::to_string(job.purged_total()) + " of " + std::to_string(expired) +
                " rows in " + std::to_string(purge_s.load()) + " s, " + std::to_string(job.errors_total()) + " errors; " +
                std::to_string(during.size()) + " chat samples during the purge; " + traffic.counts());
}

} // namespace mqchat::bench
