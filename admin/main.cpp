// mqchat-admin: the operator's tool. Applies the schema and manages users and
// conversations in the database that the plugin and the bridge read.
//
// Connects with $MQCHAT_DB (a libpq conninfo); without it, with the local
// cluster that scripts/run keeps under $MQCHAT_VAR (default ./var).

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <vector>

#include "assistant.hpp"
#include "audit.hpp"
#include "commands.hpp"
#include "common/log.hpp"
#include "common/names.hpp"
#include "common/options.hpp"
#include "common/secret_file.hpp"
#include "data_rights.hpp"
#include "desks.hpp"
#include "retention.hpp"
#include "status.hpp"

namespace {

constexpr const char* usage = R"(usage: mqchat-admin COMMAND ...

  migrate                                   apply schema/ migrations not yet applied
  user add NAME (--password PW | --password-file F) [--bridge | --bot]
                                            add a user (--bridge: the bridge's identity;
                                            --bot: an assistant, docs/assistant.md)
  user del NAME                             delete a user and their memberships
  user ban NAME | user unban NAME           ban (and disconnect) a user, or lift the ban
  user-token NAME --secret-file F [--ttl S] [--issuer I] [--audience A]
                                            an HS256 token for NAME; the token is printed last
  guest-token --conv ID --secret-file F [--name N] [--ttl S] [--issuer I] [--audience A]
                                            a guest token for one conversation (support widget)
  conv create [--title T] --member NAME [--member NAME ...]
                                            create a conversation; prints its id last
  conv add-member ID NAME                   add a member
  conv remove-member ID NAME                remove a member
  conv list NAME                            list NAME's conversations
  desk create NAME [--title T]              a support desk (docs/desks.md)
  desk add-agent DESK USER [--capacity N]   make USER an agent of DESK, holding at most N (5)
                                            conversations at once; again: change N
  desk remove-agent DESK USER               USER takes no more conversations of DESK
  desk supervisor USER [--off]              USER sees and acts on every desk (or no longer)
  desk routing DESK MODE                    manual (agents claim), least_busy or round_robin
                                            (the bridge assigns waiting conversations)
  desk canned DESK SHORTCUT TEXT            a canned response agents insert by SHORTCUT
                                            (TEXT "": remove it)
  desk hours DESK [DAYS=HH:MM-HH:MM ...] [--tz ZONE]
                                            business hours, e.g. mon-fri=09:00-17:00 sat=10:00-14:00
                                            --tz Europe/Berlin; none: always open
  desk email DESK ADDRESS | desk email DESK --off
                                            where visitors' offline messages go (none: no offline form)
  desk media DESK [--max-bytes N] [--types T,...]
                                            what visitors and agents may send there (docs/media.md);
                                            without options: the server's media_max_bytes/media_types
  desk list                                 desks with their waiting and assigned counts
  desk prechat DESK [NAME[:text|email][:required] ...]
                                            the widget's pre-chat form (none: no form)
  desk identity-secret DESK [--off]         a new secret the site's backend signs its users' ids
                                            with (visitors verified on any device)
  desk assistant DESK BOT [--language L] [--rules FILE] | desk assistant DESK --off
                                            the desk's assistant (a --bot user) answers first, from
                                            the knowledge base in language L (english), by the
                                            escalation rules of FILE (JSON; docs/assistant.md)
  desk stats DESK                           what the assistant did: resolved, handed over by rule
  kb load DESK FILE                         the desk's knowledge base from FILE (JSON or Markdown);
                                            entries not in FILE are removed
  kb list DESK                              its entries
  kb match DESK TEXT                        the entries TEXT would match, with their confidence
  site-key create DESK --label L --secret-file F [--days N] [--issuer I] [--audience A]
                                            a public key a website embeds in the chat widget
                                            (valid N days, 365); prints it last
  site-key revoke ID                        visitors with that key get no further
  site-key list [DESK]                      site keys, valid, expired or revoked
  status [--bridge HOST:PORT ...] [--media HOST:PORT ...]
                                            the stack's health for a person: database, brokers,
                                            bridges and media services connected, each named
                                            bridge's and media service's /readyz, the outbox,
                                            queues, attachments (docs/operations.md); exits 1 on a FAIL
  search-language CONFIG                    full-text search in this PostgreSQL text search
                                            configuration (e.g. english, german, simple);
                                            re-indexes the stored messages
  user export NAME [--out FILE]             everything stored about NAME as one JSON document
                                            (docs/data-rights.md); FILE is created, mode 0600
  user erase NAME --yes-erase-forever       erase NAME's personal data for good: their messages
                                            become tombstones, devices, e-mail, presence, visitor
                                            details and memberships go, the account becomes a
                                            banned placeholder and NAME is disconnected
  retention set (--conv ID | --desk D | --kind K) (--max-age AGE | --off)
                                            messages older than AGE (e.g. 30d, 12h, 2w; 1h to
                                            36500d; "never": keep) are purged; K: group, direct,
                                            support; the most specific setting wins (conv, desk, kind)
  retention set --visitors (AGE | --off)    web visitors not seen for AGE and support
                                            conversations closed AGE ago are purged
  retention list                            the settings
  retention run [--batch N]                 purge what has expired now, N rows (1000) a transaction
  audit [--since AGE] [--limit N]           what was done with mqchat-admin, newest first (100)

Options before the COMMAND:
  --actor NAME                              who you are, for the audit log (or $MQCHAT_ADMIN_ACTOR);
                                            the OS user is recorded in any case

The database is $MQCHAT_DB (a libpq conninfo) or, when unset, the local
cluster described by $MQCHAT_VAR/db.conninfo (MQCHAT_VAR defaults to ./var).
)";

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The installed bridge's settings (docs/install.md): its db_conninfo is the
// database. MQCHAT_CONF_DIR names another directory than /etc/mqchat.
std::string installed_bridge_conf() {
    const char* dir = std::getenv("MQCHAT_CONF_DIR");
    return std::string(dir && *dir ? dir : "/etc/mqchat") + "/bridge.conf";
}

