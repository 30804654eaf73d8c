// mqchat-bench: measures the hot paths against bare Mosquitto in the same run.
//
// usage: mqchat-bench [--quick] [--out DIR] [CASE ...]
//   CASE: overhead, stored_chat, fanout, connections, login_storm, presence, history,
//         db_stall, requests, desks, desks_ws, retention, search_index, media, e2e_keys (default: all these),
//         e2e_chat (two stored-chat runs: only when named),
//         instructions (valgrind instruction counts; only when named)
//
// Prints one JSON line per figure ({"case", "value", "unit", "baseline",
// "ratio"}) as it is measured, then a table. Every case starts its own
// servers (PostgreSQL, mosquitto, bridge) on free loopback ports.

#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "bench.hpp"

int main(int argc, char** argv) {
    using namespace mqchat::bench;
    settings s;
    s.out_dir = "build/bench";
    std::set<std::string> cases;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") s.quick = true;
        else if (a == "--out" && i + 1 < argc) s.out_dir = argv[++i];
        else if (a == "-h" || a == "--help") {
            std::cout << "usage: mqchat-bench [--quick] [--out DIR] [overhead|stored_chat|fanout|connections|login_storm|presence|history|db_stall|requests|desks|desks_ws|retention|search_index|media|e2e_keys|e2e_chat|fabric|brokers ...]\n";
            return 0;
        } else cases.insert(a);
    }
    const std::set<std::string> known = {"overhead", "stored_chat", "fanout",  "connections", "login_storm",
                                         "presence", "history",     "db_stall", "requests", "desks", "desks_ws", "retention", "search_index", "media", "e2e_keys", "e2e_chat", "instructions",
                                         "fabric", "brokers"};
    for (const auto& c : cases)
        if (!known.count(c)) {
            std::cerr << "mqchat-bench: unknown case '" << c << "'\n";
            return 2;
        }
    auto wanted = [&](const std::string& c) { return cases.empty() || cases.count(c); };
    std::filesystem::create_directories(s.out_dir);
    std::filesystem::remove(s.out_dir + "/notes.txt");
    raise_fd_limit();
    int failures = 0;
    auto run = [&](const std::string& name, void (*fn)(const settings&)) {
        if (!wanted(name)) return;
        std::cout << "# " << name << (s.quick ? " (quick)" : "") << std::endl;
        const auto started = std::chrono::steady_clock::now();
        try {
            fn(s);
        } catch (const std::exception& e) {
            std::cerr << "mqchat-bench: case " << name << " failed: " << e.what() << std::endl;
            ++failures;
        }
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        std::cout << "# " << name << " took " << static_cast<int>(took.count() + 0.5) << " s" << std::endl;
    };
    run("overhead", run_overhead);
    run("stored_chat", run_stored_chat);
    run("fanout", run_fanout);
    run("connections", run_connections);
    run("login_storm", run_login_storm);
    run("presence", run_presence);
    run("history", run_history);
    run("db_stall", run_db_stall);
    run("requests", run_requests);
    run("desks", run_desks);
    run("desks_ws", run_desks_ws);
    run("retention", run_retention);
    run("search_index", run_search_index);
    run("media", run_media);
    run("e2e_keys", run_e2e_keys);
    if (cases.count("e2e_chat")) run("e2e_chat", run_e2e_chat); // two stored-chat runs: only when asked
    if (cases.count("fabric")) run("fabric", run_fabric); // 9 setups: only when asked
    if (cases.count("brokers")) run("brokers", run_brokers); // 5 stacks: only when asked
    if (cases.count("instructions")) run("instructions", run_instructions); // slow: only when asked
    print_table();
    return failures ? 1 : 0;
}
