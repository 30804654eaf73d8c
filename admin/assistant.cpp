#include "assistant.hpp"

#include <json/json.h>

#include <fstream>
#include <iomanip>
#include <ostream>
#include <set>
#include <sstream>

#include "common/assistant_rules.hpp"
#include "common/json.hpp"
#include "common/names.hpp"
#include "desks.hpp"
#include "knowledge_base.hpp"

namespace mqchat::admin {

namespace {

constexpr std::size_t max_file_bytes = 20 * 1024 * 1024;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw failure("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > max_file_bytes) throw failure(path + " is larger than 20 MB");
    return text.str();
}

/// The language a desk's knowledge base is matched in.
std::string desk_language(pg::connection& db, std::int64_t desk) {
    const auto r = db.exec("SELECT language::text FROM desk_assistants WHERE desk_id = $1", {std::to_string(desk)});
    return r.rows() == 1 ? r.str(0, 0) : std::string("english");
}

} // namespace

void desk_assistant(pg::connection& db, const std::string& desk, const std::string& bot, const std::string& language,
                    const std::string& rules_file, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    if (!valid_user_name(bot)) throw failure("invalid user name '" + bot + "'");
    const auto user = db.exec("SELECT id, role FROM users WHERE name = $1", {bot});
    if (user.rows() == 0) throw failure("no user named '" + bot + "' (make one with: user add " + bot + " --bot …)");
    if (user.str(0, 1) != "bot") throw failure(bot + " is not a bot (role " + user.str(0, 1) + "): user add NAME --bot");
    assistant_rules rules;
    std::string why;
    if (!rules_file.empty()) {
        Json::Value doc;
        if (!json::parse(read_file(rules_file), doc, why)) throw failure(rules_file + ": not JSON: " + why);
        if (!parse_assistant_rules(doc, rules, why)) throw failure(rules_file + ": " + why);
    } else {
        const auto old = db.exec("SELECT rules::text FROM desk_assistants WHERE desk_id = $1", {std::to_string(id)});
        Json::Value doc;
        if (old.rows() == 1 && json::parse(old.text(0, 0), doc, why)) parse_assistant_rules(doc, rules, why);
    }
    const std::string config = language.empty() ? desk_language(db, id) : language;
    pg::transaction(db, [&] {
        if (db.exec("SELECT 1 FROM pg_ts_config WHERE cfgname = $1", {config}).rows() == 0)
            throw failure("no text search configuration '" + config + "' (e.g. english, german, simple)");
        db.exec("INSERT INTO desk_assistants (desk_id, bot_id, language, rules) VALUES ($1, $2, $3::regconfig, $4::jsonb)"
                " ON CONFLICT (desk_id) DO UPDATE SET bot_id = EXCLUDED.bot_id, language = EXCLUDED.language,"
                " rules = EXCLUDED.rules",
                {std::to_string(id), user.str(0, 0), config, json::write(assistant_rules_json(rules))});
        // Matched in the (maybe new) language from now on.
        db.exec("UPDATE kb_phrasings SET lexemes = mqchat_kb_lexemes($2::regconfig, phrasing) WHERE desk_id = $1",
                {std::to_string(id), config});
    });
    out << "desk " << desk << ": assistant " << bot << ", knowledge base in " << config << ", rules "
        << json::write(assistant_rules_json(rules)) << "\n";
}

void desk_assistant_off(pg::connection& db, const std::string& desk, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    const std::int64_t waiting = pg::transaction(db, [&] {
        const auto gone = db.exec("DELETE FROM desk_assistants WHERE desk_id = $1 RETURNING bot_id", {std::to_string(id)});
        if (gone.rows() == 0) throw failure("desk " + desk + " has no assistant");
        // Its conversations go to the queue; the assistant leaves them.
        // A routed desk's router announces and assigns them (announced false);
        // a manual desk's agents find them in the queue at their next look.
        const auto moved = db.exec(
            "UPDATE support_conversations SET status = 'queued', assignee_id = NULL, queued_at = now(),"
            " announced = (SELECT routing = 'manual' FROM desks WHERE id = $1),"
            " handoff = jsonb_build_object('rule', 'assistant_off') WHERE desk_id = $1 AND status = 'bot' RETURNING conv_id",
            {std::to_string(id)});
        for (int i = 0; i < moved.rows(); ++i) {
            db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2", {moved.str(i, 0), gone.str(0, 0)});
            db.exec("INSERT INTO desk_escalations (conv_id, desk_id, rule) VALUES ($1, $2, 'assistant_off')",
                    {moved.str(i, 0), std::to_string(id)});
        }
        return static_cast<std::int64_t>(moved.rows());
    });
    out << "desk " << desk << " has no assistant now; " << waiting << " of its conversations wait for a person\n";
}

void kb_load(pg::connection& db, const std::string& desk, const std::string& file, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    std::vector<kb_entry> entries;
    std::string why;
    if (!parse_knowledge_base(read_file(file), entries, why)) throw failure(file + ": " + why);
    const std::string did = std::to_string(id);
    int added = 0, updated = 0, removed = 0;
    pg::transaction(db, [&] {
        const std::string config = desk_language(db, id);
        std::vector<std::string> keys;
        for (const auto& e : entries) {
            Json::Value links(Json::arrayValue);
            for (const auto& l : e.links) {
                Json::Value link(Json::objectValue);
                link["title"] = l.title;
                link["url"] = l.url;
                links.append(link);
            }
            const auto row = db.exec(
                "INSERT INTO kb_entries (desk_id, key, answer, links) VALUES ($1, $2, $3, $4::jsonb)"
                " ON CONFLICT (desk_id, key) DO UPDATE SET answer = EXCLUDED.answer, links = EXCLUDED.links,"
                " updated_at = now() RETURNING id, xmax = 0",
                {did, e.key, e.answer, json::write(links)});
            (row.boolean(0, 1) ? added : updated) += 1;
            db.exec("DELETE FROM kb_phrasings WHERE entry_id = $1", {row.str(0, 0)});
            db.exec("INSERT INTO kb_phrasings (entry_id, desk_id, phrasing, lexemes)"
                    " SELECT $1, $2, q, mqchat_kb_lexemes($3::regconfig, q) FROM unnest($4::text[]) q",
                    {row.str(0, 0), did, config, pg::text_array(e.questions)});
            keys.push_back(e.key);
        }
        removed = db.exec("DELETE FROM kb_entries WHERE desk_id = $1 AND NOT key = ANY($2::text[]) RETURNING id",
                          {did, pg::text_array(keys)})
                      .rows();
    });
    out << "knowledge base of desk " << desk << ": " << entries.size() << " entries (" << added << " added, " << updated
        << " updated, " << removed << " removed)\n";
}

void kb_list(pg::connection& db, const std::string& desk, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    const auto r = db.exec("SELECT e.key, count(p.*), min(p.phrasing) FILTER (WHERE p.phrasing IS NOT NULL)"
                           "  FROM kb_entries e LEFT JOIN kb_phrasings p ON p.entry_id = e.id"
                           " WHERE e.desk_id = $1 GROUP BY e.id ORDER BY e.key",
                           {std::to_string(id)});
    for (int i = 0; i < r.rows(); ++i)
        out << r.str(i, 0) << "\t" << r.int64(i, 1) << " phrasings\t" << r.str(i, 2) << "\n";
    out << r.rows() << " entries\n";
}

void kb_match(pg::connection& db, const std::string& desk, const std::string& text, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    if (text.empty() || text.size() > 4000 || !valid_utf8(text)) throw failure("the text must be 1 to 4000 bytes of UTF-8");
    const auto r = db.exec("SELECT key, phrasing, confidence FROM mqchat_kb_match($1, $2, 5)", {std::to_string(id), text});
    for (int i = 0; i < r.rows(); ++i)
        out << std::fixed << std::setprecision(2) << std::stod(r.str(i, 2)) << "\t" << r.str(i, 0) << "\t" << r.str(i, 1)
            << "\n";
    if (r.rows() == 0) out << "no entry shares a word with that\n";
}

void desk_stats(pg::connection& db, const std::string& desk, std::ostream& out) {
    const std::int64_t id = find_desk(db, desk);
    const std::string did = std::to_string(id);
    const auto total = db.exec(
        "SELECT count(*) FILTER (WHERE s.bot_since IS NOT NULL),"
        "       count(*) FILTER (WHERE s.bot_since IS NOT NULL AND s.status = 'closed'"
        "                        AND NOT EXISTS (SELECT 1 FROM desk_escalations x WHERE x.conv_id = s.conv_id)),"
        "       count(*) FILTER (WHERE s.status = 'bot')"
        "  FROM support_conversations s WHERE s.desk_id = $1",
        {did});
    out << "desk " << desk << ": " << total.int64(0, 0) << " conversations with the assistant, " << total.int64(0, 1)
        << " resolved by it alone, " << total.int64(0, 2) << " with it now\n";
    const auto rules = db.exec("SELECT rule, count(*) FROM desk_escalations WHERE desk_id = $1 GROUP BY rule ORDER BY 2 DESC, 1",
                               {did});
    for (int i = 0; i < rules.rows(); ++i) out << "handed over by " << rules.str(i, 0) << ": " << rules.int64(i, 1) << "\n";
    // From the (last) handoff to the person who took it.
    const auto wait = db.exec(
        "SELECT count(*), (avg(extract(epoch FROM s.assigned_at - x.at)) * 1000)::bigint"
        "  FROM support_conversations s JOIN LATERAL (SELECT max(at) AS at FROM desk_escalations e"
        "       WHERE e.conv_id = s.conv_id) x ON x.at IS NOT NULL"
        " WHERE s.desk_id = $1 AND s.assigned_at >= x.at",
        {did});
    if (wait.int64(0, 0) > 0)
        out << "time from handoff to a person: " << wait.int64(0, 1) << " ms on average (" << wait.int64(0, 0)
            << " conversations)\n";
}

} // namespace mqchat::admin
