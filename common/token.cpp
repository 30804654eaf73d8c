#include "common/token.hpp"

#include <cjose/cjose.h>
#include <sodium.h>

#include <fstream>
#include <stdexcept>

#include "common/json.hpp"
#include "common/names.hpp"
#include "common/secret_file.hpp"

namespace mqchat::token {

namespace {

/// One of our accepted algorithms and the key type it needs.
bool accepted(const std::string& alg, cjose_jwk_kty_t& kty) {
    if (alg == "HS256") kty = CJOSE_JWK_KTY_OCT;
    else if (alg == "RS256") kty = CJOSE_JWK_KTY_RSA;
    else if (alg == "ES256") kty = CJOSE_JWK_KTY_EC;
    else return false;
    return true;
}

bool base64url_decode(std::string_view in, std::string& out) {
    out.assign(in.size(), '\0');
    std::size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(), nullptr, &len,
                          nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    out.resize(len);
    return true;
}


std::string cjose_message(const cjose_err& e) { return e.message ? e.message : "unknown cjose error"; }

/// A NumericDate claim (exp, nbf) as whole seconds. Anything beyond ±2^53 s
/// (far past any real date) is clamped there: converting a larger double to
/// int64 is undefined, and so is the overflow of the arithmetic in verify().
std::int64_t numeric_date(const Json::Value& v) {
    constexpr double limit = 9007199254740992.0; // 2^53
    const double d = v.asDouble();
    if (!(d > -limit)) return -static_cast<std::int64_t>(limit);
    if (!(d < limit)) return static_cast<std::int64_t>(limit);
    return static_cast<std::int64_t>(d);
}

verdict refuse(std::string why) {
    verdict v;
    v.reason = std::move(why);
    return v;
}

} // namespace

struct key_set::key {
    std::string kid, alg, crv;
    cjose_jwk_kty_t kty{};
    cjose_jwk_t* jwk = nullptr;
    ~key() {
        if (jwk) cjose_jwk_release(jwk);
    }
};

key_set::key_set() = default;
key_set::~key_set() = default;
key_set::key_set(key_set&&) noexcept = default;
key_set& key_set::operator=(key_set&&) noexcept = default;
std::size_t key_set::size() const { return keys_.size(); }

void key_set::add_hs256_secret(std::string_view secret) {
    if (secret.size() < 32) throw std::invalid_argument("the HS256 secret must be at least 32 bytes");
    cjose_err err{};
    auto k = std::make_unique<key>();
    k->kty = CJOSE_JWK_KTY_OCT;
    k->alg = "HS256";
    k->jwk = cjose_jwk_create_oct_spec(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), &err);
    if (!k->jwk) throw std::invalid_argument("cannot use the HS256 secret: " + cjose_message(err));
    keys_.push_back(std::move(k));
}

void key_set::add_jwks(std::string_view jwks_json) {
    Json::Value doc;
    std::string why;
    if (!json::parse(jwks_json, doc, why)) throw std::invalid_argument("JWKS is not valid JSON: " + why);
    if (!doc.isObject() || !doc["keys"].isArray()) throw std::invalid_argument("JWKS has no \"keys\" array");
    int index = 0;
    for (const auto& jwk : doc["keys"]) {
        const std::string where = "JWKS key " + std::to_string(index++);
        if (!jwk.isObject()) throw std::invalid_argument(where + " is not an object");
        if (jwk.isMember("use") && jwk["use"].asString() != "sig") continue;
        auto k = std::make_unique<key>();
        k->kid = jwk["kid"].isString() ? jwk["kid"].asString() : "";
        k->alg = jwk["alg"].isString() ? jwk["alg"].asString() : "";
        k->crv = jwk["crv"].isString() ? jwk["crv"].asString() : "";
        cjose_jwk_kty_t wanted{};
        if (!k->alg.empty() && !accepted(k->alg, wanted))
            throw std::invalid_argument(where + " has algorithm " + k->alg + ", not one of HS256, RS256, ES256");
        const std::string text = json::write(jwk);
        cjose_err err{};
        k->jwk = cjose_jwk_import(text.data(), text.size(), &err);
        if (!k->jwk) throw std::invalid_argument(where + " cannot be read: " + cjose_message(err));
        k->kty = cjose_jwk_get_kty(k->jwk, &err);
        if (!k->alg.empty() && k->kty != wanted) throw std::invalid_argument(where + ": key type does not fit " + k->alg);
        if (k->kty == CJOSE_JWK_KTY_EC && k->crv != "P-256")
            throw std::invalid_argument(where + ": only the P-256 curve is accepted (ES256)");
        keys_.push_back(std::move(k));
    }
}

