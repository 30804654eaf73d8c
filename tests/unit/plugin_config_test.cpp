#include <cppunit/extensions/HelperMacros.h>

#include <stdexcept>

#include "config.hpp"

using namespace mqchat;
using namespace mqchat::plugin;

class plugin_config_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(plugin_config_test);
    CPPUNIT_TEST(defaults);
    CPPUNIT_TEST(all_options);
    CPPUNIT_TEST(missing_unknown_and_bad_options_are_named);
    CPPUNIT_TEST_SUITE_END();

public:
    void defaults() {
        const auto c = parse_config({{"db_conninfo", "dbname=x"}});
        CPPUNIT_ASSERT_EQUAL(std::string("dbname=x"), c.db);
        CPPUNIT_ASSERT_EQUAL(std::string("chat/"), c.topic_prefix);
        CPPUNIT_ASSERT(!c.exclusive);
        CPPUNIT_ASSERT_EQUAL(std::size_t(16384), c.max_payload);
        CPPUNIT_ASSERT_EQUAL(0, c.listen_backlog);
        CPPUNIT_ASSERT(c.forwarded_by.empty());
    }
    void all_options() {
        const auto c = parse_config({{"db_conninfo", "dbname=x"}, {"topic_prefix", "apps/chat/"}, {"exclusive", "true"},
                                     {"max_payload", "4096"}, {"startup_wait_ms", "0"}, {"listen_backlog", "4096"},
                                     {"forwarded_by", "127.0.0.1, ::1 10.0.0.7"}});
        CPPUNIT_ASSERT_EQUAL(std::string("apps/chat/"), c.topic_prefix);
        CPPUNIT_ASSERT(c.exclusive);
        CPPUNIT_ASSERT_EQUAL(std::size_t(4096), c.max_payload);
        CPPUNIT_ASSERT_EQUAL(0, c.startup_wait_ms);
        CPPUNIT_ASSERT_EQUAL(4096, c.listen_backlog);
        CPPUNIT_ASSERT(c.forwarded_by == (std::vector<std::string>{"127.0.0.1", "::1", "10.0.0.7"}));
    }
    void missing_unknown_and_bad_options_are_named() {
        try {
            parse_config({{"exclusive", "sometimes"}, {"max_paylod", "10"}, {"topic_prefix", "chat"},
                          {"forwarded_by", "127.0.0.1 gateway.local"}});
            CPPUNIT_FAIL("expected an error");
        } catch (const std::invalid_argument& e) {
            const std::string m = e.what();
            CPPUNIT_ASSERT_MESSAGE(m, m.find("missing required option plugin_opt_db_conninfo") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(m, m.find("plugin_opt_exclusive 'sometimes'") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(m, m.find("unknown option plugin_opt_max_paylod") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(m, m.find("topic prefix 'chat'") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(m, m.find("plugin_opt_forwarded_by: 'gateway.local' is not a numeric") != std::string::npos);
        }
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(plugin_config_test);
