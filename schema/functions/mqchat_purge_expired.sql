-- Retention (docs/data-rights.md, "Retention"): removes what the settings in
-- retention_settings say has expired, at most `batch_rows` rows per call.
-- Each call is meant to be its own short transaction (the caller runs it
-- alone, autocommit), so live traffic never waits on a purge: the rows it
-- removes are old ones nobody writes, taken FOR UPDATE SKIP LOCKED (a
-- message being edited or reacted to right now waits for the next round).
--
-- A pass walks the conversations in id order, a slice per call, from where
-- retention_state says the last call stopped:
--   messages  each conversation's effective max age is its own setting,
--             else its desk's (support conversations), else its kind's; a
--             setting may say "keep forever" (max_age_s NULL). Messages are
--             taken from the oldest seq up, within the first `batch_rows`
--             of the conversation, where ts is older than the max age: ts
--             grows with seq (both are given under the conversation's
--             lock), so that is every expired message, found on the primary
--             key without an index on ts (which every store would pay for).
--   visitors  with a 'visitors' setting: closed support conversations
--             closed longer ago than it (their messages a batch at a time,
--             then the conversation with its members, details and notes),
--             then guests (web visitors, guest-token guests) not seen for
--             that long who are left in no conversation.
-- Returns the rows removed by this call (messages, conversations and
-- guests) and whether the pass is complete (`done`): call it until done.
-- Several callers (bridges, mqchat-admin retention run) take turns on the
-- retention_state row and share the pass.
CREATE OR REPLACE FUNCTION mqchat_purge_expired(batch_rows int)
RETURNS TABLE (purged bigint, done boolean)
LANGUAGE plpgsql AS $$
DECLARE
    st_next   bigint;            -- retention_state: where this call starts
    st_phase  text;
    now_ms    bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    c         record;
    v_conv    bigint;
    v_age     bigint;
    left_rows int;
    n         bigint;
    upto      bigint;
    examined  int := 0;
BEGIN
    IF batch_rows IS NULL OR batch_rows < 1 OR batch_rows > 100000 THEN
        RAISE EXCEPTION 'batch_rows must be from 1 to 100000, not %', batch_rows USING ERRCODE = '22023';
    END IF;
    purged := 0;
    done := false;
    SELECT r.next_conv, r.phase INTO st_next, st_phase FROM retention_state r FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO retention_state DEFAULT VALUES RETURNING next_conv, phase INTO st_next, st_phase;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM retention_settings) THEN
        UPDATE retention_state SET next_conv = 0, phase = 'messages';
        done := true;
        RETURN NEXT;
        RETURN;
    END IF;

    IF st_phase = 'messages' THEN
        FOR c IN
            SELECT cv.id,
                   (SELECT r.max_age_s FROM retention_settings r
                     WHERE (r.scope = 'conv' AND r.conv_id = cv.id)
                        OR (r.scope = 'desk' AND r.desk_id = (SELECT s.desk_id FROM support_conversations s
                                                               WHERE s.conv_id = cv.id))
                        OR (r.scope = 'kind' AND r.kind = cv.kind)
                     ORDER BY CASE r.scope WHEN 'conv' THEN 1 WHEN 'desk' THEN 2 ELSE 3 END
                     LIMIT 1) AS max_age_s
              FROM conversations cv
             WHERE cv.id >= st_next
             ORDER BY cv.id
        LOOP
            examined := examined + 1;
            IF c.max_age_s IS NOT NULL THEN
                left_rows := batch_rows - purged::int;
                SELECT max(f.seq) INTO upto
                  FROM (SELECT m.seq FROM messages m WHERE m.conv_id = c.id ORDER BY m.seq LIMIT left_rows) f;
                IF upto IS NOT NULL THEN
                    WITH gone AS (
                        DELETE FROM messages m
                         WHERE m.conv_id = c.id
                           AND m.seq = ANY (ARRAY(SELECT e.seq FROM messages e
                                                   WHERE e.conv_id = c.id AND e.seq <= upto
                                                     AND e.ts < now_ms - c.max_age_s * 1000
                                                     FOR UPDATE SKIP LOCKED))
                        RETURNING 1)
                    SELECT count(*) INTO n FROM gone;
                    purged := purged + n;
                    IF purged >= batch_rows THEN
                        -- This conversation may have more: the next call starts here.
                        UPDATE retention_state SET next_conv = c.id;
                        RETURN NEXT;
                        RETURN;
                    END IF;
                END IF;
            END IF;
            -- Conversations without a setting cost a look each: bound that too.
            IF examined >= 10 * batch_rows THEN
                UPDATE retention_state SET next_conv = c.id + 1;
                RETURN NEXT;
                RETURN;
            END IF;
        END LOOP;
        UPDATE retention_state SET next_conv = 0, phase = 'visitors';
    END IF;

    SELECT r.max_age_s INTO v_age FROM retention_settings r WHERE r.scope = 'visitors';
    IF v_age IS NOT NULL THEN
        FOR v_conv IN
            SELECT s.conv_id FROM support_conversations s
             WHERE s.status = 'closed' AND s.closed_at < clock_timestamp() - make_interval(secs => v_age)
             ORDER BY s.closed_at
             LIMIT batch_rows
               FOR UPDATE OF s SKIP LOCKED
        LOOP
            left_rows := batch_rows - purged::int;
            WITH gone AS (
                DELETE FROM messages m
                 WHERE m.conv_id = v_conv
                   AND m.seq = ANY (ARRAY(SELECT e.seq FROM messages e WHERE e.conv_id = v_conv
                                           ORDER BY e.seq LIMIT left_rows FOR UPDATE SKIP LOCKED))
                RETURNING 1)
            SELECT count(*) INTO n FROM gone;
            purged := purged + n;
            IF purged >= batch_rows THEN
                RETURN NEXT;
                RETURN;
            END IF;
            -- Its messages are gone: the conversation goes, and with it its
            -- members, the visitor's details, rating, notes and queued mail.
            IF NOT EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = v_conv) THEN
                DELETE FROM conversations WHERE id = v_conv;
                purged := purged + 1;
                IF purged >= batch_rows THEN
                    RETURN NEXT;
                    RETURN;
                END IF;
            END IF;
        END LOOP;

        left_rows := batch_rows - purged::int;
        WITH gone AS (
            DELETE FROM users u
             WHERE u.id IN (SELECT g.id FROM users g LEFT JOIN visitors v ON v.user_id = g.id
                             WHERE g.role = 'guest'
                               AND coalesce(v.last_visit, g.created_at) < clock_timestamp() - make_interval(secs => v_age)
                               AND NOT EXISTS (SELECT 1 FROM members mb WHERE mb.user_id = g.id)
                               AND NOT EXISTS (SELECT 1 FROM support_conversations s WHERE s.visitor_id = g.id)
                             LIMIT left_rows
                               FOR UPDATE OF g SKIP LOCKED)
            RETURNING 1)
        SELECT count(*) INTO n FROM gone;
        purged := purged + n;
        IF purged >= batch_rows THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    UPDATE retention_state SET next_conv = 0, phase = 'messages';
    done := true;
    RETURN NEXT;
END $$;
