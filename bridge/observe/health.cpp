#include "health.hpp"

#include <json/json.h>

#include "common/json.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "link/mosquitto_link.hpp"

namespace mqchat::bridge {

namespace {

std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t ms_since(std::int64_t steady_ns) { return (steady_now_ns() - steady_ns) / 1000000; }

/// A liveness limit far beyond any turn of the loop (it waits 50 ms for
/// messages, 2 s between store retries): only a stuck loop exceeds it.
constexpr std::int64_t loop_stuck_ms = 30000;

Json::Value check(bool ok, const std::string& detail) {
    Json::Value v;
    v["ok"] = ok;
    v["detail"] = detail;
    return v;
}

health::verdict verdict_of(const Json::Value& checks) {
    bool ok = true;
    for (const auto& name : checks.getMemberNames()) ok = ok && checks[name]["ok"].asBool();
    Json::Value v;
    v["status"] = ok ? "ok" : "fail";
    v["checks"] = checks;
    return {ok, json::write(v) + "\n"};
}

http_reply as_reply(const health::verdict& v) { return {v.ok ? 200 : 503, "application/json", v.json}; }

} // namespace

void loop_heartbeat::turned() { last_turn_ns.store(steady_now_ns(), std::memory_order_relaxed); }

health::health(health_settings settings, const mosquitto_link& chat, const mosquitto_link& requests,
               const loop_heartbeat& loop, std::function<std::size_t()> request_queue_depth)
    : settings_(std::move(settings)), chat_(chat), requests_(requests), loop_(loop),
      request_queue_depth_(std::move(request_queue_depth)) {
    auto& reg = metrics::default_registry();
    for (const auto& [link, label] : {std::pair{&chat_, "chat"}, std::pair{&requests_, "requests"}}) {
        const mosquitto_link* l = link;
        reg.gauge_reader("mqchat_broker_connected", "1 while the link to the broker is up, by link.",
                         [l] { return l->connected() ? 1.0 : 0.0; }, {{"link", label}});
        reg.gauge_reader("mqchat_bridge_inbox_messages",
                         "Messages received from the broker, not yet taken by the loop, by link.",
                         [l] { return static_cast<double>(l->queued()); }, {{"link", label}});
        reg.counter_reader("mqchat_broker_connects_total", "Connections to the broker made, by link.",
                           [l] { return static_cast<double>(l->connects()); }, {{"link", label}});
        reg.counter_reader("mqchat_broker_disconnects_total", "Connections to the broker lost, by link.",
                           [l] { return static_cast<double>(l->disconnects()); }, {{"link", label}});
    }
    reg.gauge_reader("mqchat_request_queue_depth", "Requests waiting for a request thread.",
                     [this] { return static_cast<double>(request_queue_depth_()); });
    reg.gauge_reader("mqchat_store_lag_seconds", "How long the oldest message not yet stored has waited.",
                     [this] { return static_cast<double>(store_lag().count()) / 1000.0; });
    reg.gauge_reader("mqchat_database_up", "1 while the database answered the last probe (every few seconds).",
                     [this] { return ready_database() ? 1.0 : 0.0; });

    prober_ = std::thread([this] { probe_loop(); });
    if (!settings_.listen.empty()) {
        endpoint_ = std::make_unique<http_endpoint>(
            parse_listen_address(settings_.listen),
            std::map<std::string, http_endpoint::handler>{
                {"/metrics",
                 [] {
                     return http_reply{200, "text/plain; version=0.0.4; charset=utf-8",
                                       metrics::default_registry().exposition()};
                 }},
                {"/healthz", [this] { return as_reply(live()); }},
                {"/readyz", [this] { return as_reply(ready()); }}});
        log::info() << "metrics and health on http://" << settings_.listen << " (/metrics, /healthz, /readyz)";
    }
}

health::~health() {
    endpoint_.reset(); // no handler runs past here
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    prober_.join();
}

bool health::ready_database() const {
    const std::int64_t ok_at = db_ok_ns_.load(std::memory_order_relaxed);
    // Two missed probes in a row: the database is away (or frozen).
    return ok_at != 0 && ms_since(ok_at) < 2 * settings_.probe_every.count() + 1000;
}

std::chrono::milliseconds health::store_lag() const {
    auto lag = std::chrono::duration_cast<std::chrono::milliseconds>(chat_.oldest_waiting());
    if (const std::int64_t since = loop_.storing_since_ns.load(std::memory_order_relaxed); since != 0)
        lag = std::max(lag, std::chrono::milliseconds(ms_since(since)));
    return lag;
}

health::verdict health::live() const {
    Json::Value checks;
    const std::int64_t turned = loop_.last_turn_ns.load(std::memory_order_relaxed);
    const std::int64_t ago = turned == 0 ? -1 : ms_since(turned);
    checks["loop"] = check(turned == 0 || ago < loop_stuck_ms,
                           turned == 0 ? "starting" : "last turn " + std::to_string(ago) + " ms ago");
    return verdict_of(checks);
}

health::verdict health::ready() const {
    Json::Value checks;
    std::string db_error;
    {
        std::lock_guard lock(mutex_);
        db_error = db_error_;
    }
    const bool db = ready_database();
    checks["database"] = check(db, db ? "answers" : db_error.empty() ? "no answer yet" : db_error);
    checks["broker"] = check(chat_.connected() && requests_.connected(),
                             std::string("chat link ") + (chat_.connected() ? "up" : "down") + ", requests link " +
                                 (requests_.connected() ? "up" : "down"));
    const auto lag = store_lag();
    checks["store_lag"] = check(lag < settings_.ready_store_lag,
                                std::to_string(lag.count()) + " ms (at most " +
                                    std::to_string(settings_.ready_store_lag.count()) + ")");
    return verdict_of(checks);
}

void health::probe_loop() {
    std::unique_ptr<pg::connection> db;
    auto stats_due = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    while (!stop_) {
        lock.unlock();
        std::string error;
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(settings_.db);
                db->exec("SET application_name = 'mqchat-bridge-health'");
                db->exec("SET statement_timeout = '5s'");
            }
            db->exec("SELECT 1");
            db_ok_ns_.store(steady_now_ns(), std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() >= stats_due) {
                gather_stats(*db);
                stats_due = std::chrono::steady_clock::now() + settings_.stats_every;
            }
        } catch (const pg::error& e) {
            error = e.what();
            db.reset();
        }
        lock.lock();
        db_error_ = error;
        wake_.wait_for(lock, settings_.probe_every, [this] { return stop_; });
    }
}

