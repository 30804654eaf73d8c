// Case "connections": 10,000 clients log in at once, to bare mosquitto
// (password_file) and to mosquitto with the plugin (users in PostgreSQL), in
// the same run: time until all are connected, and broker memory per
// connection. Benchmark users carry a minimum-cost Argon2 hash so the figure
// is the broker's, not the KDF's; the KDF's own cost per login is measured
// separately with the production cost (login_cold_ms) and after the plugin
// remembers the password (login_warm_ms).

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <fstream>
#include <thread>

#include "bench.hpp"
#include "client_pool.hpp"
#include "common/password.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

/// `pending_limit` 0: every client at once (a reconnect storm; Mosquitto 2.0
/// listens with a backlog of 100, so the kernel drops SYNs and the tail is
/// set by SYN retransmission, 1 s, 3 s, …). Otherwise at most that many
/// connects in progress at a time: what the broker itself can take.
///
/// libmosquitto takes three descriptors per client and a process may hold
/// 20,000 here, so the clients are spread over worker processes of at most
/// 5,000 each; the parent times them and samples the broker's memory while
/// they hold their connections.
storm_result connect_storm(test::broker& b, const std::string& prefix, int n, std::size_t pending_limit,
                           const std::function<std::string(int)>& password_of,
                           const std::function<void(client_pool&, int, int)>& on_connected) {
    return connect_storm(std::vector<test::broker*>{&b}, prefix, n, pending_limit, password_of, on_connected);
}

storm_result connect_storm(const std::vector<test::broker*>& brokers, const std::string& prefix, int n,
                           std::size_t pending_limit, const std::function<std::string(int)>& password_of,
                           const std::function<void(client_pool&, int, int)>& on_connected) {
    auto brokers_cpu = [&] {
        double c = 0;
        for (auto* b : brokers) c += cpu_seconds(b->pid(), true);
        return c;
    };
    auto brokers_rss = [&] {
        long r = 0;
        for (auto* b : brokers) r += rss_kib(b->pid());
        return r;
    };
    const double cpu0 = brokers_cpu();
    const long rss0 = brokers_rss();
    // Workers of at most 5,000 clients, the same number for every broker,
    // worker w on broker w % brokers.
    const int nb = static_cast<int>(brokers.size());
    const int per_broker_workers = std::max(1, (n / nb + 4999) / 5000);
    const int workers = nb * per_broker_workers;
    const int per_worker = (n + workers - 1) / workers;
    struct worker {
        pid_t pid;
        int results; // child → parent
        int go;      // parent → child
    };
    std::vector<worker> ws;
    const auto t0 = clock::now();
    for (int w = 0; w < workers; ++w) {
        int up[2], down[2];
        if (pipe(up) != 0 || pipe(down) != 0) throw std::runtime_error("pipe failed");
        const pid_t pid = fork();
        if (pid == 0) { // the worker: never returns into the parent's objects
            close(up[0]);
            close(down[1]);
            int code = 0;
            std::string line;
            try {
                const int lo = w * per_worker, hi = std::min(n, lo + per_worker);
                client_pool pool("127.0.0.1", brokers[static_cast<std::size_t>(w % nb)]->port());
                for (int i = lo; i < hi; ++i)
                    pool.add({prefix + std::to_string(i), prefix + std::to_string(i),
                              password_of ? password_of(i) : std::string("pw"), 5, ""});
                std::size_t refused = 0, started = 0;
                pool.on().on_connect = [&](int client, int rc) {
                    refused += rc != 0;
                    if (rc == 0 && on_connected) on_connected(pool, client, lo + client);
                };
                const std::size_t limit_each = pending_limit ? std::max<std::size_t>(1, pending_limit / workers) : 0;
                auto start_more = [&] {
                    const std::size_t limit = limit_each ? pool.connected() + refused + limit_each : pool.size();
                    while (started < std::min(limit, pool.size())) pool.connect_one(static_cast<int>(started++));
                };
                start_more();
                pool.run([&] { return pool.connected() + refused >= pool.size(); }, std::chrono::seconds(180), start_more);
                line = std::to_string(pool.connected()) + " " + std::to_string(refused) + "\n";
                if (write(up[1], line.data(), line.size()) < 0) code = 1;
                // Hold the connections (answering keep-alives) until told to let go.
                pollfd told{down[0], POLLIN, 0};
                pool.run([&] { return poll(&told, 1, 0) > 0; }, std::chrono::seconds(600));
                pool.disconnect_all();
                pool.run([] { return false; }, std::chrono::milliseconds(300));
            } catch (...) {
                code = 1;
                line = "0 -1\n";
                if (write(up[1], line.data(), line.size()) < 0) code = 1;
            }
            _exit(code);
        }
        close(up[1]);
        close(down[0]);
        ws.push_back({pid, up[0], down[1]});
    }
    storm_result r;
    std::size_t refused = 0;
    for (auto& w : ws) {
        char buf[64] = {};
        const ssize_t got = read(w.results, buf, sizeof buf - 1);
        long connected = 0, no = 0;
        if (got > 0) std::sscanf(buf, "%ld %ld", &connected, &no);
        r.connected += static_cast<std::size_t>(connected);
        if (no < 0) throw std::runtime_error("a connection worker failed");
        refused += static_cast<std::size_t>(no);
    }
    r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // let the broker settle
    r.rss_per_conn_kib = static_cast<double>(brokers_rss() - rss0) / n;
    const double cpu1 = brokers_cpu();
    r.broker_cpu_s = cpu1 - cpu0;
    const auto t1 = clock::now();
    for (auto& w : ws) {
        const char go = 1;
        if (write(w.go, &go, 1) < 0) { /* the worker is gone; waitpid reaps it */ }
        close(w.go);
        close(w.results);
        int status = 0;
        waitpid(w.pid, &status, 0);
    }
    r.disconnect_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    r.disconnect_broker_cpu_s = brokers_cpu() - cpu1;
    if (refused) throw std::runtime_error(std::to_string(refused) + " logins refused in the connection storm");
    if (r.connected != static_cast<std::size_t>(n))
        throw std::runtime_error("only " + std::to_string(r.connected) + " of " + std::to_string(n) + " clients connected");
    return r;
}

