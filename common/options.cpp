#include "common/options.hpp"

#include <charconv>
#include <fstream>
#include <stdexcept>

namespace mqchat {

namespace {
std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return std::string(s.substr(first, last - first + 1));
}
} // namespace

option_list read_option_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read config file " + path);
    option_list out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        const std::string text = trim(line);
        if (text.empty() || text[0] == '#') continue;
        const auto space = text.find_first_of(" \t");
        if (space == std::string::npos)
            throw std::runtime_error(path + ":" + std::to_string(number) + ": option '" + text +
                                     "' has no value");
        out.emplace_back(text.substr(0, space), trim(std::string_view(text).substr(space)));
    }
    return out;
}

option_reader::option_reader(option_list options, std::string prefix)
    : options_(std::move(options)), prefix_(std::move(prefix)), used_(options_.size(), false) {}

const std::string* option_reader::find(std::string_view key) {
    const std::string* found = nullptr;
    for (std::size_t i = 0; i < options_.size(); ++i) {
        if (options_[i].first == key) {
            used_[i] = true;
            found = &options_[i].second; // the last one wins, as in mosquitto.conf
        }
    }
    return found;
}

std::string option_reader::required_string(std::string_view key) {
    const std::string* v = find(key);
    if (!v || v->empty()) {
        missing_.push_back(prefix_ + std::string(key));
        return {};
    }
    return *v;
}

std::string option_reader::string(std::string_view key, std::string_view fallback) {
    const std::string* v = find(key);
    return v ? *v : std::string(fallback);
}

bool option_reader::boolean(std::string_view key, bool fallback) {
    const std::string* v = find(key);
    if (!v) return fallback;
    if (*v == "true" || *v == "1" || *v == "yes" || *v == "on") return true;
    if (*v == "false" || *v == "0" || *v == "no" || *v == "off") return false;
    bad_.push_back(prefix_ + std::string(key) + " '" + *v + "' is not true or false");
    return fallback;
}

std::int64_t option_reader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                    std::int64_t max) {
    const std::string* v = find(key);
    if (!v) return fallback;
    std::int64_t value = 0;
    const char* end = v->data() + v->size();
    const auto [ptr, ec] = std::from_chars(v->data(), end, value);
    if (ec != std::errc() || ptr != end || value < min || value > max) {
        bad_.push_back(prefix_ + std::string(key) + " '" + *v + "' is not an integer from " +
                       std::to_string(min) + " to " + std::to_string(max));
        return fallback;
    }
    return value;
}

std::string option_reader::errors() const {
    std::string out;
    auto add = [&out](const std::string& part) {
        if (!out.empty()) out += "; ";
        out += part;
    };
    if (!missing_.empty()) {
        std::string names;
        for (const auto& m : missing_) names += (names.empty() ? "" : ", ") + m;
        add("missing required option" + std::string(missing_.size() > 1 ? "s " : " ") + names);
    }
    for (const auto& b : bad_) add(b);
    for (std::size_t i = 0; i < options_.size(); ++i)
        if (!used_[i]) add("unknown option " + prefix_ + options_[i].first);
    return out;
}

void option_reader::finish() const {
    const std::string e = errors();
    if (!e.empty()) throw std::invalid_argument(e);
}

} // namespace mqchat
