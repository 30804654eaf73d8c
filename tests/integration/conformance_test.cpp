// "Ordinary MQTT behaves exactly as without the plugin" (issue #11).
//
// An operator adds mqchat to a Mosquitto that already serves devices:
// `plugin_opt_exclusive false`, `allow_anonymous true`, a password_file with
// a device user, and an acl_file granting `topic readwrite #` (and read on
// $SYS/#) to anonymous clients and to the device. Two brokers start from that same configuration,
// one with the plugin and one without. Each scenario drives fresh raw MQTT
// clients (support/raw_mqtt.hpp) against one broker and returns a transcript
// of everything they received, packet by packet: CONNACK, SUBACK, UNSUBACK,
// PUBACK, PUBREC, PUBREL, PUBCOMP with their codes and properties, and every
// PUBLISH with topic, payload, QoS, retain, dup, packet id and properties in
// the order they came. The two transcripts must be identical; each scenario
// also checks that its transcript shows the behaviour it is about, so it
// cannot pass by both brokers doing nothing.
//
// Normalised, because it is legitimately random or timing-bound: the client
// identifier a broker assigns (a random UUID), $SYS values (counters,
// uptime, load, and which topics beyond the usual ones a broker has
// published so far) and the remaining expiry of a message that waited
// offline (it depends on where the wall clock's seconds fall; the
// transcript says whether it was decremented by the time spent waiting).
// PINGRESP, the answer to the test's own barrier, is left out.
//
// Waiting: a client's PINGREQ is answered after everything the broker had
// to send it before (its packets are handled in order, and deliveries of a
// publish already acknowledged to its sender are queued by then), so ping()
// shows that something did not come without a sleep. One fixed wait
// remains, where time itself is the subject: 2.1 s for a message to expire.
//
// Last, a busy chat on the full stack (bridge included) with wildcard
// subscribers who are not members: they get every ordinary message and
// nothing of chat.
//
// MQCHAT_SHOW_TRANSCRIPTS=1 prints every transcript.

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "support/chat.hpp"
#include "support/raw_mqtt.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// The operator's broker, twice.

/// The operator's own files: a device user in the password file; anonymous
/// clients (the lines before any `user` line) and the device may use every
/// topic; $SYS is readable (a `#` in an ACL does not match `$` topics).
struct operator_files {
    std::string password_file, acl_file;
    explicit operator_files(const temp_dir& dir) : password_file(dir.file("passwd")), acl_file(dir.file("acl")) {
        std::string out;
        if (run_command({"mosquitto_passwd", "-b", "-c", password_file, "device", "pw-device"}, out) != 0)
            throw std::runtime_error("mosquitto_passwd failed: " + out);
        write_file(acl_file, "topic readwrite #\ntopic read $SYS/#\n\nuser device\ntopic readwrite #\ntopic read $SYS/#\n");
    }
    broker_options options(bool with_plugin) const {
        broker_options o;
        o.with_plugin = with_plugin;
        o.allow_anonymous = true;
        o.extra_lines = {"password_file " + password_file, "acl_file " + acl_file, "sys_interval 1"};
        if (with_plugin) o.plugin_options = {"exclusive false"};
        return o;
    }
};

