// Support desks against the real stack (docs/desks.md): desks and agents
// made with mqchat-admin; a visitor starts a support conversation, the
// desk's agents hear of it and see the queue oldest first, one claims it
// (two agents racing: exactly one wins), the visitor hears the agent's name
// and the two chat; capacity, close, reopen and rating follow their rules;
// and nobody who is not an agent of the desk learns anything about it.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/chat.hpp"
#include "support/fake_smtp.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
    chat_stack stack{"desk"};
    fixture() {
        for (const char* u : {"vera", "victor", "vlad", "wanda", "ann", "andy", "amir", "sue", "otto", "pia", "paul",
                              "ula", "uma", "uri"})
            stack.add_user(u, std::string("pw-") + u);
        admin_ok(stack.conninfo(), {"desk", "create", "billing", "--title", "Billing questions"});
        admin_ok(stack.conninfo(), {"desk", "create", "tech"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "billing", "ann"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "billing", "andy", "--capacity", "1"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "tech", "amir"});
        admin_ok(stack.conninfo(), {"desk", "supervisor", "sue"});
        admin_ok(stack.conninfo(), {"desk", "create", "auto", "--title", "Routed"});
        admin_ok(stack.conninfo(), {"desk", "routing", "auto", "least_busy"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "auto", "pia", "--capacity", "1"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "auto", "paul", "--capacity", "1"});
        admin_ok(stack.conninfo(), {"desk", "create", "rr"});
        admin_ok(stack.conninfo(), {"desk", "routing", "rr", "round_robin"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "rr", "pia"});
        admin_ok(stack.conninfo(), {"desk", "add-agent", "rr", "paul"});
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

struct user : rpc_caller {
    explicit user(const std::string& who) : rpc_caller(shared().stack.port(), who, "pw-" + who) {}
};

/// Subscribes to a conversation the client joined a moment ago. Until the
/// membership's news reaches the plugin it asks the database within its
/// wait budget, and on a slow machine may refuse; a client subscribes again.
int subscribe_to_new(mqtt_client& client, const std::string& topic) {
    int granted = -1;
    for (int i = 0; i < 50 && granted != 1; ++i) {
        granted = client.subscribe(topic);
        if (granted != 1) std::this_thread::sleep_for(100ms);
    }
    return granted;
}

/// Starts a support conversation at `desk`; its id.
std::int64_t start(user& visitor, const std::string& desk, Json::Value details = Json::Value(Json::objectValue)) {
    const Json::Value r = visitor.call("desk.start", params({{"desk", desk}, {"details", details}}));
    if (!r["result"].isObject()) throw std::runtime_error("desk.start failed: " + r.toStyledString());
    return r["result"]["conv"].asInt64();
}

/// Closes every open support conversation, so that each test starts from an empty queue.
void close_all() {
    pg::connection db(shared().stack.conninfo());
    db.exec("UPDATE support_conversations SET status = 'closed', closed_at = now() WHERE status <> 'closed'");
}

} // namespace

