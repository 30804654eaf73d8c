// The support widget and the agents' console in a real browser (Debian's
// chromium driven by playwright-core: tests/browser/*.mjs) against the real
// stack: PostgreSQL, Mosquitto with the plugin, mqchat-gateway serving the
// web files and carrying the pages' MQTT over WebSocket to the broker, the
// bridge, and for attachments the media service. The script
// plays a visitor on a phone-sized page and an agent in the console; this
// side then checks in the database that nothing was lost or doubled and
// that hostile text was stored as given.

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <ctime>
#include <sstream>
#include <vector>
#include <memory>

#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;

namespace {

const std::string token_secret = "browser-test-secret-of-more-than-32-bytes";

struct web_stack {
    temp_dir files{"browser-web"};
    std::string secret_file = files.file("token.secret");
    std::string www = files.file("www");
    int ws_port = 0; ///< the gateway's: web files and MQTT over WebSocket
    std::unique_ptr<chat_stack> stack;
    std::unique_ptr<web_gateway> gateway;

    web_stack() {
        write_secret_file(secret_file, token_secret + "\n");
        std::string out;
        if (run_command({"mkdir", "-p", www}, out) != 0) throw std::runtime_error(out);
        broker_options o;
        o.plugin_options = {"jwt_hs256_secret_file " + secret_file, "forwarded_by 127.0.0.1"};
        stack = std::make_unique<chat_stack>("browser", o);
        gateway = std::make_unique<web_gateway>(stack->dir, stack->port(), std::vector<std::string>{"http_dir " + www});
        gateway->start();
        ws_port = gateway->port();
        restart_bridge();
        stack->add_user("ann", "pw-ann");
        admin_ok(stack->conninfo(), {"desk", "create", "demo", "--title", "Demo shop help"});
        admin_ok(stack->conninfo(), {"desk", "add-agent", "demo", "ann"});
        admin_ok(stack->conninfo(), {"desk", "prechat", "demo", "name:required"});
        const std::string key = last_word(admin_ok(stack->conninfo(), {"site-key", "create", "demo", "--label",
                                                                       "browser test", "--secret-file", secret_file}));
        const int rc = run_command({"bash", source_dir() + "/scripts/web-assemble", www, key, "demo"}, out);
        if (rc != 0) throw std::runtime_error("scripts/web-assemble failed:\n" + out);
    }

    /// The bridge again, with visitor tokens and these more settings.
    void restart_bridge(std::vector<std::string> more = {}) {
        more.push_back("visitor_token_secret_file " + secret_file);
        stack->restart_bridge(more);
    }

    /// Another desk's demo page: NAME.html, the demo page with that desk's own site key.
    void page_for(const std::string& desk) {
        const std::string key = last_word(admin_ok(stack->conninfo(), {"site-key", "create", desk, "--label",
                                                                       "browser test " + desk, "--secret-file", secret_file}));
        std::string page = read_file(www + "/index.html");
        for (const auto& [from, to] : {std::pair<std::string, std::string>{"data-desk=\"demo\"", "data-desk=\"" + desk + "\""}}) {
            const auto at = page.find(from);
            if (at == std::string::npos) throw std::runtime_error("no " + from + " in the demo page");
            page.replace(at, from.size(), to);
        }
        const auto k = page.find("data-site-key=\"");
        page.replace(k + 15, page.find('"', k + 15) - (k + 15), key);
        write_file(www + "/" + desk + ".html", page);
    }
};

} // namespace

