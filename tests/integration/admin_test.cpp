// mqchat-admin against a real PostgreSQL: every command, its errors, and
// hostile input that must change nothing.

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

#include "common/pg.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;

namespace {
struct fixture {
    temp_dir dir{"admin"};
    pg_cluster db{dir};
    fixture() { admin_ok(db.conninfo(), {"migrate"}); }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}
std::int64_t count(const std::string& sql) {
    pg::connection c(shared().db.conninfo());
    return c.exec(sql).int64(0, 0);
}
} // namespace

class admin_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(admin_test);
    CPPUNIT_TEST(migrate_is_recorded_and_idempotent);
    CPPUNIT_TEST(each_function_has_one_current_definition);
    CPPUNIT_TEST(migrate_puts_back_the_current_functions);
    CPPUNIT_TEST(messages_survive_the_move_to_partitions);
    CPPUNIT_TEST(user_add_and_del);
    CPPUNIT_TEST(hostile_user_names_change_nothing);
    CPPUNIT_TEST(conversations);
    CPPUNIT_TEST(conv_create_with_unknown_member_creates_nothing);
    CPPUNIT_TEST(hostile_title_is_stored_verbatim);
    CPPUNIT_TEST(usage_errors);
    CPPUNIT_TEST(no_database_is_a_clear_error);
    CPPUNIT_TEST_SUITE_END();

    std::string db() { return shared().db.conninfo(); }

