// Several brokers (docs/architecture.md, "Several brokers"): three Mosquitto
// processes with the plugin, linked by their own Mosquitto bridges to a hub
// where mqchat-bridge connects, exactly as examples/fabric/ sets them up.
// Members on different brokers get every message once; acks,
// replies, notices, typing, receipts and presence cross brokers; device
// counts and the connection limit are summed over brokers; a broker that dies
// takes its devices with it after the grace period, without flapping.

#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>

#include <iostream>
#include <set>
#include <thread>

#include "support/chat.hpp"
#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/mqtt_client.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

// Long enough for a phone to reconnect elsewhere on a loaded machine.
constexpr int grace_ms = 5000;

struct fixture {
    fabric_stack stack{"brokers", 3, 2, [] {
                           broker_options o;
                           o.plugin_options = {"fabric_grace_ms " + std::to_string(grace_ms),
                                               "max_connections_per_user 3"};
                           return o;
                       }()};
    std::int64_t conv = 0;
    std::vector<std::string> crowd; ///< members of the failure case's conversation
    std::int64_t crowd_conv = 0;
    fixture() {
        for (const char* u : {"alice", "bob", "carol", "dave", "erin"})
            add_user(stack.conninfo(), u, std::string("pw-") + u);
        conv = create_conv(stack.conninfo(), {"alice", "bob", "carol"}, "across brokers");
        for (int i = 1; i <= 6; ++i) {
            crowd.push_back("m" + std::to_string(i));
            add_user(stack.conninfo(), crowd.back(), "pw-" + crowd.back());
        }
        crowd_conv = create_conv(stack.conninfo(), crowd, "through failures");
        stack.start_load_balancer();
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

/// `user` logged in on broker `b` (0-based) with client id `id`.
std::unique_ptr<mqtt_client> on_broker(std::size_t b, const std::string& user, const std::string& id) {
    return login(shared().stack.port(b), user, "pw-" + user, id);
}

std::string conv_topic(const std::string& leaf) { return "chat/conv/" + std::to_string(shared().conv) + "/" + leaf; }

/// The presence messages of `user` that `watcher` received within `wait`, in order.
std::vector<Json::Value> presences(mqtt_client& watcher, const std::string& user, std::chrono::milliseconds wait) {
    std::vector<Json::Value> out;
    received r;
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until)
        if (watcher.wait_message(r, 100ms, "chat/presence/" + user)) out.push_back(json_of(r.payload));
    return out;
}

/// Waits until `watcher` sees `user` with `devices`; every presence seen on the way goes to `seen`.
bool presence_reaches(mqtt_client& watcher, const std::string& user, int devices, std::vector<Json::Value>& seen,
                      std::chrono::milliseconds wait = 10s) {
    received r;
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
        if (!watcher.wait_message(r, 100ms, "chat/presence/" + user)) continue;
        seen.push_back(json_of(r.payload));
        if (seen.back()["devices"].asInt() == devices) return true;
    }
    return false;
}

/// A member's app over the load balancer, following docs/protocol.md's
/// client rules: resend until acked (same id), reconnect when the
/// connection drops, drop repeats, and fetch a gap from history before
/// showing what comes after it. `shown` is what its user sees, in order.
class app {
public:
    app(std::string name, std::int64_t conv, int to_send) : name_(std::move(name)), conv_(conv) {
        for (int i = 0; i < to_send; ++i) outbox_.push_back(name_ + "-" + std::to_string(i));
    }

    std::vector<std::int64_t> shown;
    int repeats_dropped = 0, gaps_fetched = 0, reconnects = 0, resends = 0;

    bool all_acked() const { return acked_.size() == outbox_.size(); }
    std::size_t acked() const { return acked_.size(); }

