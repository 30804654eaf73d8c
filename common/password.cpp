#include "common/password.hpp"

#include <sodium.h>

#include <array>
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

std::string remember_digest(std::string_view user, std::string_view password) {
    init_sodium();
    static const std::array<unsigned char, crypto_generichash_KEYBYTES> key = [] {
        std::array<unsigned char, crypto_generichash_KEYBYTES> k{};
        randombytes_buf(k.data(), k.size());
        return k;
    }();
    crypto_generichash_state st;
    crypto_generichash_init(&st, key.data(), key.size(), 32);
    const unsigned char sep = 0;
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(user.data()), user.size());
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(password.data()),
                              password.size());
    std::string out(32, '\0');
    crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(out.data()), out.size());
    return out;
}

} // namespace mqchat::password
