-- Bans and guests.
--  * users.banned: a banned user cannot log in and is disconnected at once.
--  * role 'guest': an anonymous visitor with a guest token (support widget).
--    Guests have no password; the bridge creates their row and membership
--    when they first write, from the plugin-stamped envelope.

ALTER TABLE users ADD COLUMN banned boolean NOT NULL DEFAULT false;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'bridge', 'guest'));
ALTER TABLE users DROP CONSTRAINT users_password_hash_check;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_password_hash_check
    CHECK (role = 'guest' OR password_hash LIKE '$argon2%');

-- Notices now carry the ban; guests are the plugin's own business (it learns
-- them from their tokens), so they are not announced.
--   'user+ <name> <role> <hash> <banned t|f>'
CREATE OR REPLACE FUNCTION mqchat_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.role <> 'guest' THEN
            PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
        END IF;
    ELSIF NEW.role = 'guest' THEN
        NULL;
    ELSIF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
        PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
        PERFORM pg_notify('mqchat_directory', 'user ' || NEW.name);
    ELSE
        PERFORM pg_notify('mqchat_directory', 'user+ ' || NEW.name || ' ' || NEW.role || ' ' || NEW.password_hash
                                              || ' ' || CASE WHEN NEW.banned THEN 't' ELSE 'f' END);
    END IF;
    RETURN NULL;
END $$;

-- As in 001, plus: an element with "guest": true whose sender does not exist
-- yet creates the guest and its membership in that conversation.
CREATE OR REPLACE FUNCTION mqchat_store_batch(batch jsonb)
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
        IF v_sender IS NULL AND coalesce((m ->> 'guest')::boolean, false) THEN
            INSERT INTO users (name, role) VALUES (m ->> 'sender', 'guest')
                ON CONFLICT (name) DO NOTHING RETURNING id INTO v_sender;
            IF v_sender IS NULL THEN
                SELECT u.id INTO v_sender FROM users u WHERE u.name = m ->> 'sender';
            END IF;
            INSERT INTO members (conv_id, user_id) VALUES (v_conv, v_sender) ON CONFLICT DO NOTHING;
        END IF;
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