class desk_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(desk_test);
    CPPUNIT_TEST(a_visitor_is_queued_claimed_and_answered_by_name);
    CPPUNIT_TEST(the_queue_is_oldest_first_and_only_for_the_desks_agents);
    CPPUNIT_TEST(a_waiting_visitor_hears_each_new_place_in_the_queue);
    CPPUNIT_TEST(the_average_wait_is_the_latest_hundred_of_the_last_hour);
    CPPUNIT_TEST(two_agents_racing_for_one_conversation_exactly_one_wins);
    CPPUNIT_TEST(an_agent_at_capacity_claims_nothing_more_until_one_closes);
    CPPUNIT_TEST(close_reopen_and_rate_follow_their_rules);
    CPPUNIT_TEST(strangers_learn_nothing_and_bad_parameters_change_nothing);
    CPPUNIT_TEST(the_admin_tool_refuses_bad_desks_and_agents);
    CPPUNIT_TEST(routing_assigns_the_oldest_to_online_agents_under_capacity);
    CPPUNIT_TEST(round_robin_takes_turns);
    CPPUNIT_TEST(a_transfer_moves_it_and_notes_stay_among_agents);
    CPPUNIT_TEST(desk_info_follows_business_hours_and_agents_see_canned_responses);
    CPPUNIT_TEST(offline_messages_and_transcripts_are_mailed);
    CPPUNIT_TEST(agents_of_a_desk_are_listed_with_their_load_for_agents_only);
    CPPUNIT_TEST(an_agent_reopens_a_closed_one_and_takes_it_within_capacity);
    CPPUNIT_TEST(agents_list_every_desk_to_transfer_to);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override { close_all(); }

    void a_visitor_is_queued_claimed_and_answered_by_name() {
        user vera("vera"), ann("ann"), andy("andy"), amir("amir");
        Json::Value details(Json::objectValue);
        details["email"] = "vera@example.com";
        details["topic"] = "invoice 42";
        const Json::Value started = vera.call("desk.start", params({{"desk", "billing"}, {"details", details}}));
        const std::int64_t conv = started["result"]["conv"].asInt64();
        CPPUNIT_ASSERT_MESSAGE(started.toStyledString(), conv > 0);
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), started["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(1), started["result"]["position"].asInt64());
        CPPUNIT_ASSERT(started["result"]["created"].asBool());
        // Asking again (a reload, another tab) finds the same conversation.
        const Json::Value again = vera.call("desk.start", params({{"desk", "billing"}}));
        CPPUNIT_ASSERT_EQUAL(conv, again["result"]["conv"].asInt64());
        CPPUNIT_ASSERT(!again["result"]["created"].asBool());

        // The desk's agents hear of it; another desk's agent does not.
        const Json::Value queued = ann.notice("desk.queued");
        CPPUNIT_ASSERT_EQUAL(conv, queued["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("vera"), queued["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(conv, andy.notice("desk.queued")["conv"].asInt64());
        // While she waits, she writes (a member like any other).
        pg::connection db(shared().stack.conninfo());
        auto stored_seq = [&](const std::string& client_id) {
            for (int i = 0; i < 200; ++i, std::this_thread::sleep_for(50ms)) {
                const auto r = db.exec("SELECT seq FROM messages WHERE conv_id = $1 AND client_id = $2",
                                       {std::to_string(conv), client_id});
                if (r.rows() == 1) return r.int64(0, 0);
            }
            return std::int64_t(-1);
        };
        CPPUNIT_ASSERT_EQUAL(0, vera.client->publish("chat/conv/" + std::to_string(conv) + "/send",
                                                     R"({"id":"v-0","body":"Is anyone there?"})"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), stored_seq("v-0"));
        std::this_thread::sleep_for(20ms); // the claim's time is later than the message's, to the millisecond

        const Json::Value claim = ann.call("desk.claim", params({{"conv", conv}}));
        CPPUNIT_ASSERT_MESSAGE(claim.toStyledString(), claim["result"]["status"] == "assigned");
        CPPUNIT_ASSERT_EQUAL(std::string("vera"), claim["result"]["visitor"].asString());
        const Json::Value assigned = vera.notice("desk.assigned");
        CPPUNIT_ASSERT_EQUAL(conv, assigned["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), assigned["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), andy.notice("desk.taken")["by"].asString());
        const Json::Value mine = ann.call("desk.mine");
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), mine["result"]["conversations"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("invoice 42"), mine["result"]["conversations"][0]["details"]["topic"].asString());
        // Vera's message came before the conversation was Ann's: what Ann has not answered starts after it.
        CPPUNIT_ASSERT_EQUAL(Json::Int64(1), mine["result"]["conversations"][0]["unanswered_after"].asInt64());

        // They chat in the conversation like any members.
        const std::string msg = "chat/conv/" + std::to_string(conv) + "/msg";
        CPPUNIT_ASSERT_EQUAL(1, subscribe_to_new(*vera.client, msg));
        CPPUNIT_ASSERT_EQUAL(1, subscribe_to_new(*ann.client, msg));
        CPPUNIT_ASSERT_EQUAL(0, ann.client->publish("chat/conv/" + std::to_string(conv) + "/send",
                                                    R"({"id":"a-1","body":"Hello Vera, how can I help?"})"));
        delivery_log at_vera;
        at_vera.collect(*vera.client, msg, 1, 10s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), at_vera.first_seen.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), at_vera.first_seen[0].sender);
        // desk.mine says where what she has not answered starts: after her own last message.
        CPPUNIT_ASSERT_EQUAL(0, vera.client->publish("chat/conv/" + std::to_string(conv) + "/send",
                                                     R"({"id":"v-1","body":"My invoice is wrong"})"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), stored_seq("v-1"));
        CPPUNIT_ASSERT_EQUAL(Json::Int64(2), ann.call("desk.mine")["result"]["conversations"][0]["unanswered_after"].asInt64());
        // Amir works at another desk: not a member, his send is refused (by
        // the plugin, or by the bridge when the plugin could not ask in time).
        amir.client->publish("chat/conv/" + std::to_string(conv) + "/send", R"({"id":"x","body":"hi"})");
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), amir.notice_error());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM messages WHERE conv_id = $1 AND client_id = 'x'",
                                                      {std::to_string(conv)}).int64(0, 0));
    }

    void the_queue_is_oldest_first_and_only_for_the_desks_agents() {
        user vera("vera"), victor("victor"), vlad("vlad"), ann("ann"), amir("amir"), sue("sue"), otto("otto");
        const std::int64_t first = start(victor, "billing");
        const std::int64_t second = start(vlad, "billing");
        const std::int64_t elsewhere = start(vera, "tech");
        const Json::Value q = ann.call("desk.queue");
        const Json::Value& list = q["result"]["queue"];
        CPPUNIT_ASSERT_EQUAL_MESSAGE(q.toStyledString(), Json::ArrayIndex(2), list.size());
        CPPUNIT_ASSERT_EQUAL(first, list[0]["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(second, list[1]["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(1), list[0]["position"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::Int64(2), list[1]["position"].asInt64());
        CPPUNIT_ASSERT(list[0]["waiting_ms"].asInt64() >= list[1]["waiting_ms"].asInt64());
        // Amir sees only tech's; the supervisor sees all three; one desk on request.
        const Json::Value tech = amir.call("desk.queue");
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), tech["result"]["queue"].size());
        CPPUNIT_ASSERT_EQUAL(elsewhere, tech["result"]["queue"][0]["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(3), sue.call("desk.queue")["result"]["queue"].size());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), sue.call("desk.queue", params({{"desk", "tech"}}))["result"]["queue"].size());
        // Otto is nobody's agent; ann is not tech's.
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(otto.call("desk.queue")));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(ann.call("desk.queue", params({{"desk", "tech"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(victor.call("desk.queue")));
        // A later visitor is told their place.
        const Json::Value third = user("wanda").call("desk.start", params({{"desk", "billing"}}));
        CPPUNIT_ASSERT_EQUAL(Json::Int64(3), third["result"]["position"].asInt64());
    }

    void a_waiting_visitor_hears_each_new_place_in_the_queue() {
        user uma("uma"), victor("victor"), vlad("vlad"), vera("vera"), ann("ann"), amir("amir");
        const std::int64_t at_tech = start(uma, "tech"); // older than all of billing's
        const std::int64_t first = start(victor, "billing");
        const std::int64_t second = start(vlad, "billing");
        const std::int64_t third = start(vera, "billing");
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 3));
        // Ann takes the first: those behind move up, without asking.
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", first}}))["result"].isObject());
        Json::Value heard;
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vlad, second, 1));
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 2, &heard));
        // With the place, the desk's average wait as desk.info has it (an
        // assignment just happened, so there is one): all a widget's
        // estimate needs, without asking.
        const Json::Value average = average_wait_at("billing");
        CPPUNIT_ASSERT_MESSAGE(json::write(heard), average.isInt64() && heard["average_wait_ms"] == average);
        // The average moves (this assignment had waited an hour longer):
        // told again, at the same place.
        {
            pg::connection db(shared().stack.conninfo());
            db.exec("UPDATE support_conversations SET queued_at = queued_at - interval '1 hour' WHERE conv_id = $1",
                    {std::to_string(first)});
        }
        const Json::Value longer = average_wait_at("billing");
        CPPUNIT_ASSERT(longer.isInt64() && longer.asInt64() > average.asInt64() * 11 / 10);
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 2, &heard));
        CPPUNIT_ASSERT_MESSAGE(json::write(heard), heard["average_wait_ms"] == longer);
        // The one ahead of her gives up.
        CPPUNIT_ASSERT(vlad.call("desk.close", params({{"conv", second}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 1));
        // A conversation transferred from another desk keeps its age: it goes ahead of her.
        CPPUNIT_ASSERT(amir.call("desk.claim", params({{"conv", at_tech}}))["result"].isObject());
        const Json::Value moved = amir.call("desk.transfer", params({{"conv", at_tech}, {"desk", "billing"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(moved.toStyledString(), Json::Int64(1), moved["result"]["position"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 2));
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", at_tech}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string(), hears_place(vera, third, 1));
        // Only the visitor hears her place: the agents' queue has its own notices.
        for (const auto& n : ann.notices) CPPUNIT_ASSERT_MESSAGE(json::write(n), n["notice"] != "desk.position");
        // Once claimed, no more places: the last she heard is 1.
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", third}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(ann.name, vera.notice("desk.assigned")["agent"].asString());
        for (const auto& n : vera.notices) CPPUNIT_ASSERT_MESSAGE(json::write(n), n["notice"] != "desk.position");
    }

    /// desk.info's average_wait_ms (the figure desk.visit and desk.position
    /// carry too) averages a desk's latest 100 assignments of the last hour,
    /// so that reading it costs the same at any traffic.
    void the_average_wait_is_the_latest_hundred_of_the_last_hour() {
        pg::connection db(shared().stack.conninfo());
        db.exec("INSERT INTO desks (name, title) VALUES ('waits', 'Waits')");
        CPPUNIT_ASSERT(average_wait_at("waits").isNull()); // nobody assigned yet
        // 150 closed conversations assigned in the last hour, 20 s apart:
        // the latest 100 had waited 10 s each, the 50 before
        // them 30 minutes (an average over all 150 would be 606,667 ms).
        db.exec("WITH c AS (INSERT INTO conversations (kind) SELECT 'support' FROM generate_series(1, 150) RETURNING id),"
                "  n AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM c)"
                " INSERT INTO support_conversations (conv_id, desk_id, status, queued_at, assigned_at)"
                " SELECT n.id, (SELECT id FROM desks WHERE name = 'waits'), 'closed',"
                "        now() - (n.i * interval '20 seconds') - CASE WHEN n.i <= 100 THEN interval '10 seconds'"
                "                                                     ELSE interval '30 minutes' END,"
                "        now() - (n.i * interval '20 seconds') FROM n");
        CPPUNIT_ASSERT_EQUAL(Json::Int64(10000), average_wait_at("waits").asInt64());
        // Older than an hour counts for nothing, however recent its neighbours.
        db.exec("UPDATE support_conversations SET assigned_at = assigned_at - interval '2 hours', "
                "queued_at = queued_at - interval '2 hours' WHERE desk_id = (SELECT id FROM desks WHERE name = 'waits')");
        CPPUNIT_ASSERT(average_wait_at("waits").isNull());
        // Gone again: the other cases count the desks.
        db.exec("DELETE FROM conversations WHERE id IN (SELECT conv_id FROM support_conversations"
                " WHERE desk_id = (SELECT id FROM desks WHERE name = 'waits'))");
        db.exec("DELETE FROM desks WHERE name = 'waits'");
    }

    void two_agents_racing_for_one_conversation_exactly_one_wins() {
        user victor("victor");
        for (int round = 0; round < 5; ++round) {
            close_all();
            const std::int64_t conv = start(victor, "billing");
            user ann("ann"), sue("sue");
            std::atomic<int> won{0}, lost{0};
            std::string loser_message;
            auto claim = [&](user& agent) {
                const Json::Value r = agent.call("desk.claim", params({{"conv", conv}}));
                if (r["result"]["status"] == "assigned") ++won;
                else if (code_of(r) == "conflict") {
                    ++lost;
                    loser_message = r["error"]["message"].asString();
                }
            };
            std::thread a([&] { claim(ann); });
            std::thread b([&] { claim(sue); });
            a.join();
            b.join();
            CPPUNIT_ASSERT_EQUAL(1, won.load());
            CPPUNIT_ASSERT_EQUAL(1, lost.load());
            CPPUNIT_ASSERT_MESSAGE(loser_message, loser_message.find("taken by") != std::string::npos);
            pg::connection db(shared().stack.conninfo());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                                 db.exec("SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id"
                                         " WHERE m.conv_id = $1 AND u.name IN ('ann', 'sue')",
                                         {std::to_string(conv)})
                                     .int64(0, 0));
        }
    }

    void an_agent_at_capacity_claims_nothing_more_until_one_closes() {
        user victor("victor"), vlad("vlad"), andy("andy");
        const std::int64_t one = start(victor, "billing");
        const std::int64_t two = start(vlad, "billing");
        CPPUNIT_ASSERT(andy.call("desk.claim", params({{"conv", one}}))["result"].isObject());
        const Json::Value full = andy.call("desk.claim", params({{"conv", two}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(full.toStyledString(), std::string("forbidden"), code_of(full));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), ann_queue_status(two));
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), andy.call("desk.close", params({{"conv", one}}))["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("desk.closed"), victor.notice("desk.closed")["notice"].asString());
        CPPUNIT_ASSERT(andy.call("desk.claim", params({{"conv", two}}))["result"].isObject());
    }

    void close_reopen_and_rate_follow_their_rules() {
        user victor("victor"), ann("ann"), otto("otto");
        const std::int64_t conv = start(victor, "billing");
        // Rated only once closed, only by the visitor, once, 1 to 5.
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(victor.call("desk.rate", params({{"conv", conv}, {"rating", 5}}))));
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", conv}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.close", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(victor.call("desk.close", params({{"conv", conv}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("victor"), ann.notice("desk.closed")["by"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(ann.call("desk.close", params({{"conv", conv}}))));
        for (int bad : {0, 6, -1})
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                                 code_of(victor.call("desk.rate", params({{"conv", conv}, {"rating", bad}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(ann.call("desk.rate", params({{"conv", conv}, {"rating", 1}}))));
        const Json::Value rated =
            victor.call("desk.rate", params({{"conv", conv}, {"rating", 4}, {"comment", "quick, <b>thanks</b>"}}));
        CPPUNIT_ASSERT_EQUAL(Json::Int64(4), rated["result"]["rating"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(victor.call("desk.rate", params({{"conv", conv}, {"rating", 1}}))));
        pg::connection db(shared().stack.conninfo());
        const auto row = db.exec("SELECT rating, rating_comment FROM support_conversations WHERE conv_id = $1", {std::to_string(conv)});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), row.int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("quick, <b>thanks</b>"), row.str(0, 1)); // stored as given: text, escaped by whoever shows it
        // Reopened by the visitor: back in the queue, for whoever is free.
        // Nobody but the visitor and the desk's agents reopens it.
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.reopen", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(user("amir").call("desk.reopen", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(ann.call("history", params({{"conv", conv}}))["result"].isObject()); // closed: still hers to read
        const Json::Value reopened = victor.call("desk.reopen", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), reopened["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(ann.call("history", params({{"conv", conv}})))); // she left it
        CPPUNIT_ASSERT_EQUAL(conv, ann.notice("desk.queued")["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(victor.call("desk.reopen", params({{"conv", conv}}))));

        // The visitor's details and earlier conversations, for the desk's agents only.
        CPPUNIT_ASSERT(victor.call("desk.close", params({{"conv", conv}}))["result"].isObject());
        Json::Value details(Json::objectValue);
        details["page"] = "https://shop.example/checkout";
        const std::int64_t later = start(victor, "billing", details);
        const Json::Value seen = ann.call("desk.visitor", params({{"conv", later}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen.toStyledString(), std::string("victor"), seen["result"]["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("https://shop.example/checkout"), seen["result"]["details"]["page"].asString());
        const Json::Value& earlier = seen["result"]["earlier"];
        CPPUNIT_ASSERT(earlier.size() >= 1);
        bool found = false;
        for (const auto& e : earlier) found = found || e["conv"].asInt64() == conv;
        CPPUNIT_ASSERT_MESSAGE(seen.toStyledString(), found);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(victor.call("desk.visitor", params({{"conv", later}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.visitor", params({{"conv", later}}))));
    }

    void strangers_learn_nothing_and_bad_parameters_change_nothing() {
        user victor("victor"), otto("otto"), amir("amir"), ann("ann");
        const std::int64_t conv = start(victor, "billing");
        // Not an agent of billing: the same answer as for a conversation that does not exist.
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.claim", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(amir.call("desk.claim", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(victor.call("desk.claim", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(ann.call("desk.claim", params({{"conv", 999999}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(otto.call("history", params({{"conv", conv}}))));
        // A support conversation is not a group: nobody adds members to it.
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"),
                             code_of(victor.call("conv.add_member", params({{"conv", conv}, {"user", "otto"}}))));

        Json::Value too_many(Json::objectValue);
        for (char c = 'a'; c < 'a' + 21; ++c) too_many[std::string(1, c)] = "x";
        Json::Value not_text(Json::objectValue);
        not_text["age"] = 42;
        Json::Value long_value(Json::objectValue);
        long_value["note"] = std::string(1001, 'a');
        const std::vector<Json::Value> bad_starts = {
            params({}),
            params({{"desk", "no such desk"}}),
            params({{"desk", "billing'; DROP TABLE desks; --"}}),
            params({{"desk", "billing"}, {"details", "not an object"}}),
            params({{"desk", "billing"}, {"details", too_many}}),
            params({{"desk", "billing"}, {"details", not_text}}),
            params({{"desk", "billing"}, {"details", long_value}}),
        };
        for (const auto& p : bad_starts)
            CPPUNIT_ASSERT_EQUAL_MESSAGE(p.toStyledString(), std::string("invalid_request"), code_of(otto.call("desk.start", p)));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.start", params({{"desk", "sales"}}))));
        for (const Json::Value& c : {Json::Value("12"), Json::Value(-3), Json::Value(1.5), Json::Value()})
            CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(ann.call("desk.claim", params({{"conv", c}}))));
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.exec("SELECT count(*) FROM desks").int64(0, 0)); // billing, tech, auto, rr
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             db.exec("SELECT count(*) FROM support_conversations s JOIN users u ON u.id = s.visitor_id"
                                     " WHERE u.name = 'otto'")
                                 .int64(0, 0));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), ann_queue_status(conv));
    }

    void the_admin_tool_refuses_bad_desks_and_agents() {
        const std::string db = shared().stack.conninfo();
        std::string out;
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "create", "Billing"}, out)); // upper case
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "create", "x'; DROP TABLE desks; --"}, out));
        CPPUNIT_ASSERT(out.find("invalid desk name") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "create", "billing"}, out));
        CPPUNIT_ASSERT(out.find("exists already") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "add-agent", "billing", "nobody"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "add-agent", "nodesk", "ann"}, out));
        CPPUNIT_ASSERT_EQUAL(2, admin(db, {"desk", "add-agent", "billing", "ann", "--capacity", "0x10"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "add-agent", "billing", "ann", "--capacity", "0"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "remove-agent", "tech", "ann"}, out));
        const std::string list = admin_ok(db, {"desk", "list"});
        CPPUNIT_ASSERT_MESSAGE(list, list.find("billing\twaiting 0\tassigned 0\tagents andy(1) ann(5)\trouting manual\t"
                                               "Billing questions") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(list, list.find("tech\twaiting 0\tassigned 0\tagents amir(5)\trouting manual\ttech") !=
                                         std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, admin(db, {"desk", "routing", "tech", "random"}, out));
        CPPUNIT_ASSERT(out.find("routing must be") != std::string::npos);
    }

    void routing_assigns_the_oldest_to_online_agents_under_capacity() {
        // Desk "auto" routes least_busy to pia and paul, capacity 1 each.
        // Only pia is online: the first visitor goes to her, the next two
        // wait (paul is offline, pia is full). Paul comes online: the older
        // of the two goes to him. Pia closes hers: the last one goes to her.
        // The supervisor watches: a conversation routing places at once is
        // never announced to the desk (no desk.queued, no desk.taken); one
        // that waits is announced by the router, and taken when placed.
        user pia("pia"), ula("ula"), uma("uma"), uri("uri"), sue("sue");
        wait_until_online("pia");
        const std::int64_t first = start(ula, "auto");
        const Json::Value to_ula = ula.notice("desk.assigned");
        CPPUNIT_ASSERT_MESSAGE(to_ula.toStyledString(), to_ula["conv"].asInt64() == first);
        CPPUNIT_ASSERT_EQUAL(std::string("pia"), to_ula["agent"].asString());
        const Json::Value to_pia = pia.notice("desk.assigned");
        CPPUNIT_ASSERT_EQUAL(first, to_pia["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("ula"), to_pia["visitor"].asString());

        const std::int64_t older = start(uma, "auto");
        std::this_thread::sleep_for(300ms);
        const std::int64_t newer = start(uri, "auto");
        std::this_thread::sleep_for(1s); // four routing rounds: nobody is free
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), ann_queue_status(older));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), ann_queue_status(newer));

        const Json::Value announced = sue.notice("desk.queued");
        CPPUNIT_ASSERT_MESSAGE(announced.toStyledString(), announced["conv"].asInt64() == older);
        CPPUNIT_ASSERT_EQUAL(std::string("uma"), announced["visitor"].asString());
        CPPUNIT_ASSERT_EQUAL(newer, sue.notice("desk.queued")["conv"].asInt64());

        user paul("paul");
        const Json::Value to_paul = paul.notice("desk.assigned");
        CPPUNIT_ASSERT_MESSAGE(to_paul.toStyledString(), to_paul["conv"].asInt64() == older);
        const Json::Value taken = sue.notice("desk.taken");
        CPPUNIT_ASSERT_MESSAGE(taken.toStyledString(), taken["conv"].asInt64() == older);
        CPPUNIT_ASSERT_EQUAL(std::string("paul"), uma.notice("desk.assigned")["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), ann_queue_status(newer));

        CPPUNIT_ASSERT(pia.call("desk.close", params({{"conv", first}}))["result"].isObject());
        const Json::Value next = pia.notice("desk.assigned");
        CPPUNIT_ASSERT_MESSAGE(next.toStyledString(), next["conv"].asInt64() == newer);
        CPPUNIT_ASSERT_EQUAL(std::string("pia"), uri.notice("desk.assigned")["agent"].asString());
        // Each holds one: their capacity. The assigned agents are members.
        pg::connection db(shared().stack.conninfo());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2),
                             db.exec("SELECT count(*) FROM support_conversations s JOIN members m"
                                     " ON m.conv_id = s.conv_id AND m.user_id = s.assignee_id WHERE s.status = 'assigned'")
                                 .int64(0, 0));
    }

    void round_robin_takes_turns() {
        // Desk "rr" (capacity 5 each): four visitors one after another go to
        // pia and paul in turn, whoever was assigned longest ago first.
        user pia("pia"), paul("paul");
        wait_until_online("pia");
        wait_until_online("paul");
        std::vector<std::string> order;
        for (const char* v : {"ula", "uma", "uri", "wanda"}) {
            user visitor(v);
            start(visitor, "rr");
            order.push_back(visitor.notice("desk.assigned")["agent"].asString());
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), order.size());
        CPPUNIT_ASSERT_MESSAGE(order[0] + order[1], order[0] != order[1] && !order[0].empty() && !order[1].empty());
        CPPUNIT_ASSERT_EQUAL(order[0], order[2]);
        CPPUNIT_ASSERT_EQUAL(order[1], order[3]);
    }

    void a_transfer_moves_it_and_notes_stay_among_agents() {
        user victor("victor"), ann("ann"), andy("andy"), amir("amir"), otto("otto");
        const std::int64_t conv = start(victor, "billing");
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", conv}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), victor.notice("desk.assigned")["agent"].asString());
        // Bad transfers change nothing.
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(ann.call("desk.transfer", params({{"conv", conv}, {"to", "andy"}, {"desk", "tech"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(ann.call("desk.transfer", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(ann.call("desk.transfer", params({{"conv", conv}, {"to", "amir"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(ann.call("desk.transfer", params({{"conv", conv}, {"to", "ann"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(andy.call("desk.transfer", params({{"conv", conv}, {"to", "andy"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), assignee_of(conv));

        // To andy: he and the visitor hear of it; ann leaves the conversation.
        const Json::Value moved = ann.call("desk.transfer", params({{"conv", conv}, {"to", "andy"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(moved.toStyledString(), std::string("andy"), moved["result"]["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), andy.notice("desk.assigned")["by"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("andy"), victor.notice("desk.assigned")["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("andy"), assignee_of(conv));
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(ann.call("history", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(andy.call("history", params({{"conv", conv}}))["result"].isObject());

        // Notes: any agent of the desk writes and reads them; the assignee hears of them; nobody else sees them.
        CPPUNIT_ASSERT(ann.call("desk.note", params({{"conv", conv}, {"body", "asked about <b>invoice</b> 42 yesterday"}}))["result"].isObject());
        const Json::Value heard = andy.notice("desk.note");
        CPPUNIT_ASSERT_EQUAL(std::string("asked about <b>invoice</b> 42 yesterday"), heard["body"].asString());
        CPPUNIT_ASSERT(andy.call("desk.note", params({{"conv", conv}, {"body", "refund sent"}}))["result"].isObject());
        const Json::Value notes = ann.call("desk.notes", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(notes.toStyledString(), Json::ArrayIndex(2), notes["result"]["notes"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), notes["result"]["notes"][0]["by"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("refund sent"), notes["result"]["notes"][1]["body"].asString());
        for (user* u : {&victor, &otto, &amir}) {
            CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(u->call("desk.notes", params({{"conv", conv}}))));
            CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                                 code_of(u->call("desk.note", params({{"conv", conv}, {"body", "sneaky"}}))));
        }
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(andy.call("desk.note", params({{"conv", conv}, {"body", std::string(4001, 'x')}}))));
        const Json::Value history = victor.call("history", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(0), history["result"]["messages"].size());
        for (const auto& n : victor.notices) CPPUNIT_ASSERT(n["notice"] != "desk.note");

        // To another desk's queue: it waits there, amir hears of it, andy leaves it.
        const Json::Value away = andy.call("desk.transfer", params({{"conv", conv}, {"desk", "tech"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(away.toStyledString(), std::string("queued"), away["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(conv, amir.notice("desk.queued")["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("tech"), victor.notice("desk.queued")["desk"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(andy.call("history", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(conv, amir.call("desk.queue")["result"]["queue"][0]["conv"].asInt64());
        // Its notes go with it, to tech's agents.
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(2), amir.call("desk.notes", params({{"conv", conv}}))["result"]["notes"].size());
    }

    void desk_info_follows_business_hours_and_agents_see_canned_responses() {
        const std::string conninfo = shared().stack.conninfo();
        user ann("ann"), otto("otto");
        wait_until_online("ann");
        const Json::Value info = otto.call("desk.info", params({{"desk", "billing"}}));
        CPPUNIT_ASSERT_MESSAGE(info.toStyledString(), info["result"]["open"].asBool()); // no hours: always open
        CPPUNIT_ASSERT_EQUAL(std::string("Billing questions"), info["result"]["title"].asString());
        CPPUNIT_ASSERT(info["result"]["agents_online"].asInt64() >= 1);
        CPPUNIT_ASSERT_EQUAL(Json::Int64(0), info["result"]["waiting"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(otto.call("desk.info", params({{"desk", "sales"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(otto.call("desk.info", params({{"desk", "../x"}}))));

        // Hours on another day than today (in the desk's zone): closed now; today all day: open.
        pg::connection db(conninfo);
        const int today = static_cast<int>(db.exec("SELECT extract(isodow FROM now() AT TIME ZONE 'Asia/Tokyo')::int").int64(0, 0));
        const char* const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        const std::string other = names[today % 7], same = names[today - 1];
        admin_ok(conninfo, {"desk", "hours", "tech", other + "=09:00-17:00", "--tz", "Asia/Tokyo"});
        CPPUNIT_ASSERT(!otto.call("desk.info", params({{"desk", "tech"}}))["result"]["open"].asBool());
        admin_ok(conninfo, {"desk", "hours", "tech", same + "=00:00-24:00", other + "=09:00-17:00", "--tz", "Asia/Tokyo"});
        CPPUNIT_ASSERT(otto.call("desk.info", params({{"desk", "tech"}}))["result"]["open"].asBool());
        std::string out;
        for (const std::vector<std::string>& bad :
             {std::vector<std::string>{"desk", "hours", "tech", "mon=17:00-09:00"},
              {"desk", "hours", "tech", "someday=09:00-17:00"}, {"desk", "hours", "tech", "mon 09:00-17:00"},
              {"desk", "hours", "tech", "mon=09:00-25:00"}, {"desk", "hours", "tech", "fri-mon=09:00-17:00"},
              {"desk", "hours", "tech", "mon=09:00-17:00", "--tz", "Mars/Olympus"}}) {
            CPPUNIT_ASSERT_EQUAL(1, admin(conninfo, bad, out));
            CPPUNIT_ASSERT(otto.call("desk.info", params({{"desk", "tech"}}))["result"]["open"].asBool()); // unchanged
        }
        admin_ok(conninfo, {"desk", "hours", "tech"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.exec("SELECT count(*) FROM desk_hours").int64(0, 0));

        // Canned responses: the desk's agents see them, others see none.
        admin_ok(conninfo, {"desk", "canned", "billing", "refund", "We refund within 5 days."});
        admin_ok(conninfo, {"desk", "canned", "billing", "greet", "Hello! <img src=x onerror=alert(1)>"});
        admin_ok(conninfo, {"desk", "canned", "tech", "reboot", "Have you tried turning it off and on again?"});
        const Json::Value canned = ann.call("desk.canned");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(canned.toStyledString(), Json::ArrayIndex(2), canned["result"]["canned"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("greet"), canned["result"]["canned"][0]["shortcut"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("Hello! <img src=x onerror=alert(1)>"), canned["result"]["canned"][0]["body"].asString());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(0), otto.call("desk.canned")["result"]["canned"].size());
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(3), user("sue").call("desk.canned")["result"]["canned"].size());
        admin_ok(conninfo, {"desk", "canned", "billing", "greet", ""});
        CPPUNIT_ASSERT_EQUAL(Json::ArrayIndex(1), ann.call("desk.canned")["result"]["canned"].size());
        CPPUNIT_ASSERT_EQUAL(1, admin(conninfo, {"desk", "canned", "billing", "Bad Shortcut", "x"}, out));
        CPPUNIT_ASSERT_EQUAL(1, admin(conninfo, {"desk", "canned", "billing", "nope", ""}, out));
    }

    void offline_messages_and_transcripts_are_mailed() {
        auto& f = shared();
        fake_smtp smtp;
        f.stack.restart_bridge(smtp.bridge_settings("desk@example.org"));
        auto wait_mails = [&](std::size_t n) { return smtp.wait_for(n); };
        admin_ok(f.stack.conninfo(), {"desk", "email", "billing", "billing-team@example.com"});
        user otto("otto"), victor("victor"), ann("ann");

        // An offline message reaches the desk's address, the visitor as Reply-To.
        const Json::Value sent = otto.call("desk.offline", params({{"desk", "billing"}, {"email", "otto@example.org"},
                                                                    {"name", "Otto Ö"}, {"body", "Call me back <script>x</script>"}}));
        CPPUNIT_ASSERT_MESSAGE(sent.toStyledString(), sent["result"]["queued"].asBool());
        auto got = wait_mails(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(std::string("billing-team@example.com"), got[0]["to"][0].asString());
        const std::string text = got[0]["data"].asString();
        CPPUNIT_ASSERT_MESSAGE(text, text.find("Reply-To: otto@example.org\r\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(text, text.find("Subject: =?UTF-8?B?") != std::string::npos); // "Otto Ö", encoded
        CPPUNIT_ASSERT_MESSAGE(text, text.find("Call me back <script>x</script>") != std::string::npos);

        // Nothing else gets into the headers; a desk without an address takes none.
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(otto.call("desk.offline", params({{"desk", "billing"}, {"email", "o@example.org"},
                                                                       {"name", "Otto\r\nBcc: evil@example.net"}, {"body", "x"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(otto.call("desk.offline", params({{"desk", "billing"}, {"email", "o@example.org\r\nBcc: e@x"},
                                                                       {"body", "x"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(otto.call("desk.offline", params({{"desk", "billing"}, {"email", "o@example.org"},
                                                                       {"body", std::string(4001, 'x')}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(otto.call("desk.offline", params({{"desk", "tech"}, {"email", "o@example.org"}, {"body", "x"}}))));
        // Three an hour per visitor.
        for (int i = 0; i < 2; ++i)
            CPPUNIT_ASSERT(otto.call("desk.offline", params({{"desk", "billing"}, {"email", "o@example.org"}, {"body", "again"}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"),
                             code_of(otto.call("desk.offline", params({{"desk", "billing"}, {"email", "o@example.org"}, {"body", "4th"}}))));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), wait_mails(3).size());

        // A transcript, once the conversation is closed, to the visitor.
        const std::int64_t conv = start(victor, "billing");
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", conv}}))["result"].isObject());
        const std::string msg = "chat/conv/" + std::to_string(conv) + "/msg", send = "chat/conv/" + std::to_string(conv) + "/send";
        CPPUNIT_ASSERT_EQUAL(1, subscribe_to_new(*victor.client, msg));
        CPPUNIT_ASSERT_EQUAL(0, ann.client->publish(send, R"({"id":"t-1","body":"Hello, how can I help?"})"));
        CPPUNIT_ASSERT_EQUAL(0, victor.client->publish(send, R"({"id":"t-2","body":"Thanks <b>a lot</b>"})"));
        delivery_log at_victor;
        at_victor.collect(*victor.client, msg, 2, 10s);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), at_victor.first_seen.size());
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(victor.call("desk.transcript", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(victor.call("desk.close", params({{"conv", conv}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(victor.call("desk.transcript", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(otto.call("desk.transcript", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(victor.call("desk.transcript", params({{"conv", conv}, {"email", "victor@example.org"}}))["result"]["queued"].asBool());
        got = wait_mails(4);
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), got.size());
        CPPUNIT_ASSERT_EQUAL(std::string("victor@example.org"), got[3]["to"][0].asString());
        const std::string transcript = got[3]["data"].asString();
        CPPUNIT_ASSERT_MESSAGE(transcript, transcript.find("Subject: Your conversation with Billing questions") != std::string::npos);
        const auto hello = transcript.find(" UTC] ann: Hello, how can I help?\r\n");
        const auto thanks = transcript.find(" UTC] victor: Thanks <b>a lot</b>"); // the last line
        CPPUNIT_ASSERT_MESSAGE(transcript, hello != std::string::npos && thanks != std::string::npos && hello < thanks);
        for (int i = 0; i < 2; ++i)
            CPPUNIT_ASSERT(victor.call("desk.transcript", params({{"conv", conv}, {"email", "victor@example.org"}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"),
                             code_of(victor.call("desk.transcript", params({{"conv", conv}, {"email", "victor@example.org"}}))));

        admin_ok(f.stack.conninfo(), {"desk", "email", "billing", "--off"});
        wait_mails(6);
        f.stack.restart_bridge();
    }

private:
    static std::string assignee_of(std::int64_t conv) {
        pg::connection db(shared().stack.conninfo());
        return db.exec("SELECT coalesce(u.name, '') FROM support_conversations s LEFT JOIN users u ON u.id = s.assignee_id"
                       " WHERE s.conv_id = $1", {std::to_string(conv)}).str(0, 0);
    }
    /// Waits until the bridge has stored that `name` has a device connected.
    void agents_of_a_desk_are_listed_with_their_load_for_agents_only() {
        user ann("ann"), andy("andy"), vera("vera"), amir("amir"), sue("sue");
        wait_until_online("ann");
        const std::int64_t conv = start(vera, "billing");
        CPPUNIT_ASSERT(ann.call("desk.claim", params({{"conv", conv}}))["result"].isObject());
        const Json::Value r = andy.call("desk.agents", params({{"desk", "billing"}}));
        CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"]["agents"].isArray());
        const Json::Value& list = r["result"]["agents"];
        CPPUNIT_ASSERT_EQUAL(2u, list.size());
        CPPUNIT_ASSERT_EQUAL(std::string("andy"), list[0]["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), list[0]["capacity"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), list[1]["agent"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), list[1]["assigned"].asInt64());
        CPPUNIT_ASSERT(list[1]["online"].asBool());
        CPPUNIT_ASSERT(sue.call("desk.agents", params({{"desk", "billing"}}))["result"].isObject()); // a supervisor
        // The visitor, an agent of another desk, a desk that does not exist, a hostile name.
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(vera.call("desk.agents", params({{"desk", "billing"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(amir.call("desk.agents", params({{"desk", "billing"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(ann.call("desk.agents", params({{"desk", "nowhere"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"),
                             code_of(ann.call("desk.agents", params({{"desk", "x'; DROP TABLE desks; --"}}))));
    }

    void an_agent_reopens_a_closed_one_and_takes_it_within_capacity() {
        user vlad("vlad"), wanda("wanda"), ann("ann"), andy("andy");
        const std::int64_t conv = start(vlad, "billing");
        CPPUNIT_ASSERT(andy.call("desk.claim", params({{"conv", conv}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("andy"), vlad.notice("desk.assigned")["agent"].asString());
        CPPUNIT_ASSERT(andy.call("desk.close", params({{"conv", conv}}))["result"].isObject());
        // Andy (capacity 1) holds another one now: he cannot take it back.
        const std::int64_t other = start(wanda, "billing");
        CPPUNIT_ASSERT(andy.call("desk.claim", params({{"conv", other}}))["result"].isObject());
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(andy.call("desk.reopen", params({{"conv", conv}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), ann_queue_status(conv));
        // Ann reopens it and has it at once; the visitor hears her name, Andy leaves it.
        const Json::Value reopened = ann.call("desk.reopen", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(reopened.toStyledString(), std::string("assigned"), reopened["result"]["status"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), reopened["result"]["agent"].asString());
        const Json::Value told = vlad.notice("desk.assigned");
        CPPUNIT_ASSERT_EQUAL(conv, told["conv"].asInt64());
        CPPUNIT_ASSERT_EQUAL(std::string("ann"), told["agent"].asString());
        CPPUNIT_ASSERT(told["reopened"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("not_member"), code_of(andy.call("history", params({{"conv", conv}}))));
        CPPUNIT_ASSERT(ann.call("history", params({{"conv", conv}}))["result"].isObject());
        const Json::Value mine = ann.call("desk.mine", params({}));
        bool listed = false;
        for (const auto& c : mine["result"]["conversations"]) listed = listed || c["conv"].asInt64() == conv;
        CPPUNIT_ASSERT_MESSAGE(mine.toStyledString(), listed);
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(ann.call("desk.reopen", params({{"conv", conv}}))));
        // The visitor has another open conversation at the desk: the old one stays closed.
        CPPUNIT_ASSERT(ann.call("desk.close", params({{"conv", conv}}))["result"].isObject());
        const std::int64_t newer = start(vlad, "billing");
        CPPUNIT_ASSERT(newer != conv);
        const Json::Value twice = ann.call("desk.reopen", params({{"conv", conv}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(twice.toStyledString(), std::string("conflict"), code_of(twice));
        CPPUNIT_ASSERT_EQUAL(std::string("closed"), ann_queue_status(conv));
        CPPUNIT_ASSERT_EQUAL(std::string("conflict"), code_of(vlad.call("desk.reopen", params({{"conv", conv}}))));
    }

    void agents_list_every_desk_to_transfer_to() {
        user ann("ann"), sue("sue"), vera("vera"), otto("otto");
        start(vera, "tech");
        const Json::Value r = ann.call("desk.list", params({}));
        CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"]["desks"].isArray());
        std::map<std::string, Json::Value> by_name;
        for (const auto& d : r["result"]["desks"]) by_name[d["desk"].asString()] = d;
        for (const char* d : {"auto", "billing", "rr", "tech"}) CPPUNIT_ASSERT_MESSAGE(d, by_name.count(d) == 1);
        CPPUNIT_ASSERT_EQUAL(std::string("Billing questions"), by_name["billing"]["title"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("least_busy"), by_name["auto"]["routing"].asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), by_name["tech"]["waiting"].asInt64());
        CPPUNIT_ASSERT(by_name["tech"]["open"].asBool());
        CPPUNIT_ASSERT(sue.call("desk.list", params({}))["result"].isObject()); // a supervisor
        // A visitor and a user who is no agent learn nothing.
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(vera.call("desk.list", params({}))));
        CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), code_of(otto.call("desk.list", params({}))));
    }

    /// Reads `who`'s desk.position notices until one says `conv` is at
    /// `place`; "" then, else what was heard instead.
    /// `notice`: where the one that says so goes.
    static std::string hears_place(user& who, std::int64_t conv, std::int64_t place, Json::Value* notice = nullptr) {
        std::string heard;
        for (Json::Value n = who.notice("desk.position"); !n.isNull(); n = who.notice("desk.position")) {
            if (n["conv"].asInt64() == conv && n["position"].asInt64() == place) {
                if (notice) *notice = n;
                return "";
            }
            heard += json::write(n) + " ";
        }
        return who.name + " never heard place " + std::to_string(place) + " of " + std::to_string(conv) +
               "; heard: " + (heard.empty() ? "nothing" : heard);
    }

    /// desk.info's average_wait_ms of `desk` (null when nobody was assigned there in the last hour).
    static Json::Value average_wait_at(const std::string& desk) {
        const Json::Value info = user("otto").call("desk.info", params({{"desk", desk}}));
        if (!info["result"].isObject()) throw std::runtime_error("desk.info failed: " + info.toStyledString());
        return info["result"]["average_wait_ms"];
    }

    static void wait_until_online(const std::string& name) {
        pg::connection db(shared().stack.conninfo());
        for (int i = 0; i < 100; ++i) {
            if (db.exec("SELECT 1 FROM presence p JOIN users u ON u.id = p.user_id WHERE u.name = $1 AND p.devices > 0",
                        {name})
                    .rows() == 1)
                return;
            std::this_thread::sleep_for(100ms);
        }
        throw std::runtime_error(name + " never showed as online");
    }
    static std::string ann_queue_status(std::int64_t conv) {
        pg::connection db(shared().stack.conninfo());
        return db.exec("SELECT status FROM support_conversations WHERE conv_id = $1", {std::to_string(conv)}).str(0, 0);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(desk_test);
