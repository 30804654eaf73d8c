#include "desk_router.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "common/log.hpp"

namespace mqchat::bridge {

desk_router::desk_router(std::string conninfo, mqtt_link& link, const topic_names& topics,
                         std::chrono::milliseconds interval)
    : conninfo_(std::move(conninfo)), link_(link), topics_(topics), interval_(interval), thread_([this] { run(); }) {}

desk_router::~desk_router() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void desk_router::poke() {
    {
        std::lock_guard lock(mutex_);
        poked_ = true;
    }
    wake_.notify_all();
}

void desk_router::run() {
    std::unique_ptr<pg::connection> db;
    bool warned = false;
    while (true) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, interval_, [this] { return stop_ || poked_; });
            if (stop_) return;
            poked_ = false;
        }
        try {
            if (!db) {
                db = std::make_unique<pg::connection>(conninfo_);
                db->exec("SET application_name = 'mqchat-bridge-desks'");
            }
            const auto made = db->exec("SELECT conv_id, desk, coalesce(visitor, ''), agent FROM mqchat_desk_route()");
            // Per desk once a round: its agents and the supervisors, who take an assigned one off their queue.
            std::map<std::string, std::vector<std::string>> watchers;
            auto watchers_of = [&](const std::string& desk) -> const std::vector<std::string>& {
                auto [it, fresh] = watchers.try_emplace(desk);
                if (fresh) {
                    const auto r = db->exec("SELECT u.name FROM users u WHERE NOT u.banned AND (u.desk_supervisor OR EXISTS"
                                            " (SELECT 1 FROM desk_agents a JOIN desks d ON d.id = a.desk_id"
                                            "   WHERE d.name = $1 AND a.user_id = u.id))",
                                            {desk});
                    for (int k = 0; k < r.rows(); ++k) it->second.push_back(r.str(k, 0));
                }
                return it->second;
            };
            // Which of them the desk's agents had heard of (only those are "taken" from their queues).
            std::string ids = "{";
            for (int i = 0; i < made.rows(); ++i) ids.append(i ? "," : "").append(made.text(i, 0));
            ids += "}";
            std::set<std::int64_t> announced;
            if (made.rows() > 0) {
                const auto a = db->exec("SELECT conv_id FROM support_conversations WHERE conv_id = ANY($1::bigint[]) AND announced",
                                        {ids});
                for (int k = 0; k < a.rows(); ++k) announced.insert(a.int64(k, 0));
            }
            for (int i = 0; i < made.rows(); ++i) {
                const std::int64_t conv = made.int64(i, 0);
                const std::string desk = made.str(i, 1), visitor = made.str(i, 2), agent = made.str(i, 3);
                Json::Value n(Json::objectValue);
                n["notice"] = "desk.assigned";
                n["conv"] = Json::Int64(conv);
                n["desk"] = desk;
                n["agent"] = agent;
                n["visitor"] = visitor;
                n["by"] = "routing";
                const std::string body = json::write(n);
                if (!visitor.empty()) link_.publish(topics_.inbox(visitor), body);
                link_.publish(topics_.inbox(agent), body);
                Json::Value taken(Json::objectValue);
                taken["notice"] = "desk.taken";
                taken["conv"] = Json::Int64(conv);
                taken["desk"] = desk;
                taken["by"] = agent;
                const std::string taken_body = json::write(taken);
                if (announced.count(conv))
                    for (const auto& who : watchers_of(desk))
                        if (who != agent) link_.publish(topics_.inbox(who), taken_body);
                log::info() << "desk " << desk << ": conversation " << conv << " assigned to " << agent;
            }
            // New conversations this round could not place: now the agents hear of them.
            const auto waiting = db->exec(
                "UPDATE support_conversations s SET announced = true FROM desks d"
                " WHERE d.id = s.desk_id AND NOT s.announced AND s.status = 'queued'"
                " RETURNING s.conv_id, d.name, d.id, coalesce((SELECT name FROM users WHERE id = s.visitor_id), ''),"
                "   (SELECT count(*) FROM support_conversations q WHERE q.desk_id = s.desk_id AND q.status = 'queued'"
                "      AND (q.queued_at, q.conv_id) <= (s.queued_at, s.conv_id))");
            for (int i = 0; i < waiting.rows(); ++i) {
                Json::Value n(Json::objectValue);
                n["notice"] = "desk.queued";
                n["conv"] = Json::Int64(waiting.int64(i, 0));
                n["desk"] = waiting.str(i, 1);
                n["visitor"] = waiting.str(i, 3);
                n["position"] = Json::Int64(waiting.int64(i, 4));
                const std::string body = json::write(n);
                for (const auto& who : watchers_of(waiting.str(i, 1))) link_.publish(topics_.inbox(who), body);
            }
            tell_positions(*db);
            if (warned) log::info() << "desk routing runs again";
            warned = false;
        } catch (const pg::error& e) {
            if (!warned) log::warning() << "desk routing paused: " << e.what();
            warned = true;
            db.reset();
        }
    }
}

