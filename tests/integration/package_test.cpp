// The Debian package, built from this build tree with cpack: what it holds
// (binaries, plugin, units, conffiles, schema, web files with a working
// MQTT.js), that apt resolves its dependencies and systemd accepts its units,
// that its secret maker and removal scripts do what docs/install.md says,
// and a smoke test that runs only the files unpacked from it (dpkg -x into a
// temporary root, never into this machine's /usr or /etc): a database set up
// as docs/install.md says, mosquitto with the packaged conf.d/mqchat.conf,
// the packaged bridge with the packaged bridge.conf, a message that comes
// back stored with seq 1, and the packaged media service with the packaged
// media.conf taking a photo that the bridge granted and a member fetches.

#include <cppunit/extensions/HelperMacros.h>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/http_get.hpp"
#include "support/mqtt_client.hpp"
#include "support/raw_mqtt.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"
#include "support/test_images.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string run_ok(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                   const std::string& as_user = "") {
    std::string out;
    const int rc = run_command(argv, out, env, as_user);
    if (rc != 0) {
        std::string line;
        for (const auto& a : argv) line += a + " ";
        throw std::runtime_error(line + "exited " + std::to_string(rc) + ":\n" + out);
    }
    return out;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Owner, group and permission bits of a file.
struct file_mode {
    std::string owner, group;
    unsigned mode = 0;
};
file_mode mode_of(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path);
    std::string owner = std::to_string(st.st_uid), group = std::to_string(st.st_gid);
    if (const passwd* pw = getpwuid(st.st_uid)) owner = pw->pw_name;
    std::string out;
    if (run_command({"getent", "group", std::to_string(st.st_gid)}, out) == 0) group = out.substr(0, out.find(':'));
    return {owner, group, static_cast<unsigned>(st.st_mode & 07777)};
}
std::string describe(const file_mode& m) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", m.mode);
    return m.owner + ":" + m.group + " " + octal;
}

/// The package, built once for every test here: cpack from this build tree
/// into a temp directory, its file list, control files and contents
/// unpacked into `root`.
struct package {
    temp_dir dir{"package"};
    std::string deb, listing, control = dir.file("control"), root = dir.file("root"), multiarch;
    double cpack_seconds = 0;

    package() {
        // The secrets' owners, the broker dropping to `mosquitto` and the
        // bridge run as another user need root, as installing does.
        if (geteuid() != 0) throw std::runtime_error("package_test needs root (chown, mosquitto's privilege drop)");
        const std::string build = fs::canonical(fs::path(bin_dir()).parent_path()).string();
        const auto started = std::chrono::steady_clock::now();
        const std::string out = run_ok({"cpack", "--config", build + "/CPackConfig.cmake", "-B", dir.file("out")});
        cpack_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        for (const auto& e : fs::directory_iterator(dir.file("out")))
            if (e.path().extension() == ".deb") {
                if (!deb.empty()) throw std::runtime_error("cpack made more than one package:\n" + out);
                deb = e.path().string();
            }
        if (deb.empty()) throw std::runtime_error("cpack made no .deb:\n" + out);
        listing = run_ok({"dpkg-deb", "--contents", deb});
        run_ok({"dpkg-deb", "--control", deb, control});
        run_ok({"dpkg", "--extract", deb, root});
        multiarch = trimmed(run_ok({"dpkg-architecture", "-qDEB_HOST_MULTIARCH"}));
    }
    std::string plugin_path() const { return "/usr/lib/" + multiarch + "/mqchat/mqchat_plugin.so"; }
    std::string at(const std::string& path) const { return root + path; }
};
package& shared() {
    static auto p = std::make_unique<package>();
    return *p;
}

/// Prefixes every absolute /etc/ or /usr/ path in a config line (after a
/// space or '=') with `root`, as if the package were installed there.
std::string into_root(const std::string& text, const std::string& root) {
    static const std::regex absolute(R"((^|[ =])(/etc/|/usr/))");
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out += (line.empty() || line[0] == '#' ? line : std::regex_replace(line, absolute, "$1" + root + "$2")) + "\n";
    return out;
}
/// Replaces `from` (which must be there, once) with `to`.
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    if (at == std::string::npos || text.find(from, at + 1) != std::string::npos)
        throw std::runtime_error("expected '" + from + "' once in:\n" + text);
    return text.replace(at, from.size(), to);
}

std::string http_get(int port, const std::string& path) {
    return mqchat::test::raw_http(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 15000);
}

unsigned uid_of_process(pid_t pid) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Uid:", 0) == 0) return static_cast<unsigned>(std::stoul(line.substr(4)));
    throw std::runtime_error("no process " + std::to_string(pid));
}

