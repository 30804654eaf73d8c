#pragma once
/// JSON Web Tokens as MQTT passwords: verification for the plugin, signing
/// for mqchat-admin and tests. Signatures are checked by cjose (OpenSSL
/// underneath); this module decides which algorithms and keys are
/// acceptable and checks the claims.
///
/// Accepted: HS256 (a shared secret), RS256 and ES256 (P-256) with public
/// keys from a JWKS file. Anything else — "none", HS384, an RSA key offered
/// for HS256 — is refused before a signature is looked at.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace Json {
class Value;
}

namespace mqchat::token {

inline constexpr std::size_t max_token_length = 8192;

/// What a valid token must also say.
struct rules {
    std::string issuer;   ///< required `iss` when not empty
    std::string audience; ///< required in `aud` when not empty
    std::int64_t leeway_s = 30;
};

struct token_claims {
    std::string subject;
    std::string issuer;
    std::string alg;
    std::string kid;
    std::int64_t exp = 0;
    std::int64_t nbf = 0;
    /// A guest token: the bearer may use this one conversation only
    /// (claim `mqchat_guest_conv`); 0 for ordinary users.
    std::int64_t guest_conv = 0;
    /// A site key (claim `mqchat_site_desk`, the desk's name): a public key
    /// a website embeds; its bearer may only ask for a visitor identity
    /// (desk.visit). `subject` is then the key's id. Empty otherwise.
    std::string site_desk;
};

struct verdict {
    bool ok = false;
    std::string reason; ///< why not, for the log: "expired 40 s ago", "signature does not verify"…
    token_claims claims;
};

/// Keys to verify with. Not thread-safe; the plugin keeps one per broker
/// thread and swaps in a new one on reload.
class key_set {
public:
    key_set();
    ~key_set();
    key_set(key_set&&) noexcept;
    key_set& operator=(key_set&&) noexcept;

    /// A shared HS256 secret (at least 32 bytes). Throws std::invalid_argument.
    void add_hs256_secret(std::string_view secret);
    /// Public keys from a JWKS document ({"keys": [...]}); keys with `use`
    /// other than "sig" are skipped. Throws std::invalid_argument naming the problem.
    void add_jwks(std::string_view jwks_json);
    std::size_t size() const;

private:
    friend verdict verify(std::string_view, const key_set&, const rules&, std::int64_t);
    struct key;
    std::vector<std::unique_ptr<key>> keys_;
};

/// base64url without padding (RFC 4648 §5), as JWS uses it.
std::string base64url(std::string_view bytes);

/// Three base64url parts separated by dots, starting like a JSON header:
/// what a password must look like to be treated as a token.
bool looks_like_token(std::string_view password);

/// Checks signature, algorithm, `exp` (required), `nbf`, `iss`, `aud` and
/// that `sub` is present. `now_s` is seconds since the epoch.
verdict verify(std::string_view token, const key_set& keys, const rules& rules, std::int64_t now_s);

/// A private or secret key for signing (tests, mqchat-admin guest-token).
class signer {
public:
    /// HS256 with a shared secret.
    static signer hs256(std::string_view secret, std::string kid = "");
    /// A fresh random key: "RS256" (2048-bit RSA) or "ES256" (P-256).
    static signer generate(const std::string& alg, std::string kid);
    ~signer();
    signer(signer&&) noexcept;

    /// The public half as one JWK (for a JWKS file); empty for HS256.
    std::string public_jwk() const;
    /// Signs `claims` (a JSON object). `alg_override` puts another name in the
    /// header (to test that the verifier refuses it).
    std::string sign(const Json::Value& claims, const std::string& alg_override = "") const;

private:
    signer() = default;
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The HS256 secret kept in `path`: its first line, at least 32 bytes.
/// Throws std::runtime_error naming the file.
std::string read_hs256_secret(const std::string& path);

/// The claims every token minted here carries: `sub`, `iat` (now_s), `exp`
/// (now_s + ttl_s), and `iss` / `aud` when not empty. Callers add their own
/// (mqchat_guest_conv, mqchat_site_desk) and sign.
Json::Value base_claims(const std::string& subject, std::int64_t now_s, std::int64_t ttl_s, const std::string& issuer,
                        const std::string& audience);

/// header.payload. with no signature, e.g. {"alg":"none"}: for tests of
/// what the verifier must refuse.
std::string unsigned_token(const Json::Value& header, const Json::Value& claims);

} // namespace mqchat::token
