#include <cppunit/extensions/HelperMacros.h>

#include "common/password.hpp"

using namespace mqchat;

class password_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(password_test);
    CPPUNIT_TEST(hash_is_argon2id_phc_and_verifies);
    CPPUNIT_TEST(same_password_different_salt);
    CPPUNIT_TEST(garbage_hash_never_verifies);
    CPPUNIT_TEST(remember_digest_is_keyed_by_user);
    CPPUNIT_TEST_SUITE_END();

public:
    void hash_is_argon2id_phc_and_verifies() {
        const std::string h = password::hash("correct horse");
        CPPUNIT_ASSERT_MESSAGE(h, h.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
        CPPUNIT_ASSERT(password::verify(h, "correct horse"));
        CPPUNIT_ASSERT(!password::verify(h, "correct horse "));
        CPPUNIT_ASSERT(!password::verify(h, ""));
    }
    void same_password_different_salt() {
        CPPUNIT_ASSERT(password::hash("pw") != password::hash("pw"));
    }
    void garbage_hash_never_verifies() {
        CPPUNIT_ASSERT(!password::verify("", "pw"));
        CPPUNIT_ASSERT(!password::verify("plaintext", "plaintext"));
        CPPUNIT_ASSERT(!password::verify("$argon2id$v=19$m=1,t=1,p=1$xx$yy", "pw"));
    }
    void remember_digest_is_keyed_by_user() {
        CPPUNIT_ASSERT(password::remember_digest("a", "pw") == password::remember_digest("a", "pw"));
        CPPUNIT_ASSERT(password::remember_digest("a", "pw") != password::remember_digest("b", "pw"));
        CPPUNIT_ASSERT(password::remember_digest("ab", "c") != password::remember_digest("a", "bc"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(password_test);
