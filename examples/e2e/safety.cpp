#include "safety.hpp"

#include "directory.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace e2e {

namespace {

/// 30 digits for one user: SHA-512 over a version, the keys and the name, then
/// 5,200 more rounds over the hash and the keys (slowing a search for a key set
/// with the same number), the first 30 bytes read as six 5-byte numbers mod 100,000.
std::string half(const std::string& user, std::vector<std::string> keys) {
    std::sort(keys.begin(), keys.end());
    std::string joined;
    for (const auto& k : keys)
        joined.append(k).append("\n");
    unsigned char hash[crypto_hash_sha512_BYTES];
    std::string first = "mqchat-safety-number-1\n" + joined + user;
    crypto_hash_sha512(hash, reinterpret_cast<const unsigned char*>(first.data()), first.size());
    for (int i = 0; i < 5200; ++i) {
        std::string round(reinterpret_cast<const char*>(hash), sizeof hash);
        round += joined;
        crypto_hash_sha512(hash, reinterpret_cast<const unsigned char*>(round.data()), round.size());
    }
    std::string out;
    for (int chunk = 0; chunk < 6; ++chunk) {
        std::uint64_t n = 0;
        for (int b = 0; b < 5; ++b)
            n = (n << 8) | hash[chunk * 5 + b];
        std::string digits = std::to_string(n % 100000);
        out.append(5 - digits.size(), '0').append(digits);
    }
    return out;
}

} // namespace

std::string safety_number(const std::string& user_a, std::vector<std::string> keys_a,
                          const std::string& user_b, std::vector<std::string> keys_b) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium did not start");
    std::string a = half(user_a, std::move(keys_a)), b = half(user_b, std::move(keys_b));
    const std::string digits = user_a < user_b ? a + b : b + a;
    std::string out;
    for (std::size_t i = 0; i < digits.size(); i += 5)
        out.append(i ? " " : "").append(digits.substr(i, 5));
    return out;
}

std::string safety_number_with(server& l, device_state& s, const std::string& other,
                               std::vector<std::string>& devices) {
    std::vector<std::string> mine, theirs;
    for (const auto& d : verified_devices(l, s, s.user)) {
        mine.push_back(d.signing_key);
        devices.push_back(d.address());
    }
    for (const auto& d : verified_devices(l, s, other)) {
        theirs.push_back(d.signing_key);
        devices.push_back(d.address());
    }
    if (theirs.empty()) throw std::runtime_error(other + " has no devices to check");
    return safety_number(s.user, mine, other, theirs);
}

std::string verified_entry(const std::string& device, const std::string& signing_key) {
    return device + " " + signing_key;
}

} // namespace e2e
