// Attachments in encrypted conversations (docs/e2e.md, "Files"): the file is
// encrypted on the device with a key of its own (libsodium's secretstream,
// XChaCha20-Poly1305 in 64 KiB chunks, the last one marked final, so a cut or
// reordered file does not open), the ciphertext goes to the media service,
// and the key, the name and the type travel inside the message's ciphertext.
#pragma once

#include <json/json.h>

#include <string>

namespace e2e {

/// Encrypts the file at `path` into `sealed_path` under a fresh key. Returns
/// what the message must carry for it to be opened: {"name", "size" (plain),
/// "key", "header" (base64), "sha256" (of the ciphertext, hex)}.
Json::Value seal_file(const std::string& path, const std::string& sealed_path);

/// Checks the ciphertext at `sealed_path` against `info` (its SHA-256) and
/// decrypts it into `out_path`; throws crypto_error when it does not open.
/// Nothing is left at `out_path` then.
void open_file(const Json::Value& info, const std::string& sealed_path, const std::string& out_path);

} // namespace e2e
