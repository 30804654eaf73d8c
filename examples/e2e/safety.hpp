// Safety numbers (docs/e2e.md, "Checking keys"): what two people compare,
// out of band, to know that the devices each one's client encrypts for are
// the other's — the server's directory could list a device of its own.
#pragma once

#include "link.hpp"
#include "state.hpp"

#include <string>
#include <vector>

namespace e2e {

/// 60 digits in 12 groups of 5, the same for (a, b) and (b, a): per user an
/// iterated SHA-512 over its name and its devices' signing keys (sorted), the
/// lower name's half first — Signal's numeric fingerprint, over every device.
std::string safety_number(const std::string& user_a, std::vector<std::string> keys_a,
                          const std::string& user_b, std::vector<std::string> keys_b);

/// The safety number of this device's user with `other`, over both users'
/// devices as the directory lists them now (each one's signature checked and
/// its keys pinned). `devices` gets the "user/device" it covers.
std::string safety_number_with(server& l, device_state& s, const std::string& other,
                               std::vector<std::string>& devices);

/// "device signing_key" of each of the user's devices: what a verification covers.
std::string verified_entry(const std::string& device, const std::string& signing_key);

} // namespace e2e
