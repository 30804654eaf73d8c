// Requests of support desks (docs/desks.md; docs/protocol.md, "Support
// desks"): a visitor starts a support conversation at a desk, the desk's
// agents see the queue, one claims it (the first claim wins), either side
// closes it, the visitor reopens or rates it; agents transfer it and keep
// internal notes on it. Every step is one transaction that locks the support
// conversation's row, so two agents racing for one conversation, or a claim
// racing a close, end one way.

#include <optional>
#include <set>

#include "common/json.hpp"
#include "common/names.hpp"
#include "pg_requests.hpp"
#include "desk_helpers.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;
using namespace desk_helpers;

namespace {

constexpr int max_queue_page = 200;
constexpr Json::ArrayIndex max_detail_fields = 20;
constexpr std::size_t max_detail_key = 64, max_detail_value = 1000, max_rating_comment = 2000, max_note_length = 4000;
constexpr std::size_t max_visitor_name = 100, max_offline_body = 4000;
constexpr std::int64_t max_offline_per_hour = 3, max_transcripts_per_conv = 3;

/// The pre-chat answers: an object of at most 20 short strings.
bool details_param(const Json::Value& params, Json::Value& out, std::string& error) {
    out = Json::Value(Json::objectValue);
    if (!params.isMember("details")) return true;
    const Json::Value& d = params["details"];
    if (!d.isObject() || d.size() > max_detail_fields) {
        error = "details must be an object of at most 20 fields";
        return false;
    }
    for (const auto& key : d.getMemberNames()) {
        if (!short_text(Json::Value(key), max_detail_key) || !d[key].isString() ||
            !short_text(d[key], max_detail_value)) {
            error = "details: each field a name of 1 to 64 bytes and a text of 1 to 1000 bytes";
            return false;
        }
        out[key] = d[key];
    }
    return true;
}

} // namespace

method_outcome pg_requests::desk_start(pg::connection& db, const rpc::request& r, std::int64_t me) {
    if (r.guest) return fail(error_code::forbidden, "a guest's conversation is the one its token names");
    std::string desk_name, why;
    Json::Value details;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    if (!details_param(r.params, details, why)) return bad(why);
    return pg::transaction(db, [&]() -> method_outcome {
        const auto desk = db.exec("SELECT d.id, d.title, d.prechat_fields::text, d.routing <> 'manual',"
                                  "       coalesce(a.bot_id, 0), coalesce(b.name, '')"
                                  "  FROM desks d LEFT JOIN desk_assistants a ON a.desk_id = d.id"
                                  "  LEFT JOIN users b ON b.id = a.bot_id AND NOT b.banned WHERE d.name = $1",
                                  {desk_name});
        if (desk.rows() == 0) return fail(error_code::not_found, "no desk named " + desk_name);
        const std::string desk_id = std::to_string(desk.int64(0, 0));
        // One open conversation per visitor and desk: asking again (a reload,
        // a second tab, another device) finds it.
        db.exec("SELECT pg_advisory_xact_lock(hashtextextended('mqchat desk start ' || $1 || ' ' || $2, 0))",
                {desk_id, std::to_string(me)});
        const auto open = db.exec("SELECT s.conv_id, s.status, coalesce(a.name, '') FROM support_conversations s"
                                  "  LEFT JOIN users a ON a.id = s.assignee_id"
                                  " WHERE s.desk_id = $1 AND s.visitor_id = $2 AND s.status <> 'closed'"
                                  " ORDER BY s.conv_id DESC LIMIT 1",
                                  {desk_id, std::to_string(me)});
        method_outcome o;
        o.result["desk"] = desk_name;
        if (open.rows() == 1) {
            const std::int64_t conv = open.int64(0, 0);
            o.result["conv"] = Json::Int64(conv);
            o.result["status"] = open.str(0, 1);
            o.result["created"] = false;
            if (open.str(0, 1) == "queued") o.result["position"] = Json::Int64(queue_position(db, conv));
            if (!open.text(0, 2).empty()) o.result["agent"] = open.str(0, 2);
            return o;
        }
        // A new one: the desk's pre-chat form must be answered (a resume need not).
        Json::Value form;
        std::string form_error;
        if (json::parse(desk.text(0, 2), form, form_error) && form.isArray())
            for (const auto& field : form)
                if (field["required"].asBool() && !details.isMember(field["name"].asString()))
                    return bad("details: the desk's pre-chat form requires " + field["name"].asString());
        const std::int64_t conv =
            db.exec("INSERT INTO conversations (title, kind) VALUES ($1, 'support') RETURNING id", {desk.str(0, 1)})
                .int64(0, 0);
        const std::string cid = std::to_string(conv);
        db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2)", {cid, std::to_string(me)});
        if (!desk.text(0, 5).empty()) {
            // The desk's assistant answers first (docs/assistant.md): it is
            // the conversation's other member until it hands over.
            const std::string bot = std::to_string(desk.int64(0, 4));
            db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2)", {cid, bot});
            db.exec("INSERT INTO support_conversations (conv_id, desk_id, visitor_id, details, status, assignee_id, bot_since)"
                    " VALUES ($1, $2, $3, $4::jsonb, 'bot', $5, now())",
                    {cid, desk_id, std::to_string(me), json::write(details), bot});
            o.result["conv"] = Json::Int64(conv);
            o.result["status"] = "bot";
            o.result["created"] = true;
            o.result["agent"] = desk.str(0, 5);
            Json::Value n = notice_body("desk.bot", conv, desk_name);
            n["visitor"] = r.caller;
            n["details"] = details;
            n["seq"] = 0; // it answers everything from the first message
            o.notices.push_back(notice(desk.str(0, 5), n));
            return o;
        }
        // With automatic routing the router announces it, if it cannot
        // assign it at once (schema/019_desk_announce.sql).
        const bool routed = desk.boolean(0, 3);
        db.exec("INSERT INTO support_conversations (conv_id, desk_id, visitor_id, details, announced)"
                " VALUES ($1, $2, $3, $4::jsonb, $5)",
                {cid, desk_id, std::to_string(me), json::write(details), std::string(routed ? "false" : "true")});
        const std::int64_t position = queue_position(db, conv);
        o.result["conv"] = Json::Int64(conv);
        o.result["status"] = "queued";
        o.result["created"] = true;
        o.result["position"] = Json::Int64(position);
        if (routed) return o;
        Json::Value n = notice_body("desk.queued", conv, desk_name);
        n["visitor"] = r.caller;
        n["position"] = Json::Int64(position);
        for (const auto& who : desk_watchers(db, desk.int64(0, 0), me)) o.notices.push_back(notice(who, n));
        return o;
    });
}

