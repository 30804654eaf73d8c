-- mqchat core schema: users, conversations, members, messages.
-- Applied by `mqchat-admin migrate`, once, inside a transaction; recorded in
-- schema_migrations. Never change what an applied migration does to tables
-- and data: add the next number. Functions and triggers are not here but in
-- schema/functions/ (one current file each, applied after the migrations).

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The name is the MQTT username and a topic segment: keep it to a safe alphabet.
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    -- libsodium crypto_pwhash_str: "$argon2id$v=19$m=…,t=…,p=1$salt$hash"
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    -- 'bridge' is the identity of mqchat-bridge: the only one that may write
    -- stored messages and inboxes.
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'bridge')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title         text CHECK (length(title) <= 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The highest seq given out. Messages get last_seq + 1 under this row's lock,
    -- so seqs are gapless and strictly increasing per conversation.
    last_seq      bigint NOT NULL DEFAULT 0,
    -- The highest seq the broker has acknowledged on .../msg. Everything above
    -- it is republished after a bridge restart (the outbox).
    published_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX conversations_unpublished ON conversations (id) WHERE last_seq > published_seq;

CREATE TABLE members (
    conv_id   bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conv_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE messages (
    conv_id   bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq       bigint NOT NULL,
    sender_id bigint REFERENCES users (id) ON DELETE SET NULL,
    client_id text NOT NULL,
    body      text NOT NULL,
    type      text,
    reply_to  bigint,
    ts        bigint NOT NULL, -- server time, ms since the epoch
    PRIMARY KEY (conv_id, seq),
    -- A resend of the same client message is recognised by this key.
    UNIQUE (conv_id, sender_id, client_id)
);

-- Functions and triggers (directory notices, the store path) are not
-- migrations: each has one current definition in schema/functions/,
-- applied by `mqchat-admin migrate` after the migrations.