struct fixture {
    temp_dir dir{"conformance"};
    pg_cluster db{dir};
    operator_files files{dir};
    std::unique_ptr<broker> without, with;
    fixture() {
        // Chat exists in the plugin's database, as it would in production.
        admin_ok(db.conninfo(), {"migrate"});
        admin_ok(db.conninfo(), {"user", "add", "alice", "--password", "pw-alice"});
        admin_ok(db.conninfo(), {"user", "add", "bob", "--password", "pw-bob"});
        admin_ok(db.conninfo(), {"conv", "create", "--member", "alice", "--member", "bob"});
        without = std::make_unique<broker>(dir, "", files.options(false), "without-plugin");
        with = std::make_unique<broker>(dir, db.conninfo(), files.options(true), "with-plugin");
        without->start();
        with->start();
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

// ---------------------------------------------------------------------------
// Scenarios and transcripts.

/// One run of a scenario against one broker: the clients it opened, in
/// order, and how to write what they received.
class run {
public:
    run(std::string broker_name, int port) : name(std::move(broker_name)), port_(port) {}

    const std::string name;

    /// A new client, connected with `c` (the CONNACK is in its log; check it).
    raw_mqtt& open(const std::string& who, const raw_connect& c) {
        clients_.emplace_back(who, std::make_unique<raw_mqtt>(port_, c.protocol));
        raw_mqtt& m = *clients_.back().second;
        m.connect(c);
        return m;
    }
    /// A new client that must be accepted.
    raw_mqtt& open_ok(const std::string& who, const raw_connect& c) {
        raw_mqtt& m = open(who, c);
        check(!m.log().empty() && m.log().front().type == CONNACK && m.log().front().reason == 0,
              who + " was not accepted");
        return m;
    }

    /// Replaces how PUBLISH packets are written (the default: describe()).
    std::function<std::string(const mqtt_packet&)> render_publish;

    /// A line for the transcript, after the clients' packets.
    void note(const std::string& line) { notes_.push_back(line); }

    /// Everything every client received, client by client. Left out: a
    /// packet render_publish writes as "", and PINGRESP (the answer to the
    /// test's own barrier: where it falls among the broker's answers to
    /// acks depends on when the client happened to read, not on the broker).
    std::string transcript() const {
        std::string out;
        for (const auto& [who, c] : clients_) {
            out += "[" + who + "]\n";
            for (const auto& p : c->log()) {
                if (p.type == PINGRESP) continue;
                const std::string line = render(p);
                if (!line.empty()) out += "  " + line + "\n";
            }
            if (c->closed()) out += "  (closed)\n";
        }
        for (const auto& n : notes_) out += n + "\n";
        return out;
    }

    /// Asserts that the scenario showed what it is about.
    void check(bool ok, const std::string& what) const {
        if (!ok) CPPUNIT_FAIL(name + ": " + what + "\n" + transcript());
    }

    /// A ping barrier on every open client, twice: the second one also
    /// waits for the broker's answers to acks sent while reading up to the
    /// first (a PUBREL after our PUBREC).
    void settle() {
        for (int twice = 0; twice < 2; ++twice)
            for (auto& [who, c] : clients_)
                if (!c->closed()) c->ping();
    }

private:
    std::string render(const mqtt_packet& p) const {
        if (p.type == PUBLISH && render_publish) return render_publish(p);
        if (p.type != CONNACK) return describe(p);
        // The identifier a broker assigns is a random UUID.
        mqtt_packet q = p;
        for (auto& prop : q.properties)
            if (prop.id == ASSIGNED_CLIENT_ID && prop.value.rfind("auto-", 0) == 0 && prop.value.size() == 41)
                prop.value = "auto-<random UUID>";
        return describe(q);
    }

    int port_;
    std::vector<std::pair<std::string, std::unique_ptr<raw_mqtt>>> clients_;
    std::vector<std::string> notes_;
};

using scenario = std::function<void(run&)>;

std::string first_difference(const std::string& a, const std::string& b) {
    std::istringstream x(a), y(b);
    std::string l1, l2;
    for (int line = 1;; ++line) {
        const bool more1 = static_cast<bool>(std::getline(x, l1)), more2 = static_cast<bool>(std::getline(y, l2));
        if (!more1 && !more2) return "";
        if (!more1 || !more2 || l1 != l2)
            return "line " + std::to_string(line) + ":\n  without: " + (more1 ? l1 : "(end)") +
                   "\n  with:    " + (more2 ? l2 : "(end)");
    }
}

/// Runs the scenario against the broker without the plugin, then against
/// the one with it, and compares what the clients saw.
void compare(const std::string& what, const scenario& s) {
    run without("without the plugin", shared().without->port());
    s(without);
    without.settle(); // every client has read everything
    run with("with the plugin", shared().with->port());
    s(with);
    with.settle();
    const std::string a = without.transcript(), b = with.transcript();
    if (std::getenv("MQCHAT_SHOW_TRANSCRIPTS")) std::cerr << "\n=== " << what << " (both brokers)\n" << a;
    if (a != b)
        CPPUNIT_FAIL(what + ": the plugin changes what clients see; first difference at " + first_difference(a, b) +
                     "\n--- without the plugin:\n" + a + "--- with the plugin:\n" + b);
}

// ---------------------------------------------------------------------------
// Small builders.

raw_connect v5(const std::string& id) {
    raw_connect c;
    c.client_id = id;
    return c;
}
raw_connect v311(const std::string& id) {
    raw_connect c;
    c.protocol = 4;
    c.client_id = id;
    return c;
}
/// The operator's device, logged in with its password-file password.
raw_connect device(const std::string& id, int protocol = 5) {
    raw_connect c = protocol == 5 ? v5(id) : v311(id);
    c.username = "device";
    c.password = "pw-device";
    return c;
}
/// A session that outlives the connection.
raw_connect persistent(raw_connect c, std::uint32_t expiry_s = 60) {
    c.clean = false;
    if (c.protocol == 5) c.properties.push_back(mqtt_property::num(SESSION_EXPIRY, expiry_s));
    return c;
}

raw_publish msg(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false,
                mqtt_properties props = {}) {
    raw_publish m;
    m.topic = topic;
    m.payload = payload;
    m.qos = qos;
    m.retain = retain;
    m.properties = std::move(props);
    return m;
}

raw_subscription sub(const std::string& filter, int qos = 1) { return raw_subscription{filter, qos}; }

/// The PUBLISH packets a client received, as "topic=payload" (in order).
std::vector<std::string> got(const raw_mqtt& c) {
    std::vector<std::string> out;
    for (const auto& p : c.publishes()) out.push_back(p.resolved_topic + "=" + p.payload);
    return out;
}
bool got_one(const raw_mqtt& c, const std::string& topic_payload) {
    const auto all = got(c);
    return std::count(all.begin(), all.end(), topic_payload) == 1;
}
const mqtt_packet* find_publish(const raw_mqtt& c, const std::string& topic) {
    for (const auto& p : c.log())
        if (p.type == PUBLISH && p.resolved_topic == topic) return &p;
    return nullptr;
}
/// Reads on every client until `n` publishes have arrived among them.
bool wait_total(const std::vector<raw_mqtt*>& cs, std::size_t n, ms timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
        std::size_t total = 0;
        for (auto* c : cs) total += c->publishes().size();
        if (total >= n) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        for (auto* c : cs) c->pump(5ms);
    }
}

void bye(raw_mqtt& c) {
    c.send_disconnect();
    c.wait_closed(2s);
}

// ---------------------------------------------------------------------------
// The scenarios.

void logins(run& r) {
    r.open_ok("anonymous 3.1.1", v311("conf-login-anon-311"));
    r.open_ok("anonymous 5", v5("conf-login-anon-5"));
    r.open_ok("device 3.1.1", device("conf-login-dev-311", 4));
    r.open_ok("device 5", device("conf-login-dev-5"));
    raw_connect wrong = device("conf-login-wrong");
    wrong.password = "not-the-password";
    auto& refused = r.open("device, wrong password", wrong);
    r.check(!refused.log().empty() && refused.log().front().type == CONNACK && refused.log().front().reason >= 0x80,
            "a wrong password is refused");
    raw_connect stranger = v5("conf-login-stranger");
    stranger.username = "stranger";
    stranger.password = "whatever";
    r.open("unknown user", stranger);
    raw_connect no_password = v311("conf-login-nopw");
    no_password.username = "device";
    r.open("device without password 3.1.1", no_password);
    // Client ids the plugin would not take from a chat user are not its business here.
    r.open_ok("anonymous, id with slashes and +", v5("conf/login/+/odd id"));
    r.open_ok("device, 300-character id", device(std::string(300, 'd')));
    r.settle();
}

void qos_publish_and_subscribe(run& r) {
    auto& s2 = r.open_ok("sub v5 qos2", v5("conf-qos-s2"));
    auto& s1 = r.open_ok("sub 3.1.1 qos1", v311("conf-qos-s1"));
    auto& s0 = r.open_ok("sub v5 qos0", v5("conf-qos-s0"));
    s2.subscribe({sub("qos/#", 2)});
    s1.subscribe({sub("qos/#", 1)});
    s0.subscribe({sub("qos/#", 0)});
    auto& p5 = r.open_ok("device v5", device("conf-qos-p5"));
    auto& p3 = r.open_ok("device 3.1.1", device("conf-qos-p3", 4));
    p5.publish(msg("qos/zero", "q0", 0));
    p5.ping();
    p5.publish(msg("qos/one", "q1", 1));
    p5.publish(msg("qos/two", "q2", 2));
    p3.publish(msg("qos/two-311", "q2 from 3.1.1", 2));
    p3.publish(msg("qos/one-311", "q1 from 3.1.1", 1));
    // A QoS 2 PUBLISH sent again (dup) before the PUBREL is one message.
    p5.auto_ack = false;
    std::size_t from = p5.received();
    raw_publish again = msg("qos/two-again", "once", 2);
    again.packet_id = p5.send_publish(again);
    p5.wait_for([](const mqtt_packet& p) { return p.type == PUBREC; }, 10s, from);
    again.dup = true;
    from = p5.received();
    p5.send_publish(again);
    p5.wait_for([](const mqtt_packet& p) { return p.type == PUBREC; }, 10s, from);
    p5.send_ack(PUBREL, again.packet_id);
    p5.wait_for([](const mqtt_packet& p) { return p.type == PUBCOMP; }, 10s);
    r.settle();
    r.check(s2.publishes().size() == 6 && s1.publishes().size() == 6 && s0.publishes().size() == 6,
            "every subscriber gets the six messages once");
    std::vector<int> q2, q1, q0;
    for (const auto& p : s2.publishes()) q2.push_back(p.qos);
    for (const auto& p : s1.publishes()) q1.push_back(p.qos);
    for (const auto& p : s0.publishes()) q0.push_back(p.qos);
    r.check(q2 == std::vector<int>{0, 1, 2, 2, 1, 2}, "QoS 2 subscriber gets the publisher's QoS");
    r.check(q1 == std::vector<int>{0, 1, 1, 1, 1, 1}, "QoS 1 subscriber gets at most QoS 1");
    r.check(q0 == std::vector<int>(6, 0), "QoS 0 subscriber gets QoS 0");
    for (auto* c : {&s2, &s1, &s0, &p5, &p3}) bye(*c);
}

void wildcards(run& r) {
    // Filters that overlap the chat prefix (#, +/+, +/#, +) and topics that
    // are near it but outside it (chat, chatroom/1, chat2/…, x/conv/1/msg).
    const std::vector<std::string> filters = {"#", "+/+", "+/#", "+", "wild/+/c", "chat", "chatroom/#",
                                              "+/conv/+/msg", "wild/#"};
    std::vector<raw_mqtt*> subs;
    for (std::size_t i = 0; i < filters.size(); ++i) {
        auto& c = r.open_ok("sub " + filters[i], v5("conf-wild-" + std::to_string(i)));
        c.subscribe({sub(filters[i])});
        subs.push_back(&c);
    }
    auto& both = r.open_ok("sub # and wild/# in one client", v311("conf-wild-both"));
    both.subscribe({sub("#"), sub("wild/#", 0)});
    auto& p = r.open_ok("publisher", v5("conf-wild-pub"));
    const std::vector<std::string> topics = {"wild", "wild/a", "wild/b/c", "wild/", "/lead", "chat",
                                             "chatroom/1", "chat2/conv/1/msg", "x/conv/1/msg", "Chat/conv/1/msg"};
    for (const auto& t : topics) p.publish(msg(t, "to " + t));
    r.settle();
    r.check(subs[0]->publishes().size() == topics.size(), "# gets every topic");
    r.check(got(*subs[1]) == std::vector<std::string>{"wild/a=to wild/a", "wild/=to wild/", "/lead=to /lead",
                                                      "chatroom/1=to chatroom/1"},
            "+/+ gets the two-level topics");
    r.check(got_one(*subs[5], "chat=to chat"), "'chat' is an ordinary topic");
    r.check(got_one(*subs[6], "chatroom/1=to chatroom/1"), "'chatroom/1' is an ordinary topic");
    r.check(got(*subs[7]).size() == 3, "+/conv/+/msg gets chat2/, x/ and Chat/conv/1/msg");
    for (auto* c : subs) bye(*c);
    bye(both);
    bye(p);
}

void retained_messages(run& r) {
    auto& live = r.open_ok("live sub ret/#", v5("conf-ret-live"));
    live.subscribe({sub("ret/#", 2)});
    auto& p = r.open_ok("device", device("conf-ret-pub"));
    p.publish(msg("ret/a", "first", 1, true));
    p.publish(msg("ret/a", "second", 1, true)); // replaces
    p.publish(msg("ret/b/c", "bc", 0, true));
    p.ping();
    p.publish(msg("ret/q2", "two", 2, true));
    auto& one = r.open_ok("late sub ret/a", v5("conf-ret-one"));
    one.subscribe({sub("ret/a")});
    auto& all = r.open_ok("late sub ret/#", v311("conf-ret-all"));
    all.subscribe({sub("ret/#", 2)});
    auto& hash = r.open_ok("late sub #", v5("conf-ret-hash"));
    hash.subscribe({sub("#")});
    auto& plus = r.open_ok("late sub +/+", v311("conf-ret-plus"));
    plus.subscribe({sub("+/+")});
    r.settle();
    const mqtt_packet* a = find_publish(one, "ret/a");
    r.check(a && a->payload == "second" && a->retain && one.publishes().size() == 1,
            "a late subscriber gets the replaced retained message, flagged retained");
    r.check(all.publishes().size() == 3 && hash.publishes().size() == 3 && plus.publishes().size() == 2,
            "wildcard subscribers get the retained messages");
    // Cleared with an empty payload: live subscribers see the empty message,
    // later subscribers nothing.
    p.publish(msg("ret/a", "", 1, true));
    r.settle();
    r.check(find_publish(live, "ret/a") && live.publishes().back().payload.empty(), "the clear reaches live subscribers");
    auto& after = r.open_ok("sub ret/# after the clear", v5("conf-ret-after"));
    after.subscribe({sub("ret/#")});
    after.ping();
    r.check(got(after) == std::vector<std::string>{"ret/b/c=bc", "ret/q2=two"}, "ret/a is gone, the others stay");
    p.publish(msg("ret/b/c", "", 0, true));
    p.publish(msg("ret/q2", "", 2, true));
    auto& none = r.open_ok("sub ret/# after clearing all", v5("conf-ret-none"));
    none.subscribe({sub("ret/#")});
    none.ping();
    r.check(none.publishes().empty(), "nothing retained is left");
}

void persistent_sessions(run& r) {
    auto& p = r.open_ok("device", device("conf-sess-pub"));
    auto queue_while_away = [&](const std::string& topic) {
        p.publish(msg(topic + "/1", "q1 while away", 1));
        p.publish(msg(topic + "/2", "q0 while away", 0));
        p.publish(msg(topic + "/3", "q2 while away", 2));
        p.publish(msg(topic + "/4", "q1 again", 1));
        p.ping();
    };
    // MQTT 3.1.1, clean session false.
    {
        auto& first = r.open_ok("3.1.1 clean=0", persistent(v311("conf-sess-311")));
        first.subscribe({sub("sess/311/#", 2)});
        bye(first);
        queue_while_away("sess/311");
        auto& back = r.open_ok("3.1.1 clean=0 again", persistent(v311("conf-sess-311")));
        back.wait_publishes(3, 10s);
        back.ping();
        r.check(back.log().front().session_present, "3.1.1: the session was kept");
        r.check(got(back) == std::vector<std::string>{"sess/311/1=q1 while away", "sess/311/3=q2 while away",
                                                      "sess/311/4=q1 again"},
                "3.1.1: QoS 1 and 2 messages were queued, QoS 0 not");
        bye(back);
        auto& clean = r.open_ok("3.1.1 clean=1", v311("conf-sess-311"));
        r.check(!clean.log().front().session_present, "3.1.1: clean session drops it");
        bye(clean);
    }
    // MQTT 5, clean start false and a session expiry.
    {
        auto& first = r.open_ok("v5 clean start 0, expiry 60", persistent(v5("conf-sess-5")));
        first.subscribe({sub("sess/5/#", 2)});
        bye(first);
        queue_while_away("sess/5");
        auto& back = r.open_ok("v5 back", persistent(v5("conf-sess-5")));
        back.wait_publishes(3, 10s);
        back.ping();
        r.check(back.log().front().session_present && back.publishes().size() == 3, "v5: queued while away");
        bye(back);
        auto& gone = r.open_ok("v5 clean start 1", v5("conf-sess-5"));
        r.check(!gone.log().front().session_present, "v5: clean start drops it");
        bye(gone);
    }
    // MQTT 5 without a session expiry: the session ends with the connection.
    {
        auto& first = r.open_ok("v5 clean start 0, no expiry", persistent(v5("conf-sess-5-zero"), 0));
        first.subscribe({sub("sess/zero/#", 1)});
        bye(first);
        queue_while_away("sess/zero");
        auto& back = r.open_ok("v5 no expiry back", persistent(v5("conf-sess-5-zero"), 0));
        back.ping();
        r.check(!back.log().front().session_present && back.publishes().empty(), "v5: no expiry, nothing kept");
        bye(back);
    }
    bye(p);
}

void redelivery(run& r) {
    // The subscriber leaves QoS 1 and QoS 2 messages unacknowledged (and one
    // QoS 2 message at PUBREL, its PUBCOMP missing) and loses its network.
    // Back on the same session, the broker sends them again, dup set, and
    // the PUBREL again. A watcher sees the subscriber's will, which tells
    // that the broker has noticed the drop before the reconnect.
    auto& watcher = r.open_ok("watcher", v5("conf-redo-watch"));
    watcher.subscribe({sub("redo/gone/#")});
    auto& p = r.open_ok("device", device("conf-redo-pub"));
    for (int protocol : {5, 4}) {
        const std::string tag = protocol == 5 ? "5" : "311";
        const std::string id = "conf-redo-" + tag, topic = "redo/" + tag;
        raw_connect c = persistent(protocol == 5 ? v5(id) : v311(id));
        c.will = raw_will{"redo/gone/" + tag, "dropped", 1, false, {}};
        auto& s = r.open_ok("subscriber v" + tag, c);
        s.subscribe({sub(topic + "/#", 2)});
        s.auto_ack = false;
        p.publish(msg(topic + "/one", "1", 1));
        p.publish(msg(topic + "/two", "2", 2));
        p.publish(msg(topic + "/three", "3", 2));
        r.check(s.wait_publishes(3, 10s), "v" + tag + ": three deliveries");
        const auto pubs = s.publishes();
        s.send_ack(PUBREC, pubs[2].packet_id);
        r.check(s.wait_for([](const mqtt_packet& x) { return x.type == PUBREL; }, 10s) != nullptr, "PUBREL");
        const std::size_t seen = watcher.received();
        s.drop();
        r.check(watcher.wait_for([&](const mqtt_packet& x) { return x.type == PUBLISH; }, 10s, seen) != nullptr,
                "the broker noticed the drop");
        raw_connect again = c;
        again.will.reset();
        auto& back = r.open_ok("subscriber v" + tag + " back", again);
        back.wait_publishes(2, 10s);
        back.wait_for([](const mqtt_packet& x) { return x.type == PUBREL; }, 10s);
        back.ping();
        const auto re = back.publishes();
        r.check(back.log().front().session_present && re.size() == 2 && re[0].dup && re[1].dup &&
                    re[0].packet_id == pubs[0].packet_id && re[1].packet_id == pubs[1].packet_id,
                "v" + tag + ": QoS 1 and 2 sent again with dup and their packet ids");
        // Anything else sent afterwards arrives normally; then the session ends.
        p.publish(msg(topic + "/after", "4", 1));
        back.wait_publishes(3, 10s);
        back.ping();
        bye(back);
        auto& end = r.open_ok("subscriber v" + tag + " clean", protocol == 5 ? v5(id) : v311(id));
        bye(end);
    }
    bye(p);
    bye(watcher);
}

void wills(run& r) {
    auto& w = r.open_ok("watcher will/#", v5("conf-will-watch"));
    w.subscribe({sub("will/#", 2)});
    auto will_for = [](raw_connect c, const std::string& topic, mqtt_properties props = {}, bool retain = false) {
        c.will = raw_will{topic, "will of " + c.client_id, 1, retain, std::move(props)};
        return c;
    };
    auto arrives = [&](const std::string& topic, ms timeout = 10s) {
        return w.wait_for([&](const mqtt_packet& p) { return p.type == PUBLISH && p.topic == topic; }, timeout) != nullptr;
    };
    auto absent = [&](const std::string& topic) {
        w.ping();
        return find_publish(w, topic) == nullptr;
    };
    // 3.1.1: a dropped network sends the will; a DISCONNECT does not.
    r.open_ok("3.1.1 drops", will_for(v311("conf-will-311-drop"), "will/311/drop")).drop();
    r.check(arrives("will/311/drop"), "3.1.1 will on a dropped network");
    auto& polite = r.open_ok("3.1.1 disconnects", will_for(v311("conf-will-311-bye"), "will/311/bye"));
    bye(polite);
    r.check(absent("will/311/bye"), "no will after a DISCONNECT");
    // 3.1.1 retained will.
    r.open_ok("3.1.1 drops, retained will", will_for(v311("conf-will-311-ret"), "will/311/retained", {}, true)).drop();
    r.check(arrives("will/311/retained"), "retained will");
    auto& later = r.open_ok("later sub will/311/retained", v5("conf-will-later"));
    later.subscribe({sub("will/311/retained")});
    later.ping();
    r.check(later.publishes().size() == 1 && later.publishes()[0].retain, "the will was retained");
    // MQTT 5: will properties, and a will delay (the session outlives it).
    const mqtt_properties props = {mqtt_property::num(WILL_DELAY, 1),
                                   mqtt_property::num(PAYLOAD_FORMAT, 1),
                                   mqtt_property::num(MESSAGE_EXPIRY, 120),
                                   mqtt_property::str(CONTENT_TYPE, "text/plain"),
                                   mqtt_property::str(RESPONSE_TOPIC, "will/5/reply"),
                                   mqtt_property::str(CORRELATION_DATA, std::string("\x00\x01will", 6)),
                                   mqtt_property::user("k", "v1"),
                                   mqtt_property::user("a", "b"),
                                   mqtt_property::user("k", "v2")};
    const auto dropped = std::chrono::steady_clock::now();
    r.open_ok("v5 drops, will delay 1 s", will_for(persistent(v5("conf-will-5-delay"), 10), "will/5/delayed", props))
        .drop();
    r.check(arrives("will/5/delayed"), "v5 delayed will");
    r.check(std::chrono::steady_clock::now() - dropped >= 900ms, "the will waited for its delay");
    const mqtt_packet* delayed = find_publish(w, "will/5/delayed");
    r.check(find_property(delayed->properties, USER_PROPERTY) && find_property(delayed->properties, CORRELATION_DATA),
            "will properties arrive");
    bye(r.open_ok("v5 session ends", v5("conf-will-5-delay")));
    // MQTT 5: DISCONNECT 0x04 sends the will, 0x00 does not.
    auto& with_will = r.open_ok("v5 disconnects with will", will_for(v5("conf-will-5-rc4"), "will/5/rc4"));
    with_will.send_disconnect(0x04);
    r.check(arrives("will/5/rc4"), "DISCONNECT 0x04 sends the will");
    auto& normal = r.open_ok("v5 disconnects normally", will_for(v5("conf-will-5-rc0"), "will/5/rc0"));
    normal.send_disconnect(0x00);
    normal.wait_closed(2s);
    r.check(absent("will/5/rc0"), "DISCONNECT 0x00: no will");
    // Clean up the retained will.
    auto& cleaner = r.open_ok("cleaner", v5("conf-will-clean"));
    cleaner.publish(msg("will/311/retained", "", 1, true));
    r.settle();
}

void sys_topics(run& r) {
    auto& sys = r.open_ok("sub $SYS/#", v5("conf-sys-sys"));
    auto& all = r.open_ok("sub #", v5("conf-sys-all"));
    auto& old = r.open_ok("sub # 3.1.1", v311("conf-sys-all-311"));
    all.subscribe({sub("#", 0)});
    old.subscribe({sub("#", 0)});
    sys.subscribe({sub("$SYS/#", 0)});
    const mqtt_packet* version = sys.wait_for(
        [](const mqtt_packet& p) { return p.type == PUBLISH && p.topic == "$SYS/broker/version"; }, 10s);
    r.check(version && version->retain, "$SYS/broker/version, retained");
    // A live update (sys_interval 1), then an ordinary marker: by the time
    // the marker arrives, `#` has had its chance to see $SYS.
    const std::size_t burst = sys.received();
    r.check(sys.wait_for([](const mqtt_packet& p) { return p.type == PUBLISH && p.topic == "$SYS/broker/uptime"; },
                         5s, burst) != nullptr,
            "a live $SYS update");
    auto& p = r.open_ok("publisher", v5("conf-sys-pub"));
    p.publish(msg("sys/marker", "m"));
    r.settle();
    // Subscribed again after a live update, the retained $SYS topics are
    // all there (a fresh broker publishes some only after its first interval).
    const std::size_t again = sys.received();
    sys.subscribe({sub("$SYS/#", 0)});
    sys.ping();
    std::set<std::string> sys_seen;
    for (const auto& m : sys.publishes()) sys_seen.insert(m.topic);
    r.check(std::all_of(sys_seen.begin(), sys_seen.end(), [](const std::string& t) { return t.rfind("$SYS/", 0) == 0; }),
            "$SYS/# gets $SYS topics only");
    r.check(got(all) == std::vector<std::string>{"sys/marker=m"} && got(old) == std::vector<std::string>{"sys/marker=m"},
            "# gets no $SYS topic");
    // $SYS values are counters, load and uptime, and how many updates came
    // depends on timing: only the version is compared as it came, and which
    // of the topics every broker keeps after its first interval were
    // retained. (Others depend on the broker's history: clients/maximum
    // only appears once a new maximum is reached, which is timing.)
    std::set<std::string> retained;
    for (const auto& m : sys.publishes(again))
        if (m.retain) retained.insert(m.topic);
    std::string list;
    for (const char* t : {"version", "uptime", "clients/connected", "clients/total", "messages/received",
                          "messages/sent", "bytes/received", "bytes/sent", "subscriptions/count",
                          "retained messages/count", "load/messages/received/1min", "load/connections/1min"}) {
        const std::string topic = std::string("$SYS/broker/") + t;
        list += "\n  " + topic + (retained.count(topic) ? " retained" : " MISSING");
    }
    r.check(list.find("MISSING") == std::string::npos, "the usual $SYS topics are retained");
    r.note("$SYS topics:" + list);
    r.render_publish = [](const mqtt_packet& m) {
        if (m.topic.rfind("$SYS/", 0) != 0 || m.topic == "$SYS/broker/version") return describe(m);
        return std::string();
    };
}

void unsubscribe(run& r) {
    auto& s5 = r.open_ok("sub v5", v5("conf-unsub-5"));
    auto& s3 = r.open_ok("sub 3.1.1", v311("conf-unsub-311"));
    for (auto* s : {&s5, &s3}) s->subscribe({sub("unsub/a"), sub("unsub/#"), sub("unsub-marker")});
    auto& p = r.open_ok("publisher", v5("conf-unsub-pub"));
    p.publish(msg("unsub/a", "1"));
    r.settle();
    for (auto* s : {&s5, &s3}) s->unsubscribe({"unsub/a"});
    for (auto* s : {&s5, &s3}) s->unsubscribe({"unsub/never", "unsub-marker-not"});
    p.publish(msg("unsub/a", "2"));
    r.settle();
    for (auto* s : {&s5, &s3}) s->unsubscribe({"unsub/#"});
    p.publish(msg("unsub/a", "3"));
    p.publish(msg("unsub-marker", "end"));
    r.settle();
    // Mosquitto sends MQTT 5 clients a copy per matching subscription, 3.1.1 clients one.
    r.check(got(s5) == std::vector<std::string>{"unsub/a=1", "unsub/a=1", "unsub/a=2", "unsub-marker=end"},
            "v5: two copies, then one, then none");
    r.check(got(s3) == std::vector<std::string>{"unsub/a=1", "unsub/a=2", "unsub-marker=end"},
            "3.1.1: one copy, then one, then none");
}

void user_properties(run& r) {
    auto& s5 = r.open_ok("sub v5", v5("conf-props-5"));
    auto& s3 = r.open_ok("sub 3.1.1", v311("conf-props-311"));
    s5.subscribe({sub("props/#", 2)});
    s3.subscribe({sub("props/#", 2)});
    auto& p = r.open_ok("publisher", v5("conf-props-pub"));
    const mqtt_properties props = {mqtt_property::user("z", "1"),       mqtt_property::user("a", "2"),
                                   mqtt_property::user("z", "3"),       mqtt_property::user("", "empty name"),
                                   mqtt_property::user("dup", "same"),  mqtt_property::user("dup", "same"),
                                   mqtt_property::num(PAYLOAD_FORMAT, 1), mqtt_property::str(CONTENT_TYPE, "text/x")};
    p.publish(msg("props/q1", "with properties", 1, false, props));
    p.publish(msg("props/q2", "with properties", 2, false, props));
    p.publish(msg("props/q0", "with properties", 0, false, props));
    r.settle();
    const auto got5 = s5.publishes();
    r.check(got5.size() == 3, "three messages");
    mqtt_properties users;
    for (const auto& x : got5[0].properties)
        if (x.id == USER_PROPERTY) users.push_back(x);
    r.check(users == mqtt_properties(props.begin(), props.begin() + 6), "user properties in their order");
    r.check(s3.publishes().size() == 3, "a 3.1.1 subscriber gets them without properties");
}

void subscription_options(run& r) {
    // No local.
    auto& me = r.open_ok("no-local client", v5("conf-opt-nl"));
    me.subscribe({raw_subscription{"opt/nl", 1, true}, sub("opt/local")});
    auto& other = r.open_ok("other subscriber", v5("conf-opt-other"));
    other.subscribe({sub("opt/nl")});
    me.publish(msg("opt/nl", "not to myself"));
    me.publish(msg("opt/local", "to myself"));
    r.settle();
    r.check(got(me) == std::vector<std::string>{"opt/local=to myself"} && got_one(other, "opt/nl=not to myself"),
            "no local");
    // Retain as published.
    auto& p = r.open_ok("publisher", v5("conf-opt-pub"));
    p.publish(msg("opt/rap", "r1", 1, true));
    auto& rap1 = r.open_ok("rap=1", v5("conf-opt-rap1"));
    rap1.subscribe({raw_subscription{"opt/rap", 1, false, true}});
    auto& rap0 = r.open_ok("rap=0", v5("conf-opt-rap0"));
    rap0.subscribe({raw_subscription{"opt/rap", 1, false, false}});
    p.publish(msg("opt/rap", "r2", 1, true));
    r.settle();
    r.check(rap1.publishes().size() == 2 && rap1.publishes()[1].retain, "retain as published keeps the flag");
    r.check(rap0.publishes().size() == 2 && !rap0.publishes()[1].retain, "otherwise a live message is not retained");
    // Retain handling 0, 1, 2, each subscribing twice.
    p.publish(msg("opt/rh", "kept", 1, true));
    std::vector<raw_mqtt*> rh;
    for (int handling : {0, 1, 2}) {
        auto& c = r.open_ok("retain handling " + std::to_string(handling), v5("conf-opt-rh" + std::to_string(handling)));
        for (int twice = 0; twice < 2; ++twice) {
            c.subscribe({raw_subscription{"opt/rh", 1, false, false, handling}});
            c.ping();
        }
        rh.push_back(&c);
    }
    r.check(rh[0]->publishes().size() == 2 && rh[1]->publishes().size() == 1 && rh[2]->publishes().empty(),
            "retain handling 0: every subscribe, 1: new subscriptions only, 2: never");
    p.publish(msg("opt/rap", "", 1, true));
    p.publish(msg("opt/rh", "", 1, true));
    r.settle();
}

void subscription_identifiers(run& r) {
    auto& c = r.open_ok("subscriber", v5("conf-sid"));
    c.subscribe({sub("sid/#")}, {mqtt_property::num(SUBSCRIPTION_ID, 7)});
    c.subscribe({sub("sid/a")}, {mqtt_property::num(SUBSCRIPTION_ID, 300)});
    c.subscribe({sub("sid/+/b")});
    auto& p = r.open_ok("publisher", v5("conf-sid-pub"));
    p.publish(msg("sid/a", "a"));
    p.publish(msg("sid/x/b", "xb"));
    p.publish(msg("sid/c", "c"));
    r.settle();
    c.subscribe({sub("sid/#")}, {mqtt_property::num(SUBSCRIPTION_ID, 8)}); // replaces 7
    p.publish(msg("sid/c", "c again"));
    p.publish(msg("sid/r", "retained", 1, true));
    c.subscribe({sub("sid/r")}, {mqtt_property::num(SUBSCRIPTION_ID, 9)});
    r.settle();
    int with_ids = 0;
    bool saw_300 = false, saw_8 = false;
    for (const auto& m : c.publishes())
        for (const auto& x : m.properties)
            if (x.id == SUBSCRIPTION_ID) {
                ++with_ids;
                saw_300 |= x.number == 300;
                saw_8 |= x.number == 8;
            }
    r.check(with_ids > 0 && saw_300 && saw_8, "subscription identifiers come with the messages");
    p.publish(msg("sid/r", "", 1, true));
    r.settle();
}

void shared_subscriptions(run& r) {
    auto& g1 = r.open_ok("$share/g/shr/# first", v5("conf-shr-g1"));
    auto& g2 = r.open_ok("$share/g/shr/# second", v5("conf-shr-g2"));
    auto& a1 = r.open_ok("$share/all/# first", v5("conf-shr-a1"));
    auto& a2 = r.open_ok("$share/all/# second", v311("conf-shr-a2"));
    g1.subscribe({sub("$share/g/shr/#")});
    g2.subscribe({sub("$share/g/shr/#")});
    a1.subscribe({sub("$share/all/#")});
    a2.subscribe({sub("$share/all/#")});
    auto& p = r.open_ok("publisher", v5("conf-shr-pub"));
    for (int i = 1; i <= 6; ++i) p.publish(msg("shr/" + std::to_string(i), std::string("m") + std::to_string(i)));
    r.check(wait_total({&g1, &g2}, 6, 10s) && wait_total({&a1, &a2}, 6, 10s), "six messages per group");
    r.settle();
    r.check(g1.publishes().size() == 3 && g2.publishes().size() == 3 && a1.publishes().size() == 3 &&
                a2.publishes().size() == 3,
            "round robin within each group");
    g1.unsubscribe({"$share/g/shr/#"});
    p.publish(msg("shr/7", "m7"));
    r.check(wait_total({&g2}, 4, 10s), "the group's remaining member gets the rest");
    r.settle();
}

void topic_aliases(run& r) {
    raw_connect sc = v5("conf-alias-sub");
    sc.properties = {mqtt_property::num(TOPIC_ALIAS_MAXIMUM, 5)}; // the broker may alias towards it
    auto& s = r.open_ok("subscriber", sc);
    s.subscribe({sub("alias/#", 2)});
    auto& p = r.open_ok("publisher", v5("conf-alias-pub"));
    const mqtt_property a1 = mqtt_property::num(TOPIC_ALIAS, 1), a2 = mqtt_property::num(TOPIC_ALIAS, 2);
    p.publish(msg("alias/a", "set 1", 1, false, {a1}));
    p.publish(msg("", "use 1", 1, false, {a1}));
    p.publish(msg("alias/b", "set 1 again", 0, false, {a1}));
    p.publish(msg("", "use 1 again", 2, false, {a1}));
    p.publish(msg("alias/c", "set 2", 1, false, {a2}));
    p.publish(msg("", "use 2", 1, false, {a2}));
    r.settle();
    r.check(got(s) == std::vector<std::string>{"alias/a=set 1", "alias/a=use 1", "alias/b=set 1 again",
                                               "alias/b=use 1 again", "alias/c=set 2", "alias/c=use 2"},
            "aliases resolve to their topics");
    // Over the broker's maximum, and an alias never set.
    auto& over = r.open_ok("alias over the maximum", v5("conf-alias-over"));
    const mqtt_property* max = find_property(over.log().front().properties, TOPIC_ALIAS_MAXIMUM);
    const std::uint32_t too_big = max ? max->number + 1 : 11;
    over.publish(msg("alias/over", "x", 1, false, {mqtt_property::num(TOPIC_ALIAS, too_big)}));
    over.wait_closed(5s);
    auto& unknown = r.open_ok("alias never set", v5("conf-alias-unknown"));
    unknown.publish(msg("", "x", 1, false, {mqtt_property::num(TOPIC_ALIAS, 3)}));
    unknown.wait_closed(5s);
    r.check(over.closed() && unknown.closed(), "bad aliases end the connection");
    s.ping();
}

void message_expiry(run& r) {
    // Live: delivered at once with its expiry.
    auto& live = r.open_ok("live subscriber", v5("conf-exp-live"));
    live.subscribe({sub("exp/live")});
    auto& p = r.open_ok("publisher", v5("conf-exp-pub"));
    p.publish(msg("exp/live", "fresh", 1, false, {mqtt_property::num(MESSAGE_EXPIRY, 30)}));
    live.ping();
    r.check(live.publishes().size() == 1, "a live message with an expiry is delivered");
    // Offline: the short one expires in the queue, the long one comes with
    // less time left; the same for retained messages.
    auto& away = r.open_ok("offline subscriber", persistent(v5("conf-exp-away")));
    away.subscribe({sub("exp/away/#")});
    bye(away);
    const auto published = std::chrono::steady_clock::now();
    p.publish(msg("exp/away/short", "expires", 1, false, {mqtt_property::num(MESSAGE_EXPIRY, 1)}));
    p.publish(msg("exp/away/long", "stays", 1, false, {mqtt_property::num(MESSAGE_EXPIRY, 60)}));
    p.publish(msg("exp/away/none", "no expiry", 1));
    p.publish(msg("exp/ret/short", "expires", 1, true, {mqtt_property::num(MESSAGE_EXPIRY, 1)}));
    p.publish(msg("exp/ret/long", "stays", 1, true, {mqtt_property::num(MESSAGE_EXPIRY, 60)}));
    // Expiry counts whole seconds of the broker's clock: 2.1 s is past a
    // 1 s expiry wherever the second boundaries fall. Time is the subject.
    std::this_thread::sleep_for(2100ms);
    auto& back = r.open_ok("offline subscriber back", persistent(v5("conf-exp-away")));
    back.wait_publishes(2, 10s);
    back.ping();
    auto& late = r.open_ok("late subscriber exp/ret/#", v5("conf-exp-late"));
    late.subscribe({sub("exp/ret/#")});
    late.ping();
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - published).count();
    r.check(got(back) == std::vector<std::string>{"exp/away/long=stays", "exp/away/none=no expiry"},
            "the expired message is not delivered");
    r.check(got(late) == std::vector<std::string>{"exp/ret/long=stays"}, "the expired retained message is gone");
    // What the expiry of a message that waited says: 60 minus the whole
    // seconds it waited (one more or less, by where the seconds fall).
    auto decremented = [waited](const mqtt_packet& m) {
        const mqtt_property* e = find_property(m.properties, MESSAGE_EXPIRY);
        const int left = e ? static_cast<int>(e->number) : -1;
        return e && left < 60 - 1 && left >= 60 - static_cast<int>(waited) - 2;
    };
    r.check(decremented(*find_publish(back, "exp/away/long")) && decremented(*find_publish(late, "exp/ret/long")),
            "the remaining expiry was decremented");
    r.render_publish = [decremented](const mqtt_packet& m) {
        if (m.payload != "stays") return describe(m);
        mqtt_packet q = m;
        const bool ok = decremented(m);
        q.properties.erase(std::remove_if(q.properties.begin(), q.properties.end(),
                                          [](const mqtt_property& x) { return x.id == MESSAGE_EXPIRY; }),
                           q.properties.end());
        const mqtt_property* e = find_property(m.properties, MESSAGE_EXPIRY);
        return describe(q) + (ok ? " [expiry: 60 less the time it waited]"
                                 : " [expiry: " + (e ? std::to_string(e->number) : std::string("none")) + "]");
    };
    bye(back);
    bye(r.open_ok("end the session", v5("conf-exp-away")));
    p.publish(msg("exp/ret/long", "", 1, true));
    r.settle();
}