method_outcome pg_requests::desk_queue(pg::connection& db, const rpc::request& r, std::int64_t me) {
    int limit = 0;
    std::string error, desk_name;
    if (!page_size(r.params, 50, max_queue_page, limit, error)) return bad(error);
    if (r.params.isMember("desk") && !desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    // The desks the caller works at (a supervisor: all), oldest waiting first.
    const auto rows = db.exec(
        "SELECT s.conv_id, d.name, coalesce(v.name, ''), s.details::text,"
        "       (extract(epoch FROM now() - s.queued_at) * 1000)::bigint,"
        "       row_number() OVER (PARTITION BY s.desk_id ORDER BY s.queued_at, s.conv_id), s.handoff::text"
        "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id LEFT JOIN users v ON v.id = s.visitor_id"
        " WHERE s.status = 'queued' AND ($2 = '' OR d.name = $2)"
        "   AND ((SELECT desk_supervisor FROM users WHERE id = $1)"
        "        OR EXISTS (SELECT 1 FROM desk_agents a WHERE a.desk_id = s.desk_id AND a.user_id = $1))"
        " ORDER BY s.queued_at, s.conv_id LIMIT $3",
        {std::to_string(me), desk_name, std::to_string(limit + 1)});
    if (rows.rows() == 0 &&
        db.exec("SELECT 1 FROM users u WHERE u.id = $1 AND (u.desk_supervisor OR EXISTS"
                " (SELECT 1 FROM desk_agents a JOIN desks d ON d.id = a.desk_id WHERE a.user_id = u.id AND ($2 = '' OR d.name = $2)))",
                {std::to_string(me), desk_name})
                .rows() == 0)
        return fail(error_code::forbidden, desk_name.empty() ? "you are not an agent of any desk"
                                                             : "you are not an agent of desk " + desk_name);
    Json::Value queue(Json::arrayValue);
    for (int i = 0; i < rows.rows() && i < limit; ++i) {
        Json::Value q(Json::objectValue);
        q["conv"] = Json::Int64(rows.int64(i, 0));
        q["desk"] = rows.str(i, 1);
        q["visitor"] = rows.str(i, 2);
        q["details"] = stored_details(rows.text(i, 3));
        q["waiting_ms"] = Json::Int64(rows.int64(i, 4));
        q["position"] = Json::Int64(rows.int64(i, 5));
        if (!rows.is_null(i, 6)) q["handoff"] = stored_details(rows.text(i, 6));
        queue.append(std::move(q));
    }
    Json::Value res(Json::objectValue);
    res["queue"] = std::move(queue);
    res["more"] = rows.rows() > limit;
    return ok(std::move(res));
}

method_outcome pg_requests::desk_claim(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const agent_standing a = s.found ? standing(db, s.desk, me) : agent_standing{};
        // Someone who is not an agent there learns nothing about it.
        if (!s.found || !a.may_act())
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " at your desks");
        if (s.status == "assigned")
            return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is taken by " + s.assignee);
        if (s.status != "queued" && s.status != "bot")
            return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is " + s.status);
        if (auto full = over_capacity(db, s, a, me)) return *full;
        const std::string cid = std::to_string(conv);
        method_outcome o;
        if (s.status == "bot") {
            // An agent takes over from the assistant, which leaves it.
            db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
            db.exec("INSERT INTO desk_escalations (conv_id, desk_id, rule) VALUES ($1, $2, 'agent')",
                    {cid, std::to_string(s.desk)});
            db.exec("UPDATE support_conversations SET handoff = jsonb_build_object('rule', 'agent', 'by', $2::text,"
                    " 'at', (extract(epoch FROM now()) * 1000)::bigint) WHERE conv_id = $1",
                    {cid, r.caller});
            Json::Value gone = notice_body("desk.handed_over", conv, s.desk_name);
            gone["rule"] = "agent";
            gone["by"] = r.caller;
            o.notices.push_back(notice(s.assignee, gone));
        }
        db.exec("UPDATE support_conversations SET status = 'assigned', assignee_id = $2, assigned_at = now() WHERE conv_id = $1",
                {cid, std::to_string(me)});
        db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", {cid, std::to_string(me)});
        o.result["conv"] = Json::Int64(conv);
        o.result["desk"] = s.desk_name;
        o.result["status"] = "assigned";
        o.result["visitor"] = s.visitor;
        Json::Value to_visitor = notice_body("desk.assigned", conv, s.desk_name);
        to_visitor["agent"] = r.caller;
        if (!s.visitor.empty()) o.notices.push_back(notice(s.visitor, to_visitor));
        Json::Value taken = notice_body("desk.taken", conv, s.desk_name);
        taken["by"] = r.caller;
        for (const auto& who : desk_watchers(db, s.desk, me)) o.notices.push_back(notice(who, taken));
        return o;
    });
}