class browser_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(browser_test);
    CPPUNIT_TEST(a_visitor_and_an_agent_chat_in_the_browser);
    CPPUNIT_TEST(agents_race_routing_assigns_and_the_offline_form_mails);
    CPPUNIT_TEST(the_assistant_answers_suggests_and_hands_over);
    CPPUNIT_TEST(attachments_go_both_ways_and_refusals_show);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_visitor_and_an_agent_chat_in_the_browser() {
        web_stack w;
        const std::string identity_secret = last_word(admin_ok(w.stack->conninfo(), {"desk", "identity-secret", "demo"}));
        std::string out;
        const int rc = run_command({"node", source_dir() + "/tests/browser/desk_flow.mjs"}, out,
                                   {"MQCHAT_WEB=http://127.0.0.1:" + std::to_string(w.ws_port), "MQCHAT_AGENT=ann",
                                    "MQCHAT_AGENT_PASSWORD=pw-ann", "MQCHAT_SHOTS=" + w.files.path(),
                                    "MQCHAT_IDENTITY_SECRET=" + identity_secret, "MQCHAT_WWW=" + w.www});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("desk_flow: every step passed") != std::string::npos);

        // What the browsers did, as the database has it: four messages once
        // each (the one sent offline too), hostile text kept verbatim, the rating.
        pg::connection db(w.stack->conninfo());
        const auto s = db.exec("SELECT conv_id, status, rating, rating_comment, details ->> 'name' FROM support_conversations"
                               " WHERE NOT details ? 'verified'");
        CPPUNIT_ASSERT_EQUAL(1, s.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), s.str(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), s.int64(0, 2));
        const std::string hostile = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=1</script>";
        CPPUNIT_ASSERT_EQUAL(std::string("Quick and kind ") + hostile, s.str(0, 3));
        CPPUNIT_ASSERT_EQUAL(hostile, s.str(0, 4));
        const auto m = db.exec("SELECT count(*), count(DISTINCT body), max(seq) FROM messages WHERE conv_id = $1",
                               {s.str(0, 0)});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), m.int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), m.int64(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), m.int64(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.exec("SELECT count(*) FROM messages WHERE body = 'sent while offline'").int64(0, 0));
        // The verified customer: one visitor, one conversation for both
        // devices, its message once, ended from the laptop.
        const auto v = db.exec("SELECT u.name, s.status, (SELECT count(*) FROM messages m WHERE m.conv_id = s.conv_id)"
                               "  FROM support_conversations s JOIN users u ON u.id = s.visitor_id WHERE details ? 'verified'");
        CPPUNIT_ASSERT_EQUAL(1, v.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("c-"), v.str(0, 0).substr(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), v.str(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), v.int64(0, 2));
    }

    void agents_race_routing_assigns_and_the_offline_form_mails() {
        web_stack w;
        auto& st = *w.stack;
        for (const char* u : {"andy", "pia"}) st.add_user(u, std::string("pw-") + u);
        admin_ok(st.conninfo(), {"desk", "add-agent", "demo", "andy"});
        admin_ok(st.conninfo(), {"desk", "create", "auto"});
        admin_ok(st.conninfo(), {"desk", "routing", "auto", "least_busy"});
        admin_ok(st.conninfo(), {"desk", "add-agent", "auto", "pia", "--capacity", "1"});
        admin_ok(st.conninfo(), {"desk", "prechat", "auto", "name"});
        admin_ok(st.conninfo(), {"desk", "create", "night"});
        admin_ok(st.conninfo(), {"desk", "email", "night", "night-team@example.com"});
        w.page_for("auto");
        w.page_for("night");
        std::string out;
        const int rc = run_command({"node", source_dir() + "/tests/browser/desk_routing.mjs"}, out,
                                   {"MQCHAT_WEB=http://127.0.0.1:" + std::to_string(w.ws_port),
                                    R"(MQCHAT_PASSWORD_OF={"ann":"pw-ann","andy":"pw-andy","pia":"pw-pia"})",
                                    "MQCHAT_PLUGIN_WORKER=" + std::to_string(worker_of(st.mqtt->pid())),
                                    "MQCHAT_CONNINFO=" + st.conninfo()});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("desk_routing: every step passed") != std::string::npos);

        pg::connection db(st.conninfo());
        // The raced conversation went from agent to agent, was closed and
        // reopened, and waits at desk night now: neither agent is in it any
        // more, and every message is there once.
        const auto raced = db.exec("SELECT s.status, s.assignee_id IS NULL, (SELECT count(*) FROM members m"
                                   "   JOIN users u ON u.id = m.user_id WHERE m.conv_id = s.conv_id AND u.name IN ('ann', 'andy')),"
                                   "  (SELECT string_agg(body, '|' ORDER BY seq) FROM messages WHERE conv_id = s.conv_id)"
                                   "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id WHERE d.name = 'night'");
        CPPUNIT_ASSERT_EQUAL(1, raced.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), raced.str(0, 0));
        CPPUNIT_ASSERT(raced.boolean(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), raced.int64(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::string("Race me|You won me!|Back again"), raced.str(0, 3));
        // At desk demo only the conversation ann claimed while the plugin's worker was stopped: both messages once.
        const auto claimed = db.exec("SELECT s.status, a.name, (SELECT string_agg(body, '|' ORDER BY seq) FROM messages"
                                "   WHERE conv_id = s.conv_id) FROM support_conversations s JOIN desks d ON d.id = s.desk_id"
                                "  JOIN users a ON a.id = s.assignee_id WHERE d.name = 'demo'");
        CPPUNIT_ASSERT_EQUAL(1, claimed.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("assigned"), claimed.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), claimed.str(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("Anyone there?|Can you hear me now?"), claimed.str(0, 2));
        // Routing: the first closed, the second (older) assigned, the third still waiting.
        const auto routed = db.exec("SELECT s.status, coalesce(a.name, '') FROM support_conversations s"
                                    "  JOIN desks d ON d.id = s.desk_id LEFT JOIN users a ON a.id = s.assignee_id"
                                    " WHERE d.name = 'auto' ORDER BY s.conv_id");
        CPPUNIT_ASSERT_EQUAL(3, routed.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), routed.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("assigned"), routed.str(1, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("pia"), routed.str(1, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), routed.str(2, 0));
        // The offline form's message waits for the mailer (no SMTP server here), addressed to the desk.
        const auto mail = db.exec("SELECT recipient, reply_to, body FROM desk_mail WHERE kind = 'offline'");
        CPPUNIT_ASSERT_EQUAL(1, mail.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("night-team@example.com"), mail.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("olga@example.com"), mail.str(0, 1));
        CPPUNIT_ASSERT(mail.str(0, 2).find("Please call me back tomorrow.") != std::string::npos);
        CPPUNIT_ASSERT(mail.str(0, 2).find("Olga <b>O</b>") != std::string::npos);
    }

    void the_assistant_answers_suggests_and_hands_over() {
        web_stack w;
        auto& st = *w.stack;
        admin_ok(st.conninfo(), {"user", "add", "helper", "--password", "pw-helper", "--bot"});
        write_file(st.dir.file("rules.json"), R"({"threshold": 0.6, "keywords": ["human"],
            "greeting": "Hello! I am the shop's assistant.", "unsure": "I am not sure about that."})");
        write_file(st.dir.file("kb.md"), "## How long does shipping take?\n? When will my order arrive?\n"
                                         "Orders ship within two business days.\n\n"
                                         "## How do I reset my password?\n? forgot password\n"
                                         "Use Forgot password on the login page.\n");
        for (const char* desk : {"help", "late"}) {
            admin_ok(st.conninfo(), {"desk", "create", desk});
            admin_ok(st.conninfo(), {"desk", "assistant", desk, "helper", "--rules", st.dir.file("rules.json")});
            admin_ok(st.conninfo(), {"kb", "load", desk, st.dir.file("kb.md")});
            w.page_for(desk);
        }
        admin_ok(st.conninfo(), {"desk", "add-agent", "help", "ann"});
        // "late" is closed now (open only the day after tomorrow) and takes offline messages.
        static const char* const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
        const std::time_t now = std::time(nullptr);
        std::tm utc{};
        gmtime_r(&now, &utc);
        admin_ok(st.conninfo(), {"desk", "hours", "late", std::string(days[(utc.tm_wday + 2) % 7]) + "=09:00-10:00"});
        admin_ok(st.conninfo(), {"desk", "email", "late", "late-team@example.com"});
        assistant_bot bot(st.dir, st.port(), "helper", "pw-helper");
        bot.start();
        std::string out;
        const int rc = run_command({"node", source_dir() + "/tests/browser/assistant_flow.mjs"}, out,
                                   {"MQCHAT_WEB=http://127.0.0.1:" + std::to_string(w.ws_port), "MQCHAT_AGENT=ann",
                                    "MQCHAT_AGENT_PASSWORD=pw-ann", "MQCHAT_DB=" + st.conninfo()});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out + "\n" + bot.log(), 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("assistant_flow: every step passed") != std::string::npos);

        // As the database has it: the visitor's button, then the agent handed it back; the
        // out-of-hours one by keyword. Nothing the assistant said after the handoff.
        pg::connection db(st.conninfo());
        const auto rules = db.exec("SELECT d.name, string_agg(x.rule, ',' ORDER BY x.at) FROM desk_escalations x"
                                   "  JOIN desks d ON d.id = x.desk_id GROUP BY d.name ORDER BY d.name");
        CPPUNIT_ASSERT_EQUAL(2, rules.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("request,failures,sentiment"), rules.str(0, 1));
        CPPUNIT_ASSERT_EQUAL(std::string("keyword"), rules.str(1, 1));
        const auto help = db.exec("SELECT s.status, (SELECT string_agg(u.name || ':' || coalesce(m.type, 'text'), ' ' ORDER BY m.seq)"
                                  "   FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.conv_id = s.conv_id)"
                                  "  FROM support_conversations s JOIN desks d ON d.id = s.desk_id WHERE d.name = 'help'"
                                  " ORDER BY s.conv_id LIMIT 1");
        CPPUNIT_ASSERT_EQUAL(1, help.rows()); // the first visitor's
        CPPUNIT_ASSERT_EQUAL(std::string("bot"), help.str(0, 0));
        // greeting, question, answer, question, unsure, suggestions, the suggestion, its answer;
        // the visitor's button; ann's reply, the visitor's thanks; back with the assistant.
        const std::string said = help.str(0, 1);
        CPPUNIT_ASSERT_MESSAGE(said, said.find("helper:quick_replies") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(said, said.find("ann:text") != std::string::npos);
        // After ann's reply: the visitor's thanks, and the assistant only once handed back.
        std::vector<std::string> turns;
        std::istringstream words(said);
        for (std::string t; words >> t;) turns.push_back(t);
        const auto ann_at = std::find(turns.begin(), turns.end(), "ann:text") - turns.begin();
        CPPUNIT_ASSERT_MESSAGE(said, ann_at + 2 < static_cast<std::ptrdiff_t>(turns.size()));
        CPPUNIT_ASSERT_MESSAGE(said, turns[ann_at + 1].rfind("v-", 0) == 0);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(said, std::string("helper:text"), turns[ann_at + 2]);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(said, static_cast<std::ptrdiff_t>(turns.size()), ann_at + 3);
    }

    void attachments_go_both_ways_and_refusals_show() {
        web_stack w;
        const std::string secret = "browser-media-url-secret-of-more-than-32-bytes";
        media_service media(w.files, w.stack->conninfo(), secret); // its secret in files/media.secret
        media.start();
        const std::string media_base = media.base_url();
        w.restart_bridge({"media_base_url " + media_base, "media_url_secret_file " + w.files.file("media.secret")});
        std::string out;
        const int rc = run_command({"node", source_dir() + "/tests/browser/media_flow.mjs"}, out,
                                   {"MQCHAT_WEB=http://127.0.0.1:" + std::to_string(w.ws_port), "MQCHAT_AGENT=ann",
                                    "MQCHAT_AGENT_PASSWORD=pw-ann", "MQCHAT_MEDIA=" + media_base,
                                    "MQCHAT_MEDIA_SECRET=" + secret, "MQCHAT_SHOTS=" + w.files.path()});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out + "\n" + media.log(), 0, rc);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("media_flow: every step passed") != std::string::npos);

        // As the database has it: the text, the visitor's photo and PDF, the
        // agent's image — each attachment's message names its upload, which
        // the service stored (ready, its SHA-256) and which belongs to that
        // message; the refused upload is marked so and carried by no message;
        // the type the desk does not take was never granted.
        pg::connection db(w.stack->conninfo());
        const auto msgs = db.exec("SELECT coalesce(m.type, 'text'), m.media_id, md.status, md.sha256, md.declared_name,"
                                  "       md.seq = m.seq, md.width, u.name"
                                  "  FROM messages m JOIN users u ON u.id = m.sender_id"
                                  "  LEFT JOIN media md ON md.id = m.media_id ORDER BY m.seq");
        CPPUNIT_ASSERT_EQUAL(4, msgs.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("text"), msgs.str(0, 0));
        CPPUNIT_ASSERT(msgs.is_null(0, 1));
        const std::vector<std::pair<std::string, std::string>> sent = {
            {"image", "broken mug.png"}, {"file", "<img src=x onerror=alert(1)>.pdf"}, {"image", "replacement.png"}};
        for (int i = 1; i < 4; ++i) {
            CPPUNIT_ASSERT_EQUAL(sent[i - 1].first, msgs.str(i, 0));
            CPPUNIT_ASSERT(!msgs.is_null(i, 1));
            CPPUNIT_ASSERT_EQUAL(std::string("ready"), msgs.str(i, 2));
            CPPUNIT_ASSERT_EQUAL(std::size_t(64), msgs.str(i, 3).size());
            CPPUNIT_ASSERT_EQUAL(sent[i - 1].second, msgs.str(i, 4));
            CPPUNIT_ASSERT(msgs.boolean(i, 5));
        }
        CPPUNIT_ASSERT_EQUAL(std::int64_t(120), msgs.int64(1, 6));
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), msgs.str(3, 7));
        const auto refused = db.exec("SELECT status, refusal, seq IS NULL FROM media WHERE declared_name = 'not really.png'");
        CPPUNIT_ASSERT_EQUAL(1, refused.rows());
        CPPUNIT_ASSERT_EQUAL(std::string("refused"), refused.str(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("type_mismatch"), refused.str(0, 1));
        CPPUNIT_ASSERT(refused.boolean(0, 2));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.exec("SELECT count(*) FROM media").int64(0, 0));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(browser_test);
