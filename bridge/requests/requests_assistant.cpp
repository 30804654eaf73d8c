// Requests of a desk's assistant (docs/assistant.md): the knowledge base's
// best entries for a visitor's message, the desk's rules, the handoff to a
// person (by the assistant when a rule fires, by the visitor's button) and
// an agent's hand-back. The assistant is a member of a conversation only
// while its status is 'bot': a handoff takes it out in the same
// transaction, so whatever it still sends is refused (silent by construction).

#include <set>

#include "common/json.hpp"
#include "common/names.hpp"
#include "desk_helpers.hpp"
#include "pg_requests.hpp"
#include "request_helpers.hpp"

namespace mqchat::bridge {

using namespace request_helpers;
using namespace desk_helpers;

namespace {

constexpr std::size_t max_kb_query = 4000, max_card_bytes = 8192;
constexpr int max_kb_matches = 5;

/// The rules a handoff may name, and who may name them.
const std::set<std::string>& assistant_rules_named() {
    static const std::set<std::string> rules = {"keyword", "sentiment", "failures", "rephrase", "length",
                                                "attribute", "request", "hours", "unavailable"};
    return rules;
}

/// The desk's assistant: its user id and name (0, "" for none).
struct desk_bot {
    std::int64_t id = 0;
    std::string name;
};
desk_bot bot_of(pg::connection& db, std::int64_t desk) {
    const auto r = db.exec("SELECT a.bot_id, u.name FROM desk_assistants a JOIN users u ON u.id = a.bot_id"
                           " WHERE a.desk_id = $1 AND NOT u.banned",
                           {std::to_string(desk)});
    return r.rows() == 1 ? desk_bot{r.int64(0, 0), r.str(0, 1)} : desk_bot{};
}

} // namespace

method_outcome pg_requests::desk_kb(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string desk_name;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    if (!short_text(r.params["q"], max_kb_query)) return bad("q must be a text of 1 to 4000 bytes");
    const auto desk = db.exec("SELECT id FROM desks WHERE name = $1", {desk_name});
    if (desk.rows() == 0) return fail(error_code::not_found, "no desk named " + desk_name);
    const std::int64_t desk_id = desk.int64(0, 0);
    // The desk's assistant, its agents and the supervisors.
    if (bot_of(db, desk_id).id != me && !standing(db, desk_id, me).may_act())
        return fail(error_code::forbidden, "only desk " + desk_name + "'s assistant and agents read its knowledge base");
    const auto rows = db.exec("SELECT key, phrasing, answer, links::text, confidence FROM mqchat_kb_match($1, $2, $3)",
                              {std::to_string(desk_id), r.params["q"].asString(), std::to_string(max_kb_matches)});
    Json::Value matches(Json::arrayValue);
    for (int i = 0; i < rows.rows(); ++i) {
        Json::Value m(Json::objectValue);
        m["key"] = rows.str(i, 0);
        m["question"] = rows.str(i, 1);
        m["answer"] = rows.str(i, 2);
        Json::Value links;
        std::string why;
        m["links"] = json::parse(rows.text(i, 3), links, why) && links.isArray() ? links : Json::Value(Json::arrayValue);
        m["confidence"] = std::stod(rows.str(i, 4));
        matches.append(std::move(m));
    }
    Json::Value res(Json::objectValue);
    res["desk"] = desk_name;
    res["matches"] = std::move(matches);
    return ok(std::move(res));
}

method_outcome pg_requests::desk_assistant(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::string desk_name;
    if (!desk_name_param(r.params, desk_name)) return bad("desk must be a desk name");
    const auto row = db.exec("SELECT d.id, a.bot_id, u.name, a.language::text, a.rules::text FROM desks d"
                             "  JOIN desk_assistants a ON a.desk_id = d.id JOIN users u ON u.id = a.bot_id WHERE d.name = $1",
                             {desk_name});
    if (row.rows() == 0) return fail(error_code::not_found, "desk " + desk_name + " has no assistant");
    if (row.int64(0, 1) != me && !standing(db, row.int64(0, 0), me).may_act())
        return fail(error_code::forbidden, "only desk " + desk_name + "'s assistant and agents read its rules");
    Json::Value res(Json::objectValue);
    res["desk"] = desk_name;
    res["assistant"] = row.str(0, 2);
    res["language"] = row.str(0, 3);
    res["rules"] = stored_details(row.text(0, 4));
    return ok(std::move(res));
}

method_outcome pg_requests::desk_handoff(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    const Json::Value& rule_param = r.params["rule"];
    if (!rule_param.isString() || !assistant_rules_named().count(rule_param.asString()))
        return bad("rule must be one of keyword, sentiment, failures, rephrase, length, attribute, request, hours, unavailable");
    const std::string rule = rule_param.asString();
    Json::Value card(Json::objectValue);
    if (r.params.isMember("card")) {
        if (!r.params["card"].isObject() || json::write(r.params["card"]).size() > max_card_bytes)
            return bad("card must be an object of at most 8192 bytes");
        card = r.params["card"];
    }
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const bool visitor = s.found && s.visitor_id == me;
        const desk_bot bot = s.found ? bot_of(db, s.desk) : desk_bot{};
        const bool assistant = s.found && bot.id == me && s.assignee_id == me;
        // The assistant hands over by any rule; the visitor only asks ("Talk to a person").
        if (!visitor && !assistant)
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " with you");
        if (visitor && rule != "request") return fail(error_code::forbidden, "a visitor hands over by rule request only");
        // The card is what the assistant knows; a visitor's would be made up.
        if (visitor && r.params.isMember("card"))
            return fail(error_code::forbidden, "the card is the assistant's to write (desk.card)");
        if (s.status != "bot")
            return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is " + s.status +
                                                  ", not with the assistant");
        const std::string cid = std::to_string(conv);
        // Open by its hours, and agents online: where a handoff leads.
        const auto now = desk_overview(db, s.desk_name);
        const bool open = now.boolean(0, 3), offline_form = now.boolean(0, 9);
        const std::int64_t agents_online = now.int64(0, 4);
        card["rule"] = rule;
        card["by"] = r.caller;
        // The assistant leaves it: from here on it cannot write there.
        if (s.assignee_id != 0)
            db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
        const bool routed = db.exec("SELECT routing <> 'manual' FROM desks WHERE id = $1", {std::to_string(s.desk)})
                                .boolean(0, 0);
        db.exec("UPDATE support_conversations SET status = 'queued', assignee_id = NULL, queued_at = now(),"
                " handoff = $2::jsonb || jsonb_build_object('at', (extract(epoch FROM now()) * 1000)::bigint),"
                " announced = $3 WHERE conv_id = $1",
                {cid, json::write(card), std::string(routed ? "false" : "true")});
        db.exec("INSERT INTO desk_escalations (conv_id, desk_id, rule) VALUES ($1, $2, $3)",
                {cid, std::to_string(s.desk), rule});
        const std::int64_t position = queue_position(db, conv);
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["status"] = "queued";
        o.result["position"] = Json::Int64(position);
        o.result["rule"] = rule;
        // Outside business hours, or nobody online: the widget offers the
        // offline form besides (it still waits for whoever comes first).
        o.result["open"] = open;
        o.result["agents_online"] = Json::Int64(agents_online);
        o.result["offline_form"] = offline_form;
        Json::Value to_visitor = notice_body("desk.queued", conv, s.desk_name);
        to_visitor["position"] = Json::Int64(position);
        to_visitor["handoff"] = rule;
        to_visitor["open"] = open;
        to_visitor["agents_online"] = Json::Int64(agents_online);
        if (!visitor && !s.visitor.empty()) o.notices.push_back(notice(s.visitor, to_visitor));
        if (!assistant && !s.assignee.empty()) { // the assistant that has it (the desk's may have changed since)
            Json::Value gone = notice_body("desk.handed_over", conv, s.desk_name);
            gone["rule"] = rule;
            o.notices.push_back(notice(s.assignee, gone));
        }
        if (!routed) {
            Json::Value queued = notice_body("desk.queued", conv, s.desk_name);
            queued["visitor"] = s.visitor;
            queued["position"] = Json::Int64(position);
            queued["handoff"] = rule;
            for (const auto& who : desk_watchers(db, s.desk, me)) o.notices.push_back(notice(who, queued));
        }
        return o;
    });
}

