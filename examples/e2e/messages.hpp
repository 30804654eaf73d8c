// Encrypted messages (docs/e2e.md): in a direct conversation one Olm
// ciphertext per recipient device (every member's devices, the sender's other
// devices too, never the sending device itself); in a group one Megolm
// ciphertext whose session key went to those devices over Olm. And
// decryption of what was addressed to this device.
#pragma once

#include "link.hpp"
#include "state.hpp"

#include <string>
#include <vector>

namespace e2e {

/// An encrypted conversation as conv.members shows it to a member.
struct conversation {
    std::string conv, kind;            ///< kind: direct, group or support
    std::vector<std::string> members; ///< every member, yourself too
    bool group() const { return kind == "group"; }
};
/// conv.members (every page); throws when the conversation is not an encrypted one.
conversation conversation_of(server& l, const std::string& conv);

/// Encrypts `text` for every device of the members and sends it; returns the
/// seq. A direct conversation: an Olm ciphertext per device. A group: one
/// Megolm ciphertext, after the group session's key went over Olm to the
/// devices that lack it (as many envelopes as the payload limit needs); a
/// new session when a device that had the key is gone (docs/e2e.md).
long long send_encrypted(server& l, device_state& s, const conversation& c, const std::string& text);
/// The same for any plaintext ({"body"} and more, e.g. {"file"}), with `media` (an encrypted
/// upload of this conversation's, or "") named beside the ciphertexts.
long long send_encrypted(server& l, device_state& s, const conversation& c, const Json::Value& plain,
                         const std::string& media);

/// In a group, the session keys that the messages of `page` need and this device lacks came in
/// earlier messages: reads back through history from the page's oldest (up to `max_pages` pages
/// of 100) until it has them all, taking each key it meets. Nothing to do outside groups.
void find_group_keys(server& l, device_state& s, const std::string& conv, const Json::Value& page,
                     int max_pages = 20);

/// The decrypted plaintext JSON of a stored message (reading it as read_message does); throws
/// crypto_error when this device cannot read it.
Json::Value plaintext_of(server& l, device_state& s, const Json::Value& message, bool group);

/// What this device reads of a stored message: its text decrypted, or why not
/// ("(not for this device)"), or "" for what is not a message to show (a
/// group session's key, taken into the state). Decrypted texts are kept in
/// the state. `group`: the message is from a group conversation, where an
/// Olm envelope without a copy for this device is a key shared with others.
std::string read_message(server& l, device_state& s, const Json::Value& message, bool group);

} // namespace e2e
