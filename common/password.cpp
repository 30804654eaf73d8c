#include "common/password.hpp"
#include "common/secret_file.hpp"

#include <sodium.h>

#include <array>
#include <fstream>
#include <mutex>
#include <stdexcept>

namespace mqchat::password {

namespace {
void init_sodium() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    });
}
} // namespace

std::string hash(std::string_view password, kdf_cost cost) {
    init_sodium();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops, cost.memory,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw std::runtime_error("password hashing failed (out of memory?)");
    return out;
}

bool verify(const std::string& stored, std::string_view password) {
    init_sodium();
    return crypto_pwhash_str_verify(stored.c_str(), password.data(), password.size()) == 0;
}

remember_key remember_key::random() {
    init_sodium();
    remember_key k;
    randombytes_buf(k.bytes_.data(), k.bytes_.size());
    return k;
}

remember_key remember_key::from_file(const std::string& path) {
    init_sodium();
    check_secret_file(path);
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read the key file " + path);
    std::string secret;
    std::getline(in, secret);
    if (secret.size() < 32) throw std::runtime_error("the key file " + path + " must hold at least 32 bytes on its first line");
    remember_key k;
    // A fixed personal string keeps this key apart from other uses of the secret.
    static const unsigned char context[] = "mqchat login digest key v1";
    crypto_generichash(k.bytes_.data(), k.bytes_.size(), context, sizeof context - 1,
                       reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    sodium_memzero(secret.data(), secret.size());
    return k;
}

std::string remember_digest(const remember_key& key, std::string_view user, std::string_view password,
                            std::string_view stored_hash) {
    init_sodium();
    crypto_generichash_state st;
    crypto_generichash_init(&st, key.data(), 32, 32);
    const unsigned char sep = 0;
    // Length-free fields joined by NUL: user names and PHC strings hold no NUL,
    // and the password comes last, so no two inputs share a byte string.
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(user.data()), user.size());
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(stored_hash.data()), stored_hash.size());
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(password.data()), password.size());
    std::string out(32, '\0');
    crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(out.data()), out.size());
    return out;
}

std::string random_hex(std::size_t bytes) {
    init_sodium();
    std::string raw(bytes, '\0'), hex(bytes * 2 + 1, '\0');
    randombytes_buf(raw.data(), raw.size());
    sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
    hex.pop_back();
    return hex;
}

} // namespace mqchat::password
