#include <cppunit/extensions/HelperMacros.h>

#include <json/json.h>

#include <sstream>
#include <vector>
#include <stdexcept>

#include "common/token.hpp"

using namespace mqchat::token;

namespace {
const std::string secret = "0123456789abcdef0123456789abcdef-secret";
constexpr std::int64_t now = 1800000000;

Json::Value claims_for(const std::string& sub, std::int64_t exp = now + 600) {
    Json::Value c(Json::objectValue);
    c["sub"] = sub;
    c["exp"] = Json::Int64(exp);
    c["iat"] = Json::Int64(now);
    c["iss"] = "https://app.example";
    c["aud"] = "mqchat";
    return c;
}

std::string jwks_of(std::initializer_list<const signer*> signers) {
    std::string out = "{\"keys\":[";
    bool first = true;
    for (const signer* s : signers) {
        out += (first ? "" : ",") + s->public_jwk();
        first = false;
    }
    return out + "]}";
}
} // namespace

class token_test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(token_test);
    CPPUNIT_TEST(hs256_roundtrip);
    CPPUNIT_TEST(rs256_and_es256_from_jwks);
    CPPUNIT_TEST(unaccepted_algorithms_are_refused);
    CPPUNIT_TEST(wrong_key_is_refused);
    CPPUNIT_TEST(rsa_key_cannot_be_used_as_hmac_secret);
    CPPUNIT_TEST(time_claims);
    CPPUNIT_TEST(out_of_range_time_claims);
    CPPUNIT_TEST(issuer_and_audience);
    CPPUNIT_TEST(required_claims);
    CPPUNIT_TEST(guest_claim);
    CPPUNIT_TEST(site_key_claim);
    CPPUNIT_TEST(malformed_tokens);
    CPPUNIT_TEST(bad_key_material_is_refused);
    CPPUNIT_TEST(looks_like_a_token);
    CPPUNIT_TEST_SUITE_END();

    rules r{"https://app.example", "mqchat", 30};