std::string conninfo() {
    if (const char* db = std::getenv("MQCHAT_DB"); db && *db) return db;
    const char* var = std::getenv("MQCHAT_VAR");
    const std::string path = std::string(var && *var ? var : "./var") + "/db.conninfo";
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) return line;
    // Not in a scripts/run directory: an installed stack's bridge says where its database is.
    if (!(var && *var) && std::filesystem::exists(installed_bridge_conf())) {
        for (const auto& [key, value] : mqchat::read_option_file(installed_bridge_conf()))
            if (key == "db_conninfo" && !value.empty()) return value;
    }
    throw mqchat::admin::failure("no database: set MQCHAT_DB to a libpq conninfo, start the local stack with "
                                 "scripts/run (looked for " + path + "), or set db_conninfo in " +
                                 installed_bridge_conf());
}

std::string read_password_file(const std::string& path) {
    try {
        return mqchat::read_secret_line(path);
    } catch (const std::runtime_error& e) {
        throw mqchat::admin::failure(std::string("--password-file: ") + e.what());
    }
}

// A user's export is their personal data: created for the owner only, and
// never over an existing file.
void write_private_file(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw mqchat::admin::failure("cannot create " + path + " (it must not exist yet): " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = errno;
            ::close(fd);
            throw mqchat::admin::failure("cannot write " + path + ": " + std::strerror(e));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) throw mqchat::admin::failure("cannot write " + path + ": " + std::strerror(errno));
}

