#pragma once
/// Password hashing with libsodium's Argon2id (crypto_pwhash_str).
///
/// Stored format: the PHC string libsodium writes, e.g.
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`. The cost is inside the
/// string, so raising it later only affects new hashes.

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

/// A fast keyed digest (BLAKE2b, random key per process) used to remember a
/// password that already passed verify() without keeping it in memory.
std::string remember_digest(std::string_view user, std::string_view password);

} // namespace mqchat::password
