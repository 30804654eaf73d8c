-- Stores a batch of sends in order, in the caller's transaction. `batch` is a
-- JSON array of {"conv", "sender", "id", "body", "type"?, "reply_to"?, "ref"?,
-- "media"?, "e2e"?, "guest"?}. One result row per element, same order (idx from 0):
--   stored          new message with its seq and ts; `mentions` lists the
--                   members named in it (@name); `members_version` is the
--                   conversation's membership version the message was
--                   stored under (schema/004: the broker delivers it by a
--                   directory at least that new)
--   duplicate       (conv, sender, id) was stored before: its original seq and ts
--   not_member      the sender is not a member (any more); nothing stored
--   no_conversation the conversation does not exist; nothing stored
--   bad_ref         `ref` names no message, a deleted one, or an event
--   not_author      only the sender edits or deletes a message
--   bad_media       "media" names no upload of the sender's for this
--                   conversation that is ready and not yet in a message
--   wrong_encryption a message of type e2e in a conversation that is not
--                   end-to-end encrypted, or any other type in one that is
-- A stored attachment comes back in `media` (mqchat_media_json), and its
-- upload is tied to the message (media.seq): members may download it now.
-- An element with "guest": true whose sender does not exist yet creates the
-- guest and its membership in that conversation (unless the name was erased).
-- Replies, mentions, edits, deletes and reactions: docs/protocol.md,
-- "Message types", and schema/007_message_lifecycle.sql.
-- It locks the batch's conversations itself, in id order, so concurrent
-- bridges never deadlock; a batch ordered by conv (stably, keeping each
-- conversation's arrival order) gives each conversation one run. It is one
-- statement: the caller runs it alone, and its implicit transaction is the
-- batch's.
--
-- SQLSTATE 23505 (unique_violation) from a batch of more than one message:
-- a resend among its plain messages (below); nothing of it is stored. The
-- caller stores the same messages one call each, in order: a batch of one
-- never fails this way, and its resend is answered 'duplicate'.
--
-- Cost: this runs for every message, so it does per message only what that
-- message needs. The batch's conversation rows are locked in one statement
-- and updated in one, each once (each update of a row is a new row
-- version); a run from one sender looks the sender up once; the search
-- vector is made in the INSERT with the configuration read once per batch
-- (the trigger on messages only fills in a vector that is missing); the
-- mention scan runs only for bodies with an '@'.
-- A resend is found by the INSERT itself (ON CONFLICT on the conversation's
-- (sender, client id) key; for a run of plain messages, by that key's
-- unique violation), not by a query before it: a query on the
-- partitioned messages table is planned anew at every call (a plan made for
-- any conversation would keep all 16 partitions, so PL/pgSQL never settles
-- on one), and that planning was 31 % of the store's time (pg_stat_statements,
-- 2026-12-02). A plain message's statements are now on unpartitioned
-- tables or planned once (an edit, delete or reaction still reads the
-- message it names by key, planned at each call). Only a message that is
-- refused looks for its original
-- (a resend of a stored message is 'duplicate' whatever else changed since:
-- a member who left, an upload already tied to it).
--
-- enable_seqscan off, for this function's statements only (and the foreign
-- keys' checks that its INSERTs fire): each of them looks rows up by key,
-- but the plans PL/pgSQL keeps are made for any value, and for a small
-- users or conversations table (hundreds of rows: a new deployment, the
-- benchmark) the planner then prefers reading the whole table. The
-- conversations table is small and rewritten by every message, so it is
-- mostly dead row versions: the batch's lock read 25 pages for 200 rows.
-- With index lookups a batch of 4 took 946 µs against 1,075 (the lock 34
-- µs against 82, each sender's lookup 3.8 against 19.8, each foreign-key
-- check on users 3.3 against 16.2; pg_stat_statements, 2026-12-04). On
-- large tables the planner chose the indexes anyway.
CREATE OR REPLACE FUNCTION mqchat_store_batch(batch jsonb)
RETURNS TABLE (idx int, status text, seq bigint, ts bigint, mentions text[], members_version bigint, media jsonb)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    m           jsonb;
    v_conv      bigint;
    v_locked    bigint;          -- the conversation whose row this loop holds and counts in v_last
    v_last      bigint;
    v_version   bigint;          -- v_locked's membership version
    v_ids       bigint[];        -- the batch's conversations, locked, in id order
    v_lasts     bigint[];        -- their last_seq, counted up as messages are stored
    v_versions  bigint[];        -- their membership versions
    v_encs      boolean[];       -- whether each is end-to-end encrypted
    k           int := 0;        -- v_locked's place in those arrays
    v_sender    bigint;
    v_sender_of text;            -- the name v_sender was looked up for
    v_seq       bigint;
    v_ts        bigint;
    v_type      text;
    v_ref       bigint;
    v_body      text;
    v_media     text;
    v_media_out jsonb;
    v_searched  text;            -- what search finds: the text, and an attachment's name
    v_refusal   text;            -- why this message is not stored, once a check failed
    v_search    regconfig := mqchat_search_config();
    o_sender    bigint;
    o_type      text;
    o_deleted   boolean;
    -- Plain messages (below) wait in these, one element each, for one
    -- multi-row INSERT: a batch of 8 spent half its time in single-row
    -- INSERTs, 38 µs each against 19 µs a row in one (the executor's set-up
    -- of an insert into a partitioned table, per statement; pgbench, 2026-12-02).
    v_many      boolean := jsonb_array_length(batch) > 1;
    v_plain     boolean;
    f_idx       int[] := '{}';
    f_conv      bigint[] := '{}';
    f_seq       bigint[] := '{}';
    f_sender    bigint[] := '{}';
    f_id        text[] := '{}';
    f_body      text[] := '{}';
    f_type      text[] := '{}';
    f_reply     bigint[] := '{}';
    f_ts        bigint[] := '{}';
    f_e2e       jsonb[] := '{}';
    f_version   bigint[] := '{}';