void request_response(run& r) {
    raw_connect rc = v5("conf-rr-req");
    rc.properties = {mqtt_property::num(REQUEST_RESPONSE_INFO, 1), mqtt_property::num(REQUEST_PROBLEM_INFO, 1)};
    auto& requester = r.open_ok("requester", rc);
    requester.subscribe({sub("rr/reply/conf")});
    auto& responder = r.open_ok("responder", v5("conf-rr-resp"));
    responder.subscribe({sub("rr/request")});
    const std::string corr("\x00\xff" "corr-1", 8);
    requester.publish(msg("rr/request", "what time is it?", 1, false,
                          {mqtt_property::str(RESPONSE_TOPIC, "rr/reply/conf"),
                           mqtt_property::str(CORRELATION_DATA, corr)}));
    r.check(responder.wait_publishes(1, 10s), "the request arrives");
    const mqtt_packet req = responder.publishes()[0];
    const mqtt_property* topic = find_property(req.properties, RESPONSE_TOPIC);
    const mqtt_property* data = find_property(req.properties, CORRELATION_DATA);
    r.check(topic && data && data->value == corr, "response topic and correlation data pass through");
    responder.publish(msg(topic->value, "noon", 1, false, {mqtt_property::str(CORRELATION_DATA, data->value)}));
    r.check(requester.wait_publishes(1, 10s), "the reply arrives");
    const mqtt_packet reply = requester.publishes()[0];
    const mqtt_property* back = find_property(reply.properties, CORRELATION_DATA);
    r.check(back && back->value == corr, "the reply carries the correlation data");
    r.settle();
}

