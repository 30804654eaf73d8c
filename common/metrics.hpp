#pragma once
/// Prometheus metrics: counters, gauges and histograms kept in atomics, and
/// their text exposition (format 0.0.4) for a scrape.
///
/// Debian 12 packages no Prometheus client library for C++, so this is the
/// small part of one that mqchat needs. Series are registered once (at
/// start, or the first time a label value is seen) and then updated without
/// a lock: an increment is one relaxed atomic add, cheap enough for the
/// broker's thread. Label sets must stay bounded: callers pass only values
/// from fixed sets (error codes, request methods, provider names), and a
/// family refuses new series beyond `max_series` (they go to the series with
/// every label "other").
///
/// Names follow Prometheus conventions: `mqchat_` prefix, base units in the
/// name (`_seconds`, `_bytes`), `_total` for counters.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mqchat::metrics {

class counter {
public:
    void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

class gauge {
public:
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
    double value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

class histogram {
public:
    /// `bounds`: the buckets' upper bounds, ascending (+Inf is implied).
    explicit histogram(std::vector<double> bounds);
    void observe(double v);

    const std::vector<double>& bounds() const { return bounds_; }
    /// Per bucket (not cumulative), the last one for +Inf.
    std::vector<std::uint64_t> counts() const;
    double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::atomic<double> sum_{0};
};

/// Buckets for durations in seconds, 0.5 ms to 10 s.
std::vector<double> latency_buckets();
/// Buckets for sizes: 1, 2, 5, 10, … up to `max`.
std::vector<double> size_buckets(double max);

using labels = std::vector<std::string>; ///< label values, in the family's label-name order

/// One metric name with its help text, type and label names; one series per
/// distinct label values.
template <class Metric>
class family {
public:
    /// The series for these label values (as many as the family has label
    /// names), created the first time. Takes a lock: keep the reference for
    /// hot paths.
    Metric& with(const labels& values);
    /// The series without labels (families declared with no label names).
    Metric& get() { return with({}); }

private:
    friend class registry;
    family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds,
           std::size_t max_series);
    Metric& make(const labels& values);

    std::string name_, help_;
    std::vector<std::string> label_names_;
    std::vector<double> bounds_; ///< histograms only
    std::size_t max_series_;
    mutable std::mutex mutex_;
    struct series {
        labels values;
        std::unique_ptr<Metric> metric;
    };
    std::deque<series> series_;
};

class registry {
public:
    family<counter>& counters(std::string name, std::string help, std::vector<std::string> label_names = {},
                              std::size_t max_series = 64);
    family<gauge>& gauges(std::string name, std::string help, std::vector<std::string> label_names = {},
                          std::size_t max_series = 64);
    family<histogram>& histograms(std::string name, std::string help, std::vector<double> bounds,
                                  std::vector<std::string> label_names = {}, std::size_t max_series = 64);
    /// A gauge whose value is read at scrape time (a queue's length, a table's
    /// size), with fixed labels (name, value pairs). `read` runs on the
    /// scraping thread: it must be thread-safe and quick; when it throws, the
    /// series is left out of that scrape. The same name and labels again
    /// replace the reader.
    using label_pairs = std::vector<std::pair<std::string, std::string>>;
    void gauge_reader(std::string name, std::string help, std::function<double()> read, label_pairs fixed = {});
    /// The same for a count kept elsewhere (a library's own counter).
    void counter_reader(std::string name, std::string help, std::function<double()> read, label_pairs fixed = {});

    /// Shorthands for series without labels.
    counter& single_counter(std::string name, std::string help) {
        return counters(std::move(name), std::move(help)).get();
    }
    gauge& single_gauge(std::string name, std::string help) {
        return gauges(std::move(name), std::move(help)).get();
    }

    /// The text exposition of every family, in registration order.
    std::string exposition() const;

private:
    template <class F>
    F& add(std::unique_ptr<F> f);

    mutable std::mutex mutex_;
    std::deque<std::unique_ptr<family<counter>>> counters_;
    std::deque<std::unique_ptr<family<gauge>>> gauges_;
    std::deque<std::unique_ptr<family<histogram>>> histograms_;
    struct reader_family {
        std::string name, help;
        const char* type;
        std::vector<std::pair<std::string, std::function<double()>>> series; ///< label text, reader
    };
    void add_reader(std::string name, std::string help, std::function<double()> read, const char* type,
                    const label_pairs& fixed);
    std::deque<reader_family> readers_;
    /// Families in registration order: kind (0 counter, 1 gauge, 2 histogram, 3 reader) and index.
    std::vector<std::pair<int, std::size_t>> order_;
};

/// The process's registry (each program, and the plugin inside the broker, has one).
registry& default_registry();

/// Seconds since `start` on the steady clock, for histograms.
double seconds_since(std::chrono::steady_clock::time_point start);

} // namespace mqchat::metrics
