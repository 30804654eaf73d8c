#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace mqchat::metrics {

namespace {

/// A sample value as Prometheus reads it: integers without a fraction,
/// +Inf/-Inf/NaN spelled its way.
std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    // Shortest text that reads back as the same double: le="0.0005", not 0.00050000000000000001.
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

/// Label values escaped for the text format: backslash, quote, newline.
std::string escaped(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

/// {a="x",b="y"} with `extra` (e.g. le="0.5") last; "" without any.
std::string label_text(const std::vector<std::string>& names, const labels& values, const std::string& extra = "") {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
        out += out.empty() ? "{" : ",";
        out += names[i];
        out += "=\"";
        out += escaped(values[i]);
        out += '"';
    }
    if (!extra.empty()) {
        out += out.empty() ? "{" : ",";
        out += extra;
    }
    if (!out.empty()) out += '}';
    return out;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    for (char c : help) out += c == '\n' ? ' ' : c;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

bool valid_name(std::string_view n) {
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
    return std::all_of(n.begin(), n.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; });
}

} // namespace

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end())) throw std::invalid_argument("histogram bounds must ascend");
    for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) {
    const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
    counts_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> histogram::counts() const {
    std::vector<std::uint64_t> out(bounds_.size() + 1);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
}

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> size_buckets(double max) {
    std::vector<double> out;
    for (double decade = 1; decade <= max; decade *= 10)
        for (double step : {1.0, 2.0, 5.0})
            if (decade * step <= max) out.push_back(decade * step);
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class Metric>
family<Metric>::family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds, std::size_t max_series)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)),
      max_series_(std::max<std::size_t>(max_series, 1)) {
    if (!valid_name(name_)) throw std::invalid_argument("bad metric name '" + name_ + "'");
    for (const auto& l : label_names_)
        if (!valid_name(l) || l == "le") throw std::invalid_argument("bad label name '" + l + "' for " + name_);
}

template <class Metric>
Metric& family<Metric>::make(const labels& values) {
    if constexpr (std::is_same_v<Metric, histogram>)
        series_.push_back({values, std::make_unique<histogram>(bounds_)});
    else
        series_.push_back({values, std::make_unique<Metric>()});
    return *series_.back().metric;
}

