// The frames between the broker and the plugin's worker process
// (plugin/worker_wire.hpp): every message comes back as it went, frames are
// found whole in a stream cut anywhere, and a frame that does not add up is
// refused, never read past its end.

#include <cppunit/extensions/HelperMacros.h>

#include <cstring>
#include <string>
#include <variant>

#include "worker_wire.hpp"

using namespace mqchat::plugin;

namespace {

user_record sample_user() {
    user_record u;
    u.name = "alice";
    u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    u.bridge = false;
    u.banned = true;
    u.convs = {1, 42, 9223372036854775807};
    u.remembered = std::string("\0\x01\xff digest", 10);
    u.presence.status = "away";
    u.presence.text = "lunch ☕";
    u.presence.hide_last_seen = true;
    return u;
}

void same_user(const user_record& a, const user_record& b) {
    CPPUNIT_ASSERT_EQUAL(a.name, b.name);
    CPPUNIT_ASSERT_EQUAL(a.password_hash, b.password_hash);
    CPPUNIT_ASSERT_EQUAL(a.bridge, b.bridge);
    CPPUNIT_ASSERT_EQUAL(a.banned, b.banned);
    CPPUNIT_ASSERT(a.convs == b.convs);
    CPPUNIT_ASSERT_EQUAL(a.remembered, b.remembered);
    CPPUNIT_ASSERT(a.presence == b.presence);
}

/// The one message in `bytes`, which must be exactly one frame.
wire::message only_frame(const std::string& bytes) {
    CPPUNIT_ASSERT_EQUAL(bytes.size(), wire::complete_frame(bytes));
    return wire::decode(bytes);
}

} // namespace

class worker_wire_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(worker_wire_test);
    CPPUNIT_TEST(requests_come_back_as_they_went);
    CPPUNIT_TEST(news_comes_back_as_it_went);
    CPPUNIT_TEST(frames_are_found_whole_in_a_cut_stream);
    CPPUNIT_TEST(frames_that_do_not_add_up_are_refused);
    CPPUNIT_TEST_SUITE_END();

