// The gateway's pure parts: reading and rewriting a client's CONNECT
// (gateway/mqtt_connect), the visitor's address in front of a password
// (common/forwarded), and which file a request names (gateway/http_files).

#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "common/forwarded.hpp"
#include "http_files.hpp"
#include "mqtt_connect.hpp"

using namespace mqchat;
using namespace mqchat::gateway;

namespace {

std::string u16(std::size_t n) { return {static_cast<char>(n >> 8), static_cast<char>(n & 0xFF)}; }
std::string str(const std::string& s) { return u16(s.size()) + s; }
std::string varint(std::size_t n) {
    std::string out;
    do {
        unsigned char b = n & 0x7F;
        n >>= 7;
        if (n) b |= 0x80;
        out += static_cast<char>(b);
    } while (n);
    return out;
}

/// A CONNECT as a client writes it.
std::string connect_packet_of(int version, const std::string& id, const std::string* user, const std::string* password,
                              bool will = false) {
    std::string body = version == 3 ? str("MQIsdp") : str("MQTT");
    body += static_cast<char>(version);
    unsigned char flags = 0x02;
    if (will) flags |= 0x04;
    if (user) flags |= 0x80;
    if (password) flags |= 0x40;
    body += static_cast<char>(flags);
    body += u16(60);
    if (version == 5) body += varint(5) + std::string("\x11\x00\x00\x0e\x10", 5); // session expiry 3600
    body += str(id);
    if (will) {
        if (version == 5) body += varint(2) + std::string("\x01\x01", 2); // payload format: UTF-8
        body += str("chat/user/x/will") + str("gone");
    }
    if (user) body += str(*user);
    if (password) body += str(*password);
    return std::string(1, '\x10') + varint(body.size()) + body;
}

} // namespace

class gateway_unit_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(gateway_unit_test);
    CPPUNIT_TEST(a_connect_is_measured_as_its_bytes_arrive);
    CPPUNIT_TEST(connects_of_every_version_are_read);
    CPPUNIT_TEST(malformed_connects_are_not);
    CPPUNIT_TEST(a_password_is_put_in_and_the_length_follows);
    CPPUNIT_TEST(forwarded_addresses_are_split_only_when_well_formed);
    CPPUNIT_TEST(request_targets_stay_inside_the_directory);
    CPPUNIT_TEST_SUITE_END();

