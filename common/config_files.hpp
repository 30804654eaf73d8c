#pragma once
/// Settings read from one or more `key value` files into a daemon's config
/// struct (the bridge's, the media service's): a key in a later file
/// overrides the same key in an earlier one, so a generated file can come
/// first and the operator's own last; every problem in every file is
/// reported at once, one line per file, each naming its file and option.

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/options.hpp"

namespace mqchat {

/// Where a key's value came from: the value and the last file that set it.
struct config_setting {
    std::string value, file;
};
using config_settings = std::map<std::string, config_setting>;

/// Problems found: one line per file, and one per problem of no file in particular ("").
class config_problems {
public:
    void add(const std::string& file, const std::string& what);
    /// Everything, one line per file; empty when there was nothing.
    std::string message() const;

private:
    std::vector<std::pair<std::string, std::string>> by_file_;
};

/// Reads `paths` in order: each file's options go through `read` (which
/// takes the keys it knows over what earlier files set); unknown keys and
/// bad values are added to `errors` under the file's name, a file that
/// cannot be read under no file. Returns who set what.
config_settings read_config_files(const std::vector<std::string>& paths,
                                  const std::function<void(option_reader&)>& read, config_problems& errors);

/// The file that set `key` last; "" when no file did.
std::string file_of(const config_settings& settings, const std::string& key);

/// "missing required option(s) …(set in none of …)" for the `keys` no file sets.
void require_options(const config_settings& settings, const std::vector<std::string>& paths,
                     std::initializer_list<const char*> keys, config_problems& errors);

/// The items of a list option ("image/jpeg, image/*" or "a b"): split on
/// commas and blanks, empty items dropped.
std::vector<std::string> list_items(const std::string& text);

/// One line per key: `key value  (file)`, for `--check`. A password inside
/// `db_conninfo` and the values of `hidden` keys show as "(hidden)".
std::string describe_settings(const config_settings& settings, std::initializer_list<std::string_view> hidden = {});

} // namespace mqchat