method_outcome pg_requests::desk_mine(pg::connection& db, const rpc::request&, std::int64_t me) {
    const auto rows = db.exec("SELECT s.conv_id, d.name, coalesce(v.name, ''), s.details::text,"
                              "       (extract(epoch FROM coalesce(s.assigned_at, s.bot_since, s.queued_at)) * 1000)::bigint,"
                              // Your last message in it, or the last before it became yours.
                              "       coalesce((SELECT m.seq FROM messages m WHERE m.conv_id = s.conv_id"
                              "                    AND (m.sender_id = $1 OR m.ts < (extract(epoch FROM"
                              "                         coalesce(s.assigned_at, s.bot_since, s.queued_at)) * 1000)::bigint)"
                              "                  ORDER BY m.seq DESC LIMIT 1), 0)"
                              "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id"
                              "  LEFT JOIN users v ON v.id = s.visitor_id"
                              " WHERE s.assignee_id = $1 AND s.status IN ('assigned', 'bot')"
                              " ORDER BY s.assigned_at, s.conv_id",
                              {std::to_string(me)});
    Json::Value mine(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value c(Json::objectValue);
        c["conv"] = Json::Int64(rows.int64(i, 0));
        c["desk"] = rows.str(i, 1);
        c["visitor"] = rows.str(i, 2);
        c["details"] = stored_details(rows.text(i, 3));
        c["assigned_at"] = Json::Int64(rows.int64(i, 4));
        c["unanswered_after"] = Json::Int64(rows.int64(i, 5));
        mine.append(std::move(c));
    }
    Json::Value res(Json::objectValue);
    res["conversations"] = std::move(mine);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_close(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const bool visitor = s.found && s.visitor_id == me;
        const bool assignee = s.found && s.assignee_id == me;
        const bool supervisor = s.found && !visitor && !assignee && standing(db, s.desk, me).supervisor;
        if (!visitor && !assignee && !supervisor)
            return fail(error_code::not_found, "no open support conversation " + std::to_string(conv) + " of yours");
        if (s.status == "closed") return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is closed");
        db.exec("UPDATE support_conversations SET status = 'closed', closed_at = now() WHERE conv_id = $1",
                {std::to_string(conv)});
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["status"] = "closed";
        Json::Value n = notice_body("desk.closed", conv, s.desk_name);
        n["by"] = r.caller;
        std::set<std::string> told;
        // The assistant too, while it has it: it stops.
        for (const auto& who : {s.visitor, s.status == "assigned" || s.status == "bot" ? s.assignee : std::string()})
            if (!who.empty() && who != r.caller && told.insert(who).second) o.notices.push_back(notice(who, n));
        // A queued one leaves the agents' queue.
        if (s.status == "queued")
            for (const auto& who : desk_watchers(db, s.desk, me))
                if (told.insert(who).second) o.notices.push_back(notice(who, n));
        return o;
    });
}

