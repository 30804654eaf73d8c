#include "bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <dirent.h>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "common/password.hpp"
#include "support/servers.hpp"

namespace mqchat::bench {

namespace {
struct row {
    std::string name, unit, note;
    double value;
    std::optional<double> baseline;
};
std::vector<row>& rows() {
    static std::vector<row> r;
    return r;
}

std::string number(double v) {
    std::ostringstream os;
    if (std::fabs(v) >= 100) os << std::fixed << std::setprecision(0) << v;
    else if (std::fabs(v) >= 1) os << std::fixed << std::setprecision(2) << v;
    else os << std::setprecision(3) << v;
    return os.str();
}

/// utime + stime of /proc/pid/stat, and the parent pid.
bool proc_times(pid_t pid, double& cpu, pid_t& parent) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    // After "pid (comm) ": state(0) ppid(1) ... utime(11) stime(12)
    if (f.size() < 13) return false;
    parent = std::stoi(f[1]);
    cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
    return true;
}
} // namespace

void report(const std::string& name, double value, const std::string& unit, std::optional<double> baseline,
            const std::string& note) {
    rows().push_back({name, unit, note, value, baseline});
    std::cout << "{\"case\": \"" << name << "\", \"value\": " << number(value) << ", \"unit\": \"" << unit << "\"";
    if (baseline) {
        std::cout << ", \"baseline\": " << number(*baseline);
        if (*baseline != 0) std::cout << ", \"ratio\": " << std::setprecision(3) << value / *baseline;
    }
    std::cout << "}" << std::endl;
}

void print_table() {
    std::cout << "\n" << std::left << std::setw(40) << "case" << std::right << std::setw(12) << "value"
              << "  " << std::left << std::setw(8) << "unit" << std::right << std::setw(12) << "bare"
              << std::setw(8) << "ratio" << "  note\n";
    for (const auto& r : rows()) {
        std::cout << std::left << std::setw(40) << r.name << std::right << std::setw(12) << number(r.value) << "  "
                  << std::left << std::setw(8) << r.unit << std::right << std::setw(12)
                  << (r.baseline ? number(*r.baseline) : "") << std::setw(8)
                  << (r.baseline && *r.baseline != 0 ? number(r.value / *r.baseline) : "") << "  " << r.note << "\n";
    }
    std::cout << std::flush;
}

void note(const settings& s, const std::string& line) {
    std::cout << "# " << line << std::endl;
    std::ofstream(s.out_dir + "/notes.txt", std::ios::app) << line << "\n";
}

double percentile(std::vector<double>& samples, double p) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    const double rank = p / 100.0 * static_cast<double>(samples.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const auto hi = std::min(lo + 1, samples.size() - 1);
    return samples[lo] + (samples[hi] - samples[lo]) * (rank - static_cast<double>(lo));
}

namespace {
/// The processes whose parent is `pid` (PostgreSQL's backends, the plugin's workers).
std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    while (dirent* e = readdir(d)) {
        const pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
        double cpu = 0;
        pid_t pp = 0;
        if (p > 0 && p != pid && proc_times(p, cpu, pp) && pp == pid) out.push_back(p);
    }
    closedir(d);
    return out;
}
} // namespace

double cpu_seconds(pid_t pid, bool with_children) {
    double total = 0;
    pid_t parent = 0;
    if (!proc_times(pid, total, parent)) return 0;
    if (!with_children) return total;
    for (const pid_t child : children_of(pid)) {
        double cpu = 0;
        if (proc_times(child, cpu, parent)) total += cpu;
    }
    return total;
}

namespace {
long own_context_switches(pid_t pid) {
    long total = 0;
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(tasks.c_str());
    if (!d) return 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(tasks + "/" + e->d_name + "/status");
        std::string key;
        long value = 0;
        while (in >> key) {
            if (key == "voluntary_ctxt_switches:" || key == "nonvoluntary_ctxt_switches:") {
                in >> value;
                total += value;
            }
            std::string rest;
            std::getline(in, rest);
        }
    }
    closedir(d);
    return total;
}
} // namespace

long context_switches(pid_t pid, bool with_children) {
    long total = own_context_switches(pid);
    if (!with_children) return total;
    for (const pid_t child : children_of(pid)) total += own_context_switches(child);
    return total;
}

long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    long value = 0;
    while (in >> key) {
        if (key == "VmRSS:") {
            in >> value;
            return value;
        }
        std::string rest;
        std::getline(in, rest);
    }
    return 0;
}

double self_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double host_cpu_seconds() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    // user nice system idle iowait irq softirq steal: busy is all but idle
    // and iowait (a process's own figures count the interrupt work done
    // while it ran, loopback networking mostly).
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return 0;
    return static_cast<double>(user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string cheap_hash(const std::string& password) { return password::hash(password, {1, 8192}); }

void add_bridge_user(pg::connection& db) {
    db.exec("INSERT INTO users (name, password_hash, role) VALUES ('mqchat-bridge', $1, 'bridge')",
            {cheap_hash(bridge_password)});
}

std::vector<std::string> shipped_plugin_options(const test::temp_dir& dir) {
    test::write_secret_file(dir.file("login.key"), std::string(48, 'k') + "\n");
    return {"listen_backlog 4096", "login_key_file " + dir.file("login.key"), "rate_per_s 20", "rate_burst 60",
            "max_connections_per_user 10"};
}

test::broker_options bare_with_passwords(const test::temp_dir& dir,
                                         const std::vector<std::pair<std::string, std::string>>& logins) {
    const std::string passwd = dir.file("passwd");
    {
        std::ofstream out(passwd);
        for (const auto& [user, password] : logins) out << user << ':' << password << '\n';
    }
    std::string out;
    // -U hashes a plain-text file in place (PBKDF2-SHA512, Mosquitto's own).
    if (test::run_command({"mosquitto_passwd", "-U", passwd}, out) != 0)
        throw std::runtime_error("mosquitto_passwd: " + out);
    test::broker_options o;
    o.with_plugin = false;
    o.extra_lines = {"password_file " + passwd};
    return o;
}

void add_users(pg::connection& db, const std::string& prefix, int n, const std::string& hash) {
    db.exec("INSERT INTO users (name, password_hash) SELECT $1 || g, $2 FROM generate_series(0, $3 - 1) g",
            {prefix, hash, std::to_string(n)});
}

std::int64_t add_conversation(pg::connection& db, const std::vector<std::string>& members) {
    const std::int64_t id = db.exec("INSERT INTO conversations DEFAULT VALUES RETURNING id").int64(0, 0);
    std::string names = "{";
    for (std::size_t i = 0; i < members.size(); ++i) names += (i ? "," : "") + members[i];
    names += "}";
    db.exec("INSERT INTO members (conv_id, user_id) SELECT $1, id FROM users WHERE name = ANY($2::text[])",
            {std::to_string(id), names});
    return id;
}

void raise_fd_limit() {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

} // namespace mqchat::bench
