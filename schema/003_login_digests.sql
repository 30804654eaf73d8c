-- Remembered logins: after a password passes Argon2id once, the plugin keeps
-- a keyed BLAKE2b digest of (user, stored hash, password), so later logins
-- cost a hash instead of 20 ms of the broker's thread. With
-- plugin_opt_login_key_file set, the digests are stored here and loaded at
-- start, so a broker restart does not turn every reconnect back into an
-- Argon2 run. The key stays on the broker host: this table alone is of no use
-- to an attacker (docs/security.md). The digest binds the stored hash, so a
-- changed password never matches an old row; rows go with their user.
CREATE TABLE login_digests (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    digest     bytea NOT NULL CHECK (length(digest) = 32),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A new password drops the digest at once: schema/functions/mqchat_forget_login_digest.sql.
