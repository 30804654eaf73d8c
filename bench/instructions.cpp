// Case "instructions" (not in the default set: scripts/bench instructions):
// the plugin's cost per message as instructions executed by the broker,
// counted by valgrind --tool=callgrind. Unlike time, the count is the same
// on a busy machine and an idle one. Each broker runs twice, with N and 2N
// messages; the difference divided by N is the cost of one message,
// start-up and shutdown cancelling out.

#include <signal.h>

#include <fstream>
#include <sstream>

#include "bench.hpp"
#include "pubsub.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {
double callgrind_total(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("totals:", 0) == 0 || line.rfind("summary:", 0) == 0) return std::stod(line.substr(line.find(':') + 1));
    throw std::runtime_error("no totals in " + file);
}
} // namespace

void run_instructions(const settings& s) {
    const std::uint64_t n = s.quick ? 2000 : 20000;
    test::temp_dir dir("bench-instr");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    std::int64_t conv = 0;
    {
        pg::connection c(db.conninfo());
        c.exec("INSERT INTO users (name, password_hash) VALUES ('alice', $1), ('bob', $1)", {cheap_hash("pw")});
        conv = add_conversation(c, {"alice", "bob"});
    }
    const std::string passwd = dir.file("passwd"), acl = dir.file("acl");
    std::string out;
    test::run_command({"mosquitto_passwd", "-b", "-c", passwd, "pub", "pw"}, out);
    test::run_command({"mosquitto_passwd", "-b", passwd, "sub", "pw"}, out);
    test::write_file(acl, "pattern readwrite bench/#\npattern readwrite chat/#\n");

    for (const bool chat_topic : {false, true}) {
        double per_msg[2] = {0, 0};
        for (int which = 0; which < 2; ++which) {
            double totals[2];
            for (int run = 0; run < 2; ++run) {
                const std::string name = std::string(which ? "plugin" : "bare") + (chat_topic ? "-typing-" : "-plain-") +
                                         std::to_string(run);
                test::broker_options o;
                o.with_plugin = which == 1;
                o.extra_lines = {"password_file " + passwd, "acl_file " + acl};
                o.plugin_options = {"typing_per_s 0"};
                o.wrapper = {"valgrind", "--tool=callgrind", "--callgrind-out-file=" + dir.file(name + ".callgrind")};
                test::broker b(dir, db.conninfo(), o, name);
                b.start();
                pubsub_setup p;
                p.port = b.port();
                p.qos = 1;
                p.payload_bytes = 64;
                p.fixed_messages = n * static_cast<std::uint64_t>(run + 1);
                const bool plugin_users = chat_topic && which == 1;
                p.publisher = {"", plugin_users ? "alice" : "pub", "pw", 5, ""};
                p.subscriber = {"", plugin_users ? "bob" : "sub", "pw", 5, ""};
                p.topic = chat_topic ? "chat/conv/" + std::to_string(conv) + "/typing" : "bench/sensor/1";
                p.typing_json = chat_topic;
                measure_pubsub(p);
                b.stop(SIGTERM);
                totals[run] = callgrind_total(dir.file(name + ".callgrind"));
            }
            per_msg[which] = (totals[1] - totals[0]) / static_cast<double>(n);
        }
        report(std::string("plugin_instructions_qos1_64b") + (chat_topic ? "_typing" : ""), per_msg[1], "instr/msg",
               per_msg[0], "valgrind --tool=callgrind, broker only");
    }
}

} // namespace mqchat::bench