void flow_limits(run& r) {
    // Maximum packet size: a message larger than the client's limit is not sent to it.
    raw_connect small = v5("conf-mps-small");
    small.properties = {mqtt_property::num(MAXIMUM_PACKET_SIZE, 128)};
    auto& s = r.open_ok("max packet 128", small);
    s.subscribe({sub("mps/#")});
    auto& big = r.open_ok("no limit", v5("conf-mps-big"));
    big.subscribe({sub("mps/#")});
    auto& p = r.open_ok("publisher", v5("conf-mps-pub"));
    p.publish(msg("mps/small", std::string(40, 's')));
    p.publish(msg("mps/large", std::string(500, 'L')));
    p.publish(msg("mps/large-q0", std::string(500, 'l'), 0));
    p.publish(msg("mps/end", "end"));
    r.settle();
    r.check(got(s).size() == 2 && find_publish(s, "mps/end") && got(big).size() == 4, "too large for it, not sent");
    // Far above the plugin's chat payload limit, outside chat: delivered.
    std::string huge(200 * 1024, '\0');
    for (std::size_t i = 0; i < huge.size(); ++i) huge[i] = static_cast<char>(i * 7 % 251);
    p.publish(msg("mps/huge", huge, 2));
    big.ping();
    r.check(find_publish(big, "mps/huge") && find_publish(big, "mps/huge")->payload == huge, "200 KB delivered whole");
    // Receive maximum: at most that many QoS 1/2 messages unacknowledged.
    raw_connect two = v5("conf-rm");
    two.properties = {mqtt_property::num(RECEIVE_MAXIMUM, 2)};
    auto& c = r.open_ok("receive maximum 2", two);
    c.subscribe({sub("rm/#", 2)});
    c.auto_ack = false;
    for (int i = 1; i <= 5; ++i) p.publish(msg("rm/" + std::to_string(i), "m", i % 2 ? 1 : 2));
    c.wait_publishes(2, 10s);
    c.ping();
    r.check(c.publishes().size() == 2, "two in flight");
    c.auto_ack = true;
    const auto first = c.publishes();
    for (const auto& m : first) c.send_ack(m.qos == 1 ? PUBACK : PUBREC, m.packet_id);
    c.wait_publishes(5, 10s);
    c.wait_for([](const mqtt_packet& m) { return m.type == PUBREL; }, 10s);
    r.settle();
    r.check(c.publishes().size() == 5, "the rest after the acks");
}