method_outcome pg_requests::desk_reopen(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const bool visitor = s.found && s.visitor_id == me;
        const agent_standing a = s.found && !visitor ? standing(db, s.desk, me) : agent_standing{};
        if (!visitor && !a.may_act())
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " of yours");
        if (s.status != "closed") return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is open");
        const std::string cid = std::to_string(conv);
        // One open conversation per visitor and desk, under desk.start's lock.
        db.exec("SELECT pg_advisory_xact_lock(hashtextextended('mqchat desk start ' || $1 || ' ' || $2, 0))",
                {std::to_string(s.desk), std::to_string(s.visitor_id)});
        const auto other = db.exec("SELECT conv_id FROM support_conversations WHERE desk_id = $1 AND visitor_id = $2"
                                   " AND status <> 'closed' AND conv_id <> $3 LIMIT 1",
                                   {std::to_string(s.desk), std::to_string(s.visitor_id), cid});
        if (other.rows() == 1)
            return fail(error_code::conflict, "the visitor has conversation " + other.str(0, 0) + " open at " + s.desk_name);
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        if (!visitor) {
            // An agent of the desk (or a supervisor) reopens it and takes it
            // at once, within its capacity; the visitor is told who has it,
            // as after a claim. Whoever had it before leaves it.
            if (auto full = over_capacity(db, s, a, me)) return *full;
            if (s.assignee_id != 0 && s.assignee_id != me)
                db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
            db.exec("UPDATE support_conversations SET status = 'assigned', assignee_id = $2, assigned_at = now(),"
                    " closed_at = NULL, rating = NULL, rating_comment = NULL WHERE conv_id = $1",
                    {cid, std::to_string(me)});
            db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", {cid, std::to_string(me)});
            o.result["status"] = "assigned";
            o.result["agent"] = r.caller;
            Json::Value n = notice_body("desk.assigned", conv, s.desk_name);
            n["agent"] = r.caller;
            n["reopened"] = true;
            if (!s.visitor.empty()) o.notices.push_back(notice(s.visitor, n));
            return o;
        }
        // Back to the end of the queue, for whoever is free; the agent who
        // had it leaves it (whoever claims it next joins).
        if (s.assignee_id != 0)
            db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
        db.exec("UPDATE support_conversations SET status = 'queued', assignee_id = NULL, assigned_at = NULL,"
                " closed_at = NULL, queued_at = now(), rating = NULL, rating_comment = NULL, announced = true"
                " WHERE conv_id = $1",
                {cid});
        const std::int64_t position = queue_position(db, conv);
        o.result["status"] = "queued";
        o.result["position"] = Json::Int64(position);
        Json::Value n = notice_body("desk.queued", conv, s.desk_name);
        n["visitor"] = r.caller;
        n["position"] = Json::Int64(position);
        for (const auto& who : desk_watchers(db, s.desk, me)) o.notices.push_back(notice(who, n));
        return o;
    });
}

method_outcome pg_requests::desk_rate(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    const Json::Value& rating = r.params["rating"];
    if (!rating.isIntegral() || rating.asInt64() < 1 || rating.asInt64() > 5) return bad("rating must be 1 to 5");
    std::string comment;
    if (r.params.isMember("comment")) {
        if (!short_text(r.params["comment"], max_rating_comment)) return bad("comment must be a text of 1 to 2000 bytes");
        comment = r.params["comment"].asString();
    }
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        if (!s.found || s.visitor_id != me)
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " of yours");
        if (s.status != "closed") return fail(error_code::conflict, "a conversation is rated once it is closed");
        if (s.rated) return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is rated already");
        db.exec("UPDATE support_conversations SET rating = $2, rating_comment = nullif($3, '') WHERE conv_id = $1",
                {std::to_string(conv), std::to_string(rating.asInt64()), comment});
        Json::Value res(Json::objectValue);
        res["conv"] = Json::Int64(conv);
        res["rating"] = Json::Int64(rating.asInt64());
        return ok(std::move(res));
    });
}

