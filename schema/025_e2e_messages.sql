-- End-to-end encrypted conversations (docs/protocol.md, "End-to-end
-- encryption"): a message there is type 'e2e' with an empty body, and its
-- opaque envelope — per-device ciphertexts, or one group ciphertext with
-- the sender's device and session — is kept as it came, here. The server
-- checks its shape and sizes, never its content. New nullable column only.
ALTER TABLE messages ADD COLUMN e2e jsonb;