void bursts(run& r) {
    // Ordinary traffic at full speed: nothing counts it but the broker.
    auto& s = r.open_ok("subscriber", v5("conf-burst-sub"));
    s.subscribe({sub("burst/#", 2)});
    auto& old = r.open_ok("subscriber 3.1.1", v311("conf-burst-311"));
    old.subscribe({sub("burst/#", 2)});
    auto& p = r.open_ok("device", device("conf-burst-pub"));
    for (int i = 0; i < 200; ++i) p.send_publish(msg("burst/q0", std::to_string(i), 0));
    for (int i = 0; i < 50; ++i) p.send_publish(msg("burst/q1", std::to_string(i), 1));
    for (int i = 0; i < 20; ++i) p.send_publish(msg("burst/q2", std::to_string(i), 2));
    r.check(p.wait_for([](const mqtt_packet& m) { return m.type == PUBCOMP && m.packet_id == 70; }, 20s) != nullptr,
            "the publisher's flows complete");
    r.check(s.wait_publishes(270, 20s) && old.wait_publishes(270, 20s), "every message arrives");
    r.settle();
    r.check(s.publishes().size() == 270 && old.publishes().size() == 270, "once");
}

void zero_length_client_id(run& r) {
    auto& a = r.open("3.1.1 clean session 1, empty id", v311(""));
    auto& b = r.open("3.1.1 clean session 0, empty id", persistent(v311("")));
    b.wait_closed(2s);
    auto& c = r.open("v5 clean start 1, empty id", v5(""));
    auto& d = r.open("v5 clean start 0, empty id", persistent(v5("")));
    r.check(!a.log().empty() && a.log().front().reason == 0, "3.1.1 clean session with an empty id is accepted");
    r.check(!b.log().empty() && b.log().front().reason == 2, "3.1.1 persistent session needs an id");
    const mqtt_property* id = c.log().empty() ? nullptr : find_property(c.log().front().properties, ASSIGNED_CLIENT_ID);
    r.check(id && !id->value.empty(), "v5 gets an assigned client identifier");
    // The assigned identity works like any other.
    c.subscribe({sub("zero/id")});
    c.publish(msg("zero/id", "to myself"));
    c.ping();
    r.check(got_one(c, "zero/id=to myself"), "an assigned client receives");
    (void)d;
    r.settle();
}

