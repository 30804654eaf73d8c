#include "desks.hpp"

#include <json/json.h>

#include <chrono>
#include <ostream>

#include "common/names.hpp"
#include "common/password.hpp"
#include "common/token.hpp"

namespace mqchat::admin {

std::int64_t find_desk(pg::connection& db, const std::string& name) {
    if (!valid_desk_name(name))
        throw failure("invalid desk name '" + name + "': use 1-63 characters from a-z 0-9 _ -, starting with a letter or digit");
    const auto r = db.exec("SELECT id FROM desks WHERE name = $1", {name});
    if (r.rows() == 0) throw failure("no desk named '" + name + "'");
    return r.int64(0, 0);
}

namespace {


std::int64_t registered_user(pg::connection& db, const std::string& name) {
    if (!valid_user_name(name)) throw failure("invalid user name '" + name + "'");
    const auto r = db.exec("SELECT id FROM users WHERE name = $1 AND role = 'user'", {name});
    if (r.rows() == 0) throw failure("no user named '" + name + "' (agents are registered users)");
    return r.int64(0, 0);
}

/// ISO day number of "mon" … "sun", 0 for anything else.
int day_number(const std::string& name) {
    static const char* const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (int i = 0; i < 7; ++i)
        if (name == days[i]) return i + 1;
    return 0;
}

/// "HH:MM" (00:00–24:00) as minutes, or -1.
int minutes(const std::string& t) {
    if (t.size() != 5 || t[2] != ':' || t.find_first_not_of("0123456789:") != std::string::npos) return -1;
    const int h = std::stoi(t.substr(0, 2)), m = std::stoi(t.substr(3, 2));
    if (m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
    return h * 60 + m;
}

struct span {
    int day, opens, closes; // minutes
};

/// "mon-fri=09:00-17:00", "sat,sun=10:00-14:00": one span per day.
std::vector<span> parse_hours(const std::string& spec) {
    const auto bad = [&] {
        return failure("bad hours '" + spec + "': write DAYS=HH:MM-HH:MM, e.g. mon-fri=09:00-17:00 or sat,sun=10:00-14:00");
    };
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw bad();
    const std::string days = spec.substr(0, eq), times = spec.substr(eq + 1);
    const auto dash = times.find('-');
    if (dash == std::string::npos) throw bad();
    const int opens = minutes(times.substr(0, dash)), closes = minutes(times.substr(dash + 1));
    if (opens < 0 || closes < 0 || closes <= opens) throw bad();
    std::vector<span> out;
    std::size_t at = 0;
    while (at <= days.size()) {
        const auto comma = days.find(',', at);
        const std::string part = days.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        const auto range = part.find('-');
        const int from = day_number(part.substr(0, range));
        const int to = range == std::string::npos ? from : day_number(part.substr(range + 1));
        if (from == 0 || to == 0 || to < from) throw bad();
        for (int d = from; d <= to; ++d) out.push_back({d, opens, closes});
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return out;
}

std::string clock_time(int m) {
    if (m == 24 * 60) return "23:59:59.999999"; // the end of the day
    const auto two = [](int n) { return std::string(n < 10 ? "0" : "") + std::to_string(n); };
    return two(m / 60) + ":" + two(m % 60);
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
        const std::int64_t d = find_desk(db, desk), u = registered_user(db, user);
        db.exec("INSERT INTO desk_agents (desk_id, user_id, capacity) VALUES ($1, $2, $3)"
                " ON CONFLICT (desk_id, user_id) DO UPDATE SET capacity = EXCLUDED.capacity",
                {std::to_string(d), std::to_string(u), std::to_string(capacity)});
    });
    out << user << " is an agent of " << desk << " (capacity " << capacity << ")\n";
}

void desk_remove_agent(pg::connection& db, const std::string& desk, const std::string& user, std::ostream& out) {
    pg::transaction(db, [&] {
        const std::int64_t d = find_desk(db, desk), u = registered_user(db, user);
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
    const std::int64_t d = find_desk(db, desk);
    db.exec("UPDATE desks SET routing = $2 WHERE id = $1", {std::to_string(d), mode});
    out << "desk " << desk << " routing: " << mode << "\n";
}

void desk_canned(pg::connection& db, const std::string& desk, const std::string& shortcut, const std::string& body,
                 std::ostream& out) {
    const bool shortcut_ok = !shortcut.empty() && shortcut.size() <= 32 &&
                             shortcut.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos &&
                             shortcut[0] != '_' && shortcut[0] != '-';
    if (!shortcut_ok) throw failure("invalid shortcut '" + shortcut + "': 1-32 characters from a-z 0-9 _ -");
    if (body.size() > 4000 || !valid_utf8(body)) throw failure("the text must be UTF-8 of at most 4000 bytes");
    const std::int64_t d = find_desk(db, desk);
    if (body.empty()) {
        if (db.exec("DELETE FROM desk_canned_responses WHERE desk_id = $1 AND shortcut = $2 RETURNING 1",
                    {std::to_string(d), shortcut})
                .rows() == 0)
            throw failure("desk " + desk + " has no canned response '" + shortcut + "'");
        out << "removed canned response " << shortcut << " of " << desk << "\n";
        return;
    }
    db.exec("INSERT INTO desk_canned_responses (desk_id, shortcut, body) VALUES ($1, $2, $3)"
            " ON CONFLICT (desk_id, shortcut) DO UPDATE SET body = EXCLUDED.body",
            {std::to_string(d), shortcut, body});
    out << "canned response " << shortcut << " of " << desk << " saved\n";
}

void desk_hours(pg::connection& db, const std::string& desk, const std::vector<std::string>& specs,
                const std::string& time_zone, std::ostream& out) {
    std::vector<span> spans;
    for (const auto& spec : specs)
        for (const auto& s : parse_hours(spec)) spans.push_back(s);
    pg::transaction(db, [&] {
        const std::int64_t d = find_desk(db, desk);
        if (db.exec("SELECT 1 FROM pg_timezone_names WHERE name = $1", {time_zone}).rows() == 0)
            throw failure("unknown time zone '" + time_zone + "' (an IANA name such as Europe/Berlin)");
        db.exec("UPDATE desks SET time_zone = $2 WHERE id = $1", {std::to_string(d), time_zone});
        db.exec("DELETE FROM desk_hours WHERE desk_id = $1", {std::to_string(d)});
        for (const auto& s : spans)
            db.exec("INSERT INTO desk_hours (desk_id, day, opens, closes) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (desk_id, day, opens) DO UPDATE SET closes = EXCLUDED.closes",
                    {std::to_string(d), std::to_string(s.day), clock_time(s.opens), clock_time(s.closes)});
    });
    out << "desk " << desk << (spans.empty() ? " is always open" : " keeps business hours") << " (" << time_zone << ")\n";
}

void desk_media(pg::connection& db, const std::string& desk, std::int64_t max_bytes,
                const std::vector<std::string>& types, std::ostream& out) {
    if (max_bytes < 0) throw failure("--max-bytes must be a positive number of bytes");
    std::string array = "{";
    for (const auto& t : types) {
        const auto slash = t.find('/');
        const bool family = slash != std::string::npos && t.substr(slash + 1) == "*";
        const bool ok = slash != std::string::npos && slash > 0 && slash + 1 < t.size() && t.size() <= 100 &&
                        t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-./*") == std::string::npos &&
                        t.find('/', slash + 1) == std::string::npos &&
                        (family || t.find('*') == std::string::npos);
        if (!ok) throw failure("'" + t + "' is not a MIME type (image/jpeg) or a family (image/*)");
        array += (array.size() > 1 ? ",\"" : "\"") + t + "\"";
    }
    array += "}";
    const std::int64_t d = find_desk(db, desk);
    db.exec("UPDATE desks SET media_max_bytes = nullif($2::bigint, 0),"
            " media_types = CASE WHEN $3 = '{}' THEN NULL ELSE $3::text[] END WHERE id = $1",
            {std::to_string(d), std::to_string(max_bytes), array});
    out << "desk " << desk << " takes files of "
        << (max_bytes ? std::to_string(max_bytes) + " bytes at most" : std::string("the server's size limit")) << ", "
        << (types.empty() ? std::string("the server's types") : "types " + array.substr(1, array.size() - 2)) << "\n";
}

void desk_email(pg::connection& db, const std::string& desk, const std::string& address, std::ostream& out) {
    if (!address.empty() && !valid_email_address(address)) throw failure("invalid e-mail address '" + address + "'");
    const std::int64_t d = find_desk(db, desk);
    db.exec("UPDATE desks SET email = nullif($2, '') WHERE id = $1", {std::to_string(d), address});
    out << "desk " << desk << (address.empty() ? " takes no offline messages" : " sends offline messages to " + address)
        << "\n";
}

void desk_prechat(pg::connection& db, const std::string& desk, const std::vector<std::string>& specs, std::ostream& out) {
    if (specs.size() > 10) throw failure("at most 10 pre-chat fields");
    Json::Value fields(Json::arrayValue);
    std::string names;
    for (const auto& spec : specs) {
        std::vector<std::string> parts;
        for (std::size_t start = 0;;) {
            const auto colon = spec.find(':', start);
            parts.push_back(spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
        const std::string& name = parts[0];
        bool good_name = !name.empty() && name.size() <= 32;
        for (const char c : name) good_name &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!good_name) throw failure("invalid field name in '" + spec + "': 1-32 characters from a-z 0-9 _");
        Json::Value f(Json::objectValue);
        f["name"] = name;
        f["type"] = "text";
        f["required"] = false;
        for (std::size_t i = 1; i < parts.size(); ++i) {
            if (parts[i] == "text" || parts[i] == "email") f["type"] = parts[i];
            else if (parts[i] == "required") f["required"] = true;
            else throw failure("unknown '" + parts[i] + "' in '" + spec + "': use NAME[:text|email][:required]");
        }
        for (const auto& other : fields)
            if (other["name"].asString() == name) throw failure("the field " + name + " is given twice");
        fields.append(f);
        names += (names.empty() ? "" : ", ") + name + (f["required"].asBool() ? " (required)" : "");
    }
    const std::int64_t d = find_desk(db, desk);
    Json::StreamWriterBuilder w;
    w["indentation"] = "";
    db.exec("UPDATE desks SET prechat_fields = $2::jsonb WHERE id = $1", {std::to_string(d), Json::writeString(w, fields)});
    out << "desk " << desk << (names.empty() ? " asks nothing before the chat" : " asks before the chat: " + names) << "\n";
}

void site_key_create(pg::connection& db, const std::string& desk, const std::string& label, std::int64_t days,
                     const token_options& t, std::ostream& out) {
    if (label.empty() || label.size() > 200) throw failure("--label must be 1 to 200 bytes");
    if (days < 1 || days > 3650) throw failure("--days must be 1 to 3650");
    if (t.secret_file.empty()) throw failure("--secret-file is required (the plugin's plugin_opt_jwt_hs256_secret_file)");
    std::string secret;
    try {
        secret = token::read_hs256_secret(t.secret_file);
    } catch (const std::runtime_error& e) {
        throw failure(e.what());
    }
    const std::int64_t d = find_desk(db, desk);
    const std::string id = "site-" + password::random_hex(8);
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    Json::Value claims = token::base_claims(id, now, days * 24 * 3600, t.issuer, t.audience);
    claims["mqchat_site_desk"] = desk;
    const std::string key = token::signer::hs256(secret).sign(claims);
    db.exec("INSERT INTO site_keys (id, desk_id, label, expires_at) VALUES ($1, $2, $3, to_timestamp($4))",
            {id, std::to_string(d), label, std::to_string(claims["exp"].asInt64())});
    out << "site key " << id << " for desk " << desk << " (" << label << "), valid " << days << " days\n" << key << "\n";
}

void site_key_revoke(pg::connection& db, const std::string& id, std::ostream& out) {
    const auto r = db.exec("UPDATE site_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id", {id});
    if (r.rows() == 0) throw failure("no site key '" + id + "'");
    out << "revoked site key " << id << "\n";
}

void site_key_list(pg::connection& db, const std::string& desk, std::ostream& out) {
    if (!desk.empty()) find_desk(db, desk);
    const auto r = db.exec("SELECT k.id, d.name, CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'"
                           "  WHEN k.expires_at < now() THEN 'expired' ELSE 'valid until ' ||"
                           "  to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END, k.label"
                           "  FROM site_keys k JOIN desks d ON d.id = k.desk_id WHERE $1 = '' OR d.name = $1"
                           " ORDER BY d.name, k.created_at",
                           {desk});
    for (int i = 0; i < r.rows(); ++i)
        out << r.str(i, 0) << "\t" << r.str(i, 1) << "\t" << r.str(i, 2) << "\t" << r.str(i, 3) << "\n";
}

void desk_identity_secret(pg::connection& db, const std::string& desk, bool off, std::ostream& out) {
    const std::int64_t d = find_desk(db, desk);
    const std::string secret = off ? "" : password::random_hex(32);
    db.exec("UPDATE desks SET identity_secret = nullif($2, '') WHERE id = $1", {std::to_string(d), secret});
    if (off) out << "desk " << desk << " verifies no visitor identities\n";
    else out << "identity secret of desk " << desk << " (sign your users' ids with HMAC-SHA256; keep it on your server)\n"
             << secret << "\n";
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