public:
    void migrate_is_recorded_and_idempotent() {
        const std::string out = admin_ok(db(), {"migrate"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("already up to date") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM schema_migrations WHERE name = '001_core'"));
    }
    static std::string read_all(const std::filesystem::path& p) {
        std::ifstream in(p);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    // schema/functions/<name>.sql defines <name> and nothing else; no
    // numbered migration defines a function or a trigger.
    void each_function_has_one_current_definition() {
        namespace fs = std::filesystem;
        const fs::path schema = fs::path(source_dir()) / "schema";
        const std::regex definition(R"(CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER)\s+(\w+))", std::regex::icase);
        int functions = 0;
        for (const auto& f : fs::directory_iterator(schema / "functions")) {
            const std::string text = read_all(f.path()), name = f.path().stem().string();
            int defines_it = 0;
            for (std::sregex_iterator m(text.begin(), text.end(), definition), end; m != end; ++m) {
                if ((*m)[2].str() == "FUNCTION") {
                    CPPUNIT_ASSERT_EQUAL_MESSAGE(f.path().string(), name, (*m)[3].str());
                    ++defines_it;
                }
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(f.path().string(), 1, defines_it);
            ++functions;
        }
        CPPUNIT_ASSERT(functions >= 8);
        for (const auto& f : fs::directory_iterator(schema)) {
            if (f.path().extension() != ".sql") continue;
            const std::string text = read_all(f.path());
            std::smatch m;
            CPPUNIT_ASSERT_MESSAGE(f.path().string() + " defines " + (std::regex_search(text, m, definition) ? m.str() : ""),
                                   !std::regex_search(text, m, definition));
        }
        // And the database has exactly those.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(functions),
                             count("SELECT count(*) FROM pg_proc WHERE proname LIKE 'mqchat\\_%'"));
    }

    // A function changed by hand (or left from an older version) is replaced
    // by the current file at the next migrate, with no new migration.
    void migrate_puts_back_the_current_functions() {
        pg::connection c(db());
        const std::string current =
            c.exec("SELECT prosrc FROM pg_proc WHERE proname = 'mqchat_forget_login_digest'").str(0, 0);
        c.exec("CREATE OR REPLACE FUNCTION mqchat_forget_login_digest() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN RETURN NEW; END $$");
        c.exec("DROP TRIGGER users_notify ON users");
        admin_ok(db(), {"migrate"});
        CPPUNIT_ASSERT_EQUAL(current,
                             c.exec("SELECT prosrc FROM pg_proc WHERE proname = 'mqchat_forget_login_digest'").str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM pg_trigger WHERE tgname = 'users_notify'"));
    }

    void messages_survive_the_move_to_partitions() {
        // A database as version 20 left it (the migrations before 021 and the
        // functions), with messages, a reaction and a mention; then migrate.
        pg::connection admin(db());
        admin.exec("CREATE DATABASE before_partitions");
        std::string conninfo = db();
        conninfo.replace(conninfo.find("dbname=mqchat"), 13, "dbname=before_partitions");
        pg::connection c(conninfo);
        c.exec("SET client_min_messages = warning"); // the old migrations' "does not exist, skipping"
        c.exec("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())");
        std::vector<std::filesystem::path> files;
        for (const auto& f : std::filesystem::directory_iterator(source_dir() + "/schema"))
            if (f.path().extension() == ".sql") files.push_back(f.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            const int version = std::stoi(f.filename().string().substr(0, 3));
            if (version > 20) continue;
            std::ifstream in(f);
            c.exec_script(std::string(std::istreambuf_iterator<char>(in), {}));
            c.exec("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                   {std::to_string(version), f.stem().string()});
        }
        for (const auto& f : std::filesystem::directory_iterator(source_dir() + "/schema/functions")) {
            std::ifstream in(f.path());
            c.exec_script(std::string(std::istreambuf_iterator<char>(in), {}));
        }
        c.exec("INSERT INTO users (name, password_hash) VALUES ('ann', $1), ('ben', $1)",
               {"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"});
        c.exec("INSERT INTO conversations (last_seq) SELECT 100 FROM generate_series(1, 20)");
        c.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
               " SELECT c.id, s, (SELECT min(id) FROM users), 'm' || c.id || '-' || s, 'hello number ' || s, s"
               " FROM conversations c, generate_series(1, 100) s");
        const std::string first_conv = std::to_string(c.exec("SELECT min(id) FROM conversations").int64(0, 0));
        c.exec("INSERT INTO reactions SELECT $1, 7, id, 'thumbs' FROM users WHERE name = 'ben'", {first_conv});
        c.exec("INSERT INTO mentions SELECT $1, 8, id FROM users WHERE name = 'ben'", {first_conv});
        const std::string before =
            c.exec("SELECT md5(string_agg(conv_id || ':' || seq || ':' || client_id || ':' || body || ':' ||"
                   " coalesce(search::text, ''), ',' ORDER BY conv_id, seq)) FROM messages").str(0, 0);

        const std::string out = admin_ok(conninfo, {"migrate"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("applied 021_partitioned_messages") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("p"),
                             c.exec("SELECT relkind::text FROM pg_class WHERE relname = 'messages'").str(0, 0));
        CPPUNIT_ASSERT_EQUAL(before, c.exec("SELECT md5(string_agg(conv_id || ':' || seq || ':' || client_id || ':' ||"
                                            " body || ':' || coalesce(search::text, ''), ',' ORDER BY conv_id, seq))"
                                            " FROM messages")
                                         .str(0, 0));
        CPPUNIT_ASSERT(c.exec("SELECT count(DISTINCT tableoid) FROM messages").int64(0, 0) > 1); // spread out
        // The keys hold: a resend is still one row, a reaction needs its message,
        // deleting a conversation takes its messages, reactions and mentions.
        bool refused = false;
        try {
            c.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
                   " SELECT $1, 101, min(id), 'm' || $1 || '-1', 'again', 1 FROM users",
                   {first_conv});
        } catch (const std::exception&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
        refused = false;
        try {
            c.exec("INSERT INTO reactions SELECT $1, 999, id, 'thumbs' FROM users WHERE name = 'ann'", {first_conv});
        } catch (const std::exception&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
        // New messages are indexed for search by the trigger, on the new table.
        c.exec("INSERT INTO messages (conv_id, seq, sender_id, client_id, body, ts)"
               " SELECT $1, 101, min(id), 'fresh', 'a quokka arrives', 1 FROM users",
               {first_conv});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             c.exec("SELECT count(*) FROM messages WHERE search @@ to_tsquery('simple', 'quokka')")
                                 .int64(0, 0));
        c.exec("DELETE FROM conversations WHERE id = $1", {first_conv});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             c.exec("SELECT (SELECT count(*) FROM messages WHERE conv_id = $1) +"
                                    " (SELECT count(*) FROM reactions) + (SELECT count(*) FROM mentions)",
                                    {first_conv})
                                 .int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1900), c.exec("SELECT count(*) FROM messages").int64(0, 0));
    }

    void user_add_and_del() {
        admin_ok(db(), {"user", "add", "ann", "--password", "pw"});
        pg::connection c(db());
        const auto r = c.exec("SELECT password_hash, role FROM users WHERE name = 'ann'");
        CPPUNIT_ASSERT_EQUAL(1, r.rows());
        CPPUNIT_ASSERT(r.str(0, 0).rfind("$argon2id$", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(std::string("user"), r.str(0, 1));
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "add", "ann", "--password", "pw"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("already exists") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "add", "ann2", "--password", ""}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("must not be empty") != std::string::npos);
        admin_ok(db(), {"user", "del", "ann"});
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"user", "del", "ann"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no user named 'ann'") != std::string::npos);
    }
    void hostile_user_names_change_nothing() {
        const std::int64_t before = count("SELECT count(*) FROM users");
        const std::string hostile[] = {"x'; DROP TABLE users; --", "a/b", "a+b", "#", "$SYS", "", std::string(10240, 'a'),
                                       "robert\"); DELETE FROM members;--", "ü"};
        for (const auto& name : hostile) {
            std::string out;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(name, 1, admin(db(), {"user", "add", name, "--password", "pw"}, out));
            CPPUNIT_ASSERT_MESSAGE(out, out.find("invalid user name") != std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL(before, count("SELECT count(*) FROM users"));
    }
    void conversations() {
        admin_ok(db(), {"user", "add", "cat", "--password", "pw"});
        admin_ok(db(), {"user", "add", "dog", "--password", "pw"});
        admin_ok(db(), {"user", "add", "eel", "--password", "pw"});
        std::string out = admin_ok(db(), {"conv", "create", "--title", "pets", "--member", "cat", "--member", "dog"});
        while (!out.empty() && out.back() == '\n') out.pop_back();
        const std::string id = out.substr(out.find_last_of(' ') + 1);
        CPPUNIT_ASSERT(std::stoll(id) > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), count("SELECT count(*) FROM members WHERE conv_id = " + id));

        admin_ok(db(), {"conv", "add-member", id, "eel"});
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "add-member", id, "eel"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("already a member") != std::string::npos);
        out = admin_ok(db(), {"conv", "list", "eel"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("pets") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("members=cat,dog,eel") != std::string::npos);

        admin_ok(db(), {"conv", "remove-member", id, "eel"});
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "remove-member", id, "eel"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("not a member") != std::string::npos);
        out = admin_ok(db(), {"conv", "list", "eel"});
        CPPUNIT_ASSERT_MESSAGE(out, out.find("in no conversation") != std::string::npos);

        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "add-member", "999999", "eel"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no conversation 999999") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "add-member", "1; DROP TABLE members", "eel"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("invalid conversation id") != std::string::npos);
    }
    void conv_create_with_unknown_member_creates_nothing() {
        admin_ok(db(), {"user", "add", "fox", "--password", "pw"});
        const std::int64_t before = count("SELECT count(*) FROM conversations");
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "create", "--member", "fox", "--member", "ghost"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no user named 'ghost'") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(before, count("SELECT count(*) FROM conversations"));
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "create", "--title", "empty"}, out));
        CPPUNIT_ASSERT_EQUAL(before, count("SELECT count(*) FROM conversations"));
    }
    void hostile_title_is_stored_verbatim() {
        admin_ok(db(), {"user", "add", "gnu", "--password", "pw"});
        const std::string title = "'); DROP TABLE messages; -- \"x\" \\ ü";
        admin_ok(db(), {"conv", "create", "--title", title, "--member", "gnu"});
        pg::connection c(db());
        CPPUNIT_ASSERT_EQUAL(1, c.exec("SELECT 1 FROM conversations WHERE title = $1", {title}).rows());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM messages")); // the table is still there
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db(), {"conv", "create", "--title", std::string(10240, 't'), "--member", "gnu"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("longer than 200") != std::string::npos);
    }
    void usage_errors() {
        std::string out;
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"frobnicate"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("unknown command") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"user", "add", "x"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db(), {"conv", "add-member", "1"}, out));
    }
    void no_database_is_a_clear_error() {
        std::string out;
        const int rc = run_command({bin_dir() + "/mqchat-admin", "migrate"}, out,
                                   {"MQCHAT_DB=", "MQCHAT_VAR=/nonexistent"});
        CPPUNIT_ASSERT_EQUAL(1, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("no database") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin("host=127.0.0.1 port=1 dbname=x connect_timeout=2", {"migrate"}, out));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("cannot connect to PostgreSQL") != std::string::npos);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(admin_test);
