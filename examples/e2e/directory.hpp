// The key directory from a device's side (docs/protocol.md, "End-to-end
// encryption"): uploading its own keys, and trusting nobody else's until
// their signatures verify against the signing key pinned for that device.
#pragma once

#include "link.hpp"
#include "state.hpp"

#include <string>
#include <vector>

namespace e2e {

/// The exact text every key's signature covers.
std::string signed_text(const std::string& user, const std::string& device, const std::string& kind,
                        const std::string& key_id, const std::string& key);
/// Whether `signature` is `signing_key`'s Ed25519 signature of `message` (all unpadded base64).
bool verifies(const std::string& signing_key, const std::string& message,
              const std::string& signature);

/// Uploads the device's keys with one-time keys up to `target` unclaimed on
/// the server (at most 50 an upload) and a fallback key when the server has
/// none unused (`new_fallback`). Saves the state before the upload and after. Returns the
/// number of one-time keys uploaded.
int upload_keys(server& l, device_state& s, int target, bool new_fallback);
/// keys.count, then upload_keys when fewer than half are left or the fallback is gone.
void top_up(server& l, device_state& s);

/// A peer device whose self-signature verified and whose keys match any pinned before.
struct peer_device {
    std::string user, device, signing_key, identity_key;
    std::string address() const { return user + "/" + device; }
};
/// devices.list of `user`, verified; a device whose keys changed since it was pinned is refused
/// (thrown).
std::vector<peer_device> verified_devices(server& l, device_state& s, const std::string& user);
/// A session to `d`: claims a key (keys.claim), checks its signature and starts an outbound
/// session.
void start_session(server& l, device_state& s, const peer_device& d);
/// Sessions to every device of `targets` that has none: one claim per user when none of that
/// user's devices has a session yet, otherwise one per device.
void start_sessions(server& l, device_state& s, const std::vector<peer_device>& targets);

} // namespace e2e
