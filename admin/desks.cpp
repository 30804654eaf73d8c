#include "desks.hpp"

#include <ostream>

#include "common/names.hpp"

namespace mqchat::admin {

namespace {

std::int64_t desk_id(pg::connection& db, const std::string& name) {
    if (!valid_desk_name(name))
        throw failure("invalid desk name '" + name + "': use 1-63 characters from a-z 0-9 _ -, starting with a letter or digit");
    const auto r = db.exec("SELECT id FROM desks WHERE name = $1", {name});
    if (r.rows() == 0) throw failure("no desk named '" + name + "'");
    return r.int64(0, 0);
}

std::int64_t registered_user(pg::connection& db, const std::string& name) {
    if (!valid_user_name(name)) throw failure("invalid user name '" + name + "'");
    const auto r = db.exec("SELECT id FROM users WHERE name = $1 AND role = 'user'", {name});
    if (r.rows() == 0) throw failure("no user named '" + name + "' (agents are registered users)");
    return r.int64(0, 0);
}

} // namespace

void desk_create(pg::connection& db, const std::string& name, const std::string& title, std::ostream& out) {
    if (!valid_desk_name(name))
        throw failure("invalid desk name '" + name + "': use 1-63 characters from a-z 0-9 _ -, starting with a letter or digit");
    const std::string shown = title.empty() ? name : title;
    if (shown.size() > 200 || !valid_utf8(shown)) throw failure("the title must be UTF-8 text of at most 200 bytes");
    const auto r = db.exec("INSERT INTO desks (name, title) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id",
                           {name, shown});
    if (r.rows() == 0) throw failure("a desk named '" + name + "' exists already");
    out << "created desk " << name << "\n";
}

void desk_add_agent(pg::connection& db, const std::string& desk, const std::string& user, std::int64_t capacity,
                    std::ostream& out) {
    if (capacity < 1 || capacity > 100) throw failure("--capacity must be 1 to 100");
    pg::transaction(db, [&] {
        const std::int64_t d = desk_id(db, desk), u = registered_user(db, user);
        db.exec("INSERT INTO desk_agents (desk_id, user_id, capacity) VALUES ($1, $2, $3)"
                " ON CONFLICT (desk_id, user_id) DO UPDATE SET capacity = EXCLUDED.capacity",
                {std::to_string(d), std::to_string(u), std::to_string(capacity)});
    });
    out << user << " is an agent of " << desk << " (capacity " << capacity << ")\n";
}

void desk_remove_agent(pg::connection& db, const std::string& desk, const std::string& user, std::ostream& out) {
    pg::transaction(db, [&] {
        const std::int64_t d = desk_id(db, desk), u = registered_user(db, user);
        if (db.exec("DELETE FROM desk_agents WHERE desk_id = $1 AND user_id = $2 RETURNING 1",
                    {std::to_string(d), std::to_string(u)})
                .rows() == 0)
            throw failure(user + " is not an agent of " + desk);
    });
    out << user << " is no longer an agent of " << desk << "\n";
}

void desk_supervisor(pg::connection& db, const std::string& user, bool on, std::ostream& out) {
    const std::int64_t u = registered_user(db, user);
    db.exec("UPDATE users SET desk_supervisor = $2 WHERE id = $1", {std::to_string(u), on ? "true" : "false"});
    out << user << (on ? " is a supervisor of every desk" : " is no longer a supervisor") << "\n";
}

void desk_routing(pg::connection& db, const std::string& desk, const std::string& mode, std::ostream& out) {
    if (mode != "manual" && mode != "least_busy" && mode != "round_robin")
        throw failure("routing must be manual, least_busy or round_robin, not '" + mode + "'");
    const std::int64_t d = desk_id(db, desk);
    db.exec("UPDATE desks SET routing = $2 WHERE id = $1", {std::to_string(d), mode});
    out << "desk " << desk << " routing: " << mode << "\n";
}

void desk_list(pg::connection& db, std::ostream& out) {
    const auto r = db.exec(
        "SELECT d.name, d.title, d.routing,"
        "  (SELECT count(*) FROM support_conversations s WHERE s.desk_id = d.id AND s.status = 'queued'),"
        "  (SELECT count(*) FROM support_conversations s WHERE s.desk_id = d.id AND s.status = 'assigned'),"
        "  (SELECT coalesce(string_agg(u.name || '(' || a.capacity || ')', ' ' ORDER BY u.name), '')"
        "     FROM desk_agents a JOIN users u ON u.id = a.user_id WHERE a.desk_id = d.id)"
        "  FROM desks d ORDER BY d.name");
    for (int i = 0; i < r.rows(); ++i)
        out << r.str(i, 0) << "\twaiting " << r.int64(i, 3) << "\tassigned " << r.int64(i, 4) << "\tagents "
            << (r.text(i, 5).empty() ? std::string("-") : r.str(i, 5)) << "\trouting " << r.str(i, 2) << "\t"
            << r.str(i, 1) << "\n";
}

} // namespace mqchat::admin