// ---------------------------------------------------------------------------
// A busy chat next to ordinary traffic.

/// Counts what a watcher received under chat/ and elsewhere.
struct watch_counts {
    std::size_t chat = 0, plant = 0, other = 0;
    std::vector<std::string> chat_topics;
};
watch_counts count_watch(const raw_mqtt& c) {
    watch_counts n;
    for (const auto& p : c.publishes()) {
        if (p.resolved_topic.rfind("chat/", 0) == 0) {
            ++n.chat;
            if (n.chat_topics.size() < 10) n.chat_topics.push_back(p.resolved_topic + " " + p.payload);
        } else if (p.resolved_topic.rfind("plant/", 0) == 0) {
            ++n.plant;
        } else {
            ++n.other;
        }
    }
    return n;
}

std::unique_ptr<mqtt_client> chat_member(chat_stack& s, const std::string& user, std::int64_t conv,
                                         const std::string& peer) {
    auto c = std::make_unique<mqtt_client>(s.port(), client_options{"conf-" + user, user, "pw-" + user});
    if (c->connect() != 0) throw std::runtime_error("login of " + user + " failed");
    const std::string base = "chat/conv/" + std::to_string(conv) + "/";
    for (const std::string& t : {base + "msg", base + "typing", base + "receipt", "chat/user/" + user + "/inbox",
                                 "chat/presence/" + peer})
        if (const int code = c->subscribe(t); code < 0 || code >= 0x80)
            throw std::runtime_error(user + " cannot subscribe " + t + ": " + std::to_string(code));
    return c;
}

} // namespace

