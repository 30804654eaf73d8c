-- End-to-end encryption, the server's first half: the key directory
-- (docs/protocol.md, "End-to-end encryption"). Each device of a user
-- publishes the public keys of its libolm account; another user's device
-- claims one of its one-time keys (each handed out once) to start a session
-- with it. Private keys never reach the server. Every key and signature is
-- checked by the bridge (libsodium) before it is stored; the CHECKs here
-- only hold the shapes. Only new tables and a new column with a constant
-- default: applies with bridges running.

-- A user's devices, each with its long-term public keys: an Ed25519 signing
-- key and a Curve25519 identity key (unpadded base64 of 32 bytes, as
-- libolm prints them), and the device's Ed25519 signature over
-- "mqchat-key\n{user}\n{device}\ndevice\n\n{identity_key}" (86 characters:
-- 64 bytes). The keys never change for a device id: a client that lost its
-- account removes the device and registers a new one. At most 10 per user
-- (the bridge's keys.upload, under a per-user lock).
CREATE TABLE e2e_devices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device       text NOT NULL CHECK (device ~ '^[A-Za-z0-9_-]{1,64}$'),
    signing_key  text NOT NULL CHECK (signing_key ~ '^[A-Za-z0-9+/]{43}$'),
    identity_key text NOT NULL CHECK (identity_key ~ '^[A-Za-z0-9+/]{43}$'),
    signature    text NOT NULL CHECK (signature ~ '^[A-Za-z0-9+/]{86}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The device's last keys.upload or keys.count (shown to its owner only).
    last_seen    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, device)
);

-- One-time keys: Curve25519 public keys, each signed by its device over
-- "mqchat-key\n{user}\n{device}\none_time\n{key_id}\n{key}". keys.claim
-- hands each out once: it sets claimed_at and clears the key in the same
-- statement that picks it (FOR UPDATE SKIP LOCKED), so concurrent claims
-- never share one. The claimed row stays, without its key, as long as the
-- device does: an upload that is repeated (its reply was lost) cannot put
-- back a key that was already handed out and whose private half the client
-- has since used up. At most 200 unclaimed per device.
CREATE TABLE e2e_one_time_keys (
    -- Upload order: claims take the oldest first.
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  bigint NOT NULL REFERENCES e2e_devices (id) ON DELETE CASCADE,
    key_id     text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9+/=_-]{1,64}$'),
    key        text CHECK (key ~ '^[A-Za-z0-9+/]{43}$'),
    signature  text CHECK (signature ~ '^[A-Za-z0-9+/]{86}$'),
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    UNIQUE (device_id, key_id),
    CHECK ((claimed_at IS NULL) = (key IS NOT NULL AND signature IS NOT NULL))
);
-- The stock a claim takes from, oldest first, and keys.count.
CREATE INDEX e2e_one_time_keys_unclaimed ON e2e_one_time_keys (device_id, id) WHERE claimed_at IS NULL;

-- The fallback key of a device (at most one, replaceable): handed out when
-- no one-time key is left, as often as needed, and marked used the first
-- time — the device should then upload a new one (keys.count says so).
-- Signed over "mqchat-key\n{user}\n{device}\nfallback\n{key_id}\n{key}".
CREATE TABLE e2e_fallback_keys (
    device_id   bigint PRIMARY KEY REFERENCES e2e_devices (id) ON DELETE CASCADE,
    key_id      text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9+/=_-]{1,64}$'),
    key         text NOT NULL CHECK (key ~ '^[A-Za-z0-9+/]{43}$'),
    signature   text NOT NULL CHECK (signature ~ '^[A-Za-z0-9+/]{86}$'),
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);

-- keys.claim's rate per caller: claims in the current one-minute window
-- (a fixed window; refused claims are not counted, as they are rolled back).
-- In the database so that every bridge and request thread counts the same.
CREATE TABLE e2e_claim_rate (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    claims       int NOT NULL CHECK (claims >= 0)
);

-- An end-to-end encrypted conversation (set at creation, never turned off).
-- The envelope rules and conv.create's option come in a later step; until
-- then no conversation has it.
ALTER TABLE conversations ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