/// `argv` run with memory that is never writable and executable at once,
/// as the units' MemoryDenyWriteExecute=yes (Linux ≥ 6.3: PR_SET_MDWE, set
/// by perl — Essential in Debian — before it execs the program). On an
/// older kernel, `argv` unchanged; `mdwe` says which.
std::vector<std::string> without_write_execute(const std::vector<std::string>& argv, bool& mdwe) {
    constexpr int get_mdwe = 66, set_mdwe = 65, refuse_exec_gain = 1; // linux/prctl.h, 6.3
    mdwe = prctl(get_mdwe, 0L, 0L, 0L, 0L) >= 0;
    if (!mdwe) return argv;
    std::vector<std::string> out{"perl", "-e",
                                 "syscall(" + std::to_string(SYS_prctl) + ", " + std::to_string(set_mdwe) + ", " +
                                     std::to_string(refuse_exec_gain) +
                                     ", 0, 0, 0) == 0 or die \"PR_SET_MDWE: $!\\n\"; exec {$ARGV[0]} @ARGV or die \"$ARGV[0]: $!\\n\"",
                                 "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

/// Waits until `log` holds `text`; false after `timeout`.
bool wait_log(const std::string& log, const std::string& text, std::chrono::milliseconds timeout) {
    for (auto until = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < until;) {
        if (contains(read_file(log), text)) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

} // namespace

class package_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(package_test);
    CPPUNIT_TEST(package_holds_everything_in_its_place);
    CPPUNIT_TEST(control_names_dependencies_conffiles_and_scripts);
    CPPUNIT_TEST(web_files_hold_a_working_mqtt_js);
    CPPUNIT_TEST(apt_resolves_the_package);
    CPPUNIT_TEST(systemd_accepts_the_units);
    CPPUNIT_TEST(secrets_are_made_once_with_their_owners_and_modes);
    CPPUNIT_TEST(postinst_adds_the_user_overrides_and_secrets_and_starts_nothing);
    CPPUNIT_TEST(removal_puts_the_broker_config_aside_and_purge_clears_secrets);
    CPPUNIT_TEST(unpacked_package_stores_and_delivers_a_message);
    CPPUNIT_TEST_SUITE_END();

public:
    void package_holds_everything_in_its_place() {
        const auto& p = shared();
        std::printf(" [cpack %.1f s, %s, %ld kB] ", p.cpack_seconds, fs::path(p.deb).filename().c_str(),
                    static_cast<long>(fs::file_size(p.deb) / 1024));
        const std::vector<std::string> paths{"/usr/bin/mqchat-bridge",
                                             "/usr/bin/mqchat-admin",
                                             "/usr/bin/mqchat-bot",
                                             "/usr/bin/mqchat-media",
                                             "/usr/bin/mqchat-gateway",
                                             p.plugin_path(),
                                             "/usr/libexec/mqchat/mqchat-make-secrets",
                                             "/etc/mqchat/bridge.conf",
                                             "/etc/mqchat/bot.conf",
                                             "/etc/mqchat/media.conf",
                                             "/etc/mqchat/gateway.conf",
                                             "/etc/mosquitto/conf.d/mqchat.conf",
                                             "/lib/systemd/system/mqchat-bridge.service",
                                             "/lib/systemd/system/mqchat-bot.service",
                                             "/lib/systemd/system/mqchat-media.service",
                                             "/lib/systemd/system/mqchat-gateway.service",
                                             "/var/lib/mqchat-media/",
                                             "/lib/systemd/system/mosquitto.service.d/mqchat.conf",
                                             "/usr/share/mqchat/schema/001_core.sql",
                                             "/usr/share/mqchat/schema/functions/",
                                             "/usr/share/mqchat/www/mqchat-widget.js",
                                             "/usr/share/mqchat/www/mqchat-console.js",
                                             "/usr/share/mqchat/www/console.html",
                                             "/usr/share/mqchat/www/mqtt.min.js",
                                             "/usr/share/mqchat/examples/index.html",
                                             "/usr/share/mqchat/examples/assistant/rules.json",
                                             "/usr/share/doc/mqchat/install.md",
                                             "/usr/share/doc/mqchat/configuration.md",
                                             "/usr/share/doc/mqchat/media.md",
                                             "/usr/share/doc/mqchat/gateway.md"};
        for (const auto& path : paths)
            CPPUNIT_ASSERT_MESSAGE(path + " missing from:\n" + p.listing, contains(p.listing, " ." + path));
        // Every migration the tool has compiled in is there for reference.
        for (const auto& e : fs::directory_iterator(fs::path(source_dir()) / "schema"))
            if (e.path().extension() == ".sql")
                CPPUNIT_ASSERT_MESSAGE(e.path().filename().string(),
                                       fs::exists(p.at("/usr/share/mqchat/schema/" + e.path().filename().string())));
        for (const std::string program : {"mqchat-bridge", "mqchat-admin", "mqchat-bot", "mqchat-media", "mqchat-gateway"})
            CPPUNIT_ASSERT_EQUAL_MESSAGE(program, 0755u, mode_of(p.at("/usr/bin/" + program)).mode);
        // The media service's data_dir ships empty and closed (the postinst gives it to mqchat) …
        CPPUNIT_ASSERT_EQUAL(0750u, mode_of(p.at("/var/lib/mqchat-media")).mode);
        CPPUNIT_ASSERT(fs::is_empty(p.at("/var/lib/mqchat-media")));
        // … and is the one its settings name and its unit lets it write; the
        // bridge's (commented) secret file is the media service's.
        const std::string media_conf = read_file(p.at("/etc/mqchat/media.conf"));
        const std::string media_unit = read_file(p.at("/lib/systemd/system/mqchat-media.service"));
        CPPUNIT_ASSERT_MESSAGE(media_conf, contains(media_conf, "\ndata_dir /var/lib/mqchat-media\n"));
        CPPUNIT_ASSERT_MESSAGE(media_unit, contains(media_unit, "\nStateDirectory=mqchat-media\n"));
        CPPUNIT_ASSERT_MESSAGE(media_conf, contains(media_conf, "\nurl_secret_file /etc/mqchat/secrets/media.secret\n"));
        const std::string bridge_conf = read_file(p.at("/etc/mqchat/bridge.conf"));
        CPPUNIT_ASSERT_MESSAGE(bridge_conf, contains(bridge_conf, "\n# media_url_secret_file     /etc/mqchat/secrets/media.secret\n"));
        // The broker can load it: the plugin entry points are exported.
        const std::string symbols = run_ok({"nm", "-D", "--defined-only", p.at(p.plugin_path())});
        for (const std::string entry : {"mosquitto_plugin_version", "mosquitto_plugin_init", "mosquitto_plugin_cleanup"})
            CPPUNIT_ASSERT_MESSAGE(entry + "\n" + symbols, contains(symbols, " T " + entry));
        // The broker's config names the plugin where the package put it, and
        // believes the gateway's forwarded addresses; the gateway's serves the web files.
        const std::string conf = read_file(p.at("/etc/mosquitto/conf.d/mqchat.conf"));
        CPPUNIT_ASSERT_MESSAGE(conf, contains(conf, "\nplugin " + p.plugin_path() + "\n"));
        CPPUNIT_ASSERT_MESSAGE(conf, contains(conf, "\nplugin_opt_forwarded_by 127.0.0.1\n"));
        CPPUNIT_ASSERT_MESSAGE(conf, !contains(conf, "\nprotocol websockets"));
        const std::string gateway_conf = read_file(p.at("/etc/mqchat/gateway.conf"));
        CPPUNIT_ASSERT_MESSAGE(gateway_conf, contains(gateway_conf, "\nhttp_dir /usr/share/mqchat/www\n"));
        CPPUNIT_ASSERT_MESSAGE(gateway_conf, contains(gateway_conf, "\nbroker 127.0.0.1:1883\n"));
        // Nothing from the build machine leaks into a packaged file.
        for (const std::string file : {"/etc/mosquitto/conf.d/mqchat.conf", "/etc/mqchat/bridge.conf",
                                       "/etc/mqchat/bot.conf", "/etc/mqchat/media.conf", "/etc/mqchat/gateway.conf",
                                       "/lib/systemd/system/mqchat-gateway.service",
                                       "/lib/systemd/system/mqchat-bridge.service",
                                       "/lib/systemd/system/mqchat-media.service"})
            CPPUNIT_ASSERT_MESSAGE(file, !contains(read_file(p.at(file)), source_dir()) &&
                                             !contains(read_file(p.at(file)), fs::path(bin_dir()).parent_path().string()));
    }

    void control_names_dependencies_conffiles_and_scripts() {
        const auto& p = shared();
        const std::string fields = run_ok({"dpkg-deb", "--field", p.deb, "Package", "Architecture", "Depends"});
        CPPUNIT_ASSERT_MESSAGE(fields, contains(fields, "Package: mqchat\n"));
        const std::string arch = trimmed(run_ok({"dpkg", "--print-architecture"}));
        CPPUNIT_ASSERT_MESSAGE(fields, contains(fields, "Architecture: " + arch + "\n"));
        // From dpkg-shlibdeps: the libraries the programs and the plugin link.
        for (const std::string dep : {"mosquitto (>= 2.0.11)", "adduser", "libc6", "libpq5", "libmosquitto1",
                                      "libsodium23", "libjsoncpp25", "libcjose0", "libcurl4", "libvips42",
                                      "libmagic1", "libmicrohttpd12"})
            CPPUNIT_ASSERT_MESSAGE(dep + " not in\n" + fields, contains(fields, dep));
        CPPUNIT_ASSERT_EQUAL(std::string("/etc/mqchat/bridge.conf\n/etc/mqchat/bot.conf\n/etc/mqchat/media.conf\n"
                                         "/etc/mqchat/gateway.conf\n/etc/mosquitto/conf.d/mqchat.conf\n"),
                             read_file(p.control + "/conffiles"));
        for (const std::string script : {"postinst", "prerm", "postrm"}) {
            const std::string path = p.control + "/" + script;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(script, 0755u, mode_of(path).mode);
            run_ok({"sh", "-n", path});
        }
        const std::string postinst = read_file(p.control + "/postinst");
        CPPUNIT_ASSERT_MESSAGE(postinst, contains(postinst, "\n    \"${DPKG_ROOT:-}/usr/libexec/mqchat/mqchat-make-secrets\"\n"));
        // The settings ship 0640 root:root; the daemons' group gets them through dpkg.
        for (const std::string conf : {"bridge.conf", "bot.conf", "media.conf", "gateway.conf"})
            CPPUNIT_ASSERT_EQUAL_MESSAGE(conf, 0640u, mode_of(p.at("/etc/mqchat/" + conf)).mode);
        CPPUNIT_ASSERT_MESSAGE(postinst, contains(postinst, "dpkg-statoverride --update --add root mqchat 0640 \"$f\""));
        CPPUNIT_ASSERT_MESSAGE(postinst, contains(postinst, "for f in /etc/mqchat/bridge.conf /etc/mqchat/bot.conf /etc/mqchat/media.conf /etc/mqchat/gateway.conf;"));
        CPPUNIT_ASSERT_MESSAGE("postinst must not start services", !contains(postinst, "systemctl start") &&
                                                                       !contains(postinst, "enable --now"));
    }

    void web_files_hold_a_working_mqtt_js() {
        const auto& p = shared();
        const std::string js = p.at("/usr/share/mqchat/www/mqtt.min.js");
        // The version web/package-lock.json pins …
        const std::string lock = read_file(source_dir() + "/web/package-lock.json");
        std::smatch m;
        CPPUNIT_ASSERT(std::regex_search(lock, m, std::regex(R"re("node_modules/mqtt":\s*\{\s*"version":\s*"([^"]+)")re")));
        const std::string version = m[1];
        // … is a browser bundle that defines mqtt.connect (run by node with
        // the few browser globals it looks for at load).
        const std::string out = run_ok(
            {"node", "-e",
             "globalThis.self = globalThis; globalThis.window = globalThis;"
             "Object.defineProperty(globalThis, 'navigator', {value: {userAgent: 'node'}, configurable: true});"
             "const src = require('fs').readFileSync(process.argv[1], 'utf8');"
             "const mqtt = new Function(src + '; return mqtt;')();"
             "console.log('mqtt.connect:', typeof mqtt.connect);",
             js});
        CPPUNIT_ASSERT_MESSAGE(out, contains(out, "mqtt.connect: function"));
        CPPUNIT_ASSERT_MESSAGE("MQTT.js " + version, fs::file_size(js) > 100000);
        // The widget, console and page are the repository's.
        for (const std::string f : {"mqchat-widget.js", "mqchat-console.js", "console.html"})
            CPPUNIT_ASSERT_MESSAGE(f, read_file(p.at("/usr/share/mqchat/www/" + f)) ==
                                          read_file(source_dir() + "/web/" + f));
    }

    // Needs Debian's package lists (apt-get update has run here): a package
    // whose dependencies apt cannot resolve fails, never skips.
    void apt_resolves_the_package() {
        const auto& p = shared();
        std::string out;
        const int rc = run_command({"apt-get", "install", "--simulate", "--no-install-recommends",
                                    "-o", "Debug::NoLocking=1", p.deb},
                                   out, {"DEBIAN_FRONTEND=noninteractive"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, contains(out, "Inst mqchat ") && contains(out, "Conf mqchat "));
    }

    // systemd-analyze (Debian's systemd package) checks the units as the
    // package installs them, with only their programs' paths pointed into
    // the unpacked root, and mosquitto.service with the package's drop-in.
    void systemd_accepts_the_units() {
        const auto& p = shared();
        std::string where;
        CPPUNIT_ASSERT_EQUAL_MESSAGE("systemd-analyze is needed (apt-get install systemd)", 0,
                                     run_command({"sh", "-c", "command -v systemd-analyze"}, where));
        const std::string units = p.dir.file("units");
        fs::create_directories(units + "/mosquitto.service.d");
        const std::vector<std::string> daemons{"mqchat-bridge.service", "mqchat-bot.service", "mqchat-media.service",
                                               "mqchat-gateway.service"};
        for (const auto& unit : daemons) {
            const std::string text = read_file(p.at("/lib/systemd/system/" + unit));
            write_file(units + "/" + unit,
                       std::regex_replace(text, std::regex(R"(^(Exec\w+=)/usr/bin/)", std::regex::multiline),
                                          "$1" + p.root + "/usr/bin/"));
        }
        fs::copy_file(p.at("/lib/systemd/system/mosquitto.service.d/mqchat.conf"),
                      units + "/mosquitto.service.d/mqchat.conf");
        const std::vector<std::string> env{"SYSTEMD_UNIT_PATH=" + units + ":"};
        std::string out;
        const int rc = run_command({"systemd-analyze", "verify", "mqchat-bridge.service", "mqchat-bot.service",
                                    "mqchat-media.service", "mqchat-gateway.service", "mosquitto.service"},
                                   out, env);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("warnings from systemd-analyze verify", std::string(), out);
        // The hardening holds: systemd's own exposure score stays low ("OK").
        for (const auto& unit : daemons) {
            run_command({"systemd-analyze", "security", "--offline=yes", unit}, out, env);
            std::smatch m;
            CPPUNIT_ASSERT_MESSAGE(out, std::regex_search(out, m, std::regex(R"(Overall exposure level for \S+: ([0-9.]+))")));
            CPPUNIT_ASSERT_MESSAGE(unit + ": exposure " + m[1].str(), std::stod(m[1]) <= 2.0);
            std::printf(" [%s %s] ", unit.c_str(), m[1].str().c_str());
        }
    }

    // The postinst's secret maker, run on a scratch root with `nobody` as
    // the daemons' user (this machine has no mqchat user, and the test must
    // not create one): directory and files with their owners and modes,
    // one database password in both passfiles, nothing ever replaced.
    void secrets_are_made_once_with_their_owners_and_modes() {
        const auto& p = shared();
        temp_dir scratch("secrets");
        const std::vector<std::string> env{"DPKG_ROOT=" + scratch.path(), "MQCHAT_USER=nobody",
                                           "MQCHAT_BROKER_USER=mosquitto"};
        const std::string tool = p.at("/usr/libexec/mqchat/mqchat-make-secrets");
        const std::string first = run_ok({tool}, env);
        const std::string dir = scratch.file("etc/mqchat/secrets");
        const std::vector<std::pair<std::string, std::string>> expected{
            {"", "root:nogroup 0750"},
            {"bridge.password", "root:nogroup 0640"},
            {"bot.password", "root:nogroup 0640"},
            {"token.secret", "root:nogroup 0640"},
            {"media.secret", "root:nogroup 0640"},
            {"login.key", "root:mosquitto 0640"},
            {"bridge.pgpass", "nobody:nogroup 0600"},
            {"mosquitto.pgpass", "mosquitto:mosquitto 0600"}};
        std::map<std::string, std::string> made;
        for (const auto& [name, mode] : expected) {
            const std::string path = name.empty() ? dir : dir + "/" + name;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path + "\n" + first, mode, describe(mode_of(path)));
            if (name.empty()) continue;
            made[name] = read_file(path);
            CPPUNIT_ASSERT_MESSAGE(name + ": " + made[name], made[name].size() >= 40 && made[name].back() == '\n');
        }
        CPPUNIT_ASSERT_EQUAL(7, static_cast<int>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())));
        // HS256 and the media URLs' HMAC need at least 32 bytes; the secrets differ from each other.
        CPPUNIT_ASSERT(made["token.secret"].size() > 33 && made["media.secret"].size() > 33);
        CPPUNIT_ASSERT(made["token.secret"] != made["login.key"] && made["bridge.password"] != made["bot.password"]);
        CPPUNIT_ASSERT(made["media.secret"] != made["token.secret"]);
        CPPUNIT_ASSERT_MESSAGE(made["bridge.pgpass"], std::regex_match(made["bridge.pgpass"],
                                                                       std::regex(R"(\*:\*:\*:mqchat:[A-Za-z0-9]{40,}\n)")));
        CPPUNIT_ASSERT_EQUAL(made["bridge.pgpass"], made["mosquitto.pgpass"]);

        // Again: everything kept, byte for byte, including an operator's edit.
        write_file(dir + "/token.secret", "an operator's own secret of more than thirty-two bytes\n");
        made["token.secret"] = read_file(dir + "/token.secret");
        const std::string again = run_ok({tool}, env);
        CPPUNIT_ASSERT_MESSAGE(again, !contains(again, "created"));
        for (const auto& [name, text] : made) CPPUNIT_ASSERT_EQUAL_MESSAGE(name, text, read_file(dir + "/" + name));

        // A lost passfile comes back with the password of the other one.
        fs::remove(dir + "/mosquitto.pgpass");
        const std::string third = run_ok({tool}, env);
        CPPUNIT_ASSERT_MESSAGE(third, contains(third, "created " + dir + "/mosquitto.pgpass"));
        CPPUNIT_ASSERT_EQUAL(made["bridge.pgpass"], read_file(dir + "/mosquitto.pgpass"));
        CPPUNIT_ASSERT_EQUAL(std::string("mosquitto:mosquitto 0600"), describe(mode_of(dir + "/mosquitto.pgpass")));
    }

    // The postinst on a scratch root (DPKG_ROOT), after an earlier removal
    // put mqchat.conf aside. The commands that would change this machine's
    // users and dpkg database (adduser, dpkg-statoverride, systemctl) are
    // replaced by scripts that record their arguments; getent says there
    // is no mqchat user yet; `nobody` stands in for it in the secret maker.
    void postinst_adds_the_user_overrides_and_secrets_and_starts_nothing() {
        const auto& p = shared();
        temp_dir scratch("postinst");
        const std::string root = scratch.file("root"), bin = scratch.file("bin"), calls = scratch.file("calls");
        fs::create_directories(root + "/usr/libexec/mqchat");
        fs::create_directories(root + "/etc/mosquitto/conf.d");
        fs::create_directories(bin);
        fs::copy_file(p.at("/usr/libexec/mqchat/mqchat-make-secrets"), root + "/usr/libexec/mqchat/mqchat-make-secrets");
        const std::string packaged_conf = read_file(p.at("/etc/mosquitto/conf.d/mqchat.conf"));
        write_file(root + "/etc/mosquitto/conf.d/mqchat.conf.removed", packaged_conf);
        const auto recorder = [&](const std::string& name, const std::string& body) {
            write_file(bin + "/" + name, "#!/bin/sh\necho \"" + name + " $*\" >> " + calls + "\n" + body);
            fs::permissions(bin + "/" + name, fs::perms::owner_all);
        };
        recorder("adduser", "exit 0\n");
        recorder("systemctl", "exit 0\n");
        recorder("dpkg-statoverride", "[ \"$1\" = --list ] && exit 1\nexit 0\n");
        recorder("getent", "[ \"$1 $2\" = \"passwd mqchat\" ] && exit 2\nexec /usr/bin/getent \"$@\"\n");
        const std::vector<std::string> env{"PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "DPKG_ROOT=" + root,
                                           "MQCHAT_USER=nobody"};

        const std::string out = run_ok({p.control + "/postinst", "configure", ""}, env);
        const std::string log = read_file(calls);
        for (const std::string call :
             {"adduser --system --group --no-create-home --home /nonexistent --gecos mqchat daemons --quiet mqchat\n",
              "adduser --quiet mosquitto mqchat\n",
              "dpkg-statoverride --update --add root mqchat 0640 /etc/mqchat/bridge.conf\n",
              "dpkg-statoverride --update --add root mqchat 0640 /etc/mqchat/bot.conf\n",
              "dpkg-statoverride --update --add root mqchat 0640 /etc/mqchat/media.conf\n",
              "dpkg-statoverride --update --add mqchat mqchat 0750 /var/lib/mqchat-media\n"})
            CPPUNIT_ASSERT_MESSAGE(call + " not in\n" + log, contains(log, call));
        CPPUNIT_ASSERT_MESSAGE("nothing started, enabled or reloaded on this machine:\n" + log, !contains(log, "systemctl"));
        CPPUNIT_ASSERT_MESSAGE(out, contains(out, "installed; next steps"));
        // The secrets, under DPKG_ROOT; the broker's config back from its removal.
        const std::string token = read_file(root + "/etc/mqchat/secrets/token.secret");
        CPPUNIT_ASSERT_MESSAGE(out, token.size() > 33);
        const std::string media_secret = read_file(root + "/etc/mqchat/secrets/media.secret");
        CPPUNIT_ASSERT_MESSAGE(out, media_secret.size() > 33);
        CPPUNIT_ASSERT_EQUAL(packaged_conf, read_file(root + "/etc/mosquitto/conf.d/mqchat.conf"));
        CPPUNIT_ASSERT(!fs::exists(root + "/etc/mosquitto/conf.d/mqchat.conf.removed"));

        // An upgrade: the user's edit of mqchat.conf and every secret stay.
        write_file(root + "/etc/mosquitto/conf.d/mqchat.conf", packaged_conf + "plugin_opt_typing_per_s 3\n");
        const std::string upgrade = run_ok({p.control + "/postinst", "configure", "0.0.9"}, env);
        CPPUNIT_ASSERT_MESSAGE(upgrade, contains(upgrade, "upgraded from 0.0.9: run 'mqchat-admin migrate'"));
        CPPUNIT_ASSERT_MESSAGE(upgrade, !contains(upgrade, "created"));
        CPPUNIT_ASSERT_EQUAL(token, read_file(root + "/etc/mqchat/secrets/token.secret"));
        CPPUNIT_ASSERT_EQUAL(media_secret, read_file(root + "/etc/mqchat/secrets/media.secret"));
        CPPUNIT_ASSERT(contains(read_file(root + "/etc/mosquitto/conf.d/mqchat.conf"), "plugin_opt_typing_per_s 3\n"));
    }

    // postrm on a scratch root: `remove` moves the broker's mqchat.conf
    // aside (mosquitto reads *.conf only, and the plugin is gone), `purge`
    // deletes it and the generated secrets.
    void removal_puts_the_broker_config_aside_and_purge_clears_secrets() {
        const auto& p = shared();
        temp_dir scratch("postrm");
        const std::vector<std::string> env{"DPKG_ROOT=" + scratch.path(), "MQCHAT_USER=nobody"};
        run_ok({p.at("/usr/libexec/mqchat/mqchat-make-secrets")}, env);
        fs::create_directories(scratch.file("etc/mosquitto/conf.d"));
        fs::copy_file(p.at("/etc/mosquitto/conf.d/mqchat.conf"), scratch.file("etc/mosquitto/conf.d/mqchat.conf"));
        const std::string conf = scratch.file("etc/mosquitto/conf.d/mqchat.conf");

        run_ok({p.control + "/postrm", "remove"}, env);
        CPPUNIT_ASSERT(!fs::exists(conf));
        CPPUNIT_ASSERT_EQUAL(read_file(p.at("/etc/mosquitto/conf.d/mqchat.conf")), read_file(conf + ".removed"));
        CPPUNIT_ASSERT(fs::exists(scratch.file("etc/mqchat/secrets/token.secret"))); // a removal keeps them

        run_ok({p.control + "/postrm", "purge"}, env);
        CPPUNIT_ASSERT(!fs::exists(conf + ".removed"));
        CPPUNIT_ASSERT(!fs::exists(scratch.file("etc/mqchat")));
        CPPUNIT_ASSERT(fs::exists(scratch.file("etc/mosquitto/conf.d")));
    }

    void unpacked_package_stores_and_delivers_a_message() {
        const auto& p = shared();
        const auto started = std::chrono::steady_clock::now();
        temp_dir dir("package-smoke");
        const std::string root = dir.file("root");
        run_ok({"dpkg", "--extract", p.deb, root});
        // The secrets as the postinst makes them; the daemons' user is the
        // broker's here (there is no mqchat user on this machine), so the
        // bridge below runs as `mosquitto` and reads what mqchat would.
        run_ok({root + "/usr/libexec/mqchat/mqchat-make-secrets"},
               {"DPKG_ROOT=" + root, "MQCHAT_USER=mosquitto", "MQCHAT_BROKER_USER=mosquitto"});
        const std::string secrets = root + "/etc/mqchat/secrets";
        const std::string pgpass = trimmed(read_file(secrets + "/bridge.pgpass"));
        const std::string db_password = pgpass.substr(pgpass.rfind(':') + 1);

        // The database as docs/install.md sets it up: a role mqchat with the
        // passfiles' password owning the database, password logins over TCP.
        pg_cluster db(dir);
        {
            pg::connection su(db.conninfo());
            su.exec("CREATE ROLE mqchat LOGIN PASSWORD '" + db_password + "'");
            su.exec("ALTER DATABASE mqchat OWNER TO mqchat");
            const std::string hba = dir.file("pg/pg_hba.conf");
            write_file(hba, "host all mqchat 127.0.0.1/32 scram-sha-256\n" + read_file(hba));
            su.exec("SELECT pg_reload_conf()");
        }
        const std::string db_address = "host=127.0.0.1 port=" + std::to_string(db.port());
        bool password_checked = false;
        for (int i = 0; i < 500 && !password_checked; ++i) { // the reload is asynchronous: up to ~10 s
            try {
                pg::connection wrong(db_address + " dbname=mqchat user=mqchat password=wrong connect_timeout=5");
                std::this_thread::sleep_for(20ms);
            } catch (const std::exception&) {
                password_checked = true;
            }
        }
        CPPUNIT_ASSERT_MESSAGE("PostgreSQL still lets mqchat in without its password", password_checked);

        // mqchat-admin from the package, with the bridge's passfile.
        const std::string admin_db = db_address + " dbname=mqchat user=mqchat passfile=" + secrets +
                                     "/bridge.pgpass connect_timeout=5";
        const std::vector<std::string> admin_env{"MQCHAT_DB=" + admin_db};
        const std::string admin = root + "/usr/bin/mqchat-admin";
        run_ok({admin, "migrate"}, admin_env);
        run_ok({admin, "user", "add", "mqchat-bridge", "--password-file", secrets + "/bridge.password", "--bridge"},
               admin_env);
        run_ok({admin, "user", "add", "alice", "--password", "alice-pw"}, admin_env);
        run_ok({admin, "user", "add", "bob", "--password", "bob-pw"}, admin_env);
        const std::string created =
            run_ok({admin, "conv", "create", "--title", "from the package", "--member", "alice", "--member", "bob"},
                   admin_env);
        const std::int64_t conv = std::stoll(last_word(created));

        // mosquitto as Debian starts it (as root, dropping to `mosquitto`,
        // with conf.d included), the packaged mqchat.conf with its paths
        // moved into the root, its ports free ones and the database this one.
        const int mqtt_port = free_port(), ws_port = free_port(), broker_metrics = free_port(),
                  bridge_metrics = free_port(), media_port = free_port(), media_metrics = free_port(),
                  gateway_metrics = free_port();
        std::string conf = read_file(p.at("/etc/mosquitto/conf.d/mqchat.conf"));
        conf = replace_once(conf, "\nlistener 1883 127.0.0.1\n", "\nlistener " + std::to_string(mqtt_port) + " 127.0.0.1\n");
        conf = replace_once(conf, " host=localhost port=5432 ", " " + db_address + " ");
        conf = replace_once(conf, "\nplugin_opt_metrics_listen 127.0.0.1:9881\n",
                            "\nplugin_opt_metrics_listen 127.0.0.1:" + std::to_string(broker_metrics) + "\n");
        conf = into_root(conf, root);
        fs::create_directories(dir.file("conf.d"));
        write_file(dir.file("conf.d/mqchat.conf"), conf);
        fs::create_directories(dir.file("mosquitto-data"));
        run_ok({"chown", "mosquitto", dir.file("mosquitto-data")});
        write_file(dir.file("mosquitto.conf"), "persistence true\npersistence_location " + dir.file("mosquitto-data") +
                                                   "/\nlog_dest stdout\nlog_type all\ninclude_dir " +
                                                   dir.file("conf.d") + "\n");
        child_process broker({"mosquitto", "-c", dir.file("mosquitto.conf")}, dir.file("mosquitto.log"));
        CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("mosquitto.log")), wait_port(mqtt_port, 15000));
        const passwd* mosquitto_user = getpwnam("mosquitto");
        CPPUNIT_ASSERT(mosquitto_user);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the broker dropped to the mosquitto user",
                                     static_cast<unsigned>(mosquitto_user->pw_uid), uid_of_process(broker.pid()));

        // The packaged media service with the packaged media.conf, as the
        // daemons' user (its data_dir is the unit's StateDirectory, here a
        // directory of that user's).
        std::string media_conf = read_file(p.at("/etc/mqchat/media.conf"));
        media_conf = replace_once(media_conf, " host=localhost port=5432 ", " " + db_address + " ");
        media_conf = replace_once(media_conf, "\nlisten 127.0.0.1:8090\n",
                                  "\nlisten 127.0.0.1:" + std::to_string(media_port) + "\n");
        media_conf = replace_once(media_conf, "\nmetrics_listen 127.0.0.1:9882\n",
                                  "\nmetrics_listen 127.0.0.1:" + std::to_string(media_metrics) + "\n");
        const std::string media_data = dir.file("media-data");
        media_conf = replace_once(media_conf, "\ndata_dir /var/lib/mqchat-media\n", "\ndata_dir " + media_data + "\n");
        fs::create_directories(media_data);
        run_ok({"chown", "mosquitto:mosquitto", media_data});
        run_ok({"chmod", "0750", media_data});
        write_file(dir.file("media.conf"), into_root(media_conf, root));
        run_ok({"chown", "root:mosquitto", dir.file("media.conf")});
        run_ok({"chmod", "0640", dir.file("media.conf")});
        const std::string checked = run_ok({root + "/usr/bin/mqchat-media", "--check", dir.file("media.conf")}, {}, "mosquitto");
        CPPUNIT_ASSERT_MESSAGE(checked, contains(checked, "url_secret_file " + secrets + "/media.secret"));
        // Under the unit's MemoryDenyWriteExecute where the kernel can say
        // so: libvips' run-time compiled code (liborc) must cope with it.
        bool mdwe = false;
        child_process media_daemon(without_write_execute({root + "/usr/bin/mqchat-media", dir.file("media.conf")}, mdwe),
                                   dir.file("media.log"), {}, "mosquitto");
        CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("media.log")), wait_log(dir.file("media.log"), "mqchat-media: running", 20s));

        // The packaged bridge with the packaged bridge.conf, as the user that
        // owns its passfile; attachments turned on as docs/install.md says:
        // the two commented lines, with the media service's URL.
        std::string bridge_conf = read_file(p.at("/etc/mqchat/bridge.conf"));
        const std::string media_url = "http://127.0.0.1:" + std::to_string(media_port);
        bridge_conf = replace_once(bridge_conf, "\n# media_base_url            https://media.example.org\n",
                                   "\nmedia_base_url " + media_url + "\n");
        bridge_conf = replace_once(bridge_conf, "\n# media_url_secret_file     /etc/mqchat/secrets/media.secret\n",
                                   "\nmedia_url_secret_file /etc/mqchat/secrets/media.secret\n");
        bridge_conf = replace_once(bridge_conf, "\nmqtt_uri tcp://127.0.0.1:1883\n",
                                   "\nmqtt_uri tcp://127.0.0.1:" + std::to_string(mqtt_port) + "\n");
        bridge_conf = replace_once(bridge_conf, " host=localhost port=5432 ", " " + db_address + " ");
        bridge_conf = replace_once(bridge_conf, "\nmetrics_listen 127.0.0.1:9880\n",
                                   "\nmetrics_listen 127.0.0.1:" + std::to_string(bridge_metrics) + "\n");
        // With the owner and mode the postinst gives it (root:mqchat 0640; mqchat is mosquitto here).
        write_file(dir.file("bridge.conf"), into_root(bridge_conf, root));
        run_ok({"chown", "root:mosquitto", dir.file("bridge.conf")});
        run_ok({"chmod", "0640", dir.file("bridge.conf")});
        child_process bridge({root + "/usr/bin/mqchat-bridge", dir.file("bridge.conf")}, dir.file("bridge.log"), {},
                             "mosquitto");
        CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("bridge.log")) + read_file(dir.file("mosquitto.log")),
                               wait_log(dir.file("bridge.log"), "mqchat-bridge: running", 20s));

        // A real client sends; the member gets it stored, with seq 1.
        auto alice = login(mqtt_port, "alice", "alice-pw", "alice-phone");
        auto bob = login(mqtt_port, "bob", "bob-pw", "bob-phone");
        const std::string c = std::to_string(conv);
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe("chat/conv/" + c + "/msg"));
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox"));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish("chat/conv/" + c + "/send",
                                               R"({"id":"pkg-1","body":"hello from the package"})"));
        received got;
        CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("bridge.log")),
                               bob->wait_message(got, 15s, "chat/conv/" + c + "/msg"));
        const delivered d = parse_delivered(got.payload);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), d.seq);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), d.sender);
        CPPUNIT_ASSERT_EQUAL(std::string("hello from the package"), d.body);
        CPPUNIT_ASSERT(alice->wait_message(got, 15s, "chat/user/alice/inbox"));
        const Json::Value ack = json_of(got.payload);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(got.payload, std::string("pkg-1"), ack["ack"].asString());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(got.payload, Json::Int64(1), ack["seq"].asInt64());
        {
            pg::connection check(db.conninfo());
            const auto stored = check.exec("SELECT seq, body FROM messages WHERE conv_id = " + c);
            CPPUNIT_ASSERT_EQUAL(1, stored.rows());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1), stored.int64(0, 0));
            CPPUNIT_ASSERT_EQUAL(std::string("hello from the package"), stored.str(0, 1));
        }

        // The packaged gateway with the packaged gateway.conf, as the daemons'
        // user: a browser's MQTT over WebSocket reaches the broker, and the
        // packaged web files are served.
        std::string gateway_conf = read_file(p.at("/etc/mqchat/gateway.conf"));
        gateway_conf = replace_once(gateway_conf, "\nlisten 127.0.0.1:8080\n", "\nlisten 127.0.0.1:" + std::to_string(ws_port) + "\n");
        gateway_conf = replace_once(gateway_conf, "\nbroker 127.0.0.1:1883\n", "\nbroker 127.0.0.1:" + std::to_string(mqtt_port) + "\n");
        gateway_conf = replace_once(gateway_conf, "\nmetrics_listen 127.0.0.1:9883\n",
                                    "\nmetrics_listen 127.0.0.1:" + std::to_string(gateway_metrics) + "\n");
        write_file(dir.file("gateway.conf"), into_root(gateway_conf, root));
        run_ok({"chown", "root:mosquitto", dir.file("gateway.conf")});
        run_ok({"chmod", "0640", dir.file("gateway.conf")});
        child_process gateway({root + "/usr/bin/mqchat-gateway", dir.file("gateway.conf")}, dir.file("gateway.log"), {},
                              "mosquitto");
        CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("gateway.log")), wait_log(dir.file("gateway.log"), "mqchat-gateway: running", 20s));
        {
            raw_websocket browser;
            browser.port = ws_port;
            raw_connect login_as_bob;
            login_as_bob.client_id = "bob-browser";
            login_as_bob.username = "bob";
            login_as_bob.password = "bob-pw";
            raw_mqtt web(browser, 5);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(read_file(dir.file("gateway.log")), 0, web.connect(login_as_bob));
            CPPUNIT_ASSERT_EQUAL(1, web.subscribe("chat/conv/" + c + "/msg", 1));
        }
        const std::string served = http_get(ws_port, "/mqtt.min.js");
        CPPUNIT_ASSERT_MESSAGE(served.substr(0, 200), served.rfind("HTTP/1.0 200", 0) == 0 || served.rfind("HTTP/1.1 200", 0) == 0);
        CPPUNIT_ASSERT_MESSAGE("served mqtt.min.js differs from the packaged one",
                               served.substr(served.find("\r\n\r\n") + 4) ==
                                   read_file(root + "/usr/share/mqchat/www/mqtt.min.js"));
        CPPUNIT_ASSERT(contains(http_get(ws_port, "/console.html"), "mqchat-console.js"));

        // The metrics the packaged files turn on: the broker's and the bridge's, which is ready.
        const std::string broker_scrape = http_get(broker_metrics, "/metrics");
        CPPUNIT_ASSERT_MESSAGE(broker_scrape, contains(broker_scrape, "mqchat_logins_total{outcome=\"accepted\"}"));
        const std::string bridge_scrape = http_get(bridge_metrics, "/metrics");
        CPPUNIT_ASSERT_MESSAGE(bridge_scrape, contains(bridge_scrape, "mqchat_messages_stored_total 1"));
        const std::string ready = http_get(bridge_metrics, "/readyz");
        CPPUNIT_ASSERT_MESSAGE(ready, contains(ready.substr(0, ready.find("\r\n")), " 200"));

        // The media service is ready (its database and data_dir), and a
        // photo goes the whole way: alice asks the bridge for an upload URL
        // (media.upload), PUTs the JPEG to the media service, sends it; bob
        // gets the message, asks for its URLs (media.url) and fetches the
        // photo and its thumbnail from the service.
        std::string media_ready;
        for (int i = 0; i < 100; ++i) { // its probe runs every 2 s
            media_ready = http_get(media_metrics, "/readyz");
            if (contains(media_ready.substr(0, media_ready.find("\r\n")), " 200")) break;
            std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_ASSERT_MESSAGE(media_ready + read_file(dir.file("media.log")),
                               contains(media_ready.substr(0, media_ready.find("\r\n")), " 200"));
        {
            rpc_caller asker(mqtt_port, "alice", "alice-pw"), fetcher(mqtt_port, "bob", "bob-pw");
            const std::string photo = make_jpeg(640, 480);
            const Json::Value g =
                asker.call("media.upload", params({{"conv", Json::Int64(conv)}, {"name", "street.jpg"},
                                                   {"type", "image/jpeg"}, {"size", Json::Int64(photo.size())}}));
            CPPUNIT_ASSERT_MESSAGE(g.toStyledString() + read_file(dir.file("bridge.log")), g.isMember("result"));
            const std::string upload_url = g["result"]["upload_url"].asString(), id = g["result"]["media"].asString();
            CPPUNIT_ASSERT_MESSAGE(upload_url, upload_url.rfind(media_url + "/upload/" + id + "?", 0) == 0);
            const auto put = mqchat::test::http_request("PUT", upload_url, {"Content-Type: image/jpeg"}, photo);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(put.body + read_file(dir.file("media.log")), 200L, put.status);
            const Json::Value stored = json_of(put.body);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(put.body, std::string("image/jpeg"), stored["mime"].asString());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(put.body, 640, stored["width"].asInt());

            CPPUNIT_ASSERT_EQUAL(0, alice->publish("chat/conv/" + c + "/send",
                                                   R"({"id":"pkg-2","type":"image","media":")" + id + R"("})"));
            CPPUNIT_ASSERT_MESSAGE(read_file(dir.file("bridge.log")),
                                   bob->wait_message(got, 15s, "chat/conv/" + c + "/msg"));
            const Json::Value photo_msg = json_of(got.payload);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(got.payload, id, photo_msg["media"]["id"].asString());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(got.payload, Json::Int64(2), photo_msg["seq"].asInt64());

            const Json::Value u = fetcher.call("media.url", params({{"media", id}}));
            CPPUNIT_ASSERT_MESSAGE(u.toStyledString(), u.isMember("result"));
            const auto full = mqchat::test::http_get(u["result"]["media"][0]["url"].asString());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(full.body, 200L, full.status);
            CPPUNIT_ASSERT_EQUAL(stored["size"].asInt64(), static_cast<Json::Int64>(full.body.size()));
            CPPUNIT_ASSERT_EQUAL(std::string("\xff\xd8\xff"), full.body.substr(0, 3));
            const auto thumb = mqchat::test::http_get(u["result"]["media"][0]["thumb_url"].asString());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(thumb.body, 200L, thumb.status);
            CPPUNIT_ASSERT(thumb.body.size() > 100 && thumb.body.size() < full.body.size());
        }
        // The bytes are under data_dir, the service's own; its metrics count the upload.
        const std::string blobs = run_ok({"find", media_data + "/blobs", "-type", "f", "!", "-name", ".*"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(blobs, 2L, static_cast<long>(std::count(blobs.begin(), blobs.end(), '\n')));
        const std::string media_scrape = http_get(media_metrics, "/metrics");
        CPPUNIT_ASSERT_MESSAGE(media_scrape, contains(media_scrape, "mqchat_media_uploads_total{outcome=\"stored\"} 1"));

        alice.reset();
        bob.reset();
        CPPUNIT_ASSERT_EQUAL(0, WEXITSTATUS(bridge.stop(SIGTERM)));
        CPPUNIT_ASSERT_EQUAL(0, WEXITSTATUS(media_daemon.stop(SIGTERM)));
        broker.stop(SIGTERM);
        std::printf(" [media service %s] ", mdwe ? "under PR_SET_MDWE" : "without PR_SET_MDWE (kernel < 6.3)");
        std::printf(" [smoke %.1f s] ", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(package_test);
