#include <cppunit/extensions/HelperMacros.h>

#include "common/names.hpp"

using namespace mqchat;

class names_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(names_test);
    CPPUNIT_TEST(user_names);
    CPPUNIT_TEST(utf8);
    CPPUNIT_TEST(desk_names);
    CPPUNIT_TEST(knock_names);
    CPPUNIT_TEST(email_addresses);
    CPPUNIT_TEST_SUITE_END();

public:
    void user_names() {
        for (const char* ok : {"alice", "Bob_2", "a.b-c@d", "0"}) CPPUNIT_ASSERT_MESSAGE(ok, valid_user_name(ok));
        const char* bad[] = {"", "-alice", ".x", "a/b", "a+b", "a#b", "a b", "$SYS", "al'ice", "a;drop table users",
                             "ünï", "a\tb"};
        for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !valid_user_name(b));
        CPPUNIT_ASSERT(valid_user_name(std::string(64, 'a')));
        CPPUNIT_ASSERT(!valid_user_name(std::string(65, 'a')));
        CPPUNIT_ASSERT(!valid_user_name(std::string("a\0b", 3)));
    }
    void utf8() {
        CPPUNIT_ASSERT(valid_utf8("plain"));
        CPPUNIT_ASSERT(valid_utf8("grüße, 日本, 👋"));
        CPPUNIT_ASSERT(!valid_utf8("\xC0\xAF"));           // overlong
        CPPUNIT_ASSERT(!valid_utf8("\xE0\x80\xAF"));       // overlong, 3 bytes
        CPPUNIT_ASSERT(!valid_utf8("\xF0\x80\x80\xAF"));   // overlong, 4 bytes
        CPPUNIT_ASSERT(!valid_utf8("\xED\xA0\x80"));       // surrogate
        CPPUNIT_ASSERT(!valid_utf8("\xF4\x90\x80\x80"));   // above U+10FFFF
        CPPUNIT_ASSERT(!valid_utf8("\x80"));               // stray continuation
        CPPUNIT_ASSERT(!valid_utf8("\xE2\x82"));           // truncated
        CPPUNIT_ASSERT(!valid_utf8(std::string("a\0b", 3)));
    }
    void desk_names() {
        for (const char* ok : {"billing", "tech-2", "a_b", "0"}) CPPUNIT_ASSERT_MESSAGE(ok, valid_desk_name(ok));
        const char* bad[] = {"", "Billing", "-x", "_x", "a b", "a/b", "a.b", "x'; DROP TABLE desks; --", "dësk"};
        for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !valid_desk_name(b));
        CPPUNIT_ASSERT(valid_desk_name(std::string(63, 'a')));
        CPPUNIT_ASSERT(!valid_desk_name(std::string(64, 'a')));
    }
    void knock_names() {
        CPPUNIT_ASSERT(valid_knock_name("k-" + std::string(16, 'a')));
        CPPUNIT_ASSERT(valid_knock_name("k-AZaz09_-AZaz09_-xy"));
        CPPUNIT_ASSERT(valid_knock_name("k-" + std::string(62, 'b')));
        for (const std::string& b : {std::string("k-short"), "k-" + std::string(15, 'a'), "k-" + std::string(63, 'a'),
                                     "v-" + std::string(20, 'a'), "K-" + std::string(20, 'a'),
                                     "k-" + std::string(18, 'a') + "/+", "k-" + std::string(18, 'a') + ".b", std::string("alice")})
            CPPUNIT_ASSERT_MESSAGE(b, !valid_knock_name(b));
        CPPUNIT_ASSERT(valid_anonymous_visitor_name("v-" + std::string(16, 'a')));
        CPPUNIT_ASSERT(!valid_anonymous_visitor_name("k-" + std::string(16, 'a')));
        CPPUNIT_ASSERT(!valid_anonymous_visitor_name("v-x/+#aaaaaaaaaaaaaaaa"));
        CPPUNIT_ASSERT(!valid_anonymous_visitor_name("c-" + std::string(32, 'a')));
    }
    void email_addresses() {
        for (const char* ok : {"a@b", "vera@example.org", "first.last+tag@sub.example.co.uk"})
            CPPUNIT_ASSERT_MESSAGE(ok, valid_email_address(ok));
        const char* bad[] = {"", "@b", "a@", "ab", "a@b@c", "a b@c", "a@b\r\nBcc: x@y", "<a@b>", "a@b\n", "a\t@b"};
        for (const char* b : bad) CPPUNIT_ASSERT_MESSAGE(b, !valid_email_address(b));
        CPPUNIT_ASSERT(!valid_email_address(std::string(250, 'a') + "@b.cd"));
        CPPUNIT_ASSERT(!valid_email_address(std::string("a\0@b", 4)));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(names_test);