public:
    void a_connect_is_measured_as_its_bytes_arrive() {
        const std::string user = "alice", pw = "pw";
        const std::string p = connect_packet_of(4, "id", &user, &pw);
        bool complete = true;
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), *connect_length("", complete));
        CPPUNIT_ASSERT(!complete);
        CPPUNIT_ASSERT_EQUAL(p.size(), *connect_length(p.substr(0, 2), complete));
        CPPUNIT_ASSERT(!complete);
        CPPUNIT_ASSERT_EQUAL(p.size(), *connect_length(p + "more", complete));
        CPPUNIT_ASSERT(complete);
        // A remaining length split after its first byte: not known yet.
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), *connect_length(std::string("\x10\x80", 2), complete));
        // Not a CONNECT, or a length of more than four bytes.
        CPPUNIT_ASSERT(!connect_length(std::string("\x30\x02\x00\x00", 4), complete));
        CPPUNIT_ASSERT(!connect_length(std::string("\x10\xff\xff\xff\xff\x01", 6), complete));
    }

    void connects_of_every_version_are_read() {
        const std::string user = "k-abcdefghijklmnop", pw = "secret";
        for (int version : {3, 4, 5}) {
            for (bool will : {false, true}) {
                const std::string p = connect_packet_of(version, "client-1", &user, &pw, will);
                const auto c = parse_connect(p);
                CPPUNIT_ASSERT(c);
                CPPUNIT_ASSERT_EQUAL(version, c->version);
                CPPUNIT_ASSERT_EQUAL(std::string("client-1"), c->client_id);
                CPPUNIT_ASSERT_EQUAL(user, c->username);
                CPPUNIT_ASSERT(c->has_password);
                CPPUNIT_ASSERT_EQUAL(std::string("secret"), std::string(password_of(p, *c)));
            }
        }
        const auto anonymous = parse_connect(connect_packet_of(5, "", nullptr, nullptr));
        CPPUNIT_ASSERT(anonymous && !anonymous->has_username && !anonymous->has_password);
    }

    void malformed_connects_are_not() {
        const std::string user = "alice", pw = "pw";
        const std::string good = connect_packet_of(4, "id", &user, &pw);
        CPPUNIT_ASSERT(parse_connect(good));
        // Bytes past its length, a field running past it, a reserved flag,
        // an unknown protocol, a version that does not go with its name.
        CPPUNIT_ASSERT(!parse_connect(good + "x"));
        std::string short_by_one = good;
        short_by_one[1] = static_cast<char>(short_by_one[1] - 1);
        short_by_one.pop_back();
        CPPUNIT_ASSERT(!parse_connect(short_by_one));
        std::string reserved = good;
        reserved[2 + 6 + 1] = static_cast<char>(reserved[2 + 6 + 1] | 0x01);
        CPPUNIT_ASSERT(!parse_connect(reserved));
        std::string other = good;
        other[4] = 'X';
        CPPUNIT_ASSERT(!parse_connect(other));
        std::string level = good;
        level[2 + 6] = 3; // MQTT with level 3
        CPPUNIT_ASSERT(!parse_connect(level));
        CPPUNIT_ASSERT(!parse_connect(std::string("\x10\x00", 2)));
        CPPUNIT_ASSERT(!parse_connect(""));
    }

    void a_password_is_put_in_and_the_length_follows() {
        const std::string user = "k-abcdefghijklmnop";
        for (int version : {4, 5}) {
            // None before: the flag is set; a long one makes the remaining length two bytes.
            const std::string p = connect_packet_of(version, "c", &user, nullptr, true);
            const auto c = parse_connect(p);
            CPPUNIT_ASSERT(c && !c->has_password);
            const std::string pw(300, 'p');
            const auto rewritten = with_password(p, *c, pw);
            CPPUNIT_ASSERT(rewritten);
            const auto again = parse_connect(*rewritten);
            CPPUNIT_ASSERT(again);
            CPPUNIT_ASSERT(again->has_password);
            CPPUNIT_ASSERT_EQUAL(pw, std::string(password_of(*rewritten, *again)));
            CPPUNIT_ASSERT_EQUAL(user, again->username);
            CPPUNIT_ASSERT_EQUAL(std::string("c"), again->client_id);
            CPPUNIT_ASSERT(static_cast<unsigned char>((*rewritten)[1]) & 0x80);
        }
        const std::string pw = "old";
        const std::string p = connect_packet_of(4, "c", &user, &pw);
        const auto c = parse_connect(p);
        CPPUNIT_ASSERT(!with_password(p, *c, std::string(70000, 'x')));
        const auto replaced = with_password(p, *c, forwarded::with_address("203.0.113.5", "old"));
        CPPUNIT_ASSERT_EQUAL(std::string("mqchat-from:203.0.113.5;old"),
                             std::string(password_of(*replaced, *parse_connect(*replaced))));
    }

    void forwarded_addresses_are_split_only_when_well_formed() {
        CPPUNIT_ASSERT(!forwarded::split("plain password"));
        const auto v4 = forwarded::split(forwarded::with_address("203.0.113.5", "a;b"));
        CPPUNIT_ASSERT(v4);
        CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.5"), v4->address);
        CPPUNIT_ASSERT_EQUAL(std::string("a;b"), v4->password);
        const auto v6 = forwarded::split("mqchat-from:2001:db8::1;");
        CPPUNIT_ASSERT(v6);
        CPPUNIT_ASSERT_EQUAL(std::string("2001:db8::1"), v6->address);
        CPPUNIT_ASSERT_EQUAL(std::string(), v6->password);
        // Marked but not an address: an empty address (refused by the plugin).
        for (const char* bad : {"mqchat-from:no-end", "mqchat-from:;pw", "mqchat-from:1.2.3.4 ;pw",
                                "mqchat-from:<script>;pw", "mqchat-from:1111111111111111111111111111111111111111111111;x"}) {
            const auto l = forwarded::split(bad);
            CPPUNIT_ASSERT_MESSAGE(bad, l && l->address.empty());
        }
    }

    void request_targets_stay_inside_the_directory() {
        const std::string dir = "/srv/www";
        CPPUNIT_ASSERT_EQUAL(std::string("/srv/www/a.js"), *file_path(dir + "/", "/a.js?v=1#x"));
        CPPUNIT_ASSERT_EQUAL(std::string("/srv/www/index.html"), *file_path(dir, "/"));
        CPPUNIT_ASSERT_EQUAL(std::string("/srv/www/sub/index.html"), *file_path(dir, "/sub/"));
        CPPUNIT_ASSERT_EQUAL(std::string("/srv/www/a b.js"), *file_path(dir, "/a%20b.js"));
        CPPUNIT_ASSERT_EQUAL(std::string("/srv/www/..a"), *file_path(dir, "/..a"));
        for (const char* bad : {"", "a.js", "/..", "/../x", "/a/../../x", "/%2e%2e/x", "/a/%2E%2E", "/%00x",
                                "/a\\..\\x", "/%5c", "/%", "/%4", "/%zz", "http://evil/x"})
            CPPUNIT_ASSERT_MESSAGE(bad, !file_path(dir, bad));
        CPPUNIT_ASSERT_EQUAL(std::string("text/javascript; charset=utf-8"), std::string(content_type("/x/a.js")));
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), std::string(content_type("/x/a")));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(gateway_unit_test);
