#pragma once
/// Password hashing with libsodium's Argon2id (crypto_pwhash_str).
///
/// Stored format: the PHC string libsodium writes, e.g.
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`. The cost is inside the
/// string, so raising it later only affects new hashes.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mqchat::password {

struct kdf_cost {
    std::uint64_t ops = 2;             ///< passes over memory (t)
    std::size_t memory = 19u << 20;    ///< bytes (m = 19 MiB, OWASP's argon2id baseline)
};

/// Throws std::runtime_error if libsodium cannot initialise or allocate.
std::string hash(std::string_view password, kdf_cost cost = {});

/// Constant-time verification against a stored PHC string. False on mismatch
/// or on a string that is not an Argon2 hash.
bool verify(const std::string& stored, std::string_view password);

/// The key of remember_digest: random for one process, or read from a key
/// file so that digests stay valid across restarts and can be stored.
class remember_key {
public:
    /// 32 random bytes; digests made with it die with the process.
    static remember_key random();
    /// Derived from the first line of `path` (at least 32 bytes of secret).
    /// Throws std::runtime_error naming the file and what is wrong.
    static remember_key from_file(const std::string& path);
    const unsigned char* data() const { return bytes_.data(); }

private:
    std::array<unsigned char, 32> bytes_{};
};

/// A fast keyed digest (BLAKE2b) of a password that already passed verify(),
/// bound to the user and to the stored hash it was checked against, so the
/// password itself is never kept and a changed password never matches.
std::string remember_digest(const remember_key& key, std::string_view user, std::string_view password,
                            std::string_view stored_hash);

/// `bytes` bytes from libsodium's CSPRNG as lowercase hex: secrets, ids
/// that must not be guessed, message ids that must not repeat.
std::string random_hex(std::size_t bytes);

} // namespace mqchat::password
