#include "health.hpp"

#include <json/json.h>

#include "common/json.hpp"
#include "common/log.hpp"

namespace mqchat::media {

health::health(service& svc) : svc_(svc) {
    auto& reg = metrics::default_registry();
    reg.gauge_reader("mqchat_media_queue_depth", "Received uploads waiting for a worker to inspect them.",
                     [this] { return static_cast<double>(svc_.workers.queued()); });
    reg.gauge_reader("mqchat_media_database_up", "1 while the database answered the last probe (every 2 s).",
                     [this] { return db_ok_ ? 1.0 : 0.0; });
    reg.gauge_reader("mqchat_media_storage_writable", "1 while the last probe could write to the storage (every 2 s).",
                     [this] { return storage_ok_ ? 1.0 : 0.0; });
    prober_ = std::thread([this] { probe_loop(); });
    if (!svc_.config.metrics_listen.empty()) {
        endpoint_ = std::make_unique<http_endpoint>(
            parse_listen_address(svc_.config.metrics_listen),
            std::map<std::string, http_endpoint::handler>{
                {"/metrics",
                 [] {
                     return http_reply{200, "text/plain; version=0.0.4; charset=utf-8",
                                       metrics::default_registry().exposition()};
                 }},
                {"/healthz", [] { return http_reply{200, "application/json", "{\"status\":\"ok\"}\n"}; }},
                {"/readyz", [this] {
                     std::string json;
                     const bool ok = ready(json);
                     return http_reply{ok ? 200 : 503, "application/json", json};
                 }}});
        log::info() << "metrics and health on http://" << svc_.config.metrics_listen << " (/metrics, /healthz, /readyz)";
    }
}

health::~health() {
    endpoint_.reset();
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    prober_.join();
}

bool health::ready(std::string& json) const {
    Json::Value v;
    std::lock_guard lock(mutex_);
    v["checks"]["database"]["ok"] = db_ok_.load();
    v["checks"]["database"]["detail"] = db_ok_ ? "answers" : db_error_;
    v["checks"]["storage"]["ok"] = storage_ok_.load();
    v["checks"]["storage"]["detail"] = storage_ok_ ? svc_.store.describe() + " writable" : storage_error_;
    const bool ok = db_ok_ && storage_ok_;
    v["status"] = ok ? "ok" : "fail";
    json = json::write(v) + "\n";
    return ok;
}

void health::probe_loop() {
    std::unique_ptr<pg::connection> db;
    std::unique_lock lock(mutex_);
    while (!stop_) {
        lock.unlock();
        std::string db_error, storage_error;
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(svc_.config.db);
                db->exec("SET application_name = 'mqchat-media-health'");
                db->exec("SET statement_timeout = '5s'");
            }
            db->exec("SELECT 1 FROM media LIMIT 1");
        } catch (const pg::error& e) {
            db_error = e.what();
            db.reset();
        }
        try {
            storage_error = svc_.store.probe();
        } catch (const std::exception& e) {
            storage_error = e.what();
        }
        lock.lock();
        if (db_ok_ != db_error.empty() || storage_ok_ != storage_error.empty()) {
            if (!db_error.empty() && db_ok_) log::warning() << "database unavailable: " << db_error;
            if (!storage_error.empty() && storage_ok_) log::warning() << "storage not writable: " << storage_error;
        }
        db_ok_ = db_error.empty();
        storage_ok_ = storage_error.empty();
        db_error_ = db_error;
        storage_error_ = storage_error;
        wake_.wait_for(lock, std::chrono::seconds(2), [this] { return stop_; });
    }
}

} // namespace mqchat::media
