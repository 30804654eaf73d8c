// What a device keeps between runs: its Olm account, its sessions with other
// devices, its Megolm group sessions (its own and those shared with it), the keys it has pinned for them, and the messages it has already
// decrypted (an Olm message decrypts once). One JSON file, written through a
// temporary file and a rename, mode 0600; the account and sessions are libolm
// pickles and the decrypted messages a secretbox, all under one key stretched
// from the passphrase (Argon2id, the salt in the file).
#pragma once

#include "olm.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace e2e {

/// A device's public keys as the directory gave them once, verified.
struct device_keys {
    std::string signing_key, identity_key;
};

/// This device's current Megolm session for one group conversation.
struct group_outbound {
    outbound_group session;
    /// "user/device" that hold its key: a device of these gone means a new session.
    std::set<std::string> shared_with;
    int messages = 0; ///< encrypted with it (rotated after group_session_messages)
};

class device_state {
  public:
    /// A new device: a fresh account, nothing else. Refuses to overwrite `path`.
    static device_state create(const std::string& path, const std::string& user,
                               const std::string& device, const std::string& passphrase);
    /// The state kept in `path`; throws when missing, damaged or under another passphrase.
    static device_state load(const std::string& path, const std::string& passphrase);
    /// Writes it all (temporary file, fsync, rename).
    void save();

    std::string user, device;
    account olm;
    /// "user/device" → its sessions, the one to encrypt with first.
    std::map<std::string, std::vector<session>> sessions;
    /// "user/device" → the keys first seen for it (a change is refused).
    std::map<std::string, device_keys> known;
    /// "conv:seq" → the plaintext JSON decrypted (or sent) by this device.
    std::map<std::string, std::string> read;
    /// conversation → the group session this device sends with there.
    std::map<std::string, group_outbound> outbound;
    /// "conv|user/device|session_id" → a group session's key this device was given over Olm.
    std::map<std::string, inbound_group> inbound;
    /// user → "device signing_key" of each device of theirs the user verified (e2e-verify):
    /// a device not in it blocks sending to them until they are verified again.
    std::map<std::string, std::set<std::string>> verified;
    /// "session_id|index" → the "conv:seq" it was first read at: the same ciphertext at another
    /// seq is a replay.
    std::map<std::string, std::string> group_seen;

  private:
    device_state() = default;
    std::string path_;
    std::vector<unsigned char> salt_;
    std::string key_; // the stretched passphrase, as libolm's pickle key and the secretbox key
    void derive(const std::string& passphrase);
};

} // namespace e2e
