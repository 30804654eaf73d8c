// mqchat-admin against a real PostgreSQL: every command, its errors, and
// hostile input that must change nothing.

#include <cppunit/extensions/HelperMacros.h>

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
