// RAII over libolm's C API: an account and sessions in memory of their own,
// random bytes from libsodium, every failure thrown with libolm's reason.
#pragma once

#include <olm/olm.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e {

/// Anything libolm refused, with its error string.
struct crypto_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One device's Olm account: identity keys, one-time keys, the fallback key.
class account {
  public:
    account();
    account(account&&) = default;
    account& operator=(account&&) = default;
    account(const account&) = delete;
    ~account();
    /// A new account with fresh identity keys.
    static account create();
    /// An account from its pickle (olm_pickle_account) under `key`.
    static account unpickle(const std::string& key, const std::string& pickled);
    std::string pickle(const std::string& key);

    /// {"curve25519": …, "ed25519": …}
    std::string identity_keys_json();
    /// Ed25519 signature (unpadded base64) of `message`.
    std::string sign(const std::string& message);
    void generate_one_time_keys(std::size_t n);
    /// {"curve25519": {"AAAAAQ": key, …}}: the ones not yet marked published.
    std::string one_time_keys_json();
    void generate_fallback_key();
    /// {"curve25519": {id: key}} or {"curve25519": {}}.
    std::string unpublished_fallback_key_json();
    void mark_keys_as_published();
    std::size_t max_one_time_keys();
    OlmAccount* get() { return ptr_; }

  private:
    std::vector<unsigned char> memory_;
    OlmAccount* ptr_;
    void check(std::size_t rc, const char* what);
};

/// One Olm session with one device of a peer.
class session {
  public:
    session();
    session(session&&) = default;
    session& operator=(session&&) = default;
    session(const session&) = delete;
    ~session();
    static session outbound(account& a, const std::string& their_identity_key,
                            const std::string& their_one_time_key);
    /// From a pre-key message (type 0) sent by `their_identity_key`.
    static session inbound(account& a, const std::string& their_identity_key,
                           const std::string& message);
    static session unpickle(const std::string& key, const std::string& pickled);
    std::string pickle(const std::string& key);
    /// Whether a pre-key message from `their_identity_key` belongs to this session.
    bool matches_inbound(const std::string& their_identity_key, const std::string& message);
    /// The type (0 pre-key, 1 normal) and base64 body of `plaintext` encrypted.
    std::pair<int, std::string> encrypt(const std::string& plaintext);
    std::string decrypt(int type, const std::string& message);
    OlmSession* get() { return ptr_; }

  private:
    std::vector<unsigned char> memory_;
    OlmSession* ptr_;
    void check(std::size_t rc, const char* what);
};

/// `n` random bytes from libsodium.
std::vector<unsigned char> random_bytes(std::size_t n);

} // namespace e2e