public:
    void hs256_roundtrip() {
        key_set keys;
        keys.add_hs256_secret(secret);
        const std::string t = signer::hs256(secret).sign(claims_for("alice"));
        const verdict v = verify(t, keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, v.ok);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), v.claims.subject);
        CPPUNIT_ASSERT_EQUAL(now + 600, v.claims.exp);
        CPPUNIT_ASSERT_EQUAL(std::string("HS256"), v.claims.alg);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v.claims.guest_conv);
    }
    void rs256_and_es256_from_jwks() {
        const signer rsa = signer::generate("RS256", "rsa-1"), ec = signer::generate("ES256", "ec-1");
        key_set keys;
        keys.add_jwks(jwks_of({&rsa, &ec}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), keys.size());
        for (const signer* s : {&rsa, &ec}) {
            const verdict v = verify(s->sign(claims_for("bob")), keys, r, now);
            CPPUNIT_ASSERT_MESSAGE(v.reason, v.ok);
            CPPUNIT_ASSERT_EQUAL(std::string("bob"), v.claims.subject);
        }
    }
    void unaccepted_algorithms_are_refused() {
        key_set keys;
        keys.add_hs256_secret(secret);
        Json::Value none(Json::objectValue);
        none["alg"] = "none";
        verdict v = verify(unsigned_token(none, claims_for("alice")), keys, r, now);
        CPPUNIT_ASSERT(!v.ok);
        CPPUNIT_ASSERT_MESSAGE(v.reason, v.reason.find("not a signed JWT") != std::string::npos ||
                                             v.reason.find("'none' is not accepted") != std::string::npos);
        // Same with a dummy signature part, so only the algorithm can be blamed.
        v = verify(unsigned_token(none, claims_for("alice")) + "AAAA", keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, v.reason.find("'none' is not accepted") != std::string::npos);
        v = verify(signer::hs256(secret).sign(claims_for("alice"), "HS384"), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("'HS384' is not accepted") != std::string::npos);
    }
    void wrong_key_is_refused() {
        key_set keys;
        keys.add_hs256_secret(secret);
        verdict v = verify(signer::hs256("another-secret-another-secret-another").sign(claims_for("alice")), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason == "signature does not verify");
        const signer trusted = signer::generate("RS256", "k1"), impostor = signer::generate("RS256", "k1");
        key_set jwks;
        jwks.add_jwks(jwks_of({&trusted}));
        v = verify(impostor.sign(claims_for("alice")), jwks, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason == "signature does not verify");
        v = verify(signer::generate("RS256", "unknown").sign(claims_for("alice")), jwks, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("no key for RS256 with kid 'unknown'") != std::string::npos);
    }
    void rsa_key_cannot_be_used_as_hmac_secret() {
        const signer rsa = signer::generate("RS256", "rsa-1");
        key_set keys;
        keys.add_jwks(jwks_of({&rsa}));
        // The classic confusion: sign HS256 with the public key as the secret.
        const std::string forged = signer::hs256(rsa.public_jwk(), "rsa-1").sign(claims_for("alice"));
        const verdict v = verify(forged, keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("no key for HS256") != std::string::npos);
    }
    void time_claims() {
        key_set keys;
        keys.add_hs256_secret(secret);
        const signer s = signer::hs256(secret);
        verdict v = verify(s.sign(claims_for("alice", now - 100)), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason == "expired 100 s ago");
        CPPUNIT_ASSERT(verify(s.sign(claims_for("alice", now - 10)), keys, r, now).ok); // within leeway
        Json::Value future = claims_for("alice");
        future["nbf"] = Json::Int64(now + 300);
        v = verify(s.sign(future), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason == "not valid for another 300 s");
    }
    void out_of_range_time_claims() {
        // Found by fuzz/token_fuzz: exp and nbf went through an int64 cast of
        // their double value (undefined beyond ±2^63) and into arithmetic
        // that could overflow. Absurd dates now clamp to ±2^53 s.
        key_set keys;
        keys.add_hs256_secret(secret);
        const signer s = signer::hs256(secret);
        Json::Value c = claims_for("alice");
        c["exp"] = 1.8e48; // the fuzzer's value: never expires
        verdict v = verify(s.sign(c), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, v.ok);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1) << 53, v.claims.exp);
        c["exp"] = Json::UInt64(18446744073709551615ULL);
        CPPUNIT_ASSERT(verify(s.sign(c), keys, r, now).ok);
        c["exp"] = -1e300; // long expired, and now - exp must not overflow
        v = verify(s.sign(c), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("expired") != std::string::npos);
        c["exp"] = Json::Int64(-9223372036854775807LL - 1);
        CPPUNIT_ASSERT(!verify(s.sign(c), keys, r, now).ok);
        c = claims_for("alice");
        c["nbf"] = 1e300;
        v = verify(s.sign(c), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("not valid for another") != std::string::npos);
        c["nbf"] = -1e300;
        CPPUNIT_ASSERT(verify(s.sign(c), keys, r, now).ok);
    }
    void issuer_and_audience() {
        key_set keys;
        keys.add_hs256_secret(secret);
        const signer s = signer::hs256(secret);
        Json::Value c = claims_for("alice");
        c["iss"] = "https://evil.example";
        verdict v = verify(s.sign(c), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("issuer") != std::string::npos);
        c = claims_for("alice");
        c["aud"] = "someone-else";
        v = verify(s.sign(c), keys, r, now);
        CPPUNIT_ASSERT_MESSAGE(v.reason, !v.ok && v.reason.find("audience") != std::string::npos);
        c["aud"] = Json::Value(Json::arrayValue);
        c["aud"].append("x");
        c["aud"].append("mqchat");
        CPPUNIT_ASSERT(verify(s.sign(c), keys, r, now).ok);
        c.removeMember("aud");
        CPPUNIT_ASSERT(verify(s.sign(c), keys, rules{"https://app.example", "", 30}, now).ok); // not required
    }
    void required_claims() {
        key_set keys;
        keys.add_hs256_secret(secret);
        const signer s = signer::hs256(secret);
        Json::Value c = claims_for("alice");
        c.removeMember("exp");
        CPPUNIT_ASSERT_EQUAL(std::string("no expiry (exp)"), verify(s.sign(c), keys, r, now).reason);
        c = claims_for("");
        CPPUNIT_ASSERT_EQUAL(std::string("no subject (sub)"), verify(s.sign(c), keys, r, now).reason);
    }
    void guest_claim() {
        key_set keys;
        keys.add_hs256_secret(secret);
        Json::Value c = claims_for("guest-1");
        c["mqchat_guest_conv"] = 42;
        verdict v = verify(signer::hs256(secret).sign(c), keys, r, now);
        CPPUNIT_ASSERT(v.ok);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), v.claims.guest_conv);
        c["mqchat_guest_conv"] = "42";
        CPPUNIT_ASSERT(!verify(signer::hs256(secret).sign(c), keys, r, now).ok);
    }
    void site_key_claim() {
        key_set keys;
        keys.add_hs256_secret(secret);
        Json::Value c = claims_for("site-0123456789abcdef");
        c["mqchat_site_desk"] = "billing";
        verdict v = verify(signer::hs256(secret).sign(c), keys, r, now);
        CPPUNIT_ASSERT(v.ok);
        CPPUNIT_ASSERT_EQUAL(std::string("billing"), v.claims.site_desk);
        CPPUNIT_ASSERT_EQUAL(std::string("site-0123456789abcdef"), v.claims.subject);
        for (const Json::Value& bad : {Json::Value("Billing"), Json::Value("a/b"), Json::Value(""), Json::Value(7)}) {
            c["mqchat_site_desk"] = bad;
            CPPUNIT_ASSERT(!verify(signer::hs256(secret).sign(c), keys, r, now).ok);
        }
        // A site key is never a guest token as well.
        c["mqchat_site_desk"] = "billing";
        c["mqchat_guest_conv"] = 42;
        CPPUNIT_ASSERT_EQUAL(std::string("a token is a site key or a guest token, not both"),
                             verify(signer::hs256(secret).sign(c), keys, r, now).reason);
    }
    void malformed_tokens() {
        key_set keys;
        keys.add_hs256_secret(secret);
        for (const std::string& t : std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", "..", "eyJ.eyJ.", std::string(9000, 'a') + ".b.c",
                                    "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "eyJhbGciOiJIUzI1NiJ9.e30.%%%"})
            CPPUNIT_ASSERT_MESSAGE(t.substr(0, 40), !verify(t, keys, r, now).ok);
        // Found by fuzz/token_fuzz: a '=' after 4n+1 base64 characters in the
        // payload or signature made cjose's decoder assert, aborting the process.
        for (const std::string& t : std::vector<std::string>{"eyJhbGciOiJIUzI1NiJ9.e=.AAAA", "eyJhbGciOiJIUzI1NiJ9.eyJhI=.AAAA",
                                    "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.A=", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.AAAAA=",
                                    "eyJhbGciOiJIUzI1NiJ9.eyJhIjo=xfQ.AAAA"}) {
            const verdict v = verify(t, keys, r, now);
            CPPUNIT_ASSERT_MESSAGE(t, !v.ok && v.reason.find("not base64url") != std::string::npos);
        }
        // A header that nests deeply is refused by the JSON reader, not by a crash.
        Json::Value deep(Json::objectValue);
        Json::Value* at = &deep;
        for (int i = 0; i < 100; ++i) at = &((*at)["x"] = Json::Value(Json::objectValue));
        deep["alg"] = "HS256";
        CPPUNIT_ASSERT(!verify(unsigned_token(deep, claims_for("a")) + "AAAA", keys, r, now).ok);
    }
    void bad_key_material_is_refused() {
        key_set keys;
        CPPUNIT_ASSERT_THROW(keys.add_hs256_secret("short"), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(keys.add_jwks("not json"), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(keys.add_jwks("{\"nokeys\":1}"), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(keys.add_jwks("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"x\"}]}"), std::invalid_argument);
        const signer ec = signer::generate("ES256", "e");
        Json::Value jwk;
        std::istringstream(ec.public_jwk()) >> jwk;
        jwk["alg"] = "RS256"; // an EC key claiming RSA
        CPPUNIT_ASSERT_THROW(keys.add_jwks("{\"keys\":[" + Json::writeString(Json::StreamWriterBuilder(), jwk) + "]}"),
                             std::invalid_argument);
        jwk["use"] = "enc"; // skipped, not an error
        keys.add_jwks("{\"keys\":[" + Json::writeString(Json::StreamWriterBuilder(), jwk) + "]}");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), keys.size());
    }
    void looks_like_a_token() {
        CPPUNIT_ASSERT(looks_like_token(signer::hs256(secret).sign(claims_for("a"))));
        CPPUNIT_ASSERT(!looks_like_token("correct horse battery staple"));
        CPPUNIT_ASSERT(!looks_like_token("eyJ.a.b.c"));
        CPPUNIT_ASSERT(!looks_like_token("eyJabc.def"));
        CPPUNIT_ASSERT(!looks_like_token("eyJa bc.de.f"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(token_test);