template <class Metric>
Metric& family<Metric>::with(const labels& values) {
    if (values.size() != label_names_.size())
        throw std::invalid_argument(name_ + " takes " + std::to_string(label_names_.size()) + " label values");
    std::lock_guard lock(mutex_);
    for (auto& s : series_)
        if (s.values == values) return *s.metric;
    if (series_.size() + 1 < max_series_) return make(values);
    // Full: everything new shares one "other" series, so a bug that passes
    // unbounded values cannot grow the scrape without bound.
    const labels other(label_names_.size(), "other");
    for (auto& s : series_)
        if (s.values == other) return *s.metric;
    return make(other);
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

template <class F>
F& registry::add(std::unique_ptr<F> f) {
    F& out = *f;
    if constexpr (std::is_same_v<F, family<counter>>) {
        order_.emplace_back(0, counters_.size());
        counters_.push_back(std::move(f));
    } else if constexpr (std::is_same_v<F, family<gauge>>) {
        order_.emplace_back(1, gauges_.size());
        gauges_.push_back(std::move(f));
    } else {
        order_.emplace_back(2, histograms_.size());
        histograms_.push_back(std::move(f));
    }
    return out;
}

family<counter>& registry::counters(std::string name, std::string help, std::vector<std::string> label_names,
                                    std::size_t max_series) {
    std::lock_guard lock(mutex_);
    for (auto& f : counters_)
        if (f->name_ == name) return *f;
    return add(std::unique_ptr<family<counter>>(
        new family<counter>(std::move(name), std::move(help), std::move(label_names), {}, max_series)));
}

family<gauge>& registry::gauges(std::string name, std::string help, std::vector<std::string> label_names,
                                std::size_t max_series) {
    std::lock_guard lock(mutex_);
    for (auto& f : gauges_)
        if (f->name_ == name) return *f;
    return add(std::unique_ptr<family<gauge>>(
        new family<gauge>(std::move(name), std::move(help), std::move(label_names), {}, max_series)));
}

family<histogram>& registry::histograms(std::string name, std::string help, std::vector<double> bounds,
                                        std::vector<std::string> label_names, std::size_t max_series) {
    std::lock_guard lock(mutex_);
    for (auto& f : histograms_)
        if (f->name_ == name) return *f;
    return add(std::unique_ptr<family<histogram>>(new family<histogram>(
        std::move(name), std::move(help), std::move(label_names), std::move(bounds), max_series)));
}

void registry::gauge_reader(std::string name, std::string help, std::function<double()> read, label_pairs fixed) {
    add_reader(std::move(name), std::move(help), std::move(read), "gauge", fixed);
}

void registry::counter_reader(std::string name, std::string help, std::function<double()> read, label_pairs fixed) {
    add_reader(std::move(name), std::move(help), std::move(read), "counter", fixed);
}

void registry::add_reader(std::string name, std::string help, std::function<double()> read, const char* type,
                          const label_pairs& fixed) {
    if (!valid_name(name)) throw std::invalid_argument("bad metric name '" + name + "'");
    std::vector<std::string> names;
    labels values;
    for (const auto& [n, v] : fixed) {
        if (!valid_name(n) || n == "le") throw std::invalid_argument("bad label name '" + n + "' for " + name);
        names.push_back(n);
        values.push_back(v);
    }
    const std::string text = label_text(names, values);
    std::lock_guard lock(mutex_);
    for (auto& f : readers_)
        if (f.name == name) {
            for (auto& [t, r] : f.series)
                if (t == text) {
                    r = std::move(read); // a part started again replaces its reader
                    return;
                }
            f.series.emplace_back(text, std::move(read));
            return;
        }
    order_.emplace_back(3, readers_.size());
    readers_.push_back({std::move(name), std::move(help), type, {}});
    readers_.back().series.emplace_back(text, std::move(read));
}

std::string registry::exposition() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [kind, index] : order_) {
        if (kind == 0) {
            const auto& f = *counters_[index];
            std::lock_guard series_lock(f.mutex_);
            header(out, f.name_, f.help_, "counter");
            for (const auto& s : f.series_)
                out += f.name_ + label_text(f.label_names_, s.values) + ' ' +
                       number(static_cast<double>(s.metric->value())) + '\n';
        } else if (kind == 1) {
            const auto& f = *gauges_[index];
            std::lock_guard series_lock(f.mutex_);
            header(out, f.name_, f.help_, "gauge");
            for (const auto& s : f.series_)
                out += f.name_ + label_text(f.label_names_, s.values) + ' ' + number(s.metric->value()) + '\n';
        } else if (kind == 2) {
            const auto& f = *histograms_[index];
            std::lock_guard series_lock(f.mutex_);
            header(out, f.name_, f.help_, "histogram");
            for (const auto& s : f.series_) {
                const auto counts = s.metric->counts();
                const auto& bounds = s.metric->bounds();
                std::uint64_t cumulative = 0;
                for (std::size_t i = 0; i < counts.size(); ++i) {
                    cumulative += counts[i];
                    const std::string le = "le=\"" + (i < bounds.size() ? number(bounds[i]) : "+Inf") + '"';
                    out += f.name_ + "_bucket" + label_text(f.label_names_, s.values, le) + ' ' +
                           number(static_cast<double>(cumulative)) + '\n';
                }
                out += f.name_ + "_sum" + label_text(f.label_names_, s.values) + ' ' + number(s.metric->sum()) + '\n';
                out += f.name_ + "_count" + label_text(f.label_names_, s.values) + ' ' +
                       number(static_cast<double>(cumulative)) + '\n';
            }
        } else {
            const auto& f = readers_[index];
            header(out, f.name, f.help, f.type);
            for (const auto& [text, read] : f.series) {
                try {
                    out += f.name + text + ' ' + number(read()) + '\n';
                } catch (...) {
                    // a reader that cannot tell now leaves its series out of this scrape
                }
            }
        }
    }
    return out;
}

registry& default_registry() {
    static registry r;
    return r;
}

} // namespace mqchat::metrics
