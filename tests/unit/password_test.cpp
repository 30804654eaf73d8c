#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>

#include "common/password.hpp"
#include "support/environment.hpp"

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
        const auto k = password::remember_key::random();
        const std::string h = "$argon2id$v=19$m=19456,t=2,p=1$salt$hash";
        CPPUNIT_ASSERT(password::remember_digest(k, "a", "pw", h) == password::remember_digest(k, "a", "pw", h));
        CPPUNIT_ASSERT(password::remember_digest(k, "a", "pw", h) != password::remember_digest(k, "b", "pw", h));
        CPPUNIT_ASSERT(password::remember_digest(k, "ab", "c", h) != password::remember_digest(k, "a", "bc", h));
        // A new hash (the password was changed) never matches an old digest.
        CPPUNIT_ASSERT(password::remember_digest(k, "a", "pw", h) != password::remember_digest(k, "a", "pw", h + "x"));
        // Another key, another digest; the same key file, the same digest.
        CPPUNIT_ASSERT(password::remember_digest(k, "a", "pw", h) !=
                       password::remember_digest(password::remember_key::random(), "a", "pw", h));
        const test::temp_dir dir("password-test");
        const std::string file = dir.file("key");
        test::write_secret_file(file, std::string(40, 'k') + "\n");
        const auto f1 = password::remember_key::from_file(file), f2 = password::remember_key::from_file(file);
        CPPUNIT_ASSERT(password::remember_digest(f1, "a", "pw", h) == password::remember_digest(f2, "a", "pw", h));
        // A key file every user may read is refused (common/secret_file.hpp).
        std::filesystem::permissions(file, std::filesystem::perms(0644));
        CPPUNIT_ASSERT_THROW(password::remember_key::from_file(file), std::runtime_error);
        test::write_secret_file(file, "too short\n");
        std::filesystem::permissions(file, std::filesystem::perms(0600));
        CPPUNIT_ASSERT_THROW(password::remember_key::from_file(file), std::runtime_error);
        CPPUNIT_ASSERT_THROW(password::remember_key::from_file("/nonexistent/key"), std::runtime_error);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(password_test);
