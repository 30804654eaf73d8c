#pragma once
/// Automatic assignment for support desks (docs/desks.md, "Routing"): a
/// thread of its own, with its own database connection, that a few times a
/// second (and at once when poked) assigns the waiting conversations of desks with routing on
/// (mqchat_desk_route, oldest first, to online agents under capacity) and
/// tells the visitor, the agent and the desk's other agents on their inboxes.
/// Each round it also tells every waiting visitor (the first
/// `positions_told_max` of each desk's queue) a new place in the queue, and
/// the desk's average wait when that moved by more than a tenth: one thread
/// tells them all, so a visitor never hears an older place after a newer one.
/// Nothing on the store-and-deliver loop waits for it; a database that is
/// away only delays assignments.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/pg.hpp"
#include "common/topics.hpp"
#include "link/mqtt_link.hpp"

namespace mqchat::bridge {

class desk_router {
public:
    desk_router(std::string conninfo, mqtt_link& link, const topic_names& topics,
                std::chrono::milliseconds interval = std::chrono::milliseconds(250));
    ~desk_router();
    desk_router(const desk_router&) = delete;
    desk_router& operator=(const desk_router&) = delete;

    /// Routes now instead of at the next round (a conversation was queued,
    /// or an agent's capacity freed). Never waits.
    void poke();

    /// How far back in a desk's queue visitors hear their place as it
    /// changes; those further back learn it when they ask (desk.visit).
    static constexpr int positions_told_max = 100;

private:
    /// What a waiting visitor was last told.
    struct told_place {
        std::int64_t position = 0;
        std::int64_t average_wait_ms = -1; ///< -1: none (no assignment at the desk in the last hour)
    };

    void run();
    void tell_positions(pg::connection& db);
    /// Whether the average wait moved enough to tell again.
    static bool average_moved(std::int64_t told_ms, std::int64_t now_ms);

    std::string conninfo_;
    mqtt_link& link_;
    const topic_names& topics_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool poked_ = false;
    std::unordered_map<std::int64_t, told_place> told_; ///< waiting conversation → what its visitor heard
    std::thread thread_;
};

} // namespace mqchat::bridge
