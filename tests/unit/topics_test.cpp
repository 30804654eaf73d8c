#include <cppunit/extensions/HelperMacros.h>

#include <stdexcept>

#include "common/topics.hpp"

using namespace mqchat;

class topics_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(topics_test);
    CPPUNIT_TEST(parses_known_topics);
    CPPUNIT_TEST(outside_prefix_is_not_ours);
    CPPUNIT_TEST(rejects_malformed_topics_under_prefix);
    CPPUNIT_TEST(conv_ids_are_canonical);
    CPPUNIT_TEST(filters_that_may_touch_the_prefix);
    CPPUNIT_TEST(filters_within_the_prefix);
    CPPUNIT_TEST(custom_prefix);
    CPPUNIT_TEST(bad_prefixes_are_refused);
    CPPUNIT_TEST(shared_subscription_prefix_is_stripped);
    CPPUNIT_TEST_SUITE_END();

    topic_names t;

public:
    void parses_known_topics() {
        auto p = t.parse("chat/conv/12/send");
        CPPUNIT_ASSERT(p.kind == topic_kind::conv_send);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(12), p.conv);
        CPPUNIT_ASSERT(t.parse("chat/conv/12/stamped").kind == topic_kind::conv_stamped);
        CPPUNIT_ASSERT(t.parse("chat/conv/12/msg").kind == topic_kind::conv_msg);
        CPPUNIT_ASSERT(t.parse("chat/conv/12/typing").kind == topic_kind::conv_typing);
        CPPUNIT_ASSERT(t.parse("chat/conv/12/receipt").kind == topic_kind::conv_receipt);
        p = t.parse("chat/user/alice/inbox");
        CPPUNIT_ASSERT(p.kind == topic_kind::user_inbox);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), std::string(p.user));
        p = t.parse("chat/presence/bob");
        CPPUNIT_ASSERT(p.kind == topic_kind::presence);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), std::string(p.user));
        p = t.parse("chat/rpc/history");
        CPPUNIT_ASSERT(p.kind == topic_kind::rpc);
        CPPUNIT_ASSERT_EQUAL(std::string("history"), std::string(p.method));
        p = t.parse("chat/rpc/conv.list/stamped");
        CPPUNIT_ASSERT(p.kind == topic_kind::rpc_stamped);
        CPPUNIT_ASSERT_EQUAL(std::string("conv.list"), std::string(p.method));
        CPPUNIT_ASSERT_EQUAL(std::string("chat/rpc/conv.list/stamped"), t.rpc_stamped("conv.list"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat/rpc/+/stamped"), t.all_rpc_stamped());
        CPPUNIT_ASSERT_EQUAL(std::string("chat/conv/12/msg"), t.conv_msg(12));
        CPPUNIT_ASSERT_EQUAL(std::string("chat/user/alice/inbox"), t.inbox("alice"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat/conv/+/stamped"), t.all_stamped());
        p = t.parse("chat/fabric/presence/b2");
        CPPUNIT_ASSERT(p.kind == topic_kind::fabric_presence);
        CPPUNIT_ASSERT_EQUAL(std::string("b2"), std::string(p.broker));
        const std::string link = t.fabric_broker("b2"); // parse() gives views into its argument
        p = t.parse(link);
        CPPUNIT_ASSERT(p.kind == topic_kind::fabric_broker);
        CPPUNIT_ASSERT_EQUAL(std::string("b2"), std::string(p.broker));
    }
    void outside_prefix_is_not_ours() {
        for (const char* s : {"sensors/temp", "chatter/conv/1/send", "chat", "Chat/conv/1/send", "$SYS/broker/uptime", ""})
            CPPUNIT_ASSERT_MESSAGE(s, t.parse(s).kind == topic_kind::outside);
    }
    void rejects_malformed_topics_under_prefix() {
        const char* bad[] = {"chat/", "chat/conv", "chat/conv/1", "chat/conv/1/send/extra", "chat/conv/+/send",
                             "chat/conv/#", "chat/conv/1/+", "chat/conv//send", "chat/conv/01/send",
                             "chat/conv/-1/send", "chat/conv/abc/send", "chat/conv/1/other",
                             "chat/user/../inbox", "chat/user/a+b/inbox", "chat/user/alice", "chat/user/alice/inbox/x",
                             "chat/presence/", "chat/presence/a/b", "chat/fabric/presence/",
                             "chat/fabric/presence/+", "chat/fabric/other/b1", "chat/fabric/broker/b1/x", "chat/rpc/", "chat/rpc/Bad-Method",
                             "chat/rpc/history/other", "chat/rpc/history/stamped/x",
                             "chat/conv/99999999999999999999/send"};
        for (const char* s : bad) CPPUNIT_ASSERT_MESSAGE(s, t.parse(s).kind == topic_kind::invalid);
        const std::string with_nul("chat/user/al\0ce/inbox", 21);
        CPPUNIT_ASSERT(t.parse(with_nul).kind == topic_kind::invalid);
    }
    void conv_ids_are_canonical() {
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), parse_conv_id("1"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(9223372036854775807), parse_conv_id("9223372036854775807"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), parse_conv_id("9223372036854775808"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), parse_conv_id("0"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), parse_conv_id("007"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), parse_conv_id("+7"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), parse_conv_id(""));
    }
    void filters_that_may_touch_the_prefix() {
        for (const char* s : {"#", "+/#", "chat/#", "+/conv/1/msg", "chat/+", "chat/conv/+/msg", "chat/x", "+/x/y"})
            CPPUNIT_ASSERT_MESSAGE(s, t.may_touch_prefix(s));
        for (const char* s : {"chat", "+", "sensors/#", "chatter/#", "$SYS/#", "sensors/+/x"})
            CPPUNIT_ASSERT_MESSAGE(s, !t.may_touch_prefix(s));
    }
    void filters_within_the_prefix() {
        for (const char* s : {"chat/#", "chat/+", "chat/conv/+/msg", "chat/conv/1/msg", "chat/x"})
            CPPUNIT_ASSERT_MESSAGE(s, t.within_prefix(s));
        // These may reach chat topics but are not chat subscriptions.
        for (const char* s : {"#", "+/#", "+/conv/1/msg", "+/x/y", "chat", "chatter/#", "sensors/#", "$SYS/#"})
            CPPUNIT_ASSERT_MESSAGE(s, !t.within_prefix(s));
        topic_names deep("apps/chat/");
        CPPUNIT_ASSERT(deep.within_prefix("apps/chat/#"));
        CPPUNIT_ASSERT(!deep.within_prefix("apps/+/conv/3/msg"));
    }
    void custom_prefix() {
        topic_names deep("apps/chat/");
        CPPUNIT_ASSERT(deep.parse("apps/chat/conv/3/msg").kind == topic_kind::conv_msg);
        CPPUNIT_ASSERT(deep.parse("chat/conv/3/msg").kind == topic_kind::outside);
        CPPUNIT_ASSERT(deep.may_touch_prefix("apps/+/conv/3/msg"));
        CPPUNIT_ASSERT(deep.may_touch_prefix("+/#"));
        CPPUNIT_ASSERT(!deep.may_touch_prefix("apps/other/#"));
        CPPUNIT_ASSERT(!deep.may_touch_prefix("apps/chat"));
    }
    void bad_prefixes_are_refused() {
        for (const char* p : {"", "chat", "/chat/", "$chat/", "ch+t/", "c#/", "a//b/"})
            CPPUNIT_ASSERT_THROW_MESSAGE(p, topic_names{p}, std::invalid_argument);
    }
    void shared_subscription_prefix_is_stripped() {
        CPPUNIT_ASSERT_EQUAL(std::string("chat/conv/+/stamped"),
                             std::string(strip_shared_subscription("$share/g/chat/conv/+/stamped")));
        CPPUNIT_ASSERT_EQUAL(std::string("a/b"), std::string(strip_shared_subscription("a/b")));
        CPPUNIT_ASSERT_EQUAL(std::string(""), std::string(strip_shared_subscription("$share/nogroup")));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(topics_test);