int run(std::vector<std::string> args) {
    using namespace mqchat::admin;
    auto need = [&](std::size_t n) {
        if (args.size() != n) throw usage_error("wrong number of arguments");
    };
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        std::cout << usage;
        return args.empty() ? 2 : 0;
    }
    const bool single = args[0] == "migrate" || args[0] == "user-token" || args[0] == "guest-token" ||
                        args[0] == "search-language" || args[0] == "audit" || args[0] == "status";
    const std::string cmd = args[0] + (args.size() > 1 && !single ? " " + args[1] : "");

    if (cmd == "migrate") need(1);
    else if (cmd != "user add" && cmd != "user del" && cmd != "user ban" && cmd != "user unban" &&
             cmd != "conv create" && cmd != "conv add-member" && cmd != "conv remove-member" && cmd != "conv list" &&
             cmd != "user-token" && cmd != "guest-token" && cmd != "search-language" && cmd != "desk create" &&
             cmd != "desk add-agent" && cmd != "desk remove-agent" && cmd != "desk supervisor" && cmd != "desk list" &&
             cmd != "desk routing" && cmd != "desk canned" && cmd != "desk hours" &&
             cmd != "desk email" && cmd != "desk media" && cmd != "desk identity-secret" && cmd != "desk prechat" && cmd != "site-key create" &&
             cmd != "site-key revoke" && cmd != "site-key list" && cmd != "desk assistant" && cmd != "desk stats" &&
             cmd != "kb load" && cmd != "kb list" && cmd != "kb match" && cmd != "user export" &&
             cmd != "user erase" && cmd != "retention set" && cmd != "retention list" && cmd != "retention run" &&
             cmd != "audit" && cmd != "status")
        throw usage_error("unknown command '" + cmd + "'");

    // --secret-file, --ttl, --issuer, --audience (and --conv, --name for guests)
    token_options topts;
    std::string conv_opt, name_opt, label_opt;
    std::int64_t days_opt = 365;
    std::vector<std::string> rest;
    if (cmd == "user-token" || cmd == "guest-token" || cmd == "site-key create") {
        const std::size_t first = cmd == "site-key create" ? 2 : 1;
        for (std::size_t i = first; i < args.size(); ++i) {
            const bool has_value = i + 1 < args.size();
            if (args[i] == "--secret-file" && has_value) topts.secret_file = args[++i];
            else if (args[i] == "--label" && has_value && cmd == "site-key create") label_opt = args[++i];
            else if (args[i] == "--days" && has_value && cmd == "site-key create") {
                const std::string& v = args[++i];
                if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos)
                    throw usage_error("--days must be a number from 1 to 3650");
                days_opt = std::stoll(v);
            }
            else if (args[i] == "--ttl" && has_value && cmd != "site-key create") topts.ttl_s = std::atoll(args[++i].c_str());
            else if (args[i] == "--issuer" && has_value) topts.issuer = args[++i];
            else if (args[i] == "--audience" && has_value) topts.audience = args[++i];
            else if (args[i] == "--conv" && has_value && cmd == "guest-token") conv_opt = args[++i];
            else if (args[i] == "--name" && has_value && cmd == "guest-token") name_opt = args[++i];
            else if (args[i].rfind("--", 0) != 0) rest.push_back(args[i]);
            else throw usage_error("unexpected argument '" + args[i] + "'");
        }
    }

    if (cmd == "status") {
        // Before connecting: a database that cannot be reached is part of the answer.
        status_options o;
        for (std::size_t i = 1; i < args.size(); ++i) {
            if (args[i] == "--bridge" && i + 1 < args.size()) o.bridges.push_back(args[++i]);
            else if (args[i] == "--media" && i + 1 < args.size()) o.media.push_back(args[++i]);
            else throw usage_error("unexpected argument '" + args[i] + "'");
        }
        return status(conninfo(), o, std::cout) ? 0 : 1;
    }

    mqchat::pg::connection db(conninfo());
    db.exec("SET client_min_messages = warning");

    if (cmd == "migrate") {
        migrate(db, std::cout);
    } else if (cmd == "user add") {
        if (args.size() < 3) throw usage_error("user add needs a NAME");
        std::string password;
        bool have_password = false;
        std::string role = "user";
        for (std::size_t i = 3; i < args.size(); ++i) {
            if (args[i] == "--password" && i + 1 < args.size()) {
                password = args[++i];
                have_password = true;
            } else if (args[i] == "--password-file" && i + 1 < args.size()) {
                password = read_password_file(args[++i]);
                have_password = true;
            } else if (args[i] == "--bridge" || args[i] == "--bot") {
                if (role != "user") throw usage_error("--bridge or --bot, not both");
                role = args[i].substr(2);
            } else {
                throw usage_error("unexpected argument '" + args[i] + "'");
            }
        }
        if (!have_password) throw usage_error("user add needs --password PW or --password-file F");
        user_add(db, args[2], password, role, std::cout);
    } else if (cmd == "user del") {
        need(3);
        user_del(db, args[2], std::cout);
    } else if (cmd == "user ban" || cmd == "user unban") {
        need(3);
        user_ban(db, args[2], cmd == "user ban", std::cout);
    } else if (cmd == "user-token") {
        if (rest.size() != 1) throw usage_error("user-token needs one NAME");
        user_token(db, rest[0], topts, std::cout);
    } else if (cmd == "guest-token") {
        if (conv_opt.empty() || !rest.empty()) throw usage_error("guest-token needs --conv ID");
        guest_token(db, conv_opt, name_opt, topts, std::cout);
    } else if (cmd == "conv create") {
        std::string title;
        std::vector<std::string> members;
        for (std::size_t i = 2; i < args.size(); ++i) {
            if (args[i] == "--title" && i + 1 < args.size()) title = args[++i];
            else if (args[i] == "--member" && i + 1 < args.size()) members.push_back(args[++i]);
            else throw usage_error("unexpected argument '" + args[i] + "'");
        }
        conv_create(db, title, members, std::cout);
    } else if (cmd == "conv add-member") {
        need(4);
        conv_add_member(db, args[2], args[3], std::cout);
    } else if (cmd == "conv remove-member") {
        need(4);
        conv_remove_member(db, args[2], args[3], std::cout);
    } else if (cmd == "conv list") {
        need(3);
        conv_list(db, args[2], std::cout);
    } else if (cmd == "desk create") {
        std::string title;
        if (args.size() < 3) throw usage_error("desk create needs a NAME");
        for (std::size_t i = 3; i < args.size(); ++i) {
            if (args[i] == "--title" && i + 1 < args.size()) title = args[++i];
            else throw usage_error("unexpected argument '" + args[i] + "'");
        }
        desk_create(db, args[2], title, std::cout);
    } else if (cmd == "desk add-agent") {
        if (args.size() < 4) throw usage_error("desk add-agent needs DESK and USER");
        std::int64_t capacity = 5;
        for (std::size_t i = 4; i < args.size(); ++i) {
            if (args[i] == "--capacity" && i + 1 < args.size()) {
                const std::string& v = args[++i];
                if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos)
                    throw usage_error("--capacity must be a number from 1 to 100");
                capacity = std::stoll(v);
            } else {
                throw usage_error("unexpected argument '" + args[i] + "'");
            }
        }
        desk_add_agent(db, args[2], args[3], capacity, std::cout);
    } else if (cmd == "desk remove-agent") {
        need(4);
        desk_remove_agent(db, args[2], args[3], std::cout);
    } else if (cmd == "desk supervisor") {
        if (args.size() == 4 && args[3] != "--off") throw usage_error("unexpected argument '" + args[3] + "'");
        if (args.size() != 3 && args.size() != 4) throw usage_error("desk supervisor needs USER [--off]");
        desk_supervisor(db, args[2], args.size() == 3, std::cout);
    } else if (cmd == "desk routing") {
        need(4);
        desk_routing(db, args[2], args[3], std::cout);
    } else if (cmd == "desk canned") {
        need(5);
        desk_canned(db, args[2], args[3], args[4], std::cout);
    } else if (cmd == "desk hours") {
        if (args.size() < 3) throw usage_error("desk hours needs a DESK");
        std::vector<std::string> specs;
        std::string zone = "UTC";
        for (std::size_t i = 3; i < args.size(); ++i) {
            if (args[i] == "--tz" && i + 1 < args.size()) zone = args[++i];
            else if (args[i].rfind("--", 0) == 0) throw usage_error("unexpected argument '" + args[i] + "'");
            else specs.push_back(args[i]);
        }
        desk_hours(db, args[2], specs, zone, std::cout);
    } else if (cmd == "desk media") {
        if (args.size() < 3) throw usage_error("desk media needs a DESK");
        std::int64_t max_bytes = 0;
        std::vector<std::string> types;
        for (std::size_t i = 3; i < args.size(); ++i) {
            if (args[i] == "--max-bytes" && i + 1 < args.size()) {
                try {
                    std::size_t used = 0;
                    max_bytes = std::stoll(args[++i], &used);
                    if (used != args[i].size() || max_bytes <= 0) throw std::invalid_argument("");
                } catch (const std::exception&) {
                    throw usage_error("--max-bytes needs a positive number, not '" + args[i] + "'");
                }
            } else if (args[i] == "--types" && i + 1 < args.size()) {
                std::string list = args[++i];
                for (std::size_t start = 0; start <= list.size();) {
                    const auto comma = list.find(',', start);
                    std::string t = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                    if (!t.empty()) types.push_back(t);
                    if (comma == std::string::npos) break;
                    start = comma + 1;
                }
            } else {
                throw usage_error("unexpected argument '" + args[i] + "'");
            }
        }
        desk_media(db, args[2], max_bytes, types, std::cout);
    } else if (cmd == "desk email") {
        need(4);
        desk_email(db, args[2], args[3] == "--off" ? "" : args[3], std::cout);
    } else if (cmd == "desk list") {
        need(2);
        desk_list(db, std::cout);
    } else if (cmd == "desk prechat") {
        if (args.size() < 3) throw usage_error("desk prechat needs a DESK");
        desk_prechat(db, args[2], std::vector<std::string>(args.begin() + 3, args.end()), std::cout);
    } else if (cmd == "desk identity-secret") {
        if (args.size() == 4 && args[3] != "--off") throw usage_error("unexpected argument '" + args[3] + "'");
        if (args.size() != 3 && args.size() != 4) throw usage_error("desk identity-secret needs DESK [--off]");
        desk_identity_secret(db, args[2], args.size() == 4, std::cout);
    } else if (cmd == "site-key create") {
        if (rest.size() != 1) throw usage_error("site-key create needs one DESK");
        if (label_opt.empty()) throw usage_error("site-key create needs --label (which website it is for)");
        site_key_create(db, rest[0], label_opt, days_opt, topts, std::cout);
    } else if (cmd == "site-key revoke") {
        need(3);
        site_key_revoke(db, args[2], std::cout);
    } else if (cmd == "site-key list") {
        if (args.size() > 3) throw usage_error("site-key list takes at most a DESK");
        site_key_list(db, args.size() == 3 ? args[2] : "", std::cout);
    } else if (cmd == "desk assistant") {
        if (args.size() == 4 && args[3] == "--off") {
            desk_assistant_off(db, args[2], std::cout);
            return 0;
        }
        if (args.size() < 4) throw usage_error("desk assistant needs DESK and BOT (or DESK --off)");
        std::string language, rules_file;
        for (std::size_t i = 4; i < args.size(); ++i) {
            if (args[i] == "--language" && i + 1 < args.size()) language = args[++i];
            else if (args[i] == "--rules" && i + 1 < args.size()) rules_file = args[++i];
            else throw usage_error("unexpected argument '" + args[i] + "'");
        }
        desk_assistant(db, args[2], args[3], language, rules_file, std::cout);
    } else if (cmd == "desk stats") {
        need(3);
        desk_stats(db, args[2], std::cout);
    } else if (cmd == "kb load") {
        need(4);
        kb_load(db, args[2], args[3], std::cout);
    } else if (cmd == "kb list") {
        need(3);
        kb_list(db, args[2], std::cout);
    } else if (cmd == "kb match") {
        need(4);
        kb_match(db, args[2], args[3], std::cout);
    } else if (cmd == "search-language") {
        need(2);
        search_language(db, args[1], std::cout);
    } else if (cmd == "user export") {
        if (args.size() != 3 && !(args.size() == 5 && args[3] == "--out"))
            throw usage_error("user export needs NAME [--out FILE]");
        if (args.size() == 3) {
            user_export(db, args[2], std::cout);
        } else {
            std::ostringstream doc;
            user_export(db, args[2], doc);
            write_private_file(args[4], doc.str());
            std::cout << "exported " << args[2] << " to " << args[4] << "\n";
        }
    } else if (cmd == "user erase") {
        if (args.size() == 4 && args[3] != "--yes-erase-forever")
            throw usage_error("unexpected argument '" + args[3] + "'");
        if (args.size() != 3 && args.size() != 4) throw usage_error("user erase needs NAME --yes-erase-forever");
        user_erase(db, args[2], args.size() == 4, std::cout);
    } else if (cmd == "retention set") {
        retention_target target;
        bool have_target = false, off = false, forever = false;
        std::optional<std::int64_t> age;
        for (std::size_t i = 2; i < args.size(); ++i) {
            const bool has_value = i + 1 < args.size();
            auto set_target = [&](retention_target::scope what, std::string value) {
                if (have_target) throw usage_error("one of --conv, --desk, --kind, --visitors");
                have_target = true;
                target = {what, std::move(value)};
            };
            if (args[i] == "--conv" && has_value) set_target(retention_target::scope::conv, args[++i]);
            else if (args[i] == "--desk" && has_value) set_target(retention_target::scope::desk, args[++i]);
            else if (args[i] == "--kind" && has_value) set_target(retention_target::scope::kind, args[++i]);
            else if (args[i] == "--visitors") {
                set_target(retention_target::scope::visitors, "");
                if (has_value && args[i + 1].rfind("--", 0) != 0) {
                    age = parse_age(args[++i], "the visitors' max age", min_max_age_s, max_max_age_s);
                }
            } else if (args[i] == "--max-age" && has_value && !age && !forever) {
                if (args[i + 1] == "never") {
                    forever = true;
                    ++i;
                } else {
                    age = parse_age(args[++i], "--max-age", min_max_age_s, max_max_age_s);
                }
            } else if (args[i] == "--off" && !off) {
                off = true;
            } else {
                throw usage_error("unexpected argument '" + args[i] + "'");
            }
        }
        if (!have_target) throw usage_error("retention set needs --conv ID, --desk D, --kind K or --visitors");
        if (off == (age.has_value() || forever))
            throw usage_error("retention set needs either a max age or --off");
        if (forever && target.what == retention_target::scope::visitors)
            throw usage_error("visitors are not kept forever: give an age or --off");
        retention_set(db, target, age, off, std::cout);
    } else if (cmd == "retention list") {
        need(2);
        retention_list(db, std::cout);
    } else if (cmd == "retention run") {
        int batch = 1000;
        if (args.size() == 4 && args[2] == "--batch") {
            const std::string& v = args[3];
            if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(v) < 1 || std::stoi(v) > 100000)
                throw usage_error("--batch must be a number from 1 to 100000");
            batch = std::stoi(v);
        } else if (args.size() != 2) {
            throw usage_error("retention run takes only --batch N");
        }
        retention_run(db, batch, std::cout);
    } else if (cmd == "audit") {
        std::int64_t since = 0, limit = 100;
        for (std::size_t i = 1; i < args.size(); ++i) {
            if (args[i] == "--since" && i + 1 < args.size()) {
                since = parse_age(args[++i], "--since", 60, max_max_age_s);
            } else if (args[i] == "--limit" && i + 1 < args.size()) {
                const std::string& v = args[++i];
                if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ||
                    std::stoll(v) < 1 || std::stoll(v) > 10000)
                    throw usage_error("--limit must be a number from 1 to 10000");
                limit = std::stoll(v);
            } else {
                throw usage_error("unexpected argument '" + args[i] + "'");
            }
        }
        audit::list(db, since, limit, std::cout);
    }
    return 0;
}

