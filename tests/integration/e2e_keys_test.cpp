// The key directory for end-to-end encryption (docs/protocol.md,
// "End-to-end encryption") against the real stack: devices register with
// real Ed25519 and Curve25519 keys made here with libsodium (as libolm makes
// them; this suite does not need libolm), upload signed one-time and
// fallback keys, and others claim them. Every refusal — bad base64, a wrong
// size, a bad signature, a signature by another device's key, too many keys
// or devices, changed keys, a stranger, a flood — changes nothing in the
// tables; concurrent claims never hand out one key twice; the owner hears
// keys.low, and the people who share a conversation (and nobody else) hear
// devices.changed.

#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>
#include <sodium.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "common/json.hpp"
#include "common/pg.hpp"
#include "support/rpc_caller.hpp"
#include "support/servers.hpp"

using namespace mqchat;
using namespace mqchat::test;
using namespace std::chrono_literals;

namespace {

constexpr int claimers = 8;

std::string b64(const unsigned char* bytes, std::size_t n) {
    std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes, n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    out.resize(out.size() - 1); // the NUL
    return out;
}

std::string curve25519_public_key() {
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(pk, sk);
    return b64(pk, sizeof pk);
}

/// A device as a libolm client would be: an Ed25519 signing key pair, a
/// Curve25519 identity key, and the signatures docs/protocol.md asks for.
struct device {
    std::string user, id;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    std::string signing_key, identity_key;
    int next_key = 1;

    device(std::string u, std::string d) : user(std::move(u)), id(std::move(d)) {
        crypto_sign_keypair(pk, sk);
        signing_key = b64(pk, sizeof pk);
        identity_key = curve25519_public_key();
    }
    static std::string text(const std::string& user, const std::string& dev, const std::string& kind,
                            const std::string& key_id, const std::string& key) {
        return "mqchat-key\n" + user + "\n" + dev + "\n" + kind + "\n" + key_id + "\n" + key;
    }
    std::string sign(const std::string& message) const {
        unsigned char sig[crypto_sign_BYTES];
        crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(), sk);
        return b64(sig, sizeof sig);
    }
    std::string self_signature() const { return sign(text(user, id, "device", "", identity_key)); }
    /// A new signed key of `kind` ("one_time", "fallback").
    Json::Value key(const std::string& kind = "one_time") {
        Json::Value k(Json::objectValue);
        k["id"] = "k" + std::to_string(next_key++);
        k["key"] = curve25519_public_key();
        k["signature"] = sign(text(user, id, kind, k["id"].asString(), k["key"].asString()));
        return k;
    }
    /// keys.upload's params: the device's keys, `one_time` new one-time keys, and a fallback key when asked.
    Json::Value upload(int one_time = 0, bool fallback = false) {
        Json::Value p = params({{"device", id}, {"signing_key", signing_key}, {"identity_key", identity_key},
                                {"signature", self_signature()}});
        if (one_time > 0) {
            p["one_time_keys"] = Json::Value(Json::arrayValue);
            for (int i = 0; i < one_time; ++i) p["one_time_keys"].append(key());
        }
        if (fallback) p["fallback_key"] = key("fallback");
        return p;
    }
};

bool verifies(const std::string& signature, const std::string& message, const std::string& signing_key) {
    unsigned char sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    std::size_t n = 0;
    if (sodium_base642bin(sig, sizeof sig, signature.data(), signature.size(), nullptr, &n, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 || n != sizeof sig)
        return false;
    if (sodium_base642bin(pk, sizeof pk, signing_key.data(), signing_key.size(), nullptr, &n, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 || n != sizeof pk)
        return false;
    return crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                       pk) == 0;
}

const std::vector<std::string>& user_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n{"alice", "bob", "carol", "dora", "eve", "frank", "gail", "ivy", "jack", "kim"};
        for (int i = 0; i < claimers; ++i) n.push_back("claimer" + std::to_string(i));
        return n;
    }();
    return names;
}

