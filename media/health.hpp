#pragma once
/// What operators see of mqchat-media (docs/media.md, "Metrics and health"):
/// on metrics_listen (common/http_endpoint, off when empty)
///   /metrics  the registry (media_metrics.hpp) and the gauges below;
///   /healthz  the process answers;
///   /readyz   the database answered and a blob could be written within
///             the last probes.
/// The probes run on a thread of their own every 2 s, with their own
/// database connection, so a frozen database or storage makes the service
/// "not ready" instead of freezing the probe.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/http_endpoint.hpp"
#include "service.hpp"

namespace mqchat::media {

class health {
public:
    explicit health(service& svc);
    ~health();
    health(const health&) = delete;
    health& operator=(const health&) = delete;

    int port() const { return endpoint_ ? endpoint_->port() : 0; }
    bool ready(std::string& json) const;

private:
    void probe_loop();

    service& svc_;
    std::atomic<bool> db_ok_{false}, storage_ok_{false};
    mutable std::mutex mutex_;
    std::string db_error_ = "no answer yet", storage_error_ = "not probed yet";
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread prober_;
    std::unique_ptr<http_endpoint> endpoint_;
};

} // namespace mqchat::media