public:
    void requests_come_back_as_they_went() {
        std::string out;
        wire::put(out, wire::ask_user{"bob", 7});
        auto m = std::get<wire::ask_user>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), m.name);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(7), m.ticket);

        out.clear();
        wire::put(out, wire::ask_member{"carol", 12, 8});
        auto am = std::get<wire::ask_member>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(std::string("carol"), am.name);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(12), am.conv);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(8), am.ticket);

        out.clear();
        wire::put(out, wire::check_password{"dave", std::string("p\0w", 3), "$argon2id$x", "d1"});
        auto cp = std::get<wire::check_password>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(std::string("dave"), cp.user);
        CPPUNIT_ASSERT_EQUAL(std::string("p\0w", 3), cp.password);
        CPPUNIT_ASSERT_EQUAL(std::string("$argon2id$x"), cp.stored_hash);
        CPPUNIT_ASSERT_EQUAL(std::string("d1"), cp.digest);

        out.clear();
        wire::put(out, wire::remember_login{"erin", "d2"});
        auto rl = std::get<wire::remember_login>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(std::string("erin"), rl.name);
        CPPUNIT_ASSERT_EQUAL(std::string("d2"), rl.digest);
    }

    void news_comes_back_as_it_went() {
        directory_change snapshot;
        snapshot.what = directory_change::kind::snapshot;
        snapshot.snapshot = std::make_shared<std::vector<user_record>>(
            std::vector<user_record>{sample_user(), user_record{"bridge", "h", true, false, {}}});
        snapshot.names = {"alice", ""};
        snapshot.version = 99;
        std::string out;
        wire::put(out, snapshot);
        auto c = std::get<directory_change>(only_frame(out));
        CPPUNIT_ASSERT(c.what == directory_change::kind::snapshot);
        CPPUNIT_ASSERT(c.snapshot);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), c.snapshot->size());
        same_user(sample_user(), (*c.snapshot)[0]);
        CPPUNIT_ASSERT((*c.snapshot)[1].bridge);
        CPPUNIT_ASSERT(c.names == snapshot.names);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(99), c.version);

        directory_change member;
        member.what = directory_change::kind::remove_member;
        member.name = "bob";
        member.conv = 3;
        member.version = 4;
        out.clear();
        wire::put(out, member);
        c = std::get<directory_change>(only_frame(out));
        CPPUNIT_ASSERT(c.what == directory_change::kind::remove_member);
        CPPUNIT_ASSERT(!c.snapshot);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), c.name);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), c.conv);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), c.version);

        directory_change line;
        line.what = directory_change::kind::log;
        line.log_level = 8;
        line.log_text = "mqchat: database unavailable";
        out.clear();
        wire::put(out, line);
        c = std::get<directory_change>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(8, c.log_level);
        CPPUNIT_ASSERT_EQUAL(line.log_text, c.log_text);

        out.clear();
        wire::put(out, lookup_answer{lookup_answer::kind::user_found, "alice", 0, sample_user()});
        auto a = std::get<lookup_answer>(only_frame(out));
        CPPUNIT_ASSERT(a.what == lookup_answer::kind::user_found);
        CPPUNIT_ASSERT(a.user);
        same_user(sample_user(), *a.user);

        out.clear();
        wire::put(out, lookup_answer{lookup_answer::kind::not_member, "bob", 5, std::nullopt});
        a = std::get<lookup_answer>(only_frame(out));
        CPPUNIT_ASSERT(a.what == lookup_answer::kind::not_member);
        CPPUNIT_ASSERT(!a.user);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), a.conv);

        out.clear();
        wire::put(out, wire::lookup_progress{123456789012345});
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(123456789012345),
                             std::get<wire::lookup_progress>(only_frame(out)).answered_through);

        out.clear();
        wire::put(out, password_verdict{"alice", "$argon2id$y", "d3", true});
        auto v = std::get<password_verdict>(only_frame(out));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), v.user);
        CPPUNIT_ASSERT_EQUAL(std::string("$argon2id$y"), v.stored_hash);
        CPPUNIT_ASSERT_EQUAL(std::string("d3"), v.digest);
        CPPUNIT_ASSERT(v.good);

        out.clear();
        wire::put(out, wire::password_dropped{"d4"});
        CPPUNIT_ASSERT_EQUAL(std::string("d4"), std::get<wire::password_dropped>(only_frame(out)).digest);
    }

    void frames_are_found_whole_in_a_cut_stream() {
        std::string stream;
        for (std::uint64_t t = 1; t <= 50; ++t) wire::put(stream, wire::ask_user{std::string(t, 'x'), t});
        // Fed one byte at a time, as reads may cut it: each frame is seen
        // exactly when its last byte has arrived.
        std::string got;
        std::uint64_t next = 1;
        for (const char b : stream) {
            got.push_back(b);
            while (const std::size_t n = wire::complete_frame(got)) {
                const auto m = std::get<wire::ask_user>(wire::decode(std::string_view(got).substr(0, n)));
                CPPUNIT_ASSERT_EQUAL(next, m.ticket);
                CPPUNIT_ASSERT_EQUAL(std::string(next, 'x'), m.name);
                ++next;
                got.erase(0, n);
            }
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(51), next);
        CPPUNIT_ASSERT(got.empty());
    }

    void frames_that_do_not_add_up_are_refused() {
        std::string good;
        wire::put(good, wire::remember_login{"erin", "digest"});
        auto with_length = [](std::string frame, std::uint32_t length) {
            std::memcpy(frame.data(), &length, sizeof length);
            return frame;
        };
        // Lengths no frame has.
        CPPUNIT_ASSERT_THROW(wire::complete_frame(with_length(good, 0)), wire::malformed);
        CPPUNIT_ASSERT_THROW(wire::complete_frame(with_length(good, 0xffffffffu)), wire::malformed);
        // A frame shorter than its fields claim, or with bytes to spare.
        const auto len = static_cast<std::uint32_t>(good.size() - 4);
        std::string short_frame = with_length(good.substr(0, good.size() - 1), len - 1);
        CPPUNIT_ASSERT_THROW(wire::decode(short_frame), wire::malformed);
        std::string long_frame = with_length(good + "x", len + 1);
        CPPUNIT_ASSERT_THROW(wire::decode(long_frame), wire::malformed);
        // A string length beyond the frame.
        std::string huge_string = good;
        const std::uint32_t claim = 1u << 20;
        std::memcpy(huge_string.data() + 5, &claim, sizeof claim);
        CPPUNIT_ASSERT_THROW(wire::decode(huge_string), wire::malformed);
        // An unknown type, and a count of users the frame cannot hold.
        std::string unknown = good;
        unknown[4] = static_cast<char>(200);
        CPPUNIT_ASSERT_THROW(wire::decode(unknown), wire::malformed);
        directory_change snapshot;
        snapshot.what = directory_change::kind::snapshot;
        snapshot.snapshot = std::make_shared<std::vector<user_record>>();
        std::string frame;
        wire::put(frame, snapshot);
        const std::uint32_t users = 1u << 30;
        std::memcpy(frame.data() + 4 + 1 + 1 + 1, &users, sizeof users); // after type, kind, has-snapshot
        CPPUNIT_ASSERT_THROW(wire::decode(frame), wire::malformed);
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(worker_wire_test);