method_outcome pg_requests::desk_card(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    if (!r.params["card"].isObject() || json::write(r.params["card"]).size() > max_card_bytes)
        return bad("card must be an object of at most 8192 bytes");
    // The assistant's card for a conversation someone else handed over (the
    // visitor's button, an agent who took it): what it knows joins the rule,
    // which stays as recorded.
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        if (!s.found || bot_of(db, s.desk).id != me || s.status == "bot")
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " you handed over");
        const auto row = db.exec("UPDATE support_conversations SET handoff = $2::jsonb || coalesce(handoff, '{}'::jsonb)"
                                 " WHERE conv_id = $1 AND handoff IS NOT NULL AND NOT handoff ? 'summary' RETURNING 1",
                                 {std::to_string(conv), json::write(r.params["card"])});
        if (row.rows() == 0) return fail(error_code::conflict, "conversation " + std::to_string(conv) + " has its card");
        Json::Value res(Json::objectValue);
        res["conv"] = Json::Int64(conv);
        return ok(std::move(res));
    });
}

method_outcome pg_requests::desk_to_bot(pg::connection& db, const rpc::request& r, std::int64_t me) {
    std::int64_t conv = 0;
    if (!conv_id_param(r.params, conv)) return bad("conv must be a conversation id");
    return pg::transaction(db, [&]() -> method_outcome {
        const support_row s = lock_support(db, conv);
        const bool assignee = s.found && s.status == "assigned" && s.assignee_id == me;
        const bool supervisor = s.found && !assignee && standing(db, s.desk, me).supervisor;
        if (!assignee && !supervisor)
            return fail(error_code::not_found, "no support conversation " + std::to_string(conv) + " assigned to you");
        if (s.status == "closed" || s.status == "bot")
            return fail(error_code::conflict, "conversation " + std::to_string(conv) + " is " + s.status);
        const desk_bot bot = bot_of(db, s.desk);
        if (bot.id == 0) return fail(error_code::not_found, "desk " + s.desk_name + " has no assistant");
        const std::string cid = std::to_string(conv);
        if (s.assignee_id != 0)
            db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {cid, std::to_string(s.assignee_id)});
        db.exec("UPDATE support_conversations SET status = 'bot', assignee_id = $2, assigned_at = NULL, bot_since = now(),"
                " handoff = NULL WHERE conv_id = $1",
                {cid, std::to_string(bot.id)});
        db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", {cid, std::to_string(bot.id)});
        const auto details = db.exec("SELECT s.details::text, c.last_seq FROM support_conversations s"
                                     "  JOIN conversations c ON c.id = s.conv_id WHERE s.conv_id = $1",
                                     {cid});
        method_outcome o;
        o.result["conv"] = Json::Int64(conv);
        o.result["status"] = "bot";
        o.result["agent"] = bot.name;
        Json::Value to_bot = notice_body("desk.bot", conv, s.desk_name);
        to_bot["visitor"] = s.visitor;
        to_bot["details"] = stored_details(details.text(0, 0));
        to_bot["returned"] = true;
        // What the assistant answers starts after this: what came before, someone else had.
        to_bot["seq"] = Json::Int64(details.int64(0, 1));
        to_bot["by"] = r.caller;
        o.notices.push_back(notice(bot.name, to_bot));
        Json::Value to_visitor = notice_body("desk.assigned", conv, s.desk_name);
        to_visitor["agent"] = bot.name;
        to_visitor["by"] = r.caller;
        if (!s.visitor.empty()) o.notices.push_back(notice(s.visitor, to_visitor));
        if (!s.assignee.empty() && s.assignee_id != me) {
            Json::Value gone = notice_body("desk.transferred", conv, s.desk_name);
            gone["to"] = bot.name;
            gone["by"] = r.caller;
            o.notices.push_back(notice(s.assignee, gone));
        }
        return o;
    });
}

} // namespace mqchat::bridge
