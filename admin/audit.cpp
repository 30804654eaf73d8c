#include "audit.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <ostream>

#include <json/json.h>

#include "common/log.hpp"

namespace mqchat::admin::audit {

namespace {

constexpr std::size_t max_arg = 1000;

// The command's name as the dispatcher knows it: one word for the single
// commands, two for the rest ("user erase").
std::string command_of(const std::vector<std::string>& args) {
    if (args.empty()) return "";
    const std::string& first = args[0];
    const bool single = first == "migrate" || first == "user-token" || first == "guest-token" ||
                        first == "search-language" || first == "audit" || first == "status";
    std::string cmd = first + (args.size() > 1 && !single ? " " + args[1] : "");
    if (cmd.size() > 100) cmd = cmd.substr(0, 97) + "...";
    return cmd;
}

bool audit_table_exists(pg::connection& db) {
    return !db.exec("SELECT to_regclass('admin_audit')").is_null(0, 0);
}

// Shown on a terminal: control characters and quotes escaped, so a hostile
// argument cannot rewrite the operator's screen.
std::string shown(const std::string& arg) {
    bool plain = !arg.empty();
    for (unsigned char c : arg)
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-' || c == '/' || c == ':' || c == '=' ||
              c == ',' || c == '+' || c == '*' || c >= 0x80))
            plain = false;
    if (plain) return arg;
    std::string q = "\"";
    for (unsigned char c : arg) {
        if (c == '"' || c == '\\') {
            q += '\\';
            q += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            static const char* hex = "0123456789abcdef";
            q += "\\x";
            q += hex[c >> 4];
            q += hex[c & 15];
        } else {
            q += static_cast<char>(c);
        }
    }
    return q + "\"";
}

} // namespace

bool recorded(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") return false;
    const std::string cmd = command_of(args);
    return !(cmd == "conv list" || cmd == "desk list" || cmd == "desk stats" || cmd == "site-key list" ||
             cmd == "kb list" || cmd == "kb match" || cmd == "retention list" || cmd == "audit" || cmd == "status");
}

// The secrets among the arguments, to be masked wherever they appear.
std::vector<std::string> secrets_of(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--password" && i + 1 < args.size() && !args[i + 1].empty()) out.push_back(args[i + 1]);
        if (args[i].rfind("--password=", 0) == 0 && args[i].size() > 11) out.push_back(args[i].substr(11));
    }
    return out;
}

std::vector<std::string> masked(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    bool secret_next = false;
    for (const auto& a : args) {
        if (secret_next) {
            out.push_back("***");
            secret_next = false;
            continue;
        }
        if (a == "--password") secret_next = true;
        if (a.rfind("--password=", 0) == 0) {
            out.push_back("--password=***");
            continue;
        }
        out.push_back(a.size() > max_arg ? a.substr(0, max_arg) + "..." : a);
    }
    return out;
}

std::string os_user() {
    std::string who;
    if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) who = pw->pw_name;
    else who = "uid " + std::to_string(geteuid());
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo && who != sudo) {
        std::string by = sudo;
        if (by.size() > 64) by = by.substr(0, 64);
        who += " (sudo: " + by + ")";
    }
    return who;
}

entry::entry(const std::string& conninfo, const std::string& actor, const std::vector<std::string>& args)
    : actor_(actor), command_(command_of(args)), args_(masked(args)), secrets_(secrets_of(args)) {
    try {
        db_ = std::make_unique<pg::connection>(conninfo);
        db_->exec("SET client_min_messages = warning");
        if (!audit_table_exists(*db_)) return;
        id_ = db_->exec("INSERT INTO admin_audit (os_user, actor, command, args) VALUES ($1, $2, $3, $4::text[])"
                        " RETURNING id",
                        {os_user(), actor_.empty() ? std::nullopt : std::optional<std::string>(actor_), command_,
                         pg::text_array(args_)})
                  .int64(0, 0);
    } catch (const pg::error& e) {
        throw failure(std::string("cannot record the command in the audit log, so it did not run: ") + e.what());
    }
}

entry::~entry() {
    if (!finished_) finish(false, "mqchat-admin ended without an outcome");
}

void entry::finish(bool ok, const std::string& detail) {
    finished_ = true;
    // An error message may quote an argument: a password in it is masked too.
    std::string text = detail;
    for (const auto& secret : secrets_)
        for (std::size_t at; (at = text.find(secret)) != std::string::npos;) text.replace(at, secret.size(), "***");
    const std::optional<std::string> d = text.empty() ? std::nullopt : std::optional<std::string>(text.substr(0, 2000));
    try {
        if (!db_) return;
        if (id_) {
            db_->exec("UPDATE admin_audit SET outcome = $2, detail = $3, finished_at = now() WHERE id = $1",
                      {std::to_string(*id_), std::string(ok ? "ok" : "failed"), d});
        } else if (audit_table_exists(*db_)) { // made by this very command (migrate)
            db_->exec("INSERT INTO admin_audit (os_user, actor, command, args, outcome, detail, finished_at)"
                      " VALUES ($1, $2, $3, $4::text[], $5, $6, now())",
                      {os_user(), actor_.empty() ? std::nullopt : std::optional<std::string>(actor_), command_,
                       pg::text_array(args_), std::string(ok ? "ok" : "failed"), d});
        } else {
            log::info() << "not recorded in the audit log (the database has none yet: run migrate)";
        }
    } catch (const std::exception& e) {
        log::warning() << "could not record the outcome in the audit log: " << e.what();
    }
}

void list(pg::connection& db, std::int64_t since_s, std::int64_t limit, std::ostream& out) {
    if (!audit_table_exists(db)) throw failure("the database has no audit log yet: run mqchat-admin migrate");
    const auto r = db.exec(
        "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), outcome, os_user,"
        "       coalesce(actor, ''), command, array_to_json(args)::text, coalesce(detail, '')"
        "  FROM admin_audit WHERE $1::bigint = 0 OR at >= now() - make_interval(secs => $1::bigint)"
        " ORDER BY id DESC LIMIT $2",
        {std::to_string(since_s), std::to_string(limit)});
    for (int i = 0; i < r.rows(); ++i) {
        out << r.text(i, 0) << "  " << r.text(i, 1) << "  " << shown(r.str(i, 2));
        if (!r.text(i, 3).empty()) out << " as " << shown(r.str(i, 3));
        out << "  ";
        Json::Value words;
        Json::CharReaderBuilder builder;
        std::string errors;
        const std::string text = r.str(i, 5);
        std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
        if (reader->parse(text.data(), text.data() + text.size(), &words, &errors) && words.isArray())
            for (Json::ArrayIndex w = 0; w < words.size(); ++w) out << (w ? " " : "") << shown(words[w].asString());
        if (!r.text(i, 6).empty()) out << "  -- " << shown(r.str(i, 6));
        out << "\n";
    }
    if (r.rows() == 0) out << "no audit entries" << (since_s ? " in that time" : "") << "\n";
}

} // namespace mqchat::admin::audit