void desk_router::tell_positions(pg::connection& db) {
    // The desk's average wait rides along: with the place, all a widget
    // needs for its estimate, so it never asks again while it waits.
    const auto waiting = db.exec(
        "WITH q AS (SELECT * FROM ("
        "    SELECT s.conv_id, s.desk_id, s.visitor_id,"
        "           row_number() OVER (PARTITION BY s.desk_id ORDER BY s.queued_at, s.conv_id) AS position"
        "      FROM support_conversations s WHERE s.status = 'queued') w WHERE w.position <= $1),"
        "  a AS (SELECT k.desk_id, mqchat_desk_average_wait_ms(k.desk_id) AS ms FROM (SELECT DISTINCT desk_id FROM q) k)"
        "SELECT q.conv_id, d.name, v.name, q.position, a.ms"
        "  FROM q JOIN a ON a.desk_id = q.desk_id JOIN desks d ON d.id = q.desk_id JOIN users v ON v.id = q.visitor_id",
        {std::to_string(positions_told_max)});
    std::unordered_map<std::int64_t, told_place> now;
    now.reserve(static_cast<std::size_t>(waiting.rows()));
    for (int i = 0; i < waiting.rows(); ++i) {
        const std::int64_t conv = waiting.int64(i, 0);
        const told_place place{waiting.int64(i, 3), waiting.is_null(i, 4) ? -1 : waiting.int64(i, 4)};
        const auto told = told_.find(conv);
        const bool same = told != told_.end() && told->second.position == place.position &&
                          !average_moved(told->second.average_wait_ms, place.average_wait_ms);
        // Unchanged: keep what was told (a slow drift of the average adds up
        // against the figure the visitor has, not against the last round's).
        if (same) {
            now.emplace(conv, told->second);
            continue;
        }
        now.emplace(conv, place);
        // Also on first sight: the place desk.start answered may be older
        // than this round's (someone ahead left in between).
        Json::Value n(Json::objectValue);
        n["notice"] = "desk.position";
        n["conv"] = Json::Int64(conv);
        n["desk"] = waiting.str(i, 1);
        n["position"] = Json::Int64(place.position);
        n["average_wait_ms"] = place.average_wait_ms < 0 ? Json::Value() : Json::Value(Json::Int64(place.average_wait_ms));
        link_.publish(topics_.inbox(waiting.str(i, 2)), json::write(n));
    }
    told_ = std::move(now); // those no longer waiting (or past the first hundred) are forgotten
}

bool desk_router::average_moved(std::int64_t told_ms, std::int64_t now_ms) {
    if ((told_ms < 0) != (now_ms < 0)) return true; // appeared (a first assignment) or gone (none for an hour)
    if (told_ms < 0) return false;
    return std::abs(now_ms - told_ms) * 10 > told_ms; // by more than a tenth
}

} // namespace mqchat::bridge
