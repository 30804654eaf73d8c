#include <cppunit/extensions/HelperMacros.h>

#include "common/names.hpp"

using namespace mqchat;

class names_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(names_test);
    CPPUNIT_TEST(user_names);
    CPPUNIT_TEST(utf8);
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
};
CPPUNIT_TEST_SUITE_REGISTRATION(names_test);
