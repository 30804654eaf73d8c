-- Visitors from a website (docs/desks.md, "Visitors from a website").
--
-- A site key is a public token a website embeds in its widget: its bearer
-- may knock (log in under a random k-… name) and ask desk.visit, which
-- answers with a visitor identity and a guest token for the visitor's
-- support conversation. The key itself (a JWT signed with the plugin's
-- HS256 secret) is not stored: only its id, so it can be listed and revoked.
CREATE TABLE site_keys (
    id         text PRIMARY KEY CHECK (id ~ '^site-[0-9a-f]{16}$'),
    desk_id    bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    -- Which website it is for, as the operator calls it.
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX site_keys_by_desk ON site_keys (desk_id);

-- A site whose backend vouches for its logged-in users signs each user's
-- id with this secret (HMAC-SHA256, hex): the widget passes id and
-- signature, and the visitor is the same on every device.
ALTER TABLE desks ADD COLUMN identity_secret text CHECK (identity_secret IS NULL OR length(identity_secret) >= 32);

-- The guests a desk's site key made. Anonymous visitors (v-… names) prove
-- they are the same browser with a secret the widget keeps (its SHA-256
-- here); verified visitors (c-… names) are found by the site's own id.
CREATE TABLE visitors (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    desk_id      bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    secret_hash  bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    external_id  text CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 200),
    display_name text CHECK (display_name IS NULL OR length(display_name) <= 100),
    email        text CHECK (email IS NULL OR (length(email) <= 254 AND email ~ '^[^@\s<>]+@[^@\s<>]+$')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_visit   timestamptz NOT NULL DEFAULT now(),
    CHECK ((secret_hash IS NULL) <> (external_id IS NULL))
);
CREATE UNIQUE INDEX visitors_by_external_id ON visitors (desk_id, external_id) WHERE external_id IS NOT NULL;