bool looks_like_token(std::string_view p) {
    if (p.size() < 10 || p.size() > max_token_length || p.substr(0, 3) != "eyJ") return false;
    int dots = 0;
    for (char c : p) {
        if (c == '.') ++dots;
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return dots == 2;
}

verdict verify(std::string_view token, const key_set& keys, const rules& rules, std::int64_t now_s) {
    if (token.size() > max_token_length) return refuse("token longer than " + std::to_string(max_token_length) + " bytes");
    const auto d1 = token.find('.');
    const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d1 == std::string_view::npos || d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos ||
        d1 == 0 || d2 == d1 + 1 || d2 + 1 == token.size())
        return refuse("not a signed JWT (header.payload.signature)");

    std::string raw;
    Json::Value header, body;
    std::string why;
    if (!base64url_decode(token.substr(0, d1), raw) || !json::parse(raw, header, why) || !header.isObject())
        return refuse("the header is not base64url JSON");
    const std::string alg = header["alg"].isString() ? header["alg"].asString() : "";
    cjose_jwk_kty_t kty{};
    if (!accepted(alg, kty)) return refuse("algorithm '" + alg + "' is not accepted");
    const std::string kid = header["kid"].isString() ? header["kid"].asString() : "";

    std::vector<const cjose_jwk_t*> candidates;
    for (const auto& k : keys.keys_) {
        if (k->kty != kty || (!kid.empty() && k->kid != kid) || (!k->alg.empty() && k->alg != alg)) continue;
        candidates.push_back(k->jwk);
    }
    if (candidates.empty()) return refuse("no key for " + alg + (kid.empty() ? "" : " with kid '" + kid + "'"));

    // cjose's own base64url decoder aborts the process (an assert) on some
    // malformed parts, e.g. "e=": only strict base64url reaches it.
    if (!base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), raw) || !base64url_decode(token.substr(d2 + 1), raw))
        return refuse("malformed token: the payload or signature is not base64url");

    cjose_err err{};
    std::unique_ptr<cjose_jws_t, decltype(&cjose_jws_release)> jws(cjose_jws_import(token.data(), token.size(), &err),
                                                                   &cjose_jws_release);
    if (!jws) return refuse("malformed token: " + cjose_message(err));
    bool good = false;
    for (const cjose_jwk_t* k : candidates) {
        if (cjose_jws_verify(jws.get(), k, &err)) {
            good = true;
            break;
        }
    }
    if (!good) return refuse("signature does not verify");

    uint8_t* plain = nullptr;
    std::size_t plain_len = 0;
    if (!cjose_jws_get_plaintext(jws.get(), &plain, &plain_len, &err)) return refuse("no payload");
    if (!json::parse(std::string_view(reinterpret_cast<const char*>(plain), plain_len), body, why) || !body.isObject())
        return refuse("the payload is not a JSON object");

    verdict v;
    token_claims& c = v.claims;
    c.alg = alg;
    c.kid = kid;
    if (!body["sub"].isString() || body["sub"].asString().empty()) return refuse("no subject (sub)");
    c.subject = body["sub"].asString();
    if (!body["exp"].isNumeric()) return refuse("no expiry (exp)");
    c.exp = numeric_date(body["exp"]);
    if (now_s > c.exp + rules.leeway_s) return refuse("expired " + std::to_string(now_s - c.exp) + " s ago");
    if (body.isMember("nbf")) {
        if (!body["nbf"].isNumeric()) return refuse("nbf is not a number");
        c.nbf = numeric_date(body["nbf"]);
        if (now_s + rules.leeway_s < c.nbf) return refuse("not valid for another " + std::to_string(c.nbf - now_s) + " s");
    }
    c.issuer = body["iss"].isString() ? body["iss"].asString() : "";
    if (!rules.issuer.empty() && c.issuer != rules.issuer) return refuse("issuer '" + c.issuer + "' is not '" + rules.issuer + "'");
    if (!rules.audience.empty()) {
        const Json::Value& aud = body["aud"];
        bool found = aud.isString() && aud.asString() == rules.audience;
        if (aud.isArray())
            for (const auto& a : aud) found |= a.isString() && a.asString() == rules.audience;
        if (!found) return refuse("audience does not include '" + rules.audience + "'");
    }
    if (body.isMember("mqchat_guest_conv")) {
        const Json::Value& g = body["mqchat_guest_conv"];
        if (!g.isIntegral() || !g.isInt64() || g.asInt64() <= 0) return refuse("mqchat_guest_conv is not a conversation id");
        c.guest_conv = g.asInt64();
    }
    if (body.isMember("mqchat_site_desk")) {
        const Json::Value& d = body["mqchat_site_desk"];
        if (!d.isString() || !valid_desk_name(d.asString())) return refuse("mqchat_site_desk is not a desk name");
        if (c.guest_conv) return refuse("a token is a site key or a guest token, not both");
        c.site_desk = d.asString();
    }
    v.ok = true;
    return v;
}