    /// One round: connection, sends, and whatever arrived.
    void step() {
        if (!client_ || !client_->connected()) reconnect();
        if (!client_) return;
        const auto now = std::chrono::steady_clock::now();
        // At most 3 unacked at a time; an unacked one goes again after 2 s.
        std::size_t in_flight = 0;
        for (auto& [id, sent] : in_flight_) {
            if (acked_.count(id)) continue;
            ++in_flight;
            if (now - sent > 2s) {
                publish(id);
                sent = now;
                ++resends;
            }
        }
        while (in_flight < 3 && next_ < outbox_.size()) {
            const std::string& id = outbox_[next_++];
            publish(id);
            in_flight_[id] = now;
            ++in_flight;
        }
        for (const auto& r : client_->take_all()) {
            const Json::Value v = json_of(r.payload);
            if (r.topic == inbox()) {
                if (v.isMember("ack")) acked_.insert(v["ack"].asString());
            } else {
                show(v["seq"].asInt64());
            }
        }
    }

private:
    std::string inbox() const { return "chat/user/" + name_ + "/inbox"; }
    std::string topic(const char* leaf) const { return "chat/conv/" + std::to_string(conv_) + "/" + leaf; }
    void publish(const std::string& id) {
        client_->publish_async(topic("send"), R"({"id":")" + id + R"(","body":"from )" + name_ + R"("})", 1);
    }
    void show(std::int64_t seq) {
        const std::int64_t last = shown.empty() ? 0 : shown.back();
        if (seq <= last) {
            ++repeats_dropped;
            return;
        }
        if (seq > last + 1) fetch_after(last); // a gap: what came meanwhile, first
        if (seq == (shown.empty() ? 0 : shown.back()) + 1) shown.push_back(seq);
        else if (seq > (shown.empty() ? 0 : shown.back())) ++repeats_dropped; // the fetch brought it already
    }
    void fetch_after(std::int64_t last) {
        ++gaps_fetched;
        try {
            rpc_caller reader(shared().stack.load_balancer_port(), name_, "pw-" + name_);
            while (true) {
                const Json::Value page =
                    reader.call("history", params({{"conv", Json::Int64(conv_)}, {"after", Json::Int64(last)},
                                                   {"limit", 100}}))["result"];
                for (const auto& m : page["messages"])
                    if (m["seq"].asInt64() == last + 1) shown.push_back(last = m["seq"].asInt64());
                if (!page["more"].asBool()) break;
            }
        } catch (const std::exception&) {
            // The load balancer sent it to a dying broker: the next gap or reconnect asks again.
        }
    }
    void reconnect() {
        client_options o{name_ + "-phone", name_, "pw-" + name_};
        o.clean = false;
        o.session_expiry_s = 600;
        auto c = std::make_unique<mqtt_client>(shared().stack.load_balancer_port(), o);
        if (c->connect(3s) != 0 || c->subscribe(inbox()) != 1 || c->subscribe(topic("msg")) != 1) return;
        if (client_) ++reconnects;
        client_ = std::move(c);
        fetch_after(shown.empty() ? 0 : shown.back()); // what was missed while away
        for (auto& [id, sent] : in_flight_) sent = {}; // unacked ones go again now
    }

    std::string name_;
    std::int64_t conv_;
    std::vector<std::string> outbox_;
    std::size_t next_ = 0;
    std::map<std::string, std::chrono::steady_clock::time_point> in_flight_;
    std::set<std::string> acked_;
    std::unique_ptr<mqtt_client> client_;
};

} // namespace

class brokers_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(brokers_test);
    CPPUNIT_TEST(members_on_every_broker_get_each_message_once_in_order);
    CPPUNIT_TEST(replies_notices_typing_and_receipts_cross_brokers);
    CPPUNIT_TEST(presence_sums_devices_over_brokers);
    CPPUNIT_TEST(a_dead_broker_takes_its_devices_after_the_grace_without_flapping);
    CPPUNIT_TEST(the_connection_limit_counts_every_broker);
    CPPUNIT_TEST(nobody_logs_in_as_the_fabric_or_writes_its_topics);
    CPPUNIT_TEST(nothing_is_lost_or_doubled_when_a_broker_a_bridge_or_the_hub_dies);
    CPPUNIT_TEST_SUITE_END();