// Who the operator says they are: --actor NAME before the command, else
// $MQCHAT_ADMIN_ACTOR. One line of printable text, at most 200 bytes.
std::string take_actor(std::vector<std::string>& args) {
    std::string actor;
    if (const char* env = std::getenv("MQCHAT_ADMIN_ACTOR"); env) actor = env;
    if (args.size() >= 2 && args[0] == "--actor") {
        actor = args[1];
        args.erase(args.begin(), args.begin() + 2);
    } else if (!args.empty() && args[0] == "--actor") {
        throw usage_error("--actor needs a NAME");
    }
    if (actor.size() > 200 || !mqchat::valid_utf8(actor))
        throw usage_error("the actor must be valid UTF-8 of at most 200 bytes");
    for (unsigned char c : actor)
        if (c < 0x20 || c == 0x7f) throw usage_error("the actor must be one line of printable text");
    return actor;
}

} // namespace

int main(int argc, char** argv) {
    std::unique_ptr<mqchat::admin::audit::entry> audited;
    try {
        // Its answer is on stdout; its log lines (errors, warnings, and at
        // MQCHAT_LOG_LEVEL=debug what each command did) go to stderr.
        const char* level = std::getenv("MQCHAT_LOG_LEVEL");
        try {
            mqchat::log::setup("mqchat-admin", mqchat::log::parse_level(level && *level ? level : "info"),
                               mqchat::log::destination::stderr_only);
        } catch (const std::invalid_argument& e) {
            std::cerr << "mqchat-admin: MQCHAT_LOG_LEVEL " << e.what() << "\n";
            return 2;
        }
        std::vector<std::string> args(argv + 1, argv + argc);
        const auto started = std::chrono::steady_clock::now();
        const std::string actor = take_actor(args);
        // The audit log is kept here, around every command (audit.hpp says
        // which are recorded): an entry before it runs, its outcome after.
        if (mqchat::admin::audit::recorded(args))
            audited = std::make_unique<mqchat::admin::audit::entry>(conninfo(), actor, args);
        const int rc = run(args);
        if (audited) audited->finish(rc == 0, "");
        mqchat::log::debug() << (args.empty() ? "(no command)" : args[0]) << (args.size() > 1 ? " " + args[1] : "")
                             << " exited " << rc << " after "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - started)
                                    .count()
                             << " ms" << (audited ? " (in the audit log)" : "");
        return rc;
    } catch (const usage_error& e) {
        if (audited) audited->finish(false, std::string("usage: ") + e.what());
        std::cerr << "mqchat-admin: " << e.what() << "\n\n" << usage;
        return 2;
    } catch (const std::exception& e) {
        if (audited) audited->finish(false, e.what());
        mqchat::log::error() << e.what();
        return 1;
    }
}
