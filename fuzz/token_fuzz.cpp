// Fuzz target for JWT verification (common/token.hpp).
//
// Each input is used three ways:
//  A. as a whole token: token::verify against an HS256 key set with the
//     test secret, an HS256 key set with a random secret made at startup,
//     and a JWKS with RS256 and ES256 public keys generated (with cjose) at
//     startup. The random-secret and JWKS sets must never say ok: nobody
//     outside this process can sign for them. For the test secret an ok is
//     only right when the signature really is HMAC-SHA256(secret,
//     header.payload) (computed here with libsodium, not cjose), the header
//     says HS256 and the claims pass the rules (checked here separately);
//  B. as the claims: signed here with the test secret under a fixed HS256
//     header, then verified; an ok must agree with the separate claims check;
//  C. as the header: the same with fixed valid claims; an ok needs a header
//     that is a JSON object with alg "HS256" and no kid (the test key has none).
// Plus: no crash, no leak, no sanitizer report. A violated invariant stops
// the run with __builtin_trap().

#include <sodium.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "common/token.hpp"

using namespace mqchat;
using namespace mqchat::token;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

// The secret of tests/unit/token_test.cpp, so its tokens make good seeds.
const std::string test_secret = "0123456789abcdef0123456789abcdef-secret";
constexpr std::int64_t now = 1800000000;
const rules strict{"https://app.example", "mqchat", 30};
const rules lax{"", "", 30};

std::string b64url(std::string_view in) {
    std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

bool unb64url(std::string_view in, std::string& out) {
    out.assign(in.size(), '\0');
    std::size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(), nullptr,
                          &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    out.resize(len);
    return true;
}

std::string hmac(std::string_view key, std::string_view msg) {
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    crypto_auth_hmacsha256_final(&st, mac);
    return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

std::string sign_hs256(std::string_view header, std::string_view claims) {
    const std::string input = b64url(header) + "." + b64url(claims);
    return input + "." + b64url(hmac(test_secret, input));
}

struct fixture {
    key_set test_keys, secret_keys, jwks_keys;
    fixture() {
        check(sodium_init() >= 0);
        test_keys.add_hs256_secret(test_secret);
        unsigned char random_secret[32];
        randombytes_buf(random_secret, sizeof random_secret);
        secret_keys.add_hs256_secret(std::string_view(reinterpret_cast<const char*>(random_secret), sizeof random_secret));
        const signer rsa = signer::generate("RS256", "rsa-1"), ec = signer::generate("ES256", "ec-1");
        jwks_keys.add_jwks("{\"keys\":[" + rsa.public_jwk() + "," + ec.public_jwk() + "]}");
        check(jwks_keys.size() == 2);
    }
};

/// What an ok verdict promises about the claims, checked without token.cpp.
void check_claims(std::string_view claims_json, const verdict& v, const rules& r) {
    Json::Value c;
    std::string why;
    check(json::parse(claims_json, c, why) && c.isObject());
    check(v.claims.alg == "HS256");
    check(c["sub"].isString() && !c["sub"].asString().empty() && c["sub"].asString() == v.claims.subject);
    check(c["exp"].isNumeric());
    const double exp = std::trunc(c["exp"].asDouble());
    check(exp + static_cast<double>(r.leeway_s) >= static_cast<double>(now));
    if (c.isMember("nbf")) {
        check(c["nbf"].isNumeric());
        const double nbf = std::trunc(c["nbf"].asDouble());
        check(nbf - static_cast<double>(r.leeway_s) <= static_cast<double>(now));
    }
    if (!r.issuer.empty()) check(c["iss"].isString() && c["iss"].asString() == r.issuer);
    if (!r.audience.empty()) {
        const Json::Value& aud = c["aud"];
        bool found = aud.isString() && aud.asString() == r.audience;
        if (aud.isArray())
            for (const auto& a : aud) found = found || (a.isString() && a.asString() == r.audience);
        check(found);
    }
    if (c.isMember("mqchat_guest_conv")) {
        const Json::Value& g = c["mqchat_guest_conv"];
        check(g.isIntegral() && g.isInt64() && g.asInt64() > 0 && g.asInt64() == v.claims.guest_conv);
    } else {
        check(v.claims.guest_conv == 0);
    }
}

void check_refused(const verdict& v) { check(!v.ok && !v.reason.empty()); }

/// Part A: the input is the token.
void as_token(const fixture& f, std::string_view tok) {
    check_refused(verify(tok, f.secret_keys, lax, now));
    check_refused(verify(tok, f.jwks_keys, lax, now));
    (void)looks_like_token(tok);

    const verdict v = verify(tok, f.test_keys, strict, now);
    if (!v.ok) {
        check(!v.reason.empty());
        return;
    }
    // An ok token: header.payload.signature with a real HMAC over the first two parts.
    const auto d1 = tok.find('.'), d2 = tok.rfind('.');
    check(d1 != std::string_view::npos && d2 != d1);
    std::string header, claims, sig;
    check(unb64url(tok.substr(0, d1), header) && unb64url(tok.substr(d1 + 1, d2 - d1 - 1), claims) &&
          unb64url(tok.substr(d2 + 1), sig));
    check(sig == hmac(test_secret, tok.substr(0, d2)));
    Json::Value h;
    std::string why;
    check(json::parse(header, h, why) && h.isObject() && h["alg"].asString() == "HS256");
    check_claims(claims, v, strict);
}

/// Part B: the input is the claims of a correctly signed token.
void as_claims(const fixture& f, std::string_view claims) {
    const std::string tok = sign_hs256(R"({"alg":"HS256","typ":"JWT"})", claims);
    for (const rules* r : {&strict, &lax}) {
        const verdict v = verify(tok, f.test_keys, *r, now);
        if (v.ok) check_claims(claims, v, *r);
        else check(!v.reason.empty());
    }
    check_refused(verify(tok, f.secret_keys, lax, now));
    check_refused(verify(tok, f.jwks_keys, lax, now));
}

/// Part C: the input is the header of a token with good claims.
void as_header(const fixture& f, std::string_view header) {
    static const std::string claims =
        R"({"sub":"alice","exp":1800000600,"iat":1800000000,"iss":"https://app.example","aud":"mqchat"})";
    const std::string tok = sign_hs256(header, claims);
    const verdict v = verify(tok, f.test_keys, strict, now);
    if (v.ok) {
        Json::Value h;
        std::string why;
        check(json::parse(header, h, why) && h.isObject());
        check(h["alg"].isString() && h["alg"].asString() == "HS256");
        check(!h["kid"].isString() || h["kid"].asString().empty());
        check(v.claims.subject == "alice" && v.claims.kid.empty());
        check_claims(claims, v, strict);
    }
    check_refused(verify(tok, f.secret_keys, lax, now));
    check_refused(verify(tok, f.jwks_keys, lax, now));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const fixture f;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    as_token(f, in);
    as_claims(f, in);
    as_header(f, in);
    return 0;
}
