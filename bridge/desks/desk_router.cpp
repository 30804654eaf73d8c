#include "desk_router.hpp"

#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "common/json.hpp"
#include "common/pg.hpp"

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
                for (const auto& who : watchers_of(desk))
                    if (who != agent) link_.publish(topics_.inbox(who), taken_body);
                std::cout << "mqchat-bridge: desk " << desk << ": conversation " << conv << " assigned to " << agent
                          << std::endl;
            }
            if (warned) std::cout << "mqchat-bridge: desk routing runs again" << std::endl;
            warned = false;
        } catch (const pg::error& e) {
            if (!warned) std::cerr << "mqchat-bridge: desk routing paused: " << e.what() << std::endl;
            warned = true;
            db.reset();
        }
    }
}

} // namespace mqchat::bridge
