#pragma once
/// What the long-running programs (mqchat-bridge, mqchat-media) share
/// around their main(): stopping on SIGINT / SIGTERM, and how settings
/// files and startup errors are shown.

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace mqchat::daemon {

/// Installs SIGINT and SIGTERM handlers (the first call) and returns the
/// flag they set; the program's loops poll it and wind down.
const std::atomic<bool>& stop_on_signals();

/// `PROGRAM [--check] [-c] CONFIG_FILE [[-c] MORE_CONFIG_FILES...]`: the
/// settings files in order, and whether only to check them. nullopt, after
/// the usage line on stderr, when the arguments are not that.
struct command_line {
    bool check = false;
    std::vector<std::string> files;
};
std::optional<command_line> parse_command_line(const std::string& program, int argc, char** argv);

/// "a, b, c": the settings files, for "settings from …" lines.
std::string joined(const std::vector<std::string>& items);

/// `what` on stderr, each of its lines as "PROGRAM: line" — a settings
/// error names its file and option on a line of its own.
void print_error_lines(const std::string& program, const std::string& what);

} // namespace mqchat::daemon