void health::gather_stats(pg::connection& db) {
    auto& reg = metrics::default_registry();
    const auto counts = db.exec(
        "SELECT (SELECT count(*) FROM users),"
        "       (SELECT count(*) FROM conversations),"
        "       (SELECT count(*) FROM presence WHERE devices > 0),"
        "       (SELECT count(*) FROM push_queue),"
        "       (SELECT count(*) FROM desk_mail)");
    reg.single_gauge("mqchat_users", "Users in the directory (read from the database every 15 s).")
        .set(static_cast<double>(counts.int64(0, 0)));
    reg.single_gauge("mqchat_conversations", "Conversations (read from the database every 15 s).")
        .set(static_cast<double>(counts.int64(0, 1)));
    reg.single_gauge("mqchat_users_online", "Users with at least one device connected, on any broker (stored presence).")
        .set(static_cast<double>(counts.int64(0, 2)));
    reg.single_gauge("mqchat_push_queue_depth", "Push notifications waiting to be sent.")
        .set(static_cast<double>(counts.int64(0, 3)));
    reg.single_gauge("mqchat_desk_mail_queue_depth", "Desk e-mails (offline messages, transcripts) waiting to be sent.")
        .set(static_cast<double>(counts.int64(0, 4)));

    // Support desks: a label per desk (operators create desks; there are few).
    auto& by_status = reg.gauges("mqchat_desk_conversations", "Support conversations by desk and status.",
                                 {"desk", "status"}, 1024);
    const auto statuses = db.exec(
        "SELECT d.name, st.status, count(s.conv_id)"
        "  FROM desks d CROSS JOIN (VALUES ('bot'), ('queued'), ('assigned'), ('closed')) st(status)"
        "  LEFT JOIN support_conversations s ON s.desk_id = d.id AND s.status = st.status"
        " GROUP BY d.name, st.status ORDER BY 1, 2 LIMIT 1000");
    for (int i = 0; i < statuses.rows(); ++i)
        by_status.with({statuses.str(i, 0), statuses.str(i, 1)}).set(static_cast<double>(statuses.int64(i, 2)));
    auto& handoffs = reg.gauges("mqchat_assistant_handoffs",
                                "Conversations the assistant handed to a person, by desk and the rule that fired.",
                                {"desk", "rule"}, 1024);
    const auto rules = db.exec(
        "SELECT d.name, e.rule, count(*) FROM desk_escalations e JOIN desks d ON d.id = e.desk_id"
        " GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1000");
    for (int i = 0; i < rules.rows(); ++i)
        handoffs.with({rules.str(i, 0), rules.str(i, 1)}).set(static_cast<double>(rules.int64(i, 2)));
    auto& resolved = reg.gauges("mqchat_assistant_resolved",
                                "Closed conversations the assistant handled alone (no handoff), by desk.", {"desk"},
                                1024);
    const auto alone = db.exec(
        "SELECT d.name, count(s.conv_id) FILTER (WHERE s.bot_since IS NOT NULL AND s.status = 'closed'"
        "         AND NOT EXISTS (SELECT 1 FROM desk_escalations x WHERE x.conv_id = s.conv_id))"
        "  FROM desks d LEFT JOIN support_conversations s ON s.desk_id = d.id GROUP BY 1 ORDER BY 1 LIMIT 1000");
    for (int i = 0; i < alone.rows(); ++i) resolved.with({alone.str(i, 0)}).set(static_cast<double>(alone.int64(i, 1)));
}

} // namespace mqchat::bridge
