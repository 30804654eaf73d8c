// chat_cli's end-to-end commands (docs/e2e.md): e2e-init, e2e-send,
// e2e-history, e2e-listen, e2e-attach, e2e-fetch, e2e-forget, devices,
// devices-remove, safety-number, e2e-verify.
#pragma once

#include "link.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace e2e {

struct options {
    std::string command, device, state, conv, user, text;
    std::string number; ///< e2e-verify: the safety number as typed (spaces or not)
    std::string caption, type, out; ///< e2e-attach: caption, MIME type; e2e-fetch: where to save
    long long seq = 0;              ///< e2e-fetch: the message
    int limit = 50;
};

/// Whether `command` is one of these.
bool is_command(const std::string& command);
/// What is missing for `o.command`, or "".
std::string missing(const options& o);
/// Runs it; the passphrase comes from MQCHAT_E2E_PASSPHRASE. Throws on failure.
void run(server& l, const options& o, const std::string& self, std::ostream& out);

} // namespace e2e
