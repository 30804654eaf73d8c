#include "log.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <stdexcept>

namespace mqchat::log {

namespace {

/// stdout for what is below a warning (warnings and errors go to stderr only).
class below_warning_sink : public spdlog::sinks::stdout_sink_mt {
public:
    void log(const spdlog::details::log_msg& msg) override {
        if (msg.level < spdlog::level::warn) spdlog::sinks::stdout_sink_mt::log(msg);
    }
};

spdlog::level::level_enum to_spdlog(level l) {
    switch (l) {
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warning: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& program, level lowest, destination where) {
    // Two sinks: up to info on stdout, warnings and errors on stderr. Both
    // flush each line (spdlog's stdout sinks do), so a supervisor or a test
    // reading the output sees a line as soon as it is written.
    auto out = std::make_shared<below_warning_sink>();
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    out->set_level(spdlog::level::debug);
    err->set_level(where == destination::split ? spdlog::level::warn : spdlog::level::debug);
    if (where == destination::stderr_only) {
        err->set_pattern("%E: %n: %v");
        auto logger = std::make_shared<spdlog::logger>(program, err);
        logger->set_level(to_spdlog(lowest));
        return logger;
    }
    // Mosquitto's shape: seconds since the epoch, a colon, the text.
    out->set_pattern("%E: %n: %v");
    err->set_pattern("%E: %n: %v");
    auto logger = std::make_shared<spdlog::logger>(program, spdlog::sinks_init_list{out, err});
    logger->set_level(to_spdlog(lowest));
    return logger;
}

std::mutex setup_mutex;
std::shared_ptr<spdlog::logger>& current() {
    static std::shared_ptr<spdlog::logger> logger = make_logger("mqchat", level::info, destination::split);
    return logger;
}

} // namespace

level parse_level(std::string_view text) {
    if (text == "debug") return level::debug;
    if (text == "info" || text == "notice") return level::info;
    if (text == "warning") return level::warning;
    if (text == "error") return level::error;
    throw std::invalid_argument("'" + std::string(text) + "' is not a log level (debug, info, warning, error)");
}

std::string_view level_name(level l) {
    switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warning: return "warning";
    case level::error: return "error";
    }
    return "info";
}

void setup(std::string program, level lowest, destination where) {
    std::lock_guard lock(setup_mutex);
    current() = make_logger(program, lowest, where);
}

void set_level(level lowest) {
    std::lock_guard lock(setup_mutex);
    current()->set_level(to_spdlog(lowest));
}

bool enabled(level l) { return current()->should_log(to_spdlog(l)); }

void database_notice(const char* message) {
    const std::string_view text(message ? message : "");
    const bool serious = text.rfind("FATAL", 0) == 0 || text.rfind("ERROR", 0) == 0 || text.rfind("PANIC", 0) == 0 ||
                         text.rfind("WARNING", 0) == 0;
    std::string line;
    line.reserve(text.size() + 10);
    line += "database: ";
    line += text;
    write(serious ? level::warning : level::info, line);
}

void write(level l, std::string_view raw) {
    // One event, one line: libpq's and curl's messages come with newlines.
    std::string text;
    text.reserve(raw.size());
    for (char c : raw) {
        if (c == '\n' || c == '\r' || c == '\t') {
            if (!text.empty() && text.back() != ' ') text += ' ';
        } else {
            text += c;
        }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    auto& logger = current();
    switch (l) {
    case level::debug: logger->debug("debug: {}", text); break;
    case level::info: logger->info("{}", text); break;
    case level::warning: logger->warn("warning: {}", text); break;
    case level::error: logger->error("error: {}", text); break;
    }
}

line::~line() {
    if (on_) write(level_, text_.str());
}

} // namespace mqchat::log