method_outcome pg_requests::desk_transfer(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    std::string to_agent, to_desk, why;
    if (r.params.isMember("to") && !user_name_param(r.params, "to", to_agent, why)) return bad("to must be an agent's name");
    if (r.params.isMember("desk") && !desk_name_param(r.params, to_desk)) return bad("desk must be a desk name");
    if (to_agent.empty() == to_desk.empty()) return bad("give either to (an agent of this desk) or desk (another desk's queue)");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const bool assignee = s.found && s.status == "assigned" && s.assignee_id == me;
        const bool supervisor = s.found && !assignee && standing(db, s.desk, me).supervisor;
        if (!assignee && !supervisor)
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " assigned to you");
        if (s.status == "closed") return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is closed");
        if (s.status == "bot")
            return fail(error_code::conflict, "conversation " + std::to_string(conv) +
                                                  " is with the assistant: claim it first (desk.claim)");
        const std::string cid = std::to_string(conv);
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        std::set<std::string> told;
        auto tell = [&](const std::string& who, const Json::Value& n) {
            if (!who.empty() && who != r.caller && told.insert(who).second) o.notices.push_back(notice(who, n));
        };
        // The agent who had it leaves the conversation: it no longer receives its messages.
        auto release_previous = [&] {
            if (s.assignee_id != 0)
                db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
        };
        if (!to_agent.empty()) {
            const auto target = db.exec("SELECT u.id, a.capacity FROM users u JOIN desk_agents a ON a.user_id = u.id"
                                        " WHERE u.name = $1 AND a.desk_id = $2 AND NOT u.banned FOR UPDATE OF a",
                                        {to_agent, std::to_string(s.desk)});
            if (target.rows() == 0) return fail(error_code::not_found, to_agent + " is not an agent of " + s.desk_name);
            const std::int64_t target_id = target.int64(0, 0);
            if (target_id == s.assignee_id) return bad(to_agent + " has it already");
            const std::int64_t held =
                db.exec("SELECT count(*) FROM support_conversations WHERE assignee_id = $1 AND desk_id = $2 AND status = 'assigned'",
                        {std::to_string(target_id), std::to_string(s.desk)})
                    .int64(0, 0);
            if (held >= target.int64(0, 1))
                return fail(error_code::forbidden, to_agent + " is at capacity at " + s.desk_name);
            release_previous();
            db.exec("UPDATE support_conversations SET status = 'assigned', assignee_id = $2, assigned_at = now() WHERE conv_id = $1",
                    {cid, std::to_string(target_id)});
            db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", {cid, std::to_string(target_id)});
            o.result["status"] = "assigned";
            o.result["agent"] = to_agent;
            Json::Value n = notice_body("desk.assigned", conv, s.desk_name);
            n["agent"] = to_agent;
            n["visitor"] = s.visitor;
            n["by"] = r.caller;
            tell(to_agent, n);
            tell(s.visitor, n);
            Json::Value gone = notice_body("desk.transferred", conv, s.desk_name);
            gone["to"] = to_agent;
            gone["by"] = r.caller;
            tell(s.assignee, gone);
            return o;
        }
        const auto desk = db.exec("SELECT id FROM desks WHERE name = $1", {to_desk});
        if (desk.rows() == 0) return fail(error_code::not_found, "no desk named " + to_desk);
        if (desk.int64(0, 0) == s.desk) return bad("it is at " + to_desk + " already");
        release_previous();
        // It keeps its place by age: it has waited already.
        db.exec("UPDATE support_conversations SET desk_id = $2, status = 'queued', assignee_id = NULL, assigned_at = NULL,"
                " announced = true WHERE conv_id = $1",
                {cid, std::to_string(desk.int64(0, 0))});
        const std::int64_t position = queue_position(db, conv);
        o.result["status"] = "queued";
        o.result["desk"] = to_desk;
        o.result["position"] = Json::Int64(position);
        Json::Value to_visitor = notice_body("desk.queued", conv, to_desk);
        to_visitor["position"] = Json::Int64(position);
        tell(s.visitor, to_visitor);
        Json::Value gone = notice_body("desk.transferred", conv, s.desk_name);
        gone["desk"] = to_desk;
        gone["by"] = r.caller;
        tell(s.assignee, gone);
        Json::Value queued = notice_body("desk.queued", conv, to_desk);
        queued["visitor"] = s.visitor;
        queued["position"] = Json::Int64(position);
        for (const auto& who : desk_watchers(db, desk.int64(0, 0), me)) tell(who, queued);
        return o;
    });
}

