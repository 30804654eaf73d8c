#include <cppunit/extensions/HelperMacros.h>

#include "directory.hpp"

using namespace mqchat::plugin;

class directory_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(directory_test);
    CPPUNIT_TEST(snapshot_then_changes);
    CPPUNIT_TEST(replace_reports_vanished_users);
    CPPUNIT_TEST(new_hash_forgets_remembered_password);
    CPPUNIT_TEST(shared_conversations);
    CPPUNIT_TEST(guests_live_apart_and_expire);
    CPPUNIT_TEST(knocks_never_inherit_access);
    CPPUNIT_TEST(bans_are_kept);
    CPPUNIT_TEST_SUITE_END();

public:
    void snapshot_then_changes() {
        directory d;
        CPPUNIT_ASSERT(!d.loaded());
        d.replace_all({{"alice", "h1", false, false, {1, 2}}, {"bridge", "h2", true, false, {}}});
        CPPUNIT_ASSERT(d.loaded());
        CPPUNIT_ASSERT(d.find("alice") && d.is_member(*d.find("alice"), 2));
        CPPUNIT_ASSERT(d.find("bridge")->bridge);
        d.remove_member(2, "alice");
        CPPUNIT_ASSERT(!d.is_member(*d.find("alice"), 2));
        d.add_member(3, "alice");
        CPPUNIT_ASSERT(d.is_member(*d.find("alice"), 3));
        d.add_member(3, "nobody"); // unknown users are ignored
        CPPUNIT_ASSERT(!d.find("nobody"));
        CPPUNIT_ASSERT(d.remove("alice"));
        CPPUNIT_ASSERT(!d.remove("alice"));
        CPPUNIT_ASSERT(!d.find("alice"));
    }
    void replace_reports_vanished_users() {
        directory d;
        d.replace_all({{"a", "h", false, false, {}}, {"b", "h", false, false, {}}});
        const auto gone = d.replace_all({{"b", "h", false, false, {}}});
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), gone.size());
        CPPUNIT_ASSERT_EQUAL(std::string("a"), gone[0]);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), d.size());
    }
    void new_hash_forgets_remembered_password() {
        directory d;
        d.upsert({"a", "h1", false, false, {}});
        d.find("a")->remembered = "digest";
        d.upsert({"a", "h1", false, false, {5}});
        CPPUNIT_ASSERT_EQUAL(std::string("digest"), d.find("a")->remembered);
        d.upsert({"a", "h2", false, false, {5}});
        CPPUNIT_ASSERT(d.find("a")->remembered.empty());
        d.find("a")->remembered = "digest";
        d.set_credentials("a", "h3", true, false); // keeps memberships, forgets the password
        CPPUNIT_ASSERT(d.find("a")->remembered.empty());
        CPPUNIT_ASSERT(d.find("a")->bridge);
        CPPUNIT_ASSERT(d.is_member(*d.find("a"), 5));
        d.set_credentials("new", "h", false, false);
        CPPUNIT_ASSERT(d.find("new") && d.find("new")->convs.empty());
    }
    void shared_conversations() {
        directory d;
        d.replace_all({{"a", "h", false, false, {1, 2, 3}}, {"b", "h", false, false, {3}}, {"c", "h", false, false, {4}}});
        CPPUNIT_ASSERT(d.share_conversation(*d.find("a"), *d.find("b")));
        CPPUNIT_ASSERT(!d.share_conversation(*d.find("a"), *d.find("c")));
    }
    void guests_live_apart_and_expire() {
        directory d;
        d.replace_all({{"agent", "h", false, false, {7}}});
        CPPUNIT_ASSERT(d.add_guest("guest-1", 7, 1000));
        CPPUNIT_ASSERT(!d.add_guest("agent", 7, 1000)); // a registered name is not a guest's
        const user_entry* g = d.find("guest-1");
        CPPUNIT_ASSERT(g && g->guest && d.is_member(*g, 7) && !d.is_member(*g, 8));
        d.replace_all({{"agent", "h", false, false, {7}}}); // a reload keeps guests
        CPPUNIT_ASSERT(d.find("guest-1"));
        CPPUNIT_ASSERT(d.add_guest("guest-1", 7, 2000)); // a second tab, a later expiry
        CPPUNIT_ASSERT(d.expire_guests(1500).empty());
        const auto gone = d.expire_guests(2001);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), gone.size());
        CPPUNIT_ASSERT(!d.find("guest-1"));
    }
    void knocks_never_inherit_access() {
        directory d;
        d.replace_all({{"agent", "h", false, false, {7}}});
        CPPUNIT_ASSERT(d.add_knock("k-aaaaaaaaaaaaaaaa", "site-1", 600));
        const user_entry* k = d.find("k-aaaaaaaaaaaaaaaa");
        CPPUNIT_ASSERT(k && k->guest && k->convs.empty() && k->site_key == "site-1");
        CPPUNIT_ASSERT(d.add_knock("k-aaaaaaaaaaaaaaaa", "site-1", 900));  // the same browser again
        CPPUNIT_ASSERT(!d.add_knock("k-aaaaaaaaaaaaaaaa", "site-2", 900)); // another key: not its name
        CPPUNIT_ASSERT(!d.add_guest("k-aaaaaaaaaaaaaaaa", 7, 900));        // a knock's name never gains a conversation
        CPPUNIT_ASSERT(d.add_guest("v-visitor", 7, 900));
        CPPUNIT_ASSERT(!d.add_knock("v-visitor", "site-1", 900)); // nor does a knock take a guest's access
        CPPUNIT_ASSERT(!d.add_knock("agent", "site-1", 900));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), d.expire_guests(1000).size());
    }
    void bans_are_kept() {
        directory d;
        d.replace_all({{"a", "h", false, true, {1}}});
        CPPUNIT_ASSERT(d.find("a")->banned);
        d.set_credentials("a", "h", false, false);
        CPPUNIT_ASSERT(!d.find("a")->banned);
        CPPUNIT_ASSERT(d.is_member(*d.find("a"), 1));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(directory_test);