struct fixture {
    chat_stack stack{"e2e-keys"};
    fixture() {
        if (sodium_init() < 0) throw std::runtime_error("libsodium did not start");
        for (const auto& u : user_names()) stack.add_user(u, "pw-" + u);
        // Claims in parallel for real: more request threads than the default 2.
        stack.restart_bridge({"request_threads 8"});
        stack.create_conv({"alice", "bob"});             // carol shares nothing with alice
        stack.create_conv({"carol", "jack"});
        stack.create_conv({"eve", "gail"});
        stack.create_conv({"ivy", "bob"});
        std::vector<std::string> group{"dora"};
        for (int i = 0; i < claimers; ++i) group.push_back("claimer" + std::to_string(i));
        stack.create_conv(group, "claimers");
    }
};
fixture& shared() {
    static auto f = std::make_unique<fixture>();
    return *f;
}

struct caller : rpc_caller {
    explicit caller(const std::string& user) : rpc_caller(shared().stack.port(), user, "pw-" + user) {}
};

std::int64_t count(const std::string& sql, const pg::params& args = {}) {
    pg::connection db(shared().stack.conninfo());
    return db.exec(sql, args).int64(0, 0);
}

/// Every row of the key directory, as text: equal before and after means nothing changed.
std::string tables() {
    pg::connection db(shared().stack.conninfo());
    std::string out;
    for (const char* t : {"e2e_devices", "e2e_one_time_keys", "e2e_fallback_keys", "e2e_claim_rate"})
        out += db.exec(std::string("SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM ") + t + " t")
                   .str(0, 0) +
               "#";
    return out;
}

/// Whether a notice of `kind` (for `dev` when given) reaches `c` within `wait`.
Json::Value heard(rpc_caller& c, const std::string& kind, const std::string& dev = "",
                  std::chrono::milliseconds wait = 10s) {
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
        for (auto it = c.notices.begin(); it != c.notices.end(); ++it)
            if ((*it)["notice"] == kind && (dev.empty() || (*it)["device"] == dev)) {
                Json::Value v = *it;
                c.notices.erase(it);
                return v;
            }
        if (std::chrono::steady_clock::now() >= until) return Json::Value();
        received r;
        if (c.client->wait_message(r, 100ms, c.inbox())) {
            Json::Value v;
            std::string why;
            if (json::parse(r.payload, v, why)) c.notices.push_back(v);
        }
    }
}

/// A string of `n` bytes in base64 (wrong sizes).
std::string b64_of_size(std::size_t n) {
    std::vector<unsigned char> bytes(n, 7);
    return b64(bytes.data(), n);
}

} // namespace

class e2e_keys_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(e2e_keys_test);
    CPPUNIT_TEST(upload_registers_a_device_and_tells_who_shares_a_conversation);
    CPPUNIT_TEST(every_refused_upload_changes_nothing);
    CPPUNIT_TEST(claims_take_each_one_time_key_once_then_the_fallback);
    CPPUNIT_TEST(strangers_see_no_devices_and_claim_nothing);
    CPPUNIT_TEST(concurrent_claims_never_hand_out_one_key_twice);
    CPPUNIT_TEST(a_flood_of_claims_is_refused_and_changes_nothing);
    CPPUNIT_TEST(too_many_devices_or_keys_are_refused);
    CPPUNIT_TEST(removing_a_device_takes_its_keys_and_tells_who_shares_a_conversation);
    CPPUNIT_TEST(export_lists_devices_and_erase_removes_them);
    CPPUNIT_TEST_SUITE_END();

