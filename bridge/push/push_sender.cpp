#include "push_sender.hpp"

#include <algorithm>
#include <random>

#include "common/json.hpp"
#include "common/log.hpp"
#include "observe/bridge_metrics.hpp"

namespace mqchat::bridge {

namespace {
constexpr int max_attempts = 8;

/// Seconds until the next try: the server's Retry-After when it gave one,
/// else 2^attempts (at most 5 minutes), times a random 0.5 … 1.5.
long backoff_s(int attempts, long retry_after_s) {
    if (retry_after_s >= 0) return std::min(retry_after_s, 3600L);
    static thread_local std::mt19937 rng{std::random_device{}()};
    const double base = std::min(300.0, static_cast<double>(1L << std::min(attempts, 9)));
    return std::max(1L, static_cast<long>(base * std::uniform_real_distribution<double>(0.5, 1.5)(rng)));
}
} // namespace

push_sender::push_sender(std::string conninfo, std::unique_ptr<http_client> http, std::unique_ptr<fcm_client> fcm,
                         std::unique_ptr<apns_client> apns)
    : conninfo_(std::move(conninfo)), http_(std::move(http)), fcm_(std::move(fcm)), apns_(std::move(apns)) {
    platforms_ = std::string("{") + (fcm_ ? "fcm" : "") + (fcm_ && apns_ ? "," : "") + (apns_ ? "apns" : "") + "}";
}

push_sender::~push_sender() { stop(); }

void push_sender::start() { thread_ = std::thread([this] { run(); }); }

void push_sender::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void push_sender::run() {
    std::unique_ptr<pg::connection> db;
    while (!stop_) {
        bool busy = false;
        try {
            if (!db) db = std::make_unique<pg::connection>(conninfo_);
            busy = round(*db);
        } catch (const pg::error& e) {
            log::warning() << "push sender: database unavailable (" << e.what() << "); retrying";
            db.reset();
        }
        if (!busy)
            for (int i = 0; i < 5 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

bool push_sender::round(pg::connection& db) {
    // Taken off the queue before sending: a bridge that dies mid-send loses
    // that one push rather than sending it twice; one that must be retried
    // goes back in.
    const auto due = db.exec(
        "DELETE FROM push_queue"
        " WHERE id IN (SELECT id FROM push_queue WHERE next_at <= now() AND payload ->> 'platform' = ANY($1::text[])"
        "              ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, device_id, attempts + 1, payload, conv_id, seq",
        {platforms_});
    for (int i = 0; i < due.rows() && !stop_; ++i) {
        const std::string id = due.str(i, 0), device = due.str(i, 1);
        const int attempts = static_cast<int>(due.int64(i, 2));
        Json::Value push;
        std::string why;
        json::parse(due.text(i, 3), push, why);
        const bool to_apns = push["platform"] == "apns";
        const push_result r = to_apns ? apns_->send(push) : fcm_->send(push);
        const auto count = [&](const char* outcome) {
            bridge_metrics().pushes.with({to_apns ? "apns" : "fcm", outcome}).inc();
        };
        switch (r.outcome) {
        case push_outcome::sent:
            count("sent");
            break;
        case push_outcome::invalid_token:
            log::info() << "push token of device " << device << " is no longer valid (" << r.detail
                      << "); device removed";
            count("invalid_token");
            db.exec("DELETE FROM push_devices WHERE id = $1", {device});
            break;
        case push_outcome::rejected:
            log::warning() << "push " << id << " rejected: " << r.detail;
            count("failed");
            break;
        case push_outcome::retry:
            if (attempts >= max_attempts) {
                log::warning() << "push " << id << " dropped after " << attempts << " attempts: " << r.detail;
                count("failed");
            } else {
                count("retried"); // back in the queue (unless the device went meanwhile)
                db.exec("INSERT INTO push_queue (device_id, conv_id, seq, payload, attempts, next_at)"
                        " SELECT $1, $2, $3, $4::jsonb, $5, now() + make_interval(secs => $6)"
                        "  WHERE EXISTS (SELECT 1 FROM push_devices WHERE id = $1) ON CONFLICT DO NOTHING",
                        {device, due.str(i, 4), due.str(i, 5), due.str(i, 3), std::to_string(attempts),
                         std::to_string(backoff_s(attempts, r.retry_after_s))});
            }
            break;
        }
    }
    return due.rows() > 0;
}

} // namespace mqchat::bridge
