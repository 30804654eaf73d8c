#pragma once
/// Secrets (passwords, signing keys, the login key, provider keys) live in
/// files, never in config lines, and a secret file that every user of the
/// host may read or write is refused, as ssh refuses such a key: a copy of
/// the bridge's password or the token secret in anyone's hands is a way in.
/// Group access is fine (root:mqchat 0640 is how the package installs them).

#include <string>

namespace mqchat {

/// Throws std::runtime_error naming the file and its mode when every user
/// may read or write it (mode o+r or o+w). A file that does not exist is
/// left to the reader to report.
void check_secret_file(const std::string& path);

/// The first line of a secret file, checked as above (a trailing \r is
/// dropped). Throws std::runtime_error when it cannot be read or is empty.
std::string read_secret_line(const std::string& path);

} // namespace mqchat