class conformance_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(conformance_test);
    CPPUNIT_TEST(logins);
    CPPUNIT_TEST(qos_0_1_2_publish_and_subscribe);
    CPPUNIT_TEST(wildcards_overlapping_the_chat_prefix);
    CPPUNIT_TEST(retained_messages);
    CPPUNIT_TEST(clean_and_persistent_sessions_queue_offline);
    CPPUNIT_TEST(unacknowledged_qos_1_and_2_are_redelivered);
    CPPUNIT_TEST(will_messages);
    CPPUNIT_TEST(sys_topics_for_sys_subscribers_only);
    CPPUNIT_TEST(unsubscribe_stops_delivery);
    CPPUNIT_TEST(user_properties_keep_their_order);
    CPPUNIT_TEST(subscription_options);
    CPPUNIT_TEST(subscription_identifiers);
    CPPUNIT_TEST(shared_subscriptions_round_robin);
    CPPUNIT_TEST(topic_aliases_from_the_client);
    CPPUNIT_TEST(message_expiry);
    CPPUNIT_TEST(request_response);
    CPPUNIT_TEST(maximum_packet_size_and_receive_maximum);
    CPPUNIT_TEST(zero_length_client_id);
    CPPUNIT_TEST(bursts_of_ordinary_traffic);
    CPPUNIT_TEST(wildcard_subscribers_see_nothing_of_a_busy_chat);
    CPPUNIT_TEST_SUITE_END();

