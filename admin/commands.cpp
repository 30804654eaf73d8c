#include "commands.hpp"

#include <sodium.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include <json/json.h>

#include "common/names.hpp"
#include "common/password.hpp"
#include "common/token.hpp"
#include "common/topics.hpp"
#include "migrations.hpp"

namespace mqchat::admin {

namespace {

// An arbitrary constant: "mqchat" on a phone keypad.
constexpr const char* migrate_lock = "SELECT pg_advisory_xact_lock(672428)";

void check_name(const std::string& name) {
    if (!valid_user_name(name))
        throw failure("invalid user name '" + name +
                      "': use 1-64 characters from A-Z a-z 0-9 . _ @ -, starting with a letter or digit");
}

std::int64_t check_conv(const std::string& text) {
    const std::int64_t id = parse_conv_id(text);
    if (id == 0) throw failure("invalid conversation id '" + text + "'");
    return id;
}

std::int64_t user_id(pg::connection& db, const std::string& name) {
    check_name(name);
    const auto r = db.exec("SELECT id FROM users WHERE name = $1", {name});
    if (r.rows() == 0) throw failure("no user named '" + name + "'");
    return r.int64(0, 0);
}

void require_conv(pg::connection& db, std::int64_t conv) {
    if (db.exec("SELECT 1 FROM conversations WHERE id = $1", {std::to_string(conv)}).rows() == 0)
        throw failure("no conversation " + std::to_string(conv));
}

} // namespace

void migrate(pg::connection& db, std::ostream& out) {
    int applied = 0;
    pg::transaction(db, [&] {
        db.exec(migrate_lock);
        db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())");
        const auto done = db.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
        const std::int64_t current = done.int64(0, 0);
        for (const auto& m : migrations()) {
            if (m.version <= current) continue;
            db.exec_script(m.sql);
            db.exec("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    {std::to_string(m.version), m.name});
            out << "applied " << m.name << "\n";
            ++applied;
        }
        // Every time: a changed function is a changed file, with no new
        // migration; an unchanged one is replaced by itself.
        for (const auto& f : function_definitions()) db.exec_script(f.sql);
    });
    out << (applied ? "schema is up to date" : "schema was already up to date") << " (version "
        << (migrations().empty() ? 0 : migrations().back().version) << ")\n";
}

void user_add(pg::connection& db, const std::string& name, const std::string& password, const std::string& role,
              std::ostream& out) {
    check_name(name);
    if (password.empty()) throw failure("the password must not be empty");
    if (password.size() > 1024) throw failure("the password is longer than 1024 bytes");
    // A name an erased person had is not handed to someone else (docs/data-rights.md).
    if (db.exec("SELECT 1 FROM erased_names WHERE name_hash = sha256(convert_to($1, 'UTF8'))", {name}).rows() != 0)
        throw failure("the name '" + name + "' belonged to an erased account and is not given out again");
    const std::string hash = password::hash(password);
    try {
        db.exec("INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3)",
                {name, hash, role});
    } catch (const pg::unique_violation&) {
        throw failure("user '" + name + "' already exists");
    }
    out << "added " << (role == "bridge" ? "bridge identity " : role == "bot" ? "assistant " : "user ") << name << "\n";
}

void user_del(pg::connection& db, const std::string& name, std::ostream& out) {
    check_name(name);
    if (db.exec("DELETE FROM users WHERE name = $1 RETURNING id", {name}).rows() == 0)
        throw failure("no user named '" + name + "'");
    out << "deleted user " << name << "\n";
}

void user_ban(pg::connection& db, const std::string& name, bool banned, std::ostream& out) {
    check_name(name);
    if (db.exec("UPDATE users SET banned = $2 WHERE name = $1 AND role <> 'guest' RETURNING id",
                {name, std::string(banned ? "true" : "false")})
            .rows() == 0)
        throw failure("no user named '" + name + "'");
    out << (banned ? "banned " : "lifted the ban on ") << name << "\n";
}

namespace {

std::string read_secret(const std::string& path) {
    if (path.empty()) throw failure("--secret-file is required (the plugin's plugin_opt_jwt_hs256_secret_file)");
    try {
        return token::read_hs256_secret(path);
    } catch (const std::runtime_error& e) {
        throw failure(e.what());
    }
}

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string mint(const std::string& subject, std::int64_t guest_conv, const token_options& t, std::int64_t& exp) {
    if (t.ttl_s <= 0 || t.ttl_s > 30LL * 24 * 3600) throw failure("--ttl must be 1 s to 30 days");
    Json::Value c = token::base_claims(subject, now_s(), t.ttl_s, t.issuer, t.audience);
    exp = c["exp"].asInt64();
    if (guest_conv) c["mqchat_guest_conv"] = Json::Int64(guest_conv);
    return token::signer::hs256(read_secret(t.secret_file)).sign(c);
}

std::string utc(std::int64_t s) {
    const std::time_t t = static_cast<std::time_t>(s);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

} // namespace

void user_token(pg::connection& db, const std::string& name, const token_options& t, std::ostream& out) {
    user_id(db, name); // exists
    std::int64_t exp = 0;
    const std::string tok = mint(name, 0, t, exp);
    out << "token for " << name << " valid until " << utc(exp) << "\n" << tok << "\n";
}

void guest_token(pg::connection& db, const std::string& conv_text, std::string name, const token_options& t,
                 std::ostream& out) {
    const std::int64_t conv = check_conv(conv_text);
    require_conv(db, conv);
    if (name.empty()) {
        unsigned char raw[6];
        randombytes_buf(raw, sizeof raw);
        static const char* hex = "0123456789abcdef";
        name = "guest-";
        for (unsigned char b : raw) {
            name += hex[b >> 4];
            name += hex[b & 15];
        }
    }
    check_name(name);
    if (db.exec("SELECT 1 FROM users WHERE name = $1 AND role <> 'guest'", {name}).rows() != 0)
        throw failure("'" + name + "' is a registered user; guests need a name of their own");
    if (db.exec("SELECT 1 FROM erased_names WHERE name_hash = sha256(convert_to($1, 'UTF8'))", {name}).rows() != 0)
        throw failure("the name '" + name + "' belonged to an erased account and is not given out again");
    std::int64_t exp = 0;
    const std::string tok = mint(name, conv, t, exp);
    out << "guest " << name << " may join conversation " << conv << " until " << utc(exp) << "\n" << tok << "\n";
}

void conv_create(pg::connection& db, const std::string& title, const std::vector<std::string>& members,
                 std::ostream& out) {
    if (members.empty()) throw failure("a conversation needs at least one --member");
    if (title.size() > 200) throw failure("the title is longer than 200 characters");
    if (!valid_utf8(title)) throw failure("the title is not valid UTF-8");
    const std::int64_t id = pg::transaction(db, [&] {
        std::vector<std::int64_t> ids;
        for (const auto& m : members) ids.push_back(user_id(db, m));
        const auto r = db.exec("INSERT INTO conversations (title) VALUES ($1) RETURNING id",
                               {title.empty() ? std::nullopt : std::optional<std::string>(title)});
        const std::int64_t conv = r.int64(0, 0);
        for (const auto uid : ids)
            db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    {std::to_string(conv), std::to_string(uid)});
        return conv;
    });
    out << "created conversation " << id << "\n";
}

void conv_add_member(pg::connection& db, const std::string& conv_text, const std::string& name,
                     std::ostream& out) {
    const std::int64_t conv = check_conv(conv_text);
    pg::transaction(db, [&] {
        require_conv(db, conv);
        const std::int64_t uid = user_id(db, name);
        if (db.exec("INSERT INTO members (conv_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                    " RETURNING 1",
                    {std::to_string(conv), std::to_string(uid)})
                .rows() == 0)
            throw failure(name + " is already a member of conversation " + std::to_string(conv));
    });
    out << "added " << name << " to conversation " << conv << "\n";
}

void conv_remove_member(pg::connection& db, const std::string& conv_text, const std::string& name,
                        std::ostream& out) {
    const std::int64_t conv = check_conv(conv_text);
    pg::transaction(db, [&] {
        require_conv(db, conv);
        const std::int64_t uid = user_id(db, name);
        if (db.exec("DELETE FROM members WHERE conv_id = $1 AND user_id = $2 RETURNING 1",
                    {std::to_string(conv), std::to_string(uid)})
                .rows() == 0)
            throw failure(name + " is not a member of conversation " + std::to_string(conv));
    });
    out << "removed " << name << " from conversation " << conv << "\n";
}

void conv_list(pg::connection& db, const std::string& name, std::ostream& out) {
    const std::int64_t uid = user_id(db, name);
    const auto r = db.exec(
        "SELECT c.id, coalesce(c.title, ''), c.last_seq,"
        "       (SELECT string_agg(u.name, ',' ORDER BY u.name) FROM members m2"
        "          JOIN users u ON u.id = m2.user_id WHERE m2.conv_id = c.id)"
        "  FROM members m JOIN conversations c ON c.id = m.conv_id"
        " WHERE m.user_id = $1 ORDER BY c.id",
        {std::to_string(uid)});
    for (int i = 0; i < r.rows(); ++i)
        out << r.text(i, 0) << "\t" << r.text(i, 1) << "\tmessages=" << r.text(i, 2)
            << "\tmembers=" << r.text(i, 3) << "\n";
    if (r.rows() == 0) out << name << " is in no conversation\n";
}

void search_language(pg::connection& db, const std::string& config, std::ostream& out) {
    // Only a name PostgreSQL knows as a configuration is stored.
    const auto known = db.exec("SELECT cfgname FROM pg_ts_config WHERE cfgname = $1", {config});
    if (known.rows() != 1) {
        const auto all = db.exec("SELECT string_agg(cfgname, ', ' ORDER BY cfgname) FROM pg_ts_config");
        throw failure("no text search configuration '" + config + "'; installed: " + all.str(0, 0));
    }
    const std::string name = known.str(0, 0);
    // It is read back with ::regconfig, which takes an unquoted name: plain
    // identifiers only.
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
        throw failure("the configuration name '" + name + "' is not a plain identifier");
    pg::transaction(db, [&] {
        db.exec("UPDATE mqchat_settings SET value = $1 WHERE key = 'search_config'", {name});
        // An attachment's name is searched with its caption (mqchat_store_batch).
        db.exec("UPDATE messages m SET search = to_tsvector($1::regconfig, m.body || coalesce(' ' ||"
                " (SELECT md.declared_name FROM media md WHERE md.id = m.media_id AND NOT m.deleted), ''))",
                {name});
    });
    out << "full-text search now uses '" << name << "'; stored messages re-indexed\n";
}

} // namespace mqchat::admin
