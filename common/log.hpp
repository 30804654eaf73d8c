#pragma once
/// Logging for mqchat's daemons and tools (the bridge, the assistant, the
/// admin tool), on spdlog: one line per event, shaped like Mosquitto's own
/// (`1764662400: mqchat-bridge: connected to the broker`), warnings and
/// errors saying so (`… mqchat-bridge: warning: database unavailable …`) and
/// going to stderr, the rest to stdout. The level comes from the program's
/// config (`log_level`). The plugin logs through Mosquitto (mosquitto_log_printf).
///
/// Never log a secret (passwords, tokens, keys) or a message's body: ids,
/// names, conversation numbers and error codes say enough.
///
///   log::info() << "connected to " << name;
///   if (log::enabled(log::level::debug)) log::debug() << expensive();

#include <sstream>
#include <string>
#include <string_view>

namespace mqchat::log {

enum class level { debug, info, warning, error };

/// "debug", "info" (or "notice"), "warning", "error". Throws
/// std::invalid_argument naming the value otherwise.
level parse_level(std::string_view text);
std::string_view level_name(level l);

/// Where lines go: daemons split them (up to info on stdout, warnings and
/// errors on stderr); a command-line tool whose stdout is its answer sends
/// every line to stderr.
enum class destination { split, stderr_only };

/// Once at start: the program's name for every line, and the lowest level written.
void setup(std::string program, level lowest = level::info, destination where = destination::split);
void set_level(level lowest); ///< e.g. after a reload
bool enabled(level l);

void write(level l, std::string_view text);

/// A PostgreSQL notice or asynchronous error as libpq hands it over
/// ("FATAL:  terminating connection …\n"): one line, "database: …", a
/// warning for FATAL, ERROR and WARNING, otherwise info. For
/// pg::set_notice_handler.
void database_notice(const char* message);

/// One line, written when it goes out of scope.
class line {
public:
    explicit line(level l) : level_(l), on_(enabled(l)) {}
    ~line();
    line(const line&) = delete;
    line& operator=(const line&) = delete;
    template <class T>
    line& operator<<(const T& v) {
        if (on_) text_ << v;
        return *this;
    }

private:
    level level_;
    bool on_;
    std::ostringstream text_;
};

inline line debug() { return line(level::debug); }
inline line info() { return line(level::info); }
inline line warning() { return line(level::warning); }
inline line error() { return line(level::error); }

} // namespace mqchat::log
