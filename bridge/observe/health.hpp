#pragma once
/// What an operator's probes and Prometheus see of a running bridge: an HTTP
/// endpoint (common/http_endpoint.hpp, off unless `metrics_listen` is set)
/// with
///   /metrics  the process's registry (observe/bridge_metrics.hpp) plus
///             gauges read from the database every few seconds;
///   /healthz  liveness: the store-and-deliver loop is turning (a stuck
///             loop is the one failure a restart mends);
///   /readyz   readiness: the database answers, both links to the broker
///             are up, and no message has waited to be stored longer than
///             `ready_store_lag`.
/// The database is probed from a thread of its own with its own connection,
/// so a frozen server makes the bridge "not ready" instead of freezing the
/// probe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/http_endpoint.hpp"
#include "common/pg.hpp"

namespace mqchat::bridge {

class mosquitto_link;

struct health_settings {
    std::string listen;                          ///< "" : no endpoint
    std::string db;                              ///< libpq conninfo for the probe
    std::chrono::milliseconds ready_store_lag{10000};
    std::chrono::milliseconds probe_every{2000};
    std::chrono::milliseconds stats_every{15000}; ///< the database gauges (counts, queues)
};

/// What the ingest loop tells the health checks (ingest.hpp updates it).
struct loop_heartbeat {
    /// Steady-clock nanoseconds of the loop's last turn.
    std::atomic<std::int64_t> last_turn_ns{0};
    /// Arrival (steady ns) of the oldest message of the batch being stored; 0: none.
    std::atomic<std::int64_t> storing_since_ns{0};
    void turned();
};

class health {
public:
    health(health_settings settings, const mosquitto_link& chat, const mosquitto_link& requests,
           const loop_heartbeat& loop, std::function<std::size_t()> request_queue_depth);
    ~health();
    health(const health&) = delete;
    health& operator=(const health&) = delete;

    /// The endpoint's port (0: no endpoint).
    int port() const { return endpoint_ ? endpoint_->port() : 0; }

    struct verdict {
        bool ok;
        std::string json; ///< {"status": "ok"|"fail", "checks": {...}}
    };
    verdict live() const;
    verdict ready() const;
    /// How long the oldest message not yet stored has waited.
    std::chrono::milliseconds store_lag() const;
    bool ready_database() const;

private:
    void probe_loop();
    /// Gauges read from the database (counts, queues, desks), every stats_every.
    static void gather_stats(pg::connection& db);

    const health_settings settings_;
    const mosquitto_link& chat_;
    const mosquitto_link& requests_;
    const loop_heartbeat& loop_;
    std::function<std::size_t()> request_queue_depth_;

    std::atomic<std::int64_t> db_ok_ns_{0}; ///< steady ns of the last answered probe
    mutable std::mutex mutex_;
    std::string db_error_; ///< the last probe's error, "" when it answered
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread prober_;
    std::unique_ptr<http_endpoint> endpoint_;
};

} // namespace mqchat::bridge
