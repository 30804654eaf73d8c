// The bridge's settings from more than one file (`mqchat-bridge BASE MORE…`,
// as scripts/run passes its generated file and then the operator's): a key in
// a later file overrides the same key in an earlier one, and every problem is
// reported in one go, each naming its file and key. Checked on the loader
// and on the real binary (`--check`, and refusing to start).

#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>

#include <stdexcept>
#include <string>

#include "config.hpp"
#include "support/environment.hpp"
#include "support/process.hpp"

using namespace mqchat;
using namespace mqchat::test;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Runs mqchat-bridge with `args`; returns its exit code, output in `out`.
int bridge_cli(const std::vector<std::string>& args, std::string& out) {
    std::vector<std::string> argv{bin_dir() + "/mqchat-bridge"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, out);
}

struct files {
    temp_dir dir{"bridge-config"};
    std::string base = dir.file("bridge.conf"), local = dir.file("bridge.local.conf");
    files() {
        write_secret_file(dir.file("secret"), "pw\n");
        // What scripts/run generates; the database is never reached by --check.
        write_file(base, "# generated\nmqtt_uri tcp://127.0.0.1:1\nmqtt_password_file " + dir.file("secret") +
                             "\ndb_conninfo host=127.0.0.1 port=1 password=hush dbname=mqchat\nbatch_max 100\n");
    }
};

} // namespace

class bridge_config_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(bridge_config_test);
    CPPUNIT_TEST(later_files_override_earlier_ones);
    CPPUNIT_TEST(check_shows_which_file_each_setting_came_from);
    CPPUNIT_TEST(every_problem_names_its_file_and_key);
    CPPUNIT_TEST(a_missing_file_or_required_key_is_named);
    CPPUNIT_TEST(the_bridge_refuses_to_start_on_a_bad_operator_file);
    CPPUNIT_TEST(media_settings_are_checked);
    CPPUNIT_TEST_SUITE_END();

