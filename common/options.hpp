#pragma once
/// Options as key/value pairs, read once at start into a typed config struct.
///
/// The plugin gets its options from `plugin_opt_*` lines, the bridge from a
/// config file of `key value` lines; both go through option_reader so the
/// rules are the same everywhere: every missing required key is reported in
/// one message, a bad value is named with its value, and a key nobody asked
/// for is an error (a typo must not silently fall back to a default).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mqchat {

using option_list = std::vector<std::pair<std::string, std::string>>;

/// Reads `key value` lines; `#` starts a comment, blank lines are skipped.
/// Throws std::runtime_error naming the file and line on a line without a value
/// or a file that cannot be read.
option_list read_option_file(const std::string& path);

class option_reader {
public:
    /// `prefix` is only used in messages, e.g. "plugin_opt_" so errors name
    /// the option exactly as the operator wrote it.
    option_reader(option_list options, std::string prefix = "");

    std::string required_string(std::string_view key);
    std::string string(std::string_view key, std::string_view fallback);
    bool boolean(std::string_view key, bool fallback);
    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max);

    /// Everything wrong, in one message: missing keys, bad values, unknown keys.
    /// Empty when the options were fine.
    std::string errors() const;
    /// Throws std::invalid_argument with errors() when there are any.
    void finish() const;

private:
    const std::string* find(std::string_view key);

    option_list options_;
    std::string prefix_;
    std::vector<bool> used_;
    std::vector<std::string> missing_;
    std::vector<std::string> bad_;
};

} // namespace mqchat
