#include "request_pool.hpp"

#include <algorithm>

#include "common/envelope.hpp"
#include "common/rpc.hpp"
#include "common/log.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

request_pool::request_pool(const handler_factory& make_handler, mqtt_link& link, const topic_names& topics,
                           int threads, std::size_t max_queued)
    : link_(link), topics_(topics), max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) handlers_.push_back(make_handler());
    for (auto& h : handlers_) threads_.emplace_back([this, handler = h.get()] { run(*handler); });
    intake_ = std::thread([this] { intake(); });
}

request_pool::~request_pool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_.notify_all();
    for (auto& t : threads_) t.join();
    intake_.join();
}

void request_pool::take(const incoming& in) {
    const parsed_topic t = topics_.parse(in.topic);
    rpc::request r;
    std::string why;
    if (t.kind != topic_kind::rpc_stamped || !rpc::parse_stamped(in.payload, t.method, r, why)) {
        log::warning() << "dropped an unexpected request on " << in.topic << ": " << why;
        return;
    }
    if (submit(std::move(r))) return;
    // Not queued (submit leaves it whole): the caller hears so at once.
    bridge_metrics().requests_overloaded.inc();
    auto reply = overloaded_reply(r, topics_.inbox(r.caller));
    link_.publish(reply.topic, reply.payload, {0, std::move(reply.correlation_data)});
}

void request_pool::intake() {
    incoming in;
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stop_) return;
        }
        if (link_.next(in, std::chrono::milliseconds(200))) take(in);
    }
}

bool request_pool::submit(rpc::request&& r) {
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= max_queued_) return false;
        queue_.push_back(std::move(r));
    }
    work_.notify_one();
    return true;
}

std::size_t request_pool::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

outgoing_message request_pool::overloaded_reply(const rpc::request& r, const std::string& inbox) const {
    std::int64_t retry_ms = 100;
    {
        std::lock_guard lock(mutex_);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
        const double per_s = seconds > 0 ? static_cast<double>(answered_) / seconds : 0;
        if (per_s > 0) retry_ms = std::max<std::int64_t>(100, static_cast<std::int64_t>(static_cast<double>(queue_.size()) / per_s * 1000));
        retry_ms = std::min<std::int64_t>(retry_ms, 30000);
    }
    return {inbox,
            rpc::error_json(r, error_code::overloaded, "the server is busy with other requests; retry later", retry_ms),
            r.corr_data};
}

void request_pool::run(request_handler& handler) {
    while (true) {
        rpc::request r;
        {
            std::unique_lock lock(mutex_);
            work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            r = std::move(queue_.front());
            queue_.pop_front();
        }
        const auto started = std::chrono::steady_clock::now();
        try {
            for (auto& out : handler.handle(r))
                link_.publish(out.topic, out.payload, {0, std::move(out.correlation_data)});
            bridge_metrics()
                .request_seconds.with({handler.answers(r.method) ? r.method : std::string("unknown")})
                .observe(metrics::seconds_since(started));
        } catch (const std::exception& e) {
            bridge_metrics().requests_failed.inc();
            // A handler answers its own errors; this is a bug or a lost
            // database, and the caller retries like after any lost reply.
            log::warning() << "request " << r.method << " from " << r.caller << " failed: " << e.what();
        }
        std::lock_guard lock(mutex_);
        // The pace over the last minute or so: restart the count now and then.
        if (std::chrono::steady_clock::now() - since_ > std::chrono::seconds(60)) {
            since_ = std::chrono::steady_clock::now();
            answered_ = 0;
        }
        ++answered_;
    }
}

} // namespace mqchat::bridge