// ---------------------------------------------------------------- signing

std::string read_hs256_secret(const std::string& path) {
    check_secret_file(path);
    std::ifstream in(path);
    std::string secret;
    if (!in || !std::getline(in, secret)) throw std::runtime_error("cannot read the secret file " + path);
    while (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (secret.size() < 32) throw std::runtime_error("the secret in " + path + " is shorter than 32 bytes");
    return secret;
}

Json::Value base_claims(const std::string& subject, std::int64_t now_s, std::int64_t ttl_s, const std::string& issuer,
                        const std::string& audience) {
    Json::Value c(Json::objectValue);
    c["sub"] = subject;
    c["iat"] = Json::Int64(now_s);
    c["exp"] = Json::Int64(now_s + ttl_s);
    if (!issuer.empty()) c["iss"] = issuer;
    if (!audience.empty()) c["aud"] = audience;
    return c;
}

struct signer::impl {
    cjose_jwk_t* jwk = nullptr;
    std::string alg, kid;
    ~impl() {
        if (jwk) cjose_jwk_release(jwk);
    }
};

signer::~signer() = default;
signer::signer(signer&&) noexcept = default;

signer signer::hs256(std::string_view secret, std::string kid) {
    signer s;
    s.impl_ = std::make_unique<impl>();
    cjose_err err{};
    s.impl_->jwk = cjose_jwk_create_oct_spec(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), &err);
    if (!s.impl_->jwk) throw std::runtime_error("cannot make an HS256 key: " + cjose_message(err));
    s.impl_->alg = "HS256";
    s.impl_->kid = std::move(kid);
    return s;
}

signer signer::generate(const std::string& alg, std::string kid) {
    signer s;
    s.impl_ = std::make_unique<impl>();
    cjose_err err{};
    static const uint8_t e[] = {0x01, 0x00, 0x01};
    if (alg == "RS256") s.impl_->jwk = cjose_jwk_create_RSA_random(2048, e, sizeof e, &err);
    else if (alg == "ES256") s.impl_->jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    else throw std::invalid_argument("cannot generate keys for " + alg);
    if (!s.impl_->jwk) throw std::runtime_error("key generation failed: " + cjose_message(err));
    if (!kid.empty()) cjose_jwk_set_kid(s.impl_->jwk, kid.data(), kid.size(), &err);
    s.impl_->alg = alg;
    s.impl_->kid = std::move(kid);
    return s;
}

std::string signer::public_jwk() const {
    if (impl_->alg == "HS256") return "";
    cjose_err err{};
    char* text = cjose_jwk_to_json(impl_->jwk, false, &err);
    if (!text) throw std::runtime_error("cannot export the key: " + cjose_message(err));
    Json::Value v;
    std::string why;
    json::parse(text, v, why);
    free(text);
    v["alg"] = impl_->alg;
    v["use"] = "sig";
    return json::write(v);
}

std::string signer::sign(const Json::Value& claims, const std::string& alg_override) const {
    cjose_err err{};
    std::unique_ptr<cjose_header_t, decltype(&cjose_header_release)> header(cjose_header_new(&err), &cjose_header_release);
    cjose_header_set(header.get(), CJOSE_HDR_ALG, (alg_override.empty() ? impl_->alg : alg_override).c_str(), &err);
    if (!impl_->kid.empty()) cjose_header_set(header.get(), CJOSE_HDR_KID, impl_->kid.c_str(), &err);
    const std::string payload = json::write(claims);
    std::unique_ptr<cjose_jws_t, decltype(&cjose_jws_release)> jws(
        cjose_jws_sign(impl_->jwk, header.get(), reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), &err),
        &cjose_jws_release);
    if (!jws) throw std::runtime_error("signing failed: " + cjose_message(err));
    const char* compact = nullptr;
    if (!cjose_jws_export(jws.get(), &compact, &err)) throw std::runtime_error("export failed: " + cjose_message(err));
    return compact;
}

std::string unsigned_token(const Json::Value& header, const Json::Value& claims) {
    return base64url(json::write(header)) + "." + base64url(json::write(claims)) + ".";
}

std::string base64url(std::string_view in) {
    std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.resize(std::char_traits<char>::length(out.c_str()));
    return out;
}

} // namespace mqchat::token
