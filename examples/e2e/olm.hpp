// RAII over libolm's C API: an account, Olm sessions and Megolm group sessions
// in memory of their own,
// random bytes from libsodium, every failure thrown with libolm's reason.
#pragma once

#include <olm/inbound_group_session.h>
#include <olm/olm.h>
#include <olm/outbound_group_session.h>

#include <cstdint>
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

/// The sending side of a Megolm group session: one ratchet whose messages
/// every device holding its key (shared over Olm) can decrypt, from the index
/// the key was exported at.
class outbound_group {
  public:
    outbound_group();
    outbound_group(outbound_group&&) = default;
    outbound_group& operator=(outbound_group&&) = default;
    outbound_group(const outbound_group&) = delete;
    ~outbound_group();
    static outbound_group create();
    static outbound_group unpickle(const std::string& key, const std::string& pickled);
    std::string pickle(const std::string& key);
    std::string id();
    /// The key as of now: it decrypts this message index and later ones, never earlier.
    std::string session_key();
    std::uint32_t message_index();
    /// Base64 ciphertext of `plaintext`; the ratchet moves on.
    std::string encrypt(const std::string& plaintext);

  private:
    std::vector<unsigned char> memory_;
    OlmOutboundGroupSession* ptr_;
    void check(std::size_t rc, const char* what);
};

/// The receiving side of a Megolm group session, from a session key.
class inbound_group {
  public:
    inbound_group();
    inbound_group(inbound_group&&) = default;
    inbound_group& operator=(inbound_group&&) = default;
    inbound_group(const inbound_group&) = delete;
    ~inbound_group();
    static inbound_group from_key(const std::string& session_key);
    static inbound_group unpickle(const std::string& key, const std::string& pickled);
    std::string pickle(const std::string& key);
    std::string id();
    std::uint32_t first_known_index();
    /// The plaintext and its message index (a server replaying a ciphertext repeats the index).
    std::pair<std::string, std::uint32_t> decrypt(const std::string& message);

  private:
    std::vector<unsigned char> memory_;
    OlmInboundGroupSession* ptr_;
    void check(std::size_t rc, const char* what);
};

/// `n` random bytes from libsodium.
std::vector<unsigned char> random_bytes(std::size_t n);

} // namespace e2e