public:
    void members_on_every_broker_get_each_message_once_in_order() {
        auto bob = on_broker(1, "bob", "bob-order");
        auto carol = on_broker(2, "carol", "carol-order");
        for (auto* c : {bob.get(), carol.get()}) CPPUNIT_ASSERT_EQUAL(1, subscribe_as_member(*c, conv_topic("msg")));
        // The highest seq before this case: other cases may have sent some.
        rpc_caller reader(shared().stack.port(1), "bob", "pw-bob");
        const Json::Value h = reader.call("history", params({{"conv", Json::Int64(shared().conv)}, {"limit", 1}}));
        const Json::Value& newest = h["result"]["messages"];
        const std::int64_t base = newest.empty() ? 0 : newest[0]["seq"].asInt64();

        auto alice = on_broker(0, "alice", "alice-order");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/user/alice/inbox"));
        chat_sender sender(*alice, "alice", shared().conv);
        std::vector<outgoing> out;
        for (int i = 0; i < 200; ++i) out.push_back({"o" + std::to_string(i), "message " + std::to_string(i)});
        CPPUNIT_ASSERT(sender.send_all(out, 20, 3s, 60s, 10)); // every 10th deliberately sent twice
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), sender.conflicting_acks);

        for (auto* c : {bob.get(), carol.get()}) {
            delivery_log log;
            log.collect(*c, conv_topic("msg"), 200, 30s);
            CPPUNIT_ASSERT_EQUAL(std::size_t(200), log.first_seen.size());
            CPPUNIT_ASSERT_EQUAL(std::size_t(0), log.duplicates); // not once per broker, not once per resend
            // Every seq once and every message once. (With two bridges sharing the
            // work, two batches of one conversation may be published out of seq
            // order; clients put them in order by docs/protocol.md's rule 4, which
            // the failure case below follows.)
            std::set<std::string> ids;
            std::set<std::int64_t> seqs;
            for (const auto& d : log.first_seen) {
                ids.insert(d.id);
                seqs.insert(d.seq);
                CPPUNIT_ASSERT_EQUAL(std::string("alice"), d.sender);
            }
            CPPUNIT_ASSERT_EQUAL(std::size_t(200), ids.size());
            CPPUNIT_ASSERT_EQUAL(base + 1, *seqs.begin());
            CPPUNIT_ASSERT_EQUAL(base + 200, *seqs.rbegin());
        }
        // Stored once each.
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(200),
                             db.exec("SELECT count(*) FROM messages WHERE conv_id = $1 AND client_id LIKE 'o%'",
                                     {std::to_string(shared().conv)})
                                 .int64(0, 0));
    }

    void replies_notices_typing_and_receipts_cross_brokers() {
        // A request on b2 is answered there, through the hub.
        rpc_caller bob(shared().stack.port(1), "bob", "pw-bob");
        rpc_caller carol(shared().stack.port(2), "carol", "pw-carol");
        const Json::Value made = bob.call("conv.create", params({{"members", [] {
                                                                        Json::Value m(Json::arrayValue);
                                                                        m.append("carol");
                                                                        return m;
                                                                    }()},
                                                                   {"title", "b2 and b3"}}));
        CPPUNIT_ASSERT_MESSAGE(made.toStyledString(), made["result"]["conv"].asInt64() > 0);
        // The notice reaches carol on b3.
        const Json::Value added = carol.notice("added");
        CPPUNIT_ASSERT(!added.isNull());
        CPPUNIT_ASSERT_EQUAL(made["result"]["conv"].asInt64(), added["conv"].asInt64());

        // Typing and a receipt from b1 reach b2 and b3 once each, stamped with the user.
        auto alice = on_broker(0, "alice", "alice-typing");
        auto bob_watch = on_broker(1, "bob", "bob-typing");
        auto carol_watch = on_broker(2, "carol", "carol-typing");
        auto bob_on_b1 = on_broker(0, "bob", "bob-typing-b1"); // beside alice: nothing may come back doubled
        for (auto* c : {bob_watch.get(), carol_watch.get(), bob_on_b1.get()}) {
            CPPUNIT_ASSERT_EQUAL(0, c->subscribe(conv_topic("typing"), 0));
            CPPUNIT_ASSERT_EQUAL(1, c->subscribe(conv_topic("receipt")));
        }
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(conv_topic("typing"), R"({"typing":true})", 0));
        CPPUNIT_ASSERT_EQUAL(0, alice->publish(conv_topic("receipt"), R"({"delivered":1})", 1));
        for (auto* c : {bob_watch.get(), carol_watch.get(), bob_on_b1.get()}) {
            received r;
            CPPUNIT_ASSERT(c->wait_message(r, 10s, conv_topic("typing")));
            CPPUNIT_ASSERT_EQUAL(std::string("alice"), json_of(r.payload)["user"].asString());
            CPPUNIT_ASSERT(c->wait_message(r, 10s, conv_topic("receipt")));
            CPPUNIT_ASSERT_EQUAL(std::string("alice"), json_of(r.payload)["user"].asString());
        }
        std::this_thread::sleep_for(1s); // anything doubled by the fabric would be here by now
        for (auto* c : {bob_watch.get(), carol_watch.get(), bob_on_b1.get()}) {
            CPPUNIT_ASSERT_EQUAL(std::size_t(0), c->take_all(conv_topic("typing")).size());
            CPPUNIT_ASSERT_EQUAL(std::size_t(0), c->take_all(conv_topic("receipt")).size());
        }
    }

    void presence_sums_devices_over_brokers() {
        auto bob = on_broker(1, "bob", "bob-presence");
        CPPUNIT_ASSERT_EQUAL(1, bob->subscribe("chat/presence/carol"));
        std::vector<Json::Value> seen;
        auto carol1 = on_broker(0, "carol", "carol-p1");
        CPPUNIT_ASSERT(presence_reaches(*bob, "carol", 1, seen));
        auto carol3 = on_broker(2, "carol", "carol-p3");
        CPPUNIT_ASSERT(presence_reaches(*bob, "carol", 2, seen));
        CPPUNIT_ASSERT_EQUAL(std::string("online"), seen.back()["state"].asString());
        carol3->disconnect();
        CPPUNIT_ASSERT(presence_reaches(*bob, "carol", 1, seen));
        carol1->disconnect();
        CPPUNIT_ASSERT(presence_reaches(*bob, "carol", 0, seen));
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), seen.back()["state"].asString());
        // A contact who subscribes now on any broker reads the same retained state.
        auto alice = on_broker(2, "alice", "alice-presence");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/presence/carol"));
        received r;
        CPPUNIT_ASSERT(alice->wait_message(r, 10s, "chat/presence/carol"));
        CPPUNIT_ASSERT_EQUAL(0, json_of(r.payload)["devices"].asInt());
    }

    void a_dead_broker_takes_its_devices_after_the_grace_without_flapping() {
        auto& s = shared().stack;
        mqtt_client hub_watch(s.hub->port(), client_options{"hub-watch", "mqchat-bridge", fabric_stack::bridge_password});
        CPPUNIT_ASSERT_EQUAL(0, hub_watch.connect());
        CPPUNIT_ASSERT_EQUAL(1, hub_watch.subscribe("chat/fabric/#"));
        auto alice = on_broker(0, "alice", "alice-watch");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/presence/bob"));
        presences(*alice, "bob", 1s); // the retained state, and the last of the cases before
        std::vector<Json::Value> seen;
        auto bob_phone = on_broker(2, "bob", "bob-moves"); // bob's only device, on b3
        CPPUNIT_ASSERT(presence_reaches(*alice, "bob", 1, seen));

        // b3 dies; bob's phone comes back on b2 (as the load balancer would
        // send it) within the grace: bob never shows offline, and once the
        // grace is over b3's stale count is gone.
        struct back_on_exit { // the later cases need b3, whatever happens here
            fabric_stack& s;
            ~back_on_exit() {
                try {
                    if (!s.brokers[2]->running()) s.restart_broker(2);
                } catch (...) {}
            }
        } back{s};
        // Before the kill: the others may hear of it (the hub saw the socket
        // close) before stop() has reaped the process.
        const auto killed = std::chrono::steady_clock::now();
        s.brokers[2]->stop(SIGKILL);
        bob_phone.reset();
        bob_phone = on_broker(1, "bob", "bob-moves");
        seen.clear();
        auto trail = [&] {
            std::string t;
            for (const auto& p : seen) t += json::write(p) + "\n";
            for (const auto& r : hub_watch.take_all()) t += r.topic + " " + r.payload + "\n";
            return t;
        };
        CPPUNIT_ASSERT_MESSAGE(trail(), presence_reaches(*alice, "bob", 2, seen)); // b2's, and b3's for the grace
        CPPUNIT_ASSERT_MESSAGE(trail(), presence_reaches(*alice, "bob", 1, seen, 20s));
        const auto dropped = std::chrono::steady_clock::now() - killed;
        CPPUNIT_ASSERT_MESSAGE(trail() + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(dropped).count()) + " ms",
                               dropped >= std::chrono::milliseconds(grace_ms));
        for (const auto& p : presences(*alice, "bob", 1s)) seen.push_back(p);
        for (const auto& p : seen) CPPUNIT_ASSERT_EQUAL_MESSAGE(trail(), std::string("online"), p["state"].asString());
        CPPUNIT_ASSERT_EQUAL(1, seen.back()["devices"].asInt());

        // b3 comes back and learns the others' tables: a contact there sees bob's phone on b2.
        s.restart_broker(2);
        auto carol = on_broker(2, "carol", "carol-after");
        CPPUNIT_ASSERT_EQUAL(1, carol->subscribe("chat/presence/bob"));
        seen.clear();
        CPPUNIT_ASSERT(presence_reaches(*carol, "bob", 1, seen, 15s));
        bob_phone->disconnect();
        CPPUNIT_ASSERT(presence_reaches(*carol, "bob", 0, seen));
        CPPUNIT_ASSERT_EQUAL(std::string("offline"), seen.back()["state"].asString());
    }

    void the_connection_limit_counts_every_broker() {
        // At most 3 connections per user (the fixture's plugin option), on all brokers together.
        auto d1 = on_broker(0, "dave", "dave-1");
        auto d2 = on_broker(1, "dave", "dave-2");
        auto d3 = on_broker(2, "dave", "dave-3");
        // b1 hears of b2's and b3's within a flush or two; until then it could let one more in.
        int refused = 0;
        for (int i = 0; i < 50 && refused == 0; ++i) {
            mqtt_client extra(shared().stack.port(0), client_options{"dave-4", "dave", "pw-dave"});
            extra.retry_when_closed(false);
            const int rc = extra.connect(5s);
            if (rc == 0) {
                extra.disconnect();
                std::this_thread::sleep_for(100ms);
            } else {
                refused = rc;
            }
        }
        CPPUNIT_ASSERT(refused != 0);
        const std::string log = shared().stack.brokers[0]->log();
        CPPUNIT_ASSERT(log.find("too many connections (at most 3, 2 of them on other brokers)") != std::string::npos);
        d3->disconnect();
        bool admitted = false;
        for (int i = 0; i < 50 && !admitted; ++i) {
            mqtt_client again(shared().stack.port(0), client_options{"dave-4", "dave", "pw-dave"});
            again.retry_when_closed(false);
            admitted = again.connect(5s) == 0;
            if (!admitted) std::this_thread::sleep_for(100ms);
        }
        CPPUNIT_ASSERT(admitted);
    }

    void nobody_logs_in_as_the_fabric_or_writes_its_topics() {
        for (std::size_t b = 0; b < 3; ++b) {
            mqtt_client forger(shared().stack.port(b),
                               client_options{"forger", fabric_stack::fabric_user, fabric_stack::fabric_password});
            forger.retry_when_closed(false);
            CPPUNIT_ASSERT(forger.connect(5s) != 0);
        }
        // A chat user cannot tell the brokers false device counts, nor read theirs.
        auto erin = on_broker(0, "erin", "erin-forges");
        auto alice = on_broker(1, "alice", "alice-sees");
        CPPUNIT_ASSERT_EQUAL(1, alice->subscribe("chat/presence/bob"));
        CPPUNIT_ASSERT(erin->subscribe("chat/fabric/#") >= 0x80);
        CPPUNIT_ASSERT(erin->publish("chat/fabric/presence/b9", R"({"run":"x","snapshot":true,"devices":{"bob":50}})",
                                     1) != 0);
        CPPUNIT_ASSERT(erin->publish("chat/fabric/broker/b2", "0", 1) != 0);
        for (const auto& p : presences(*alice, "bob", 1500ms)) CPPUNIT_ASSERT(p["devices"].asInt() < 50);
    }

    void nothing_is_lost_or_doubled_when_a_broker_a_bridge_or_the_hub_dies() {
        auto& s = shared().stack;
        constexpr int per_member = 40;
        std::vector<std::unique_ptr<app>> apps;
        for (const auto& m : shared().crowd) apps.push_back(std::make_unique<app>(m, shared().crowd_conv, per_member));
        const std::size_t total = apps.size() * per_member;
        auto acked = [&] {
            std::size_t n = 0;
            for (auto& a : apps) n += a->acked();
            return n;
        };
        // Failures at a quarter, half and three quarters of the conversation.
        int phase = 0;
        const auto deadline = std::chrono::steady_clock::now() + 150s;
        bool complete = false;
        while (std::chrono::steady_clock::now() < deadline && !complete) {
            for (auto& a : apps) a->step();
            const std::size_t n = acked();
            if (phase == 0 && n >= total / 4) {
                s.brokers[1]->stop(SIGKILL); // its apps reconnect through HAProxy to b1 or b3
                ++phase;
            } else if (phase == 1 && n >= total / 2) {
                s.stores[0]->stop(SIGKILL); // the other bridge carries on; this one comes back
                s.stores[0]->start();
                ++phase;
            } else if (phase == 2 && n >= 3 * total / 4) {
                s.hub->stop(SIGKILL);
                std::this_thread::sleep_for(500ms);
                s.hub->start();
                ++phase;
            }
            complete = phase == 3;
            for (auto& a : apps) complete = complete && a->all_acked() && a->shown.size() == total;
            std::this_thread::sleep_for(10ms);
        }
        CPPUNIT_ASSERT_EQUAL(3, phase);
        std::string report;
        for (std::size_t i = 0; i < apps.size(); ++i)
            report += shared().crowd[i] + ": acked " + std::to_string(apps[i]->acked()) + ", shown " +
                      std::to_string(apps[i]->shown.size()) + ", repeats dropped " +
                      std::to_string(apps[i]->repeats_dropped) + ", gaps fetched " +
                      std::to_string(apps[i]->gaps_fetched) + ", reconnects " + std::to_string(apps[i]->reconnects) +
                      ", resends " + std::to_string(apps[i]->resends) + "\n";
        std::cout << "\n" << report;
        CPPUNIT_ASSERT_MESSAGE(report, complete);
        for (auto& a : apps)
            for (std::size_t i = 0; i < a->shown.size(); ++i)
                CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(i) + 1, a->shown[i]); // each once, in order
        // Stored once each, whatever was resent.
        pg::connection db(s.conninfo());
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(total),
                             db.exec("SELECT count(*) FROM messages WHERE conv_id = $1",
                                     {std::to_string(shared().crowd_conv)})
                                 .int64(0, 0));
        s.restart_broker(1);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(brokers_test);