public:
    void later_files_override_earlier_ones() {
        files f;
        write_file(f.local, "batch_max 250\nsmtp_url smtp://127.0.0.1:2525\nsmtp_from chat@example.org\n"
                            "email_digest_delay_s 60\n");
        const auto c = bridge::load_config({f.base, f.local});
        CPPUNIT_ASSERT_EQUAL(std::size_t(250), c.batch_max);                   // overridden
        CPPUNIT_ASSERT_EQUAL(std::string("tcp://127.0.0.1:1"), c.mqtt_uri);   // from the base only
        CPPUNIT_ASSERT_EQUAL(std::string("pw"), c.mqtt_password);             // read via the base's file
        CPPUNIT_ASSERT_EQUAL(std::string("smtp://127.0.0.1:2525"), c.smtp_url); // from the local only
        CPPUNIT_ASSERT_EQUAL(60, c.email_digest_delay_s);
        CPPUNIT_ASSERT_EQUAL(7 * 24 * 3600, c.session_expiry_s);             // set nowhere: the default
        CPPUNIT_ASSERT_EQUAL(f.local, c.settings.at("batch_max").file);
        CPPUNIT_ASSERT_EQUAL(f.base, c.settings.at("mqtt_uri").file);

        // Order matters: the other way round, the base wins.
        CPPUNIT_ASSERT_EQUAL(std::size_t(100), bridge::load_config({f.local, f.base}).batch_max);
        // One file alone still works, and an empty operator file changes nothing.
        write_file(f.local, "# nothing yet\n");
        CPPUNIT_ASSERT_EQUAL(std::size_t(100), bridge::load_config(f.base).batch_max);
        CPPUNIT_ASSERT_EQUAL(std::size_t(100), bridge::load_config({f.base, f.local}).batch_max);
    }

    void check_shows_which_file_each_setting_came_from() {
        files f;
        write_file(f.local, "batch_max 250\nsmtp_url smtp://127.0.0.1:2525\nsmtp_from chat@example.org\n"
                            "smtp_password very-secret\n");
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "settings are valid (" + f.base + ", " + f.local + ")"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "batch_max 250  (" + f.local + ")"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "mqtt_uri tcp://127.0.0.1:1  (" + f.base + ")"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "smtp_url smtp://127.0.0.1:2525  (" + f.local + ")"));
        // Secrets are not printed.
        CPPUNIT_ASSERT_MESSAGE(out, !has(out, "very-secret") && !has(out, "hush"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "smtp_password (hidden)"));

        CPPUNIT_ASSERT_EQUAL(2, bridge_cli({}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "usage: mqchat-bridge [--check] CONFIG_FILE [MORE_CONFIG_FILES...]"));
        CPPUNIT_ASSERT_EQUAL(2, bridge_cli({"--check"}, out));
    }

    void every_problem_names_its_file_and_key() {
        files f;
        write_file(f.base, read_file(f.base) + "batch_maks 5\n"); // a typo in the first file
        write_file(f.local, "session_expiry_s 5\nsmtp_urll smtp://x\nsmtp_url smtp://127.0.0.1:2525\n"
                            "fcm_project_id my-app\n");
        try {
            bridge::load_config({f.base, f.local});
            CPPUNIT_FAIL("expected the settings to be refused");
        } catch (const std::invalid_argument& e) {
            const std::string what = e.what();
            CPPUNIT_ASSERT_MESSAGE(what, has(what, f.base + ": unknown option batch_maks"));
            CPPUNIT_ASSERT_MESSAGE(what, has(what, f.local + ": session_expiry_s '5' is not an integer from 60"));
            CPPUNIT_ASSERT_MESSAGE(what, has(what, "unknown option smtp_urll"));
            CPPUNIT_ASSERT_MESSAGE(what, has(what, "smtp_url needs smtp_from"));
            CPPUNIT_ASSERT_MESSAGE(what, has(what, "fcm_project_id and fcm_service_account_file go together"));
            // One line per file: everything wrong in the operator's file is on its line.
            const auto line = what.substr(what.find(f.local + ": "));
            CPPUNIT_ASSERT_MESSAGE(what, has(line.substr(0, line.find('\n')), "smtp_url needs smtp_from"));
        }
        // The binary says the same, one line per file, and exits 1.
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "mqchat-bridge: " + f.base + ": unknown option batch_maks\n"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "mqchat-bridge: " + f.local + ": session_expiry_s '5'"));
    }

    void a_missing_file_or_required_key_is_named() {
        files f;
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.dir.file("nope.conf")}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "cannot read config file " + f.dir.file("nope.conf")));

        write_file(f.local, "batch_max 10\nlonely\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, f.local + ":2: option 'lonely' has no value"));

        write_file(f.local, "batch_max 10\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "missing required options db_conninfo, mqtt_password_file (set in none of " +
                                                 f.local + ")"));
        // A required key may come from any of the files.
        write_file(f.dir.file("db.conf"), "db_conninfo host=127.0.0.1 port=1\n");
        write_file(f.dir.file("mqtt.conf"), "mqtt_password_file " + f.dir.file("secret") + "\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0,
                                     bridge_cli({"--check", f.dir.file("db.conf"), f.dir.file("mqtt.conf")}, out));
        // A file a key points at is named with the file that set the key.
        write_file(f.local, "mqtt_password_file " + f.dir.file("no-secret") + "\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, f.local + ": mqtt_password_file: cannot read the secret file " +
                                                 f.dir.file("no-secret")));
        // A secret every user of the host may read is refused, with the fix; 0640 is fine.
        write_file(f.dir.file("open-secret"), "pw\n");
        std::filesystem::permissions(f.dir.file("open-secret"), std::filesystem::perms(0644));
        write_file(f.local, "mqtt_password_file " + f.dir.file("open-secret") + "\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, f.local + ": mqtt_password_file: the secret file " +
                                                 f.dir.file("open-secret") +
                                                 " can be read or written by every user (mode 0644); chmod o-rwx"));
        std::filesystem::permissions(f.dir.file("open-secret"), std::filesystem::perms(0640));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, bridge_cli({"--check", f.base, f.local}, out));
        // The same for the push providers' keys and the SMTP password, read from files.
        write_file(f.dir.file("account.json"), "{}\n");
        std::filesystem::permissions(f.dir.file("account.json"), std::filesystem::perms(0604));
        write_file(f.dir.file("smtp.pw"), "\n");
        std::filesystem::permissions(f.dir.file("smtp.pw"), std::filesystem::perms(0600));
        write_file(f.local, "fcm_project_id p\nfcm_service_account_file " + f.dir.file("account.json") +
                                "\nsmtp_url smtp://127.0.0.1:25\nsmtp_from a@example.org\nsmtp_password_file " +
                                f.dir.file("smtp.pw") + "\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "fcm_service_account_file: the secret file " + f.dir.file("account.json") +
                                                 " can be read or written by every user (mode 0604)"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "smtp_password_file: the secret file " + f.dir.file("smtp.pw") + " is empty"));
    }

    void media_settings_are_checked() {
        files f;
        write_secret_file(f.dir.file("media.secret"), std::string(40, 'k') + "\n");
        write_file(f.local, "media_base_url https://chat.example.org/media/\nmedia_url_secret_file " +
                                f.dir.file("media.secret") + "\nmedia_types image/*, application/pdf\nmedia_max_bytes 1000\n");
        const auto c = bridge::load_config({f.base, f.local});
        CPPUNIT_ASSERT_EQUAL(std::string("https://chat.example.org/media"), c.media_base_url); // no trailing '/'
        CPPUNIT_ASSERT_EQUAL(std::string(40, 'k'), c.media_url_secret);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), c.media_types.size());
        CPPUNIT_ASSERT_EQUAL(std::string("application/pdf"), c.media_types[1]);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), c.media_max_bytes);
        // Each problem named with its option.
        write_secret_file(f.dir.file("short.secret"), "short\n");
        write_file(f.local, "media_base_url ftp://x\nmedia_url_secret_file " + f.dir.file("short.secret") +
                                "\nmedia_types image/jpeg, IMAGE/PNG, text\nmedia_max_bytes 0\nmedia_url_ttl_s 5\n");
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_base_url 'ftp://x' is not an http(s) URL"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_url_secret_file: " + f.dir.file("short.secret") + " holds fewer than 32"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_types: 'IMAGE/PNG' is not a MIME type"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_types: 'text' is not a MIME type"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_max_bytes '0'"));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_url_ttl_s '5'"));
        // A URL without a secret; a secret every user may read.
        write_file(f.local, "media_base_url http://127.0.0.1:8090\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_base_url needs media_url_secret_file"));
        std::filesystem::permissions(f.dir.file("media.secret"), std::filesystem::perms(0644));
        write_file(f.local, "media_base_url http://127.0.0.1:8090\nmedia_url_secret_file " + f.dir.file("media.secret") + "\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({"--check", f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "media_url_secret_file: the secret file " + f.dir.file("media.secret") +
                                                 " can be read or written by every user"));
    }

    void the_bridge_refuses_to_start_on_a_bad_operator_file() {
        files f;
        write_file(f.local, "batch_max lots\n");
        std::string out;
        // Not --check: a real start stops before touching the broker or the database.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 1, bridge_cli({f.base, f.local}, out));
        CPPUNIT_ASSERT_MESSAGE(out, has(out, "mqchat-bridge: " + f.local + ": batch_max 'lots' is not an integer"));
        CPPUNIT_ASSERT_MESSAGE(out, !has(out, "running"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(bridge_config_test);
