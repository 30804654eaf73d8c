// Encrypted messages (docs/e2e.md): one Olm ciphertext per recipient device
// (every member's devices, the sender's other devices too, never the sending
// device itself), and decryption of what was addressed to this device.
#pragma once

#include "link.hpp"
#include "state.hpp"

#include <string>
#include <vector>

namespace e2e {

/// The members of encrypted `conv` as conv.list shows them (its `members`, or the
/// other person of a direct conversation), `extra` and yourself.
std::vector<std::string> members_of(server& l, const device_state& s, const std::string& conv,
                                    const std::vector<std::string>& extra);

/// Encrypts `text` for every device of `members` and sends it; returns the seq.
long long send_encrypted(server& l, device_state& s, const std::string& conv,
                         const std::vector<std::string>& members, const std::string& text);

/// What this device reads of a stored message: its text decrypted, or why not
/// ("(not for this device)"). Decrypted texts are kept in the state.
std::string read_message(server& l, device_state& s, const Json::Value& message);

} // namespace e2e
