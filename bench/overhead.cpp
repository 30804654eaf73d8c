// Case "plugin overhead": publish → subscribe through bare mosquitto and
// through mosquitto with the plugin, same configuration otherwise, same run.
// Two kinds of topic: an ordinary one outside the chat prefix (the plugin
// defers it to the broker's acl_file) and a conversation's typing topic (the
// plugin's own ACL and message check). The ratio with-plugin / bare is the figure.

#include <iostream>

#include "bench.hpp"
#include "pubsub.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

using test::admin_ok;
using test::broker;
using test::broker_options;

void run_overhead(const settings& s) {
    test::temp_dir dir("bench-overhead");
    test::pg_cluster db(dir);
    admin_ok(db.conninfo(), {"migrate"});
    std::int64_t conv = 0;
    {
        pg::connection c(db.conninfo());
        const std::string hash = cheap_hash("pw");
        c.exec("INSERT INTO users (name, password_hash) VALUES ('alice', $1), ('bob', $1)", {hash});
        conv = add_conversation(c, {"alice", "bob"});
    }
    // Ordinary devices, known to mosquitto's own password and ACL files in both brokers.
    const std::string passwd = dir.file("passwd"), acl = dir.file("acl");
    std::string out;
    test::run_command({"mosquitto_passwd", "-b", "-c", passwd, "pub", "pw"}, out);
    test::run_command({"mosquitto_passwd", "-b", passwd, "sub", "pw"}, out);
    test::write_file(acl, "pattern readwrite bench/#\npattern readwrite chat/#\n");

    broker_options bare_opts;
    bare_opts.with_plugin = false;
    bare_opts.extra_lines = {"password_file " + passwd, "acl_file " + acl};
    broker_options plugin_opts = bare_opts;
    plugin_opts.with_plugin = true;
    // The typing case measures the plugin's work per message, not its per-user cap.
    plugin_opts.plugin_options = {"typing_per_s 0"};
    broker bare(dir, db.conninfo(), bare_opts, "bare");
    broker with_plugin(dir, db.conninfo(), plugin_opts, "plugin");
    bare.start();
    with_plugin.start();

    const auto throughput_time = std::chrono::milliseconds(s.quick ? 400 : 3000);
    const auto latency_time = std::chrono::milliseconds(s.quick ? 300 : 2000);
    const std::string typing = "chat/conv/" + std::to_string(conv) + "/typing";

    struct variant {
        int qos, bytes;
        const char* name;
    };
    for (const variant v : {variant{0, 64, "qos0_64b"}, variant{1, 64, "qos1_64b"}, variant{0, 1024, "qos0_1k"},
                            variant{1, 1024, "qos1_1k"}}) {
        for (const bool chat_topic : {false, true}) {
            // A typing message is small by nature (the plugin caps it at 256 bytes).
            if (chat_topic && v.bytes > 256) continue;
            // Bare and plugin back to back; the full run repeats the pair in
            // reverse (ABBA) and averages, so drift on a shared machine cancels.
            pubsub_result results[2];
            const std::vector<int> order = s.quick ? std::vector<int>{0, 1} : std::vector<int>{0, 1, 1, 0};
            for (const int which : order) {
                broker& b = which == 0 ? bare : with_plugin;
                pubsub_setup p;
                p.port = b.port();
                p.broker = b.pid();
                p.qos = v.qos;
                p.payload_bytes = v.bytes;
                p.throughput_time = throughput_time;
                p.latency_time = latency_time;
                p.latency_rate = s.quick ? 1000 : 2000;
                if (chat_topic && which == 1) { // chat users of the plugin, members of the conversation
                    p.publisher = {"", "alice", "pw", 5, ""};
                    p.subscriber = {"", "bob", "pw", 5, ""};
                } else {
                    p.publisher = {"", "pub", "pw", 5, ""};
                    p.subscriber = {"", "sub", "pw", 5, ""};
                }
                p.topic = chat_topic ? typing : "bench/sensor/1";
                p.typing_json = chat_topic; // the same payload for bare and plugin
                const pubsub_result r = measure_pubsub(p);
                const double share = 2.0 / static_cast<double>(order.size()); // each side runs size/2 times
                results[which].rate += r.rate * share;
                results[which].broker_cpu += r.broker_cpu * share;
                results[which].broker_us_per_msg += r.broker_us_per_msg * share;
                results[which].p50_ms += r.p50_ms * share;
                results[which].p99_ms += r.p99_ms * share;
            }
            const std::string suffix = chat_topic ? "_typing" : "";
            const std::string cpu = "broker CPU " + std::to_string(int(results[0].broker_cpu * 100)) + "% bare, " +
                                    std::to_string(int(results[1].broker_cpu * 100)) + "% plugin";
            report("plugin_overhead_" + std::string(v.name) + suffix, results[1].rate, "msg/s", results[0].rate, cpu);
            // CPU per message does not depend on who else uses the machine: the steadiest view of the cost.
            report("plugin_cpu_us_" + std::string(v.name) + suffix, results[1].broker_us_per_msg, "us/msg",
                   results[0].broker_us_per_msg);
            report("plugin_latency_" + std::string(v.name) + suffix + "_p50_ms", results[1].p50_ms, "ms",
                   results[0].p50_ms);
            report("plugin_latency_" + std::string(v.name) + suffix + "_p99_ms", results[1].p99_ms, "ms",
                   results[0].p99_ms);
        }
    }
    bare.stop();
    with_plugin.stop();
}

} // namespace mqchat::bench
