#include "config_files.hpp"

#include <algorithm>
#include <stdexcept>

namespace mqchat {

void config_problems::add(const std::string& file, const std::string& what) {
    for (auto& [f, text] : by_file_)
        if (!file.empty() && f == file) {
            text += "; " + what;
            return;
        }
    by_file_.emplace_back(file, what);
}

std::string config_problems::message() const {
    std::string out;
    for (const auto& [f, text] : by_file_) {
        // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on the one-expression form.
        if (!out.empty()) out += '\n';
        if (!f.empty()) out.append(f).append(": ");
        out += text;
    }
    return out;
}

config_settings read_config_files(const std::vector<std::string>& paths,
                                  const std::function<void(option_reader&)>& read, config_problems& errors) {
    config_settings settings;
    for (const auto& path : paths) {
        option_list options;
        try {
            options = read_option_file(path);
        } catch (const std::runtime_error& e) {
            errors.add("", e.what()); // names the file (and line) itself
            continue;
        }
        option_reader r(options);
        read(r);
        if (const std::string e = r.errors(); !e.empty()) errors.add(path, e);
        for (const auto& [key, value] : options) settings[key] = {value, path};
    }
    return settings;
}

std::string file_of(const config_settings& settings, const std::string& key) {
    const auto it = settings.find(key);
    return it == settings.end() ? std::string() : it->second.file;
}

void require_options(const config_settings& settings, const std::vector<std::string>& paths,
                     std::initializer_list<const char*> keys, config_problems& errors) {
    std::string missing;
    for (const char* key : keys)
        if (file_of(settings, key).empty()) missing += (missing.empty() ? "" : ", ") + std::string(key);
    if (missing.empty()) return;
    std::string names;
    for (const auto& p : paths) names += (names.empty() ? "" : ", ") + p;
    errors.add("", "missing required option" + std::string(missing.find(',') != std::string::npos ? "s " : " ") +
                       missing + " (set in none of " + names + ")");
}

std::vector<std::string> list_items(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    for (const char ch : text + " ") {
        if (ch == ' ' || ch == ',' || ch == '\t') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else {
            item += ch;
        }
    }
    return out;
}

std::string describe_settings(const config_settings& settings, std::initializer_list<std::string_view> hidden) {
    std::string out;
    for (const auto& [key, s] : settings) {
        std::string value = s.value;
        if (std::find(hidden.begin(), hidden.end(), key) != hidden.end()) {
            value = "(hidden)";
        } else if (key == "db_conninfo") {
            // A conninfo may hold password=…; show everything else.
            for (auto at = value.find("password="); at != std::string::npos; at = value.find("password=", at + 1)) {
                if (at > 0 && value[at - 1] != ' ') continue; // e.g. "passfile=" is not it
                const auto start = at + 9, end = value.find(' ', start);
                value.replace(start, end == std::string::npos ? std::string::npos : end - start, "(hidden)");
            }
        }
        out += key + " " + value + "  (" + s.file + ")\n";
    }
    return out;
}

} // namespace mqchat
