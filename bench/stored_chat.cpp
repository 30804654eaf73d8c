// Case "stored chat": the whole product path. 50 senders write into 200
// conversations of 2–20 members, every member online; each message goes
// plugin → bridge → PostgreSQL → bridge → every member, and is acked. A
// message's text is its send time and ten words (chat_traffic.hpp), so
// that storing and indexing it for search costs what a real one does
// (until 2026-12-03 it was the send time alone: one word to index).
//
// The baseline, in the same run, is bare Mosquitto (no plugin, no bridge, no
// database) doing the same fan-out: the same users on the same kind of
// client pool, every member subscribed QoS 1 to its conversations' group
// topics, the same senders publishing the same payloads QoS 1 straight to
// those topics with the same window in flight; there the PUBACK is the ack.
//
//  - stored_chat_rate: messages stored and acked per second at saturation
//    (every sender keeps 8 un-acked messages in flight); baseline = bare
//    Mosquitto's messages PUBACKed per second. mqchat's senders send with
//    "ack": false (docs/protocol.md, "Ack"): a sender's own copy of its
//    message, stored and numbered, is its ack, as a subscribed app would
//    use it; bare's payloads carry the same bytes.
//  - stored_chat_deliveries: deliveries to members per second then (baseline:
//    bare's).
//  - stored_chat_p50/p99/p999_ms: send → delivery latency to every member at
//    half the saturation rate (open loop), a delivery timed when it reached
//    the member's socket (the kernel's receive time; chat_traffic.hpp,
//    "latency"); baseline = bare Mosquitto at half its own saturation rate.
//    stored_chat_p99_read_ms: the same p99 timed when the generator's one
//    thread read each delivery (as all three were until 2026-12-04). A
//    sweep of offered rates for the chart (mqchat only).
//  - where the time goes: CPU seconds of broker, bridge, PostgreSQL and the
//    load generator per 1,000 messages at saturation (bare's broker and load
//    generator too); at half the rate, each one's share of a core (and
//    what the rest of the host used meanwhile: a stray job shows there),
//    the bridge's store transactions (how many, how big, how long: from
//    its /metrics before and after the phase), and the context switches a
//    message costs each process (bare's broker and generator too).

#include <mosquitto.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "bench.hpp"
#include "chat_traffic.hpp"
#include "support/http_get.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {
namespace {

/// More configuration lines to try a setting without a rebuild: the
/// environment variable's value split at ';' (store_linger_us 500;batch_max 64).
std::vector<std::string> lines_from_env(const char* name) {
    std::vector<std::string> out;
    if (const char* value = std::getenv(name)) {
        std::istringstream lines(value);
        for (std::string line; std::getline(lines, line, ';');)
            if (!line.empty()) out.push_back(line);
    }
    return out;
}

/// MQCHAT_BENCH_BROKER_CONFIG: more mosquitto.conf lines for both brokers,
/// bare and mqchat, so that a setting is tried the same way on both.
test::broker_options broker_options_from_env() {
    test::broker_options o;
    o.extra_lines = lines_from_env("MQCHAT_BENCH_BROKER_CONFIG");
    return o;
}

/// The bridge's store histograms at one moment: the difference of two says
/// how big and how slow the store transactions of a phase were.
struct store_counts {
    double calls = 0, messages = 0, seconds = 0, over_2_5ms = 0;

    static store_counts scrape(int metrics_port) {
        const auto page = test::http_get("http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics").body;
        const auto value = [&](const std::string& series) { return std::max(0.0, test::sample_value(page, series)); };
        store_counts c;
        c.calls = value("mqchat_store_batch_duration_seconds_count");
        c.seconds = value("mqchat_store_batch_duration_seconds_sum");
        c.over_2_5ms = c.calls - value("mqchat_store_batch_duration_seconds_bucket{le=\"0.0025\"}");
        c.messages = value("mqchat_store_batch_messages_sum");
        return c;
    }
    std::string since(const store_counts& before) const {
        const double n = std::max(1.0, calls - before.calls);
        std::ostringstream out;
        out << (calls - before.calls) << " store transactions of " << (messages - before.messages) / n
            << " messages on average, " << (seconds - before.seconds) / n * 1000 << " ms each on average, "
            << (over_2_5ms - before.over_2_5ms) << " over 2.5 ms";
        return out.str();
    }
};

} // namespace