method_outcome pg_requests::desk_note(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    if (!short_text(r.params["body"], max_note_length)) return bad("body must be a text of 1 to 4000 bytes");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        if (!s.found || !standing(db, s.desk, me).may_act())
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " at your desks");
        const auto row = db.exec("INSERT INTO support_notes (conv_id, author_id, body) VALUES ($1, $2, $3)"
                                 " RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint",
                                 {std::to_string(conv), std::to_string(me), r.params["body"].asString()});
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["note"] = Json::Int64(row.int64(0, 0));
        o.result["ts"] = Json::Int64(row.int64(0, 1));
        // The assignee hears of it (the visitor never does).
        if (s.status == "assigned" && s.assignee_id != me) {
            Json::Value n = notice_body("desk.note", conv, s.desk_name);
            n["note"] = Json::Int64(row.int64(0, 0));
            n["by"] = r.caller;
            n["body"] = r.params["body"].asString();
            o.notices.push_back(notice(s.assignee, n));
        }
        return o;
    });
}

method_outcome pg_requests::desk_notes(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    const auto desk = db.exec("SELECT desk_id FROM support_conversations WHERE conv_id = $1", {std::to_string(conv)});
    if (desk.rows() == 0 || !standing(db, desk.int64(0, 0), me).may_act())
        return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " at your desks");
    const auto rows = db.exec("SELECT n.id, coalesce(u.name, ''), n.body, (extract(epoch FROM n.created_at) * 1000)::bigint"
                              "  FROM support_notes n LEFT JOIN users u ON u.id = n.author_id"
                              " WHERE n.conv_id = $1 ORDER BY n.id LIMIT 500",
                              {std::to_string(conv)});
    Json::Value notes(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value n(Json::objectValue);
        n["note"] = Json::Int64(rows.int64(i, 0));
        n["by"] = rows.str(i, 1);
        n["body"] = rows.str(i, 2);
        n["ts"] = Json::Int64(rows.int64(i, 3));
        notes.append(std::move(n));
    }
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(conv);
    res["notes"] = std::move(notes);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_info(pg::connection& db, const rpc::request& r, std::int64_t) {
    std::string desk_name;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    const auto row = desk_overview(db, desk_name);
    if (row.rows() == 0) return fail(error_code::not_found, "no desk named " + desk_name);
    Json::Value res = desk_overview_row(row, 0);
    res["attachments"] = attachments_of(row, 0);
    return ok(std::move(res));
}

