#pragma once
/// What every benchmark case shares: its settings, how it reports a figure,
/// percentiles, CPU and memory of the processes under test, and quick ways
/// to fill a database.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/pg.hpp"

namespace mqchat::test {
class broker;
class temp_dir;
struct broker_options;
}

namespace mqchat::bench {

class client_pool;
using clock = std::chrono::steady_clock;

struct settings {
    bool quick = false;     ///< small sizes: every case in seconds (all of them about 2½ minutes)
    std::string out_dir;    ///< results.jsonl, sweep.csv, plans, logs
};

/// Prints one JSON line and keeps the figure for the final table:
/// {"case", "value", "unit", "baseline"?, "ratio"?}.
void report(const std::string& name, double value, const std::string& unit,
            std::optional<double> baseline = std::nullopt, const std::string& note = "");
/// The table of everything reported, for people.
void print_table();
/// Free-form lines for docs (the analysis), written to out_dir/notes.txt too.
void note(const settings& s, const std::string& line);

/// Percentile (0..100) of samples (sorts them).
double percentile(std::vector<double>& samples, double p);

/// CPU seconds (user + system) used so far by a process, or by it and its
/// children when `with_children` (PostgreSQL's backends).
double cpu_seconds(pid_t pid, bool with_children = false);
/// Context switches (voluntary and not, every thread) so far of a process,
/// or of it and its children when `with_children`.
long context_switches(pid_t pid, bool with_children = false);
/// Resident memory of a process in KiB.
long rss_kib(pid_t pid);
/// CPU seconds this process has used.
double self_cpu_seconds();
/// CPU seconds the host has been busy (every core, /proc/stat; what the
/// hypervisor took counts as busy): against the sum of the processes a
/// case measures, what else ran on the machine meanwhile.
double host_cpu_seconds();

/// An Argon2id hash with libsodium's minimum cost: benchmark users log in
/// without spending the broker's time on the KDF (the login cost with the
/// real cost is measured separately, by connections.cpp).
std::string cheap_hash(const std::string& password);

/// The bridge identity `mqchat-bridge` with password bridge_password, for a
/// case's test::bridge.
inline constexpr const char* bridge_password = "bridge-pw";
void add_bridge_user(pg::connection& db);

/// The plugin's options as the shipped mosquitto.conf sets them: the listen
/// backlog, a login key (written into `dir`), the rate and connection limits.
std::vector<std::string> shipped_plugin_options(const test::temp_dir& dir);

/// Bare Mosquitto (no plugin) whose password file, written into `dir`,
/// holds these (user, password) logins.
test::broker_options bare_with_passwords(const test::temp_dir& dir,
                                         const std::vector<std::pair<std::string, std::string>>& logins);

/// Adds users name_prefix0 .. name_prefix{n-1} with one password hash.
void add_users(pg::connection& db, const std::string& prefix, int n, const std::string& hash);
/// Creates a conversation with the given members (user names); returns its id.
std::int64_t add_conversation(pg::connection& db, const std::vector<std::string>& members);

/// A user or client name: `prefix` then `n` ("u", 7 → "u7"). Appended, not
/// "u" + std::to_string(n): GCC 12 warns (-Wrestrict, falsely) about that
/// operator+ when it inlines it.
inline std::string numbered(std::string prefix, std::uint64_t n) { return prefix.append(std::to_string(n)); }

/// Nanoseconds on the steady clock: send stamps and receive times come from
/// one process, so they compare directly.
inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void raise_fd_limit();

struct storm_result {
    double seconds = 0;
    double rss_per_conn_kib = 0;
    std::size_t connected = 0;
    double broker_cpu_s = 0;            ///< while connecting
    double disconnect_seconds = 0;      ///< all clients disconnecting (after the figure is taken)
    double disconnect_broker_cpu_s = 0; ///< while disconnecting
};
/// n clients named prefix0 … log in to `b` (MQTT 5), all at once when
/// pending_limit is 0, else at most that many connects in progress, and
/// hold their connections until the figure is taken; password "pw" unless
/// password_of gives one per client. Throws unless every login succeeds.
/// `on_connected(pool, client, index)` runs in the worker as each client is
/// accepted (e.g. to subscribe), `index` counting from 0 over all n.
storm_result connect_storm(test::broker& b, const std::string& prefix, int n, std::size_t pending_limit,
                           const std::function<std::string(int)>& password_of = {},
                           const std::function<void(client_pool&, int, int)>& on_connected = {});
/// The same over several brokers, an equal share each; memory and CPU are
/// the brokers' together.
storm_result connect_storm(const std::vector<test::broker*>& brokers, const std::string& prefix, int n,
                           std::size_t pending_limit, const std::function<std::string(int)>& password_of = {},
                           const std::function<void(client_pool&, int, int)>& on_connected = {});

// The cases, one file each.
void run_overhead(const settings& s);
void run_stored_chat(const settings& s);
void run_fanout(const settings& s);
void run_connections(const settings& s);
void run_history(const settings& s);
void run_login_storm(const settings& s);
void run_presence(const settings& s);
void run_instructions(const settings& s);
void run_db_stall(const settings& s);
void run_retention(const settings& s);
void run_search_index(const settings& s);
void run_requests(const settings& s);
void run_desks(const settings& s);
void run_desks_ws(const settings& s);
void run_fabric(const settings& s);
void run_brokers(const settings& s);
void run_media(const settings& s);
void run_e2e_keys(const settings& s);
void run_e2e_chat(const settings& s);

} // namespace mqchat::bench