void run_stored_chat(const settings& s) {
    const int users = s.quick ? 80 : 300, senders = s.quick ? 10 : 50, conversations = s.quick ? 40 : 200;
    const auto run_time = std::chrono::milliseconds(s.quick ? 2000 : 8000);
    const auto warm_up = run_time / 4; // caches, batches, plans
    const auto latency_time = std::chrono::milliseconds(s.quick ? 2000 : 5000);
    test::temp_dir dir("bench-chat");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    test::admin_ok(db.conninfo(), {"user", "add", "mqchat-bridge", "--password", "bridge-pw", "--bridge"});
    chat_world w;
    {
        pg::connection c(db.conninfo());
        w = build_world(c, users, senders, conversations);
    }

    // The baseline first: bare Mosquitto, the same clients and traffic.
    saturation bare_sat;
    latency bare_half;
    {
        test::broker_options bare_opts = broker_options_from_env();
        bare_opts.with_plugin = false;
        bare_opts.allow_anonymous = true;
        test::broker bare(dir, "", bare_opts, "bare");
        bare.start();
        chat_traffic traffic(w, {bare.port()}, chat_path::bare);
        traffic.keep_full(warm_up);
        const double cpu_broker0 = cpu_seconds(bare.pid()), cpu_self0 = self_cpu_seconds();
        bare_sat = traffic.keep_full(run_time);
        const double ms_broker = ms_per_1000(cpu_broker0, cpu_seconds(bare.pid()), bare_sat.acked);
        const double ms_self = ms_per_1000(cpu_self0, self_cpu_seconds(), bare_sat.acked);
        traffic.drain();
        const long switches_broker0 = context_switches(bare.pid()), switches_self0 = context_switches(getpid());
        bare_half = traffic.offer(bare_sat.acked_per_s / 2, latency_time);
        const double bare_half_messages = std::max(1.0, bare_half.achieved_per_s * std::chrono::duration<double>(latency_time).count());
        note(s, "stored chat, bare Mosquitto at half the rate: context switches a message: broker " +
                    std::to_string(static_cast<double>(context_switches(bare.pid()) - switches_broker0) / bare_half_messages) +
                    ", load generator " + std::to_string(static_cast<double>(context_switches(getpid()) - switches_self0) / bare_half_messages));
        note(s, "stored chat, bare Mosquitto at saturation: CPU ms per 1000 messages: broker " + std::to_string(ms_broker) +
                    ", load generator " + std::to_string(ms_self) + " (" + std::to_string(bare_sat.acked_per_s) +
                    " msg/s, " + std::to_string(bare_sat.delivered_per_s) + " deliveries/s); " + traffic.counts());
    }

    test::broker mqtt(dir, db.conninfo(), broker_options_from_env(), "mosquitto");
    mqtt.start();
    const int bridge_metrics_port = test::free_port();
    // MQCHAT_BENCH_BRIDGE_CONFIG: more bridge.conf lines.
    std::vector<std::string> bridge_config = lines_from_env("MQCHAT_BENCH_BRIDGE_CONFIG");
    bridge_config.insert(bridge_config.begin(), "metrics_listen 127.0.0.1:" + std::to_string(bridge_metrics_port));
    test::bridge bridge(dir, db.conninfo(), mqtt.port(), "bridge-pw", "bridge", bridge_config);
    bridge.start();
    chat_traffic traffic(w, {mqtt.port()}, chat_path::stored);

    // 1. Saturation.
    traffic.keep_full(warm_up);
    const double cpu_broker0 = cpu_seconds(mqtt.pid(), true), cpu_bridge0 = cpu_seconds(bridge.pid()),
                 cpu_pg0 = cpu_seconds(db.pid(), true), cpu_self0 = self_cpu_seconds();
    const saturation sat = traffic.keep_full(run_time);
    const double ms_broker = ms_per_1000(cpu_broker0, cpu_seconds(mqtt.pid(), true), sat.acked);
    const double ms_bridge = ms_per_1000(cpu_bridge0, cpu_seconds(bridge.pid()), sat.acked);
    const double ms_pg = ms_per_1000(cpu_pg0, cpu_seconds(db.pid(), true), sat.acked);
    const double ms_self = ms_per_1000(cpu_self0, self_cpu_seconds(), sat.acked);
    traffic.drain();

    report("stored_chat_rate", sat.acked_per_s, "msg/s", bare_sat.acked_per_s,
           "bare = Mosquitto alone, same users, conversations, payloads and window; PUBACK as the ack");
    report("stored_chat_deliveries", sat.delivered_per_s, "msg/s", bare_sat.delivered_per_s, "to every online member");
    note(s, "stored chat at saturation: CPU ms per 1000 messages: broker " + std::to_string(ms_broker) + ", bridge " +
                std::to_string(ms_bridge) + ", PostgreSQL " + std::to_string(ms_pg) + ", load generator " +
                std::to_string(ms_self) + " (" + std::to_string(sat.acked_per_s) + " msg/s, " +
                std::to_string(sat.delivered_per_s) + " deliveries/s)");

    // 2. Latency at offered rates below saturation (open loop).
    std::ofstream sweep(s.out_dir + "/stored_chat_sweep.csv");
    sweep << "offered_rate,achieved_rate,p50_ms,p99_ms,p999_ms\n";
    const std::vector<double> fractions = s.quick ? std::vector<double>{0.5} : std::vector<double>{0.1, 0.25, 0.5, 0.75, 0.9};
    for (const double f : fractions) {
        const double rate = sat.acked_per_s * f;
        if (f == 0.5) // to line the timeline up with the daemons' and PostgreSQL's logs
            note(s, "stored chat: the half-rate phase begins at " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()) +
                        " ms since the epoch (the timeline's 0)");
        const store_counts store_before = store_counts::scrape(bridge_metrics_port);
        const double half_broker0 = cpu_seconds(mqtt.pid(), true), half_bridge0 = cpu_seconds(bridge.pid()),
                     half_pg0 = cpu_seconds(db.pid(), true), half_self0 = self_cpu_seconds(),
                     half_host0 = host_cpu_seconds();
        const long switches_broker0 = context_switches(mqtt.pid(), true), switches_bridge0 = context_switches(bridge.pid()),
                   switches_pg0 = context_switches(db.pid(), true), switches_self0 = context_switches(getpid());
        const latency l = traffic.offer(rate, latency_time);
        const double half_broker = cpu_seconds(mqtt.pid(), true) - half_broker0,
                     half_bridge = cpu_seconds(bridge.pid()) - half_bridge0,
                     half_pg = cpu_seconds(db.pid(), true) - half_pg0, half_self = self_cpu_seconds() - half_self0,
                     half_host = host_cpu_seconds() - half_host0;
        const long switches_broker = context_switches(mqtt.pid(), true) - switches_broker0,
                   switches_bridge = context_switches(bridge.pid()) - switches_bridge0,
                   switches_pg = context_switches(db.pid(), true) - switches_pg0,
                   switches_self = context_switches(getpid()) - switches_self0;
        const store_counts store_after = store_counts::scrape(bridge_metrics_port);
        sweep << rate << "," << l.achieved_per_s << "," << l.p50_ms << "," << l.p99_ms << "," << l.p999_ms << "\n";
        if (f == 0.5) {
            std::ofstream timeline(s.out_dir + "/stored_chat_half_timeline.csv");
            timeline << "sent_ms,latency_ms,read_latency_ms\n";
            for (const auto& [at, ms, read_ms] : traffic.timeline())
                timeline << at << "," << ms << "," << read_ms << "\n";
            std::ofstream gaps(s.out_dir + "/stored_chat_half_loop_gaps.csv");
            gaps << "at_ms,gap_ms\n";
            double late_ms = 0, worst_ms = 0;
            for (const auto& [at, ms] : traffic.loop_gaps()) {
                gaps << at << "," << ms << "\n";
                late_ms += ms;
                worst_ms = std::max(worst_ms, ms);
            }
            note(s, "stored chat at half the rate: the load generator's loop came late (over 2 ms) " +
                        std::to_string(traffic.loop_gaps().size()) + " times, " + std::to_string(late_ms) +
                        " ms in all, at worst " + std::to_string(worst_ms) + " ms (stored_chat_half_loop_gaps.csv)");
            note(s, "stored chat at half the rate, the bridge: " + store_after.since(store_before));
            const double phase_s = std::chrono::duration<double>(latency_time).count();
            note(s, "stored chat at half the rate: share of one core: broker " + std::to_string(half_broker / phase_s) +
                        ", bridge " + std::to_string(half_bridge / phase_s) + ", PostgreSQL " +
                        std::to_string(half_pg / phase_s) + ", load generator " + std::to_string(half_self / phase_s) +
                        "; anything else on the host (give or take 0.05: two ways of counting) " +
                        std::to_string((half_host - half_broker - half_bridge - half_pg - half_self) / phase_s));
            const double half_messages = std::max(1.0, l.achieved_per_s * phase_s);
            note(s, "stored chat at half the rate: context switches a message: broker " +
                        std::to_string(static_cast<double>(switches_broker) / half_messages) + ", bridge " +
                        std::to_string(static_cast<double>(switches_bridge) / half_messages) + ", PostgreSQL " +
                        std::to_string(static_cast<double>(switches_pg) / half_messages) + ", load generator " +
                        std::to_string(static_cast<double>(switches_self) / half_messages));
            report("stored_chat_p50_ms", l.p50_ms, "ms", bare_half.p50_ms,
                   "at half the saturation rate; bare at half its own");
            report("stored_chat_p99_ms", l.p99_ms, "ms", bare_half.p99_ms);
            report("stored_chat_p999_ms", l.p999_ms, "ms", bare_half.p999_ms);
            report("stored_chat_p99_read_ms", l.read_p99_ms, "ms", bare_half.read_p99_ms,
                   "p99 when the generator's one thread read each delivery");
            note(s, "stored chat at half the rate, when the generator read each delivery: p50 " +
                        std::to_string(l.read_p50_ms) + ", p99 " + std::to_string(l.read_p99_ms) + ", p999 " +
                        std::to_string(l.read_p999_ms) + " ms (bare " + std::to_string(bare_half.read_p50_ms) + ", " +
                        std::to_string(bare_half.read_p99_ms) + ", " + std::to_string(bare_half.read_p999_ms) +
                        "); timed at arrival by the kernel: " + std::to_string(l.arrival_timed * 100) + " % (bare " +
                        std::to_string(bare_half.arrival_timed * 100) + " %), the rest when read");
        }
    }
    note(s, "stored chat: " + traffic.counts() + "; bare at half its saturation: " +
                std::to_string(bare_half.achieved_per_s) + " msg/s achieved");
}

} // namespace mqchat::bench
