#pragma once
/// What the support-desk requests share (requests_desks.cpp,
/// requests_assistant.cpp, requests_visitors.cpp): parameters, the locked
/// support row, the caller's standing at a desk, the queue, notices.
/// Private to the bridge's request handling.

#include <json/json.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg.hpp"
#include "pg_requests.hpp"

namespace mqchat::bridge::desk_helpers {

/// params["desk"]: a valid desk name.
bool desk_name_param(const Json::Value& params, std::string& out);
/// params["conv"]: a conversation id (> 0).
bool conv_id_param(const Json::Value& params, std::int64_t& out);

/// Who hears of a change in a desk's queue: its agents and the supervisors,
/// except `but` (the caller).
std::vector<std::string> desk_watchers(pg::connection& db, std::int64_t desk, std::int64_t but);

/// A support conversation's row, locked for the rest of the transaction.
struct support_row {
    bool found = false;
    std::int64_t desk = 0;
    std::string desk_name, status, visitor, assignee;
    std::int64_t visitor_id = 0, assignee_id = 0;
    bool rated = false;
};

/// The caller's standing at a desk: an agent (with a capacity), a
/// supervisor (every desk, no capacity), or neither.
struct agent_standing {
    bool agent = false, supervisor = false;
    std::int64_t capacity = 0;
    bool may_act() const { return agent || supervisor; }
};

support_row lock_support(pg::connection& db, std::int64_t conv);
agent_standing standing(pg::connection& db, std::int64_t desk, std::int64_t me);

/// An agent (not a supervisor) taking one more conversation at the desk:
/// refused at its capacity. The agent's row is locked like the router locks
/// it (mqchat_desk_route), so the two never take one agent past its capacity.
std::optional<method_outcome> over_capacity(pg::connection& db, const support_row& s, const agent_standing& a,
                                            std::int64_t me);

/// The place in its desk's queue (1 = next) of a queued conversation.
std::int64_t queue_position(pg::connection& db, std::int64_t conv);

/// support_conversations.details (or another stored object) as read back: always an object.
Json::Value stored_details(std::string_view text);

/// {"notice": what, "conv", "desk"}.
Json::Value notice_body(const char* what, std::int64_t conv, const std::string& desk);

/// A desk as a widget sees it, one row per desk (`name` "": every desk):
/// name, title, routing, open by its hours, agents online (a device and
/// status online), waiting, the average wait (mqchat_desk_average_wait_ms:
/// ms, or null), the pre-chat form, the assistant's name (or null), whether it takes
/// offline messages (columns 0–9).
pg::result desk_overview(pg::connection& db, const std::string& name);
/// Row `i` of desk_overview as desk.info's answer.
Json::Value desk_overview_row(const pg::result& row, int i);

} // namespace mqchat::bridge::desk_helpers