public:
    void logins() { compare("logins", ::logins); }
    void qos_0_1_2_publish_and_subscribe() { compare("QoS 0/1/2", qos_publish_and_subscribe); }
    void wildcards_overlapping_the_chat_prefix() { compare("wildcards", wildcards); }
    void retained_messages() { compare("retained messages", ::retained_messages); }
    void clean_and_persistent_sessions_queue_offline() { compare("sessions", persistent_sessions); }
    void unacknowledged_qos_1_and_2_are_redelivered() { compare("redelivery", redelivery); }
    void will_messages() { compare("wills", wills); }
    void sys_topics_for_sys_subscribers_only() { compare("$SYS", sys_topics); }
    void unsubscribe_stops_delivery() { compare("unsubscribe", unsubscribe); }
    void user_properties_keep_their_order() { compare("user properties", user_properties); }
    void subscription_options() { compare("subscription options", ::subscription_options); }
    void subscription_identifiers() { compare("subscription identifiers", ::subscription_identifiers); }
    void shared_subscriptions_round_robin() { compare("shared subscriptions", shared_subscriptions); }
    void topic_aliases_from_the_client() { compare("topic aliases", topic_aliases); }
    void message_expiry() { compare("message expiry", ::message_expiry); }
    void request_response() { compare("request/response", ::request_response); }
    void maximum_packet_size_and_receive_maximum() { compare("flow limits", flow_limits); }
    void zero_length_client_id() { compare("zero-length client id", ::zero_length_client_id); }
    void bursts_of_ordinary_traffic() { compare("bursts", bursts); }

    void wildcard_subscribers_see_nothing_of_a_busy_chat() {
        // The full stack, bridge included, on the operator's configuration.
        operator_files& files = shared().files;
        chat_stack s("conformance-chat", files.options(true));
        s.add_user("alice", "pw-alice");
        s.add_user("bob", "pw-bob");
        s.add_user("carol", "pw-carol");
        const std::int64_t conv = s.create_conv({"alice", "bob"}, "busy");
        const std::int64_t elsewhere = s.create_conv({"bob", "carol"}, "elsewhere");

        // Watchers who are not members: anonymous and the device, on
        // filters that reach chat topics. Some before the members come
        // (live presence), one after (retained presence).
        struct watcher {
            std::string who;
            std::unique_ptr<raw_mqtt> c;
        };
        std::vector<watcher> watchers;
        auto watch = [&](const std::string& who, raw_connect rc, const std::string& filter) {
            watcher w{who, std::make_unique<raw_mqtt>(s.port(), rc.protocol)};
            CPPUNIT_ASSERT_EQUAL_MESSAGE(who, 0, w.c->connect(rc));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(who, 1, w.c->subscribe(filter, 1));
            watchers.push_back(std::move(w));
        };
        watch("anonymous #", v5("conf-busy-hash"), "#");
        watch("anonymous +/+/+/+ (3.1.1)", v311("conf-busy-four"), "+/+/+/+");
        watch("device #", device("conf-busy-device"), "#");
        watch("anonymous $share/ops/#", v5("conf-busy-share"), "$share/ops/#");
        watch("anonymous +/#", v5("conf-busy-plus"), "+/#");

        raw_mqtt plant(s.port());
        CPPUNIT_ASSERT_EQUAL(0, plant.connect(device("conf-busy-plant")));
        CPPUNIT_ASSERT_EQUAL(0, plant.publish(msg("plant/status", "running", 1, true)));

        auto alice = chat_member(s, "alice", conv, "bob");
        auto bob = chat_member(s, "bob", conv, "alice");
        auto carol = chat_member(s, "carol", elsewhere, "bob");
        watch("anonymous # after the members came", v5("conf-busy-late"), "#");

        // 25 messages each way, typing before each, a receipt after every
        // fifth, a request each; the plant reports all along.
        const std::string base = "chat/conv/" + std::to_string(conv) + "/";
        std::vector<outgoing> from_alice, from_bob;
        for (int i = 0; i < 25; ++i) {
            from_alice.push_back({"a-" + std::to_string(i), "alice says " + std::to_string(i)});
            from_bob.push_back({"b-" + std::to_string(i), "bob says " + std::to_string(i)});
        }
        chat_sender alice_sends(*alice, "alice", conv), bob_sends(*bob, "bob", conv);
        int plant_reports = 0;
        auto report = [&] {
            ++plant_reports;
            CPPUNIT_ASSERT_EQUAL(0, plant.publish(msg("plant/line1/oven/temp", std::to_string(200 + plant_reports), 1)));
        };
        for (int i = 0; i < 5; ++i) {
            alice->publish(base + "typing", R"({"typing":true})", 0);
            bob->publish(base + "typing", R"({"typing":true})", 0);
            const std::vector<outgoing> a(from_alice.begin() + i * 5, from_alice.begin() + i * 5 + 5);
            const std::vector<outgoing> b(from_bob.begin() + i * 5, from_bob.begin() + i * 5 + 5);
            CPPUNIT_ASSERT(alice_sends.send_all(a, 5, 5s, 30s));
            report();
            CPPUNIT_ASSERT(bob_sends.send_all(b, 5, 5s, 30s));
            report();
            const std::int64_t last = std::max(alice_sends.acked[a.back().id], bob_sends.acked[b.back().id]);
            CPPUNIT_ASSERT_EQUAL(0, alice->publish(base + "receipt", "{\"read\":" + std::to_string(last) + "}"));
            CPPUNIT_ASSERT_EQUAL(0, bob->publish(base + "receipt", "{\"delivered\":" + std::to_string(last) + "}"));
            alice->publish(base + "typing", R"({"typing":false})", 0);
            report();
        }
        CPPUNIT_ASSERT_EQUAL(0, alice->publish_request("chat/rpc/history", "{\"conv\":" + std::to_string(conv) + "}",
                                                       "chat/user/alice/inbox", "h-1"));
        CPPUNIT_ASSERT_EQUAL(0, bob->publish_request("chat/rpc/conv.list", "{}", "chat/user/bob/inbox", "l-1"));
        CPPUNIT_ASSERT_EQUAL(0, carol->publish(std::string("chat/conv/") + std::to_string(elsewhere) + "/send",
                                               R"({"id":"c-1","body":"elsewhere"})"));

        // The members got their chat.
        delivery_log at_alice, at_bob;
        at_alice.collect(*alice, base + "msg", 50, 30s);
        at_bob.collect(*bob, base + "msg", 50, 30s);
        CPPUNIT_ASSERT_EQUAL(std::string(), at_alice.check_gapless(50));
        CPPUNIT_ASSERT_EQUAL(std::string(), at_bob.check_gapless(50));
        received r;
        bool history = false, list = false;
        for (int i = 0; i < 200 && !(history && list); ++i) {
            if (alice->wait_message(r, 100ms, "chat/user/alice/inbox") && r.correlation_data == "h-1") history = true;
            if (bob->wait_message(r, 100ms, "chat/user/bob/inbox") && r.correlation_data == "l-1") list = true;
        }
        CPPUNIT_ASSERT_MESSAGE("the members' requests were answered", history && list);
        CPPUNIT_ASSERT_MESSAGE("bob sees alice typing", !bob->take_all(base + "typing").empty());
        CPPUNIT_ASSERT_MESSAGE("alice sees bob's receipts", !alice->take_all(base + "receipt").empty());
        CPPUNIT_ASSERT_MESSAGE("bob sees alice's presence", !bob->take_all("chat/presence/alice").empty());

        // The members leave (presence goes offline); then a last plant report.
        alice->disconnect();
        bob->disconnect();
        carol->disconnect();
        report();
        const std::string last = std::to_string(200 + plant_reports);
        for (auto& w : watchers) {
            CPPUNIT_ASSERT_MESSAGE(w.who, w.c->wait_for([&](const mqtt_packet& p) {
                return p.type == PUBLISH && p.topic == "plant/line1/oven/temp" && p.payload == last;
            }, 10s) != nullptr);
            w.c->ping();
        }
        CPPUNIT_ASSERT_EQUAL(16, plant_reports);
        for (auto& w : watchers) {
            const watch_counts n = count_watch(*w.c);
            if (std::getenv("MQCHAT_SHOW_TRANSCRIPTS"))
                std::cerr << "\n" << w.who << ": " << n.chat << " under chat/, " << n.plant << " under plant/, "
                          << n.other << " elsewhere";
            std::string seen;
            for (const auto& t : n.chat_topics) seen += "\n  " + t;
            CPPUNIT_ASSERT_MESSAGE(w.who + " received chat:" + seen, n.chat == 0);
            if (w.who == "anonymous +/+/+/+ (3.1.1)") {
                CPPUNIT_ASSERT_EQUAL_MESSAGE(w.who, std::size_t(16), n.plant); // plant/status has two levels
            } else if (w.who == "anonymous # after the members came") {
                CPPUNIT_ASSERT_MESSAGE(w.who, n.plant >= 1 && find_publish(*w.c, "plant/status")->retain);
            } else {
                CPPUNIT_ASSERT_EQUAL_MESSAGE(w.who, std::size_t(17), n.plant); // the status and 16 reports
            }
        }
        CPPUNIT_ASSERT_EQUAL(0, plant.publish(msg("plant/status", "", 1, true)));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(conformance_test);