public:
    void upload_registers_a_device_and_tells_who_shares_a_conversation() {
        caller alice("alice"), bob("bob"), carol("carol");
        device phone("alice", "phone");
        const Json::Value upload = phone.upload(5, true);
        const Json::Value first = alice.call("keys.upload", upload);
        CPPUNIT_ASSERT_MESSAGE(first.toStyledString(), first.isMember("result"));
        CPPUNIT_ASSERT_EQUAL(std::string("phone"), first["result"]["device"].asString());
        CPPUNIT_ASSERT_EQUAL(5, first["result"]["one_time_keys"].asInt());
        CPPUNIT_ASSERT(first["result"]["fallback"].asBool());
        CPPUNIT_ASSERT(first["result"]["added"].asBool());

        // Bob shares a conversation with alice; alice's own devices hear it too.
        const Json::Value n = heard(bob, "devices.changed", "phone");
        CPPUNIT_ASSERT_MESSAGE("bob heard no devices.changed", !n.isNull());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), n["user"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("added"), n["change"].asString());
        CPPUNIT_ASSERT(!heard(alice, "devices.changed", "phone").isNull());
        CPPUNIT_ASSERT(heard(carol, "devices.changed", "", 1500ms).isNull());

        // The same upload again (a lost reply) is no news; more keys are added.
        const Json::Value again = alice.call("keys.upload", upload);
        CPPUNIT_ASSERT_MESSAGE(again.toStyledString(), again.isMember("result"));
        CPPUNIT_ASSERT(!again["result"]["added"].asBool());
        CPPUNIT_ASSERT_EQUAL(5, again["result"]["one_time_keys"].asInt());
        const Json::Value more = alice.call("keys.upload", phone.upload(3));
        CPPUNIT_ASSERT_EQUAL(8, more["result"]["one_time_keys"].asInt());
        CPPUNIT_ASSERT(heard(bob, "devices.changed", "phone", 1000ms).isNull());
        const Json::Value counted = alice.call("keys.count", params({{"device", "phone"}}));
        CPPUNIT_ASSERT_EQUAL(8, counted["result"]["one_time_keys"].asInt());
        CPPUNIT_ASSERT(counted["result"]["fallback"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.call("keys.count", params({{"device", "tablet"}}))));

        // What the table holds: public keys and signatures, checked.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM e2e_devices d JOIN users u ON u.id = d.user_id"
                                                    " WHERE u.name = 'alice' AND d.device = 'phone' AND d.signing_key = $1"
                                                    " AND d.identity_key = $2",
                                                    {phone.signing_key, phone.identity_key}));

        // Bob sees alice's devices; alice sees her own, with last_seen.
        const Json::Value list = bob.call("devices.list", params({{"user", "alice"}}));
        CPPUNIT_ASSERT_MESSAGE(list.toStyledString(), list["result"]["devices"].size() == 1);
        const Json::Value& d = list["result"]["devices"][0];
        CPPUNIT_ASSERT_EQUAL(std::string("phone"), d["device"].asString());
        CPPUNIT_ASSERT_EQUAL(phone.signing_key, d["signing_key"].asString());
        CPPUNIT_ASSERT_EQUAL(phone.identity_key, d["identity_key"].asString());
        CPPUNIT_ASSERT(verifies(d["signature"].asString(), device::text("alice", "phone", "device", "", phone.identity_key),
                                phone.signing_key));
        CPPUNIT_ASSERT(d["created"].asInt64() > 1700000000000);
        CPPUNIT_ASSERT(!d.isMember("last_seen"));
        const Json::Value mine = alice.call("devices.list");
        CPPUNIT_ASSERT(mine["result"]["devices"][0]["last_seen"].asInt64() > 1700000000000);
    }

    void every_refused_upload_changes_nothing() {
        caller ivy("ivy");
        device laptop("ivy", "laptop"), other("jack", "desk");
        CPPUNIT_ASSERT(ivy.call("keys.upload", laptop.upload(3, true)).isMember("result"));
        const std::string before = tables();
        auto refused = [&](const Json::Value& p, const std::string& code, const std::string& what) {
            const Json::Value reply = ivy.call("keys.upload", p);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what + ": " + reply.toStyledString(), code, code_of(reply));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, before, tables());
        };
        const std::string zeros43(43, 'A');
        // The device's own keys.
        for (const std::string& dev : {std::string(""), std::string("a b"), std::string(65, 'd'), std::string("ü")}) {
            Json::Value p = laptop.upload();
            p["device"] = dev;
            refused(p, "invalid_request", "device '" + dev + "'");
        }
        for (const std::string& bad : {std::string("!") + laptop.signing_key.substr(1), laptop.signing_key + "=",
                                       b64_of_size(31), b64_of_size(33), laptop.signing_key.substr(0, 42) + "B",
                                       std::string("")}) {
            Json::Value p = laptop.upload();
            p["signing_key"] = bad;
            refused(p, "invalid_request", "signing_key " + bad);
            p = laptop.upload();
            p["identity_key"] = bad;
            refused(p, "invalid_request", "identity_key " + bad);
        }
        {
            Json::Value p = laptop.upload();
            p["signing_key"] = 42;
            refused(p, "invalid_request", "a number as key");
            p = laptop.upload();
            p["identity_key"] = zeros43; // the zero point: small order
            refused(p, "invalid_request", "small-order identity key");
        }
        {
            Json::Value p = laptop.upload();
            std::string sig = p["signature"].asString();
            sig[10] = sig[10] == 'A' ? 'B' : 'A';
            p["signature"] = sig;
            refused(p, "invalid_request", "a damaged signature");
            p["signature"] = b64_of_size(63);
            refused(p, "invalid_request", "a short signature");
            // Signed by another device's key, or over another user or device name.
            p["signature"] = other.sign(device::text("ivy", "laptop", "device", "", laptop.identity_key));
            refused(p, "invalid_request", "signed by jack's device");
            p["signature"] = laptop.sign(device::text("jack", "laptop", "device", "", laptop.identity_key));
            refused(p, "invalid_request", "signed for another user");
            p["signature"] = laptop.sign(device::text("ivy", "laptop2", "device", "", laptop.identity_key));
            refused(p, "invalid_request", "signed for another device");
        }
        // A device's keys never change.
        {
            Json::Value p = laptop.upload();
            p["identity_key"] = curve25519_public_key();
            p["signature"] = laptop.sign(device::text("ivy", "laptop", "device", "", p["identity_key"].asString()));
            refused(p, "conflict", "a changed identity key");
            device impostor("ivy", "laptop");
            refused(impostor.upload(2), "conflict", "a changed signing key");
        }
        // One-time and fallback keys: every key is checked, one bad key refuses all.
        auto with_key = [&](const std::function<void(Json::Value&)>& spoil, const std::string& what) {
            Json::Value p = laptop.upload(4);
            spoil(p["one_time_keys"][2]);
            refused(p, "invalid_request", "one-time key: " + what);
            p = laptop.upload(2, true);
            spoil(p["fallback_key"]);
            refused(p, "invalid_request", "fallback key: " + what);
        };
        with_key([](Json::Value& k) { k["key"] = b64_of_size(31); }, "31 bytes");
        with_key([](Json::Value& k) { k["key"] = k["key"].asString() + "="; }, "padded");
        with_key([&](Json::Value& k) { k["key"] = zeros43; }, "small order");
        with_key([](Json::Value& k) { k["key"] = curve25519_public_key(); }, "a key the signature is not for");
        with_key([](Json::Value& k) { k["id"] = "a\nb"; }, "a newline in the id");
        with_key([](Json::Value& k) { k["id"] = ""; }, "an empty id");
        with_key([](Json::Value& k) { k.removeMember("signature"); }, "no signature");
        with_key([&](Json::Value& k) { k["signature"] = other.sign(device::text("ivy", "laptop", "one_time", k["id"].asString(), k["key"].asString())); },
                 "signed by jack's device");
        with_key([](Json::Value& k) { k = "AAAA"; }, "not an object");
        {
            // A one-time key's signature does not make a fallback key, nor the other way round.
            Json::Value p = laptop.upload();
            p["fallback_key"] = laptop.key("one_time");
            refused(p, "invalid_request", "a one-time key as fallback");
            p = laptop.upload();
            p["one_time_keys"] = Json::Value(Json::arrayValue);
            p["one_time_keys"].append(laptop.key("fallback"));
            refused(p, "invalid_request", "a fallback key as one-time key");
            p = laptop.upload(3);
            p["one_time_keys"].append(p["one_time_keys"][1]);
            refused(p, "invalid_request", "one id twice");
            p = laptop.upload(51);
            refused(p, "invalid_request", "51 keys in one upload");
            p = laptop.upload();
            p["one_time_keys"] = "many";
            refused(p, "invalid_request", "keys not a list");
        }
        {
            // A stored key's id with another key.
            const std::string stored = pg::connection(shared().stack.conninfo())
                                           .exec("SELECT k.key_id FROM e2e_one_time_keys k JOIN e2e_devices d"
                                                 " ON d.id = k.device_id WHERE d.device = 'laptop' LIMIT 1")
                                           .str(0, 0);
            Json::Value p = laptop.upload();
            Json::Value k(Json::objectValue);
            k["id"] = stored;
            k["key"] = curve25519_public_key();
            k["signature"] = laptop.sign(device::text("ivy", "laptop", "one_time", stored, k["key"].asString()));
            p["one_time_keys"].append(k);
            refused(p, "conflict", "a stored key id with another key");
        }
    }

    void claims_take_each_one_time_key_once_then_the_fallback() {
        caller alice("alice"), bob("bob");
        device tablet("alice", "tablet");
        Json::Value up = tablet.upload(12, true);
        std::vector<std::string> ids;
        for (const auto& k : up["one_time_keys"]) ids.push_back(k["id"].asString());
        const std::string fallback_id = up["fallback_key"]["id"].asString();
        CPPUNIT_ASSERT(alice.call("keys.upload", up).isMember("result"));
        CPPUNIT_ASSERT(!heard(bob, "devices.changed", "tablet").isNull());

        auto claim = [&] {
            const Json::Value c = bob.call("keys.claim", params({{"user", "alice"}, {"device", "tablet"}}));
            CPPUNIT_ASSERT_MESSAGE(c.toStyledString(), c["result"]["devices"].size() == 1);
            return c["result"]["devices"][0];
        };
        // Oldest first, each once, with its signature.
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const Json::Value d = claim();
            CPPUNIT_ASSERT_EQUAL(tablet.signing_key, d["signing_key"].asString());
            CPPUNIT_ASSERT_EQUAL(tablet.identity_key, d["identity_key"].asString());
            const Json::Value& k = d["one_time_key"];
            CPPUNIT_ASSERT_EQUAL(ids[i], k["id"].asString());
            CPPUNIT_ASSERT(!k.isMember("fallback"));
            CPPUNIT_ASSERT(verifies(k["signature"].asString(),
                                    device::text("alice", "tablet", "one_time", k["id"].asString(), k["key"].asString()),
                                    d["signing_key"].asString()));
            const int left = int(ids.size() - i - 1);
            CPPUNIT_ASSERT_EQUAL(left, alice.call("keys.count", params({{"device", "tablet"}}))["result"]["one_time_keys"].asInt());
            if (left < 10) {
                const Json::Value low = heard(alice, "keys.low", "tablet");
                CPPUNIT_ASSERT_MESSAGE("no keys.low at " + std::to_string(left), !low.isNull());
                CPPUNIT_ASSERT_EQUAL(left, low["one_time_keys"].asInt());
            }
        }
        // Then the fallback key, as often as asked, marked used.
        for (int i = 0; i < 3; ++i) {
            const Json::Value k = claim()["one_time_key"];
            CPPUNIT_ASSERT_EQUAL(fallback_id, k["id"].asString());
            CPPUNIT_ASSERT(k["fallback"].asBool());
            CPPUNIT_ASSERT(verifies(k["signature"].asString(),
                                    device::text("alice", "tablet", "fallback", k["id"].asString(), k["key"].asString()),
                                    tablet.signing_key));
        }
        const Json::Value low = heard(alice, "keys.low", "tablet");
        CPPUNIT_ASSERT_EQUAL(0, low["one_time_keys"].asInt());
        CPPUNIT_ASSERT(!low["fallback"].asBool());
        CPPUNIT_ASSERT(!alice.call("keys.count", params({{"device", "tablet"}}))["result"]["fallback"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(12), count("SELECT count(*) FROM e2e_one_time_keys k JOIN e2e_devices d ON d.id = k.device_id"
                                                     " WHERE d.device = 'tablet' AND k.claimed_at IS NOT NULL AND k.key IS NULL"));

        // An upload repeated after claims (a lost reply) does not put handed-out keys back.
        CPPUNIT_ASSERT_EQUAL(0, alice.call("keys.upload", up)["result"]["one_time_keys"].asInt());
        // A new fallback key is unused again.
        const Json::Value renewed = alice.call("keys.upload", tablet.upload(0, true));
        CPPUNIT_ASSERT(renewed["result"]["fallback"].asBool());
        // Claiming all of alice's devices: one bundle each (phone from the first case, tablet).
        const Json::Value all = bob.call("keys.claim", params({{"user", "alice"}}));
        CPPUNIT_ASSERT_MESSAGE(all.toStyledString(), all["result"]["devices"].size() == 2);
        CPPUNIT_ASSERT_EQUAL(std::string("phone"), all["result"]["devices"][0]["device"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("tablet"), all["result"]["devices"][1]["device"].asString());
        CPPUNIT_ASSERT(all["result"]["devices"][1]["one_time_key"]["fallback"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"),
                             code_of(bob.call("keys.claim", params({{"user", "alice"}, {"device", "watch"}}))));
    }

    void strangers_see_no_devices_and_claim_nothing() {
        caller carol("carol");
        const std::string before = tables();
        // Carol shares no conversation with alice: alice is as unknown as nobody.
        const Json::Value claim = carol.call("keys.claim", params({{"user", "alice"}}));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(claim));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(carol.call("keys.claim", params({{"user", "nobody-here"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(carol.call("devices.list", params({{"user", "alice"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(carol.call("keys.claim", params({{"user", "a b"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), code_of(carol.call("keys.claim")));
        CPPUNIT_ASSERT_EQUAL(before, tables());
        // Her own (none yet) she may list; a user with no devices gives an empty list.
        CPPUNIT_ASSERT_EQUAL(0u, carol.call("devices.list")["result"]["devices"].size());
        CPPUNIT_ASSERT_EQUAL(0u, carol.call("keys.claim", params({{"user", "jack"}}))["result"]["devices"].size());
    }

    void concurrent_claims_never_hand_out_one_key_twice() {
        caller dora("dora");
        device tablet("dora", "tablet");
        std::set<std::string> uploaded;
        const Json::Value uploads[] = {tablet.upload(50, true), tablet.upload(50), tablet.upload(50)};
        for (const auto& p : uploads)
            for (const auto& k : p["one_time_keys"]) uploaded.insert(k["id"].asString());
        const std::string fallback_id = uploads[0]["fallback_key"]["id"].asString();
        for (int i = 0; i < 3; ++i)
            CPPUNIT_ASSERT_EQUAL(50 * (i + 1), dora.call("keys.upload", uploads[i])["result"]["one_time_keys"].asInt());

        std::mutex m;
        std::vector<std::string> handed_out; // one-time keys, in every thread
        std::vector<std::string> problems;
        std::atomic<int> fallbacks{0}, one_time_after_fallback{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < claimers; ++t)
            threads.emplace_back([&, t] {
                try {
                    caller c("claimer" + std::to_string(t));
                    for (;;) {
                        const Json::Value reply = c.call("keys.claim", params({{"user", "dora"}, {"device", "tablet"}}));
                        if (!reply.isMember("result")) {
                            std::lock_guard lock(m);
                            // A thread much faster than the rest may meet the claim rate; it stops there.
                            if (code_of(reply) != "rate_limited") problems.push_back(reply.toStyledString());
                            return;
                        }
                        const Json::Value k = reply["result"]["devices"][0]["one_time_key"];
                        if (k["fallback"].asBool()) {
                            if (k["id"].asString() != fallback_id) {
                                std::lock_guard lock(m);
                                problems.push_back("a fallback that is not dora's: " + k.toStyledString());
                            }
                            ++fallbacks;
                            return;
                        }
                        if (fallbacks > 0) ++one_time_after_fallback;
                        std::lock_guard lock(m);
                        handed_out.push_back(k["id"].asString());
                    }
                } catch (const std::exception& e) {
                    std::lock_guard lock(m);
                    problems.push_back(e.what());
                }
            });
        for (auto& th : threads) th.join();
        CPPUNIT_ASSERT_MESSAGE(problems.empty() ? "" : problems.front(), problems.empty());
        const std::set<std::string> distinct(handed_out.begin(), handed_out.end());
        CPPUNIT_ASSERT_EQUAL_MESSAGE("a key was handed out twice", handed_out.size(), distinct.size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(150), distinct.size());
        CPPUNIT_ASSERT(distinct == uploaded);
        CPPUNIT_ASSERT(fallbacks > 0);
        // A claim that started before the last keys were taken may still get
        // one of them after another thread saw the fallback; never a key twice.
        CPPUNIT_ASSERT(one_time_after_fallback <= claimers);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM e2e_one_time_keys k JOIN e2e_devices d"
                                                    " ON d.id = k.device_id JOIN users u ON u.id = d.user_id"
                                                    " WHERE u.name = 'dora' AND k.claimed_at IS NULL"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(150), count("SELECT count(*) FROM e2e_one_time_keys k JOIN e2e_devices d"
                                                      " ON d.id = k.device_id JOIN users u ON u.id = d.user_id"
                                                      " WHERE u.name = 'dora' AND k.claimed_at IS NOT NULL"));
        // Dora heard that her stock ran low.
        const Json::Value low = heard(dora, "keys.low", "tablet");
        CPPUNIT_ASSERT_MESSAGE("no keys.low", !low.isNull());
        CPPUNIT_ASSERT(low["one_time_keys"].asInt() < 10);
        CPPUNIT_ASSERT_EQUAL(0, dora.call("keys.count", params({{"device", "tablet"}}))["result"]["one_time_keys"].asInt());
    }

    void a_flood_of_claims_is_refused_and_changes_nothing() {
        caller eve("eve"), gail("gail");
        device watch("gail", "watch");
        CPPUNIT_ASSERT(gail.call("keys.upload", watch.upload(5, true)).isMember("result"));
        for (int i = 0; i < 60; ++i) {
            const Json::Value c = eve.call("keys.claim", params({{"user", "gail"}}));
            CPPUNIT_ASSERT_MESSAGE(std::to_string(i) + ": " + c.toStyledString(), c.isMember("result"));
        }
        const std::string before = tables();
        for (int i = 0; i < 5; ++i) {
            const Json::Value c = eve.call("keys.claim", params({{"user", "gail"}}));
            CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"), code_of(c));
        }
        CPPUNIT_ASSERT_EQUAL(before, tables());
        // Other callers are not held up by eve's flood.
        caller bob("bob");
        CPPUNIT_ASSERT(bob.call("keys.claim", params({{"user", "alice"}, {"device", "phone"}})).isMember("result"));
        // A minute later eve may claim again.
        pg::connection(shared().stack.conninfo())
            .exec("UPDATE e2e_claim_rate SET window_start = window_start - interval '61 seconds'"
                  " WHERE user_id = (SELECT id FROM users WHERE name = 'eve')");
        CPPUNIT_ASSERT(eve.call("keys.claim", params({{"user", "gail"}})).isMember("result"));
    }

    void too_many_devices_or_keys_are_refused() {
        caller frank("frank");
        std::vector<device> devices;
        for (int i = 0; i < 10; ++i) {
            devices.emplace_back("frank", "d" + std::to_string(i));
            const Json::Value r = frank.call("keys.upload", devices.back().upload(i == 0 ? 50 : 0));
            CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r.isMember("result"));
        }
        std::string before = tables();
        device eleventh("frank", "d10");
        CPPUNIT_ASSERT_EQUAL(std::string("too_many"), code_of(frank.call("keys.upload", eleventh.upload(3))));
        CPPUNIT_ASSERT_EQUAL(before, tables());
        // 200 one-time keys stored per device at most.
        CPPUNIT_ASSERT_EQUAL(100, frank.call("keys.upload", devices[0].upload(50))["result"]["one_time_keys"].asInt());
        CPPUNIT_ASSERT_EQUAL(150, frank.call("keys.upload", devices[0].upload(50))["result"]["one_time_keys"].asInt());
        CPPUNIT_ASSERT_EQUAL(200, frank.call("keys.upload", devices[0].upload(50))["result"]["one_time_keys"].asInt());
        before = tables();
        const Json::Value over = frank.call("keys.upload", devices[0].upload(1));
        CPPUNIT_ASSERT_EQUAL(std::string("too_many"), code_of(over));
        CPPUNIT_ASSERT_EQUAL(before, tables());
        // With one device removed, a new one fits.
        CPPUNIT_ASSERT(frank.call("devices.remove", params({{"device", "d9"}}))["result"]["removed"].asBool());
        CPPUNIT_ASSERT(frank.call("keys.upload", eleventh.upload(3)).isMember("result"));
    }

    void removing_a_device_takes_its_keys_and_tells_who_shares_a_conversation() {
        caller alice("alice"), bob("bob"), carol("carol");
        const std::string phone_row = std::to_string(count("SELECT d.id FROM e2e_devices d JOIN users u ON u.id = d.user_id"
                                                           " WHERE u.name = 'alice' AND d.device = 'phone'"));
        CPPUNIT_ASSERT(count("SELECT count(*) FROM e2e_one_time_keys WHERE device_id = $1", {phone_row}) > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), count("SELECT count(*) FROM e2e_fallback_keys WHERE device_id = $1", {phone_row}));
        const Json::Value r = alice.call("devices.remove", params({{"device", "phone"}}));
        CPPUNIT_ASSERT_MESSAGE(r.toStyledString(), r["result"]["removed"].asBool());
        const Json::Value n = heard(bob, "devices.changed", "phone");
        CPPUNIT_ASSERT_MESSAGE("bob heard no removal", !n.isNull());
        CPPUNIT_ASSERT_EQUAL(std::string("removed"), n["change"].asString());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), n["user"].asString());
        CPPUNIT_ASSERT(heard(carol, "devices.changed", "", 1500ms).isNull());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM e2e_devices d JOIN users u ON u.id = d.user_id"
                                                    " WHERE u.name = 'alice' AND d.device = 'phone'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM e2e_one_time_keys WHERE device_id = $1", {phone_row}));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM e2e_fallback_keys WHERE device_id = $1", {phone_row}));
        const Json::Value list = bob.call("devices.list", params({{"user", "alice"}}));
        CPPUNIT_ASSERT_EQUAL(1u, list["result"]["devices"].size());
        CPPUNIT_ASSERT_EQUAL(std::string("tablet"), list["result"]["devices"][0]["device"].asString());
        // Only one's own: bob cannot remove alice's tablet (he has no device of that name).
        const std::string before = tables();
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(bob.call("devices.remove", params({{"device", "tablet"}}))));
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), code_of(alice.call("devices.remove", params({{"device", "phone"}}))));
        CPPUNIT_ASSERT_EQUAL(before, tables());
        // The same device id registers again as a new device (with new keys).
        device phone("alice", "phone");
        CPPUNIT_ASSERT(alice.call("keys.upload", phone.upload(1))["result"]["added"].asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("added"), heard(bob, "devices.changed", "phone")["change"].asString());
    }

    void export_lists_devices_and_erase_removes_them() {
        device pad("kim", "pad");
        {
            caller kim("kim");
            CPPUNIT_ASSERT(kim.call("keys.upload", pad.upload(4, true)).isMember("result"));
        }
        const std::string ci = shared().stack.conninfo();
        Json::Value doc;
        std::string why;
        CPPUNIT_ASSERT(json::parse(admin_ok(ci, {"user", "export", "kim"}), doc, why));
        CPPUNIT_ASSERT_EQUAL(1u, doc["e2e_devices"].size());
        const Json::Value& d = doc["e2e_devices"][0];
        CPPUNIT_ASSERT_EQUAL(std::string("pad"), d["device"].asString());
        CPPUNIT_ASSERT_EQUAL(pad.signing_key, d["signing_key"].asString());
        CPPUNIT_ASSERT_EQUAL(4, d["one_time_keys"].asInt());
        CPPUNIT_ASSERT(d["fallback_key"].isObject());
        const std::string kim_id = std::to_string(count("SELECT id FROM users WHERE name = 'kim'"));
        admin_ok(ci, {"user", "erase", "kim", "--yes-erase-forever"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("SELECT count(*) FROM e2e_devices WHERE user_id = $1", {kim_id}));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(e2e_keys_test);