BEGIN
    -- Every conversation of the batch is locked at once, in id order (the
    -- order concurrent bridges lock in), and updated at once at the end: two
    -- statements a batch instead of two a conversation (a batch mostly spans
    -- as many conversations as it has messages; the pair cost 56 µs each).
    -- NO KEY: the rows' keys do not change, so inserts that only reference
    -- them (messages, the outbox) need not wait for these locks. Read under
    -- the lock, a membership version is a committed one whose change has
    -- been announced.
    SELECT array_agg(l.id), array_agg(l.last_seq), array_agg(l.members_version), array_agg(l.encrypted)
      INTO v_ids, v_lasts, v_versions, v_encs
      FROM (SELECT c.id, c.last_seq, c.members_version, c.encrypted FROM conversations c
             WHERE c.id = ANY (ARRAY(SELECT (e ->> 'conv')::bigint FROM jsonb_array_elements(batch) e))
             ORDER BY c.id FOR NO KEY UPDATE) l;
    -- One turn past the end (m is NULL there), for the last plain messages' INSERT.
    FOR i IN 0 .. jsonb_array_length(batch) LOOP
        m := batch -> i;
        -- Plain: no ref, attachment, mention or new guest, in a batch of more
        -- than one; nothing later in the batch reads it back. Its seq is
        -- counted now, its row goes in with the run of plain ones it belongs
        -- to, just before the next message that is not plain (which may name
        -- it) or at the end.
        v_plain := m IS NOT NULL AND v_many AND m ->> 'ref' IS NULL AND m ->> 'media' IS NULL
                   AND (m ->> 'type' IS NULL OR m ->> 'type' = 'e2e') AND m ->> 'guest' IS DISTINCT FROM 'true'
                   AND strpos(coalesce(m ->> 'body', ''), '@') = 0;
        IF NOT v_plain AND cardinality(f_idx) > 0 THEN
            -- No ON CONFLICT: a resend (of a message stored before, or twice
            -- in this run) fails the whole call on the (conv_id, sender_id,
            -- client_id) key — its counted seq would leave a gap — and the
            -- caller stores the batch's messages one at a time, where a
            -- resend is found as below. Without an arbiter the executor does
            -- not map the key to each partition's indexes (catalog lookups
            -- for every partition a statement routes to, about one a
            -- message) nor pre-check it: 36 → 28 µs a row (pg_stat_statements,
            -- 2026-12-03).
            INSERT INTO messages (conv_id, seq, sender_id, client_id, body, type, reply_to, ts, search, e2e)
            SELECT f.conv, f.seq, f.sender, f.id, f.body, f.type, f.reply, f.ts, to_tsvector(v_search, f.body), f.e2e
              FROM unnest(f_conv, f_seq, f_sender, f_id, f_body, f_type, f_reply, f_ts, f_e2e)
                   AS f(conv, seq, sender, id, body, type, reply, ts, e2e);
            FOR q IN 1 .. cardinality(f_idx) LOOP
                idx := f_idx[q];
                status := 'stored';
                seq := f_seq[q];
                ts := f_ts[q];
                mentions := NULL;
                members_version := f_version[q];
                media := NULL;
                RETURN NEXT;
            END LOOP;
            f_idx := '{}'; f_conv := '{}'; f_seq := '{}'; f_sender := '{}'; f_id := '{}'; f_body := '{}';
            f_type := '{}'; f_reply := '{}'; f_ts := '{}'; f_e2e := '{}'; f_version := '{}';
        END IF;
        EXIT WHEN m IS NULL;
        idx := i;
        seq := NULL;
        ts := NULL;
        mentions := NULL;
        members_version := NULL;
        media := NULL;
        v_conv := (m ->> 'conv')::bigint;
        v_type := m ->> 'type';
        v_ref := (m ->> 'ref')::bigint;
        v_body := coalesce(m ->> 'body', '');
        v_media := m ->> 'media';
        IF v_locked IS DISTINCT FROM v_conv THEN
            IF v_locked IS NOT NULL THEN
                v_lasts[k] := v_last;
                v_versions[k] := v_version;
            END IF;
            v_locked := NULL;
            k := array_position(v_ids, v_conv);
            IF k IS NULL THEN
                status := 'no_conversation';
                RETURN NEXT;
                CONTINUE;
            END IF;
            v_last := v_lasts[k];
            v_version := v_versions[k];
            v_locked := v_conv;
        END IF;
        IF v_sender_of IS DISTINCT FROM m ->> 'sender' THEN
            v_sender_of := m ->> 'sender';
            SELECT u.id INTO v_sender FROM users u WHERE u.name = v_sender_of;
        END IF;
        -- Not under a name that was erased (schema/022): its holder's guest
        -- token may still be valid, but the person asked to be gone. (Two
        -- IFs here and below: a query in a condition that also tests a
        -- variable is planned anew at every call, because a plan made for
        -- the variable's value folds the test away and looks cheaper.)
        IF v_sender IS NULL AND m ->> 'guest' = 'true' THEN
          IF NOT EXISTS (SELECT 1 FROM erased_names e WHERE e.name_hash = sha256(convert_to(v_sender_of, 'UTF8'))) THEN
            INSERT INTO users (name, role) VALUES (v_sender_of, 'guest')
                ON CONFLICT (name) DO NOTHING RETURNING id INTO v_sender;
            IF v_sender IS NULL THEN
                SELECT u.id INTO v_sender FROM users u WHERE u.name = v_sender_of;
            END IF;
            INSERT INTO members (conv_id, user_id) VALUES (v_conv, v_sender) ON CONFLICT DO NOTHING;
            -- The membership trigger gave the conversation a new version.
            SELECT c.members_version INTO v_version FROM conversations c WHERE c.id = v_conv;
          END IF;
        END IF;
        -- The checks: the first that fails names the refusal (a resend of a
        -- stored message is told 'duplicate' instead, below).
        v_refusal := NULL;
        v_media_out := NULL;
        v_searched := v_body;
        IF v_sender IS NULL THEN
            v_refusal := 'not_member';
        ELSIF NOT EXISTS (SELECT 1 FROM members mb WHERE mb.conv_id = v_conv AND mb.user_id = v_sender) THEN
            v_refusal := 'not_member';
        -- An encrypted conversation takes ciphertext only, and ciphertext
        -- goes nowhere else (edits, deletes, reactions there are ciphertexts too).
        ELSIF v_encs[k] IS DISTINCT FROM (v_type IS NOT DISTINCT FROM 'e2e') THEN
            v_refusal := 'wrong_encryption';
        ELSIF v_ref IS NOT NULL THEN
            SELECT o.sender_id, o.type, o.deleted INTO o_sender, o_type, o_deleted FROM messages o
             WHERE o.conv_id = v_conv AND o.seq = v_ref;
            IF NOT FOUND OR o_deleted OR o_type IN ('edit', 'delete', 'reaction', 'unreaction') THEN
                v_refusal := 'bad_ref';
            ELSIF v_type IN ('edit', 'delete') AND o_sender IS DISTINCT FROM v_sender THEN
                v_refusal := 'not_author';
            END IF;
        END IF;
        IF v_refusal IS NULL AND v_media IS NOT NULL THEN
            -- Only the uploader's own, checked upload for this conversation,
            -- once: a second message cannot take it over.
            UPDATE media md SET seq = v_last + 1
             WHERE md.id = v_media AND md.conv_id = v_conv AND md.uploader_id = v_sender
               AND md.status = 'ready' AND md.seq IS NULL AND md.encrypted = (v_type IS NOT DISTINCT FROM 'e2e')
            RETURNING mqchat_media_json(md), md.declared_name INTO v_media_out, v_searched;
            IF NOT FOUND THEN
                v_refusal := 'bad_media';
            ELSE
                -- An encrypted upload's name is a placeholder, and nothing of an e2e message is searched.
                v_searched := CASE WHEN v_type = 'e2e' THEN '' ELSE v_body || ' ' || v_searched END;
            END IF;
        END IF;
        IF v_refusal IS NULL AND v_plain THEN
            v_last := v_last + 1;
            f_idx := f_idx || i;
            f_conv := f_conv || v_conv;
            f_seq := f_seq || v_last;
            f_sender := f_sender || v_sender;
            f_id := f_id || (m ->> 'id');
            f_body := f_body || v_body;
            f_type := f_type || v_type;
            f_reply := f_reply || (m ->> 'reply_to')::bigint;
            f_ts := f_ts || (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
            f_e2e := f_e2e || (m -> 'e2e');
            f_version := f_version || v_version;
            CONTINUE; -- its result comes with the INSERT
        END IF;
        IF v_refusal IS NULL THEN
            v_seq := v_last + 1;
            v_ts := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
            INSERT INTO messages (conv_id, seq, sender_id, client_id, body, type, reply_to, ref, ts, search, media_id, e2e)
            VALUES (v_conv, v_seq, v_sender, m ->> 'id', v_body, v_type, (m ->> 'reply_to')::bigint, v_ref, v_ts,
                    to_tsvector(v_search, v_searched), v_media, m -> 'e2e')
            ON CONFLICT (conv_id, sender_id, client_id) DO NOTHING;
            IF FOUND THEN
                v_last := v_seq;
            ELSE
                v_refusal := 'duplicate';
                IF v_media IS NOT NULL THEN -- this upload stays free for a message of its own
                    UPDATE media SET seq = NULL WHERE id = v_media;
                END IF;
            END IF;
        END IF;
        IF v_refusal IS NOT NULL THEN
            -- Its original may be a plain message still waiting for the INSERT.
            v_seq := NULL;
            FOR q IN 1 .. cardinality(f_idx) LOOP
                IF f_conv[q] = v_conv AND f_sender[q] = v_sender AND f_id[q] = m ->> 'id' THEN
                    v_seq := f_seq[q];
                    v_ts := f_ts[q];
                END IF;
            END LOOP;
            -- Planned at each call (the partitioned table), but only refused
            -- messages and resends come here.
            IF v_seq IS NULL THEN
                SELECT d.seq, d.ts INTO v_seq, v_ts FROM messages d
                 WHERE d.conv_id = v_conv AND d.sender_id = v_sender AND d.client_id = m ->> 'id';
            END IF;
            IF v_seq IS NOT NULL THEN
                status := 'duplicate';
                seq := v_seq;
                ts := v_ts;
            ELSE
                status := v_refusal;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF v_type = 'edit' THEN
            UPDATE messages SET body = v_body, edited_at = v_ts, search = to_tsvector(v_search, v_body)
             WHERE conv_id = v_conv AND messages.seq = v_ref;
            DELETE FROM mentions WHERE conv_id = v_conv AND mentions.seq = v_ref;
        ELSIF v_type = 'delete' THEN
            -- The text goes from storage: the original and every edit of it.
            UPDATE messages SET body = '', deleted = true WHERE conv_id = v_conv AND messages.seq = v_ref;
            UPDATE messages SET body = '' WHERE conv_id = v_conv AND ref = v_ref AND type = 'edit';
            DELETE FROM mentions WHERE conv_id = v_conv AND mentions.seq = v_ref;
            DELETE FROM reactions WHERE conv_id = v_conv AND reactions.seq = v_ref;
        ELSIF v_type = 'reaction' THEN
            INSERT INTO reactions VALUES (v_conv, v_ref, v_sender, v_body) ON CONFLICT DO NOTHING;
        ELSIF v_type = 'unreaction' THEN
            DELETE FROM reactions WHERE conv_id = v_conv AND reactions.seq = v_ref AND user_id = v_sender
                                    AND (v_body = '' OR reaction = v_body);
        END IF;

        -- @name of a member of this conversation (trailing dots are punctuation).
        -- Most messages name nobody: a byte search spares them the regular
        -- expression and the join.
        IF (v_type IS NULL OR v_type NOT IN ('delete', 'reaction', 'unreaction')) AND strpos(v_body, '@') > 0 THEN
            WITH named AS (
                SELECT DISTINCT u.id, u.name
                  FROM regexp_matches(v_body, '@([A-Za-z0-9](?:[A-Za-z0-9._@-]{0,62}[A-Za-z0-9_@-])?)', 'g') AS r(n)
                  JOIN users u ON u.name = r.n[1]
                  JOIN members mb ON mb.user_id = u.id AND mb.conv_id = v_conv
            ), ins AS (
                INSERT INTO mentions (conv_id, seq, user_id)
                SELECT v_conv, CASE WHEN v_type = 'edit' THEN v_ref ELSE v_seq END, id FROM named
                ON CONFLICT DO NOTHING
            )
            SELECT array_agg(name ORDER BY name) INTO mentions FROM named;
        END IF;
        status := 'stored';
        seq := v_seq;
        ts := v_ts;
        members_version := v_version;
        media := v_media_out;
        RETURN NEXT;
    END LOOP;
    IF v_locked IS NOT NULL THEN
        v_lasts[k] := v_last;
    END IF;
    -- By the primary key, never a scan: planned once for any batch, a join
    -- with unnest(...) became a hash join over the whole (small, much
    -- updated, so bloated) conversations table — 0.14 ms of a one-message
    -- call's 0.30 (pgbench, 2026-12-02). One conversation, the usual case
    -- of a small batch, is a plain update by key. The ids go in as
    -- ARRAY(SELECT unnest(v_ids)): with a bare `= ANY (v_ids)` the plan made
    -- for each call's array (sized to it) looked cheaper than one for any
    -- batch, so PL/pgSQL planned the statement anew at every call (39 µs);
    -- a subquery's length is unknown to either plan, and the plan is kept.
    IF cardinality(v_ids) = 1 THEN
        UPDATE conversations c SET last_seq = v_lasts[1] WHERE c.id = v_ids[1] AND c.last_seq <> v_lasts[1];
    ELSE
        UPDATE conversations c SET last_seq = v_lasts[array_position(v_ids, c.id)]
         WHERE c.id = ANY (ARRAY(SELECT unnest(v_ids))) AND c.last_seq <> v_lasts[array_position(v_ids, c.id)];
    END IF;
END $$;