namespace {

/// Mean time of one login, one client after the other.
/// Mean time of n logins one after the other; `come_backs` counts those the
/// broker closed without a CONNACK to come back (a password check while
/// another ran in the last 2 s is not waited for: docs/architecture.md).
double sequential_login_ms(int port, const std::string& prefix, int n, std::size_t& come_backs) {
    double total = 0;
    come_backs = 0;
    for (int i = 0; i < n; ++i) {
        client_pool pool("127.0.0.1", port);
        pool.add({"", prefix + std::to_string(i), "real-cost-pw", 5, ""});
        int rc = -1;
        pool.on().on_connect = [&](int, int code) { rc = code; };
        const auto t0 = clock::now();
        pool.connect_all();
        pool.run([&] { return rc != -1; }, std::chrono::seconds(10));
        total += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        if (rc != 0) throw std::runtime_error("login refused in the login-cost measurement");
        come_backs += pool.come_backs();
        pool.disconnect_all();
    }
    return total / n;
}

} // namespace

void run_connections(const settings& s) {
    const int n = s.quick ? 1000 : 10000;
    test::temp_dir dir("bench-conn");
    test::pg_cluster db(dir);
    test::admin_ok(db.conninfo(), {"migrate"});
    const int kdf_users = s.quick ? 10 : 50;
    {
        pg::connection c(db.conninfo());
        add_users(c, "c", n, cheap_hash("pw"));
        add_users(c, "k", kdf_users, password::hash("real-cost-pw")); // the cost mqchat-admin uses
    }
    // The same users for bare mosquitto, in a password file.
    std::vector<std::pair<std::string, std::string>> logins;
    for (int i = 0; i < n; ++i) logins.emplace_back("c" + std::to_string(i), "pw");
    const test::broker_options bare_opts = bare_with_passwords(dir, logins);
    test::broker bare(dir, "", bare_opts, "bare");
    bare.start();
    const storm_result without = connect_storm(bare, "c", n, 0);
    const storm_result without_paced = connect_storm(bare, "c", n, 100);
    bare.stop();

    test::broker_options plugin_opts;
    plugin_opts.extra_lines = bare_opts.extra_lines; // the password file in both; chat users never reach it
    plugin_opts.plugin_options = {"listen_backlog 4096"};    // as the shipped mosquitto.conf
    test::broker with_plugin(dir, db.conninfo(), plugin_opts, "plugin");
    with_plugin.start();
    const storm_result with = connect_storm(with_plugin, "c", n, 0);
    const storm_result with_paced = connect_storm(with_plugin, "c", n, 100);

    const std::string label = std::to_string(n) + " clients";
    report("connect_10k_s", with.seconds, "s", without.seconds, s.quick ? "quick: " + label : label);
    report("connect_10k_paced_s", with_paced.seconds, "s", without_paced.seconds, "at most 100 connects in progress");
    report("rss_per_conn_kb", with.rss_per_conn_kib, "KiB", without.rss_per_conn_kib);

    std::size_t cold_come_backs = 0, warm_come_backs = 0;
    const double cold = sequential_login_ms(with_plugin.port(), "k", kdf_users, cold_come_backs);
    const double warm = sequential_login_ms(with_plugin.port(), "k", kdf_users, warm_come_backs);
    report("login_cold_ms", cold, "ms", std::nullopt,
           "first logins one after another, Argon2id m=19 MiB t=2 in the worker process; " +
               std::to_string(cold_come_backs) + " of " + std::to_string(kdf_users) + " told to come back");
    report("login_warm_ms", warm, "ms", std::nullopt, "same password again: keyed digest in memory");
    with_plugin.stop();
}

} // namespace mqchat::bench