Json::Value pg_requests::attachments_of(const pg::result& row, int i) const {
    if (media_.base_url.empty() || media_.url_secret.empty()) return Json::Value();
    Json::Value a(Json::objectValue);
    a["max_bytes"] = Json::Int64(row.is_null(i, 10) ? media_.max_bytes : row.int64(i, 10));
    Json::Value types(Json::arrayValue);
    if (row.is_null(i, 11)) {
        for (const auto& t : media_.types) types.append(t);
    } else {
        for (std::string_view list = row.text(i, 11); !list.empty();) {
            const auto comma = list.find(',');
            types.append(std::string(list.substr(0, comma)));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
    }
    a["types"] = std::move(types);
    return a;
}

method_outcome pg_requests::desk_list(pg::connection& db, const rpc::request&, std::int64_t me) {
    // Every desk, for a console's transfer to another desk: agents of any
    // desk and supervisors only (a visitor has no use for the list).
    if (db.exec("SELECT 1 FROM users u WHERE u.id = $1 AND (u.desk_supervisor OR"
                " EXISTS (SELECT 1 FROM desk_agents a WHERE a.user_id = u.id))",
                {std::to_string(me)})
            .rows() == 0)
        return fail(error_code::forbidden, "you are not an agent of any desk");
    const auto rows = desk_overview(db, "");
    Json::Value desks(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value d = desk_overview_row(rows, i);
        d["attachments"] = attachments_of(rows, i);
        desks.append(std::move(d));
    }
    Json::Value res(Json::objectValue);
    res["desks"] = std::move(desks);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_agents(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string desk_name;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    // Who a conversation can go to: the desk's agents, online or not, with
    // their load (for a console's transfer list). Agents of the desk and supervisors only.
    const auto desk = db.exec("SELECT id FROM desks WHERE name = $1", {desk_name});
    if (desk.rows() == 0) return fail(error_code::not_found, "no desk named " + desk_name);
    if (!standing(db, desk.int64(0, 0), me).may_act())
        return fail(error_code::forbidden, "you are not an agent of desk " + desk_name);
    const auto rows = db.exec(
        "SELECT u.name, a.capacity, coalesce(p.devices > 0 AND p.state = 'online', false),"
        "  (SELECT count(*) FROM support_conversations s WHERE s.desk_id = a.desk_id AND s.assignee_id = u.id"
        "     AND s.status = 'assigned')"
        "  FROM desk_agents a JOIN users u ON u.id = a.user_id LEFT JOIN presence p ON p.user_id = u.id"
        " WHERE a.desk_id = $1 AND NOT u.banned ORDER BY u.name",
        {std::to_string(desk.int64(0, 0))});
    Json::Value agents(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value a(Json::objectValue);
        a["agent"] = rows.str(i, 0);
        a["capacity"] = Json::Int64(rows.int64(i, 1));
        a["online"] = rows.boolean(i, 2);
        a["assigned"] = Json::Int64(rows.int64(i, 3));
        agents.append(std::move(a));
    }
    Json::Value res(Json::objectValue);
    res["desk"] = desk_name;
    res["agents"] = std::move(agents);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_canned(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string desk_name;
    if (r.params.isMember("desk") && !desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    const auto rows = db.exec("SELECT d.name, c.shortcut, c.body FROM desk_canned_responses c JOIN desks d ON d.id = c.desk_id"
                              " WHERE ($2 = '' OR d.name = $2) AND ((SELECT desk_supervisor FROM users WHERE id = $1)"
                              "   OR EXISTS (SELECT 1 FROM desk_agents a WHERE a.desk_id = c.desk_id AND a.user_id = $1))"
                              " ORDER BY d.name, c.shortcut LIMIT 1000",
                              {std::to_string(me), desk_name});
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value c(Json::objectValue);
        c["desk"] = rows.str(i, 0);
        c["shortcut"] = rows.str(i, 1);
        c["body"] = rows.str(i, 2);
        list.append(std::move(c));
    }
    Json::Value res(Json::objectValue);
    res["canned"] = std::move(list);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_offline(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string desk_name;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    const Json::Value& email = r.params["email"];
    if (!email.isString() || !valid_email_address(email.asString())) return bad("email must be an e-mail address");
    std::string name = r.caller;
    if (r.params.isMember("name")) {
        if (!one_line_text(r.params["name"], max_visitor_name)) return bad("name must be one line of 1 to 100 bytes");
        name = r.params["name"].asString();
    }
    if (!short_text(r.params["body"], max_offline_body)) return bad("body must be a text of 1 to 4000 bytes");
    return pg::transaction(db, [&]() -> method_outcome {
        const auto desk = db.exec("SELECT id, title, email FROM desks WHERE name = $1", {desk_name});
        if (desk.rows() == 0 || desk.is_null(0, 2))
            return fail(error_code::not_found, "desk " + desk_name + " takes no offline messages");
        if (db.exec("SELECT count(*) FROM desk_mail_sent_log WHERE requester_id = $1 AND kind = 'offline'"
                    " AND at > now() - interval '1 hour'",
                    {std::to_string(me)})
                .int64(0, 0) >= max_offline_per_hour)
            return fail(error_code::rate_limited, "at most " + std::to_string(max_offline_per_hour) +
                                                      " offline messages an hour; try again later");
        db.exec("INSERT INTO desk_mail (desk_id, kind, requester_id, recipient, reply_to, subject, body)"
                " VALUES ($1, 'offline', $2, $3, $4, $5, $6)",
                {desk.str(0, 0), std::to_string(me), desk.str(0, 2), email.asString(),
                 "Offline message from " + name + " (" + desk.str(0, 1) + ")",
                 "From: " + name + " <" + email.asString() + ">, user " + r.caller + "\nDesk: " + desk.str(0, 1) +
                     "\n\n" + r.params["body"].asString() + "\n"});
        db.exec("INSERT INTO desk_mail_sent_log (requester_id, kind) VALUES ($1, 'offline')", {std::to_string(me)});
        Json::Value res(Json::objectValue);
        res["desk"] = desk_name;
        res["queued"] = true;
        return ok(std::move(res));
    });
}

method_outcome pg_requests::desk_transcript(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    if (r.params.isMember("email") && (!r.params["email"].isString() || !valid_email_address(r.params["email"].asString())))
        return bad("email must be an e-mail address");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        if (!s.found || s.visitor_id != me)
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " of yours");
        if (s.status != "closed") return fail(error_code::conflict, "a transcript is sent once the conversation is closed");
        std::string to = r.params.isMember("email") ? r.params["email"].asString() : "";
        if (to.empty()) {
            const auto mine = db.exec("SELECT coalesce(email, '') FROM users WHERE id = $1", {std::to_string(me)});
            to = mine.rows() ? mine.str(0, 0) : "";
        }
        if (to.empty()) return bad("give email: you have no address set (email.set)");
        if (db.exec("SELECT count(*) FROM desk_mail_sent_log WHERE conv_id = $1 AND kind = 'transcript'",
                    {std::to_string(conv)})
                .int64(0, 0) >= max_transcripts_per_conv)
            return fail(error_code::rate_limited, "at most " + std::to_string(max_transcripts_per_conv) +
                                                      " transcripts of one conversation");
        // The conversation as history shows it: current texts, no events, no deleted ones.
        const auto text = db.exec(
            "SELECT d.title, coalesce(string_agg('[' || to_char(to_timestamp(m.ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
            "         || ' UTC] ' || coalesce(u.name, '(deleted user)') || ': ' || m.body, E'\n' ORDER BY m.seq), '')"
            "  FROM desks d LEFT JOIN LATERAL (SELECT * FROM messages x WHERE x.conv_id = $1 AND NOT x.deleted"
            "         AND (x.type IS NULL OR x.type NOT IN ('edit', 'delete', 'reaction', 'unreaction'))"
            "       ORDER BY x.seq LIMIT 5000) m ON true"
            "  LEFT JOIN users u ON u.id = m.sender_id"
            " WHERE d.id = $2 GROUP BY d.title",
            {std::to_string(conv), std::to_string(s.desk)});
        const std::string title = text.str(0, 0);
        db.exec("INSERT INTO desk_mail (desk_id, kind, requester_id, conv_id, recipient, subject, body)"
                " VALUES ($1, 'transcript', $2, $3, $4, $5, $6)",
                {std::to_string(s.desk), std::to_string(me), std::to_string(conv), to,
                 "Your conversation with " + title,
                 "Your conversation with " + title + " (conversation " + std::to_string(conv) + "):\n\n" +
                     text.str(0, 1) + "\n"});
        db.exec("INSERT INTO desk_mail_sent_log (requester_id, kind, conv_id) VALUES ($1, 'transcript', $2)",
                {std::to_string(me), std::to_string(conv)});
        Json::Value res(Json::objectValue);
        res["conv"] = Json::Int64(conv);
        res["queued"] = true;
        return ok(std::move(res));
    });
}

method_outcome pg_requests::desk_visitor(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    const auto row = db.exec("SELECT s.desk_id, coalesce(v.name, ''), coalesce(s.visitor_id, 0), s.details::text, s.status,"
                             "       (extract(epoch FROM s.queued_at) * 1000)::bigint, s.handoff::text"
                             "  FROM support_conversations s LEFT JOIN users v ON v.id = s.visitor_id WHERE s.conv_id = $1",
                             {std::to_string(conv)});
    if (row.rows() == 0 || !standing(db, row.int64(0, 0), me).may_act())
        return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " at your desks");
    Json::Value res(Json::objectValue);
    res["conv"] = Json::Int64(conv);
    res["visitor"] = row.str(0, 1);
    res["details"] = stored_details(row.text(0, 3));
    res["status"] = row.str(0, 4);
    res["queued_at"] = Json::Int64(row.int64(0, 5));
    // What the assistant handed over with it: the agent reads it first.
    if (!row.is_null(0, 6)) res["handoff"] = stored_details(row.text(0, 6));
    // The same visitor's other support conversations, newest first, at any
    // desk the caller works at (a supervisor: all).
    const auto earlier = db.exec(
        "SELECT s.conv_id, d.name, s.status, (extract(epoch FROM s.queued_at) * 1000)::bigint, s.rating, coalesce(a.name, '')"
        "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id LEFT JOIN users a ON a.id = s.assignee_id"
        " WHERE s.visitor_id = $1 AND s.conv_id <> $2"
        "   AND ((SELECT desk_supervisor FROM users WHERE id = $3)"
        "        OR EXISTS (SELECT 1 FROM desk_agents x WHERE x.desk_id = s.desk_id AND x.user_id = $3))"
        " ORDER BY s.queued_at DESC LIMIT 50",
        {std::to_string(row.int64(0, 2)), std::to_string(conv), std::to_string(me)});
    Json::Value list(Json::arrayValue);
    for (int i = 0; i < earlier.rows(); ++i) {
        Json::Value c(Json::objectValue);
        c["conv"] = Json::Int64(earlier.int64(i, 0));
        c["desk"] = earlier.str(i, 1);
        c["status"] = earlier.str(i, 2);
        c["queued_at"] = Json::Int64(earlier.int64(i, 3));
        if (!earlier.is_null(i, 4)) c["rating"] = Json::Int64(earlier.int64(i, 4));
        if (!earlier.text(i, 5).empty()) c["agent"] = earlier.str(i, 5);
        list.append(std::move(c));
    }
    res["earlier"] = std::move(list);
    return ok(std::move(res));
}

} // namespace mqchat::bridge
