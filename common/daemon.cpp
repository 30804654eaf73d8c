#include "daemon.hpp"

#include <csignal>
#include <iostream>

namespace mqchat::daemon {

namespace {
std::atomic<bool> stopping{false};
void on_signal(int) { stopping = true; }
} // namespace

const std::atomic<bool>& stop_on_signals() {
    static const bool installed = [] {
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        return true;
    }();
    (void)installed;
    return stopping;
}

std::optional<command_line> parse_command_line(const std::string& program, int argc, char** argv) {
    command_line c;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--check") {
            c.check = true;
        } else if (a == "-c" && i + 1 < argc) {
            c.files.emplace_back(argv[++i]);
        } else if (a.rfind("-", 0) == 0) {
            c.files.clear();
            break;
        } else {
            c.files.push_back(a);
        }
    }
    if (c.files.empty()) {
        std::cerr << "usage: " << program << " [--check] [-c] CONFIG_FILE [[-c] MORE_CONFIG_FILES...]\n";
        return std::nullopt;
    }
    return c;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
}

void print_error_lines(const std::string& program, const std::string& what) {
    for (std::size_t start = 0, end; start <= what.size(); start = end + 1) {
        end = what.find('\n', start);
        if (end == std::string::npos) end = what.size();
        std::cerr << program << ": " << what.substr(start, end - start) << std::endl;
    }
}

} // namespace mqchat::daemon
