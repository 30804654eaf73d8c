-- mqchat core schema: users, conversations, members, messages.
-- Applied by `mqchat-admin migrate`, once, inside a transaction; recorded in
-- schema_migrations. Never edit an applied migration: add the next number.

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

-- The plugin keeps users and memberships in memory and follows changes
-- through LISTEN mqchat_directory. Payloads (space-separated; names and
-- hashes contain no spaces):
--   'user+ <name> <role> <hash>'  added, or password/role changed
--   'user- <name>'                deleted
--   'user <name>'                 renamed: re-read it
--   'member+ <conv> <name>'       added to a conversation
--   'member- <conv> <name>'       removed from a conversation
-- The data travels in the notice so a new user can log in the moment the
-- transaction that adds it commits, without another round trip.
CREATE FUNCTION mqchat_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
    ELSIF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
        PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
        PERFORM pg_notify('mqchat_directory', 'user ' || NEW.name);
    ELSE
        PERFORM pg_notify('mqchat_directory', 'user+ ' || NEW.name || ' ' || NEW.role || ' ' || NEW.password_hash);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_user();

CREATE FUNCTION mqchat_notify_member() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT name INTO who FROM users WHERE id = NEW.user_id;
        PERFORM pg_notify('mqchat_directory', 'member+ ' || NEW.conv_id || ' ' || who);
    ELSE
        -- When the user itself is being deleted the row is gone already and
        -- its 'user-' notice removes every membership at once.
        SELECT name INTO who FROM users WHERE id = OLD.user_id;
        IF who IS NOT NULL THEN
            PERFORM pg_notify('mqchat_directory', 'member- ' || OLD.conv_id || ' ' || who);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER members_notify AFTER INSERT OR DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_member();

-- Stores a batch of sends in order, in the caller's transaction. `batch` is a
-- JSON array of {"conv", "sender", "id", "body", "type"?, "reply_to"?}.
-- One result row per element, same order (idx from 0):
--   stored          new message with its seq and ts
--   duplicate       (conv, sender, id) was stored before: its original seq and ts
--   not_member      the sender is not a member (any more); nothing stored
--   no_conversation the conversation does not exist; nothing stored
-- The caller must order the batch by conv so concurrent bridges lock
-- conversations in the same order.
CREATE FUNCTION mqchat_store_batch(batch jsonb)
RETURNS TABLE (idx int, status text, seq bigint, ts bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    m         jsonb;
    i         int := 0;
    v_conv    bigint;
    v_last    bigint;
    v_sender  bigint;
    v_seq     bigint;
    v_ts      bigint;
BEGIN
    FOR m IN SELECT value FROM jsonb_array_elements(batch) LOOP
        idx := i;
        i := i + 1;
        seq := NULL;
        ts := NULL;
        v_conv := (m ->> 'conv')::bigint;
        SELECT c.last_seq INTO v_last FROM conversations c WHERE c.id = v_conv FOR UPDATE;
        IF NOT FOUND THEN
            status := 'no_conversation';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT u.id INTO v_sender FROM users u WHERE u.name = m ->> 'sender';
        SELECT msg.seq, msg.ts INTO v_seq, v_ts FROM messages msg
         WHERE msg.conv_id = v_conv AND msg.sender_id = v_sender AND msg.client_id = m ->> 'id';
        IF FOUND THEN
            status := 'duplicate';
            seq := v_seq;
            ts := v_ts;
        ELSIF v_sender IS NULL OR NOT EXISTS
              (SELECT 1 FROM members mb WHERE mb.conv_id = v_conv AND mb.user_id = v_sender) THEN
            status := 'not_member';
        ELSE
            v_seq := v_last + 1;
            v_ts := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
            UPDATE conversations SET last_seq = v_seq WHERE id = v_conv;
            INSERT INTO messages (conv_id, seq, sender_id, client_id, body, type, reply_to, ts)
            VALUES (v_conv, v_seq, v_sender, m ->> 'id', m ->> 'body', m ->> 'type',
                    (m ->> 'reply_to')::bigint, v_ts);
            status := 'stored';
            seq := v_seq;
            ts := v_ts;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
