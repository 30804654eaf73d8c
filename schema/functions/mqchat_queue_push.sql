-- Queues the pushes for stored messages, given as [{"conv", "seq"}]: to
-- every device of every member who is offline (no device connected, per the
-- presence the bridge keeps), is not the sender, has not muted the
-- conversation, and wants this message (its notify setting; mentions from
-- the mentions table). The payload carries what the sender thread needs:
-- title, body (the text, or "New message" when the member hides previews
-- and always in an end-to-end encrypted conversation;
-- for an attachment "Photo", "Video", "Audio" or the file's name, and the
-- caption if any),
-- the ids, and the badge (unread messages in all the member's conversations,
-- counted up to 999).
-- Returns the number queued.
-- It runs for every stored batch, and most members of most conversations
-- have no push device or are online: the plan starts from the stored
-- messages, then their members who have a device (the CTEs are
-- MATERIALIZED to keep that order), and builds payloads only for those.
-- (mqchat's connections run with jit off: the planner's guess for the
-- badge counts crossed jit_above_cost, and compiling took 0.7 s a call.)
-- PL/pgSQL, not SQL: a SQL function's query is planned again at every call
-- (3.4 ms of a 6 ms call for 300 messages); PL/pgSQL keeps the plan for the
-- session.
CREATE OR REPLACE FUNCTION mqchat_queue_push(stored jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    queued bigint;
BEGIN
    WITH s AS MATERIALIZED (
        SELECT DISTINCT (e ->> 'conv')::bigint AS conv_id, (e ->> 'seq')::bigint AS seq
          FROM jsonb_array_elements(stored) e
    ), m AS MATERIALIZED (
        SELECT msg.conv_id, msg.seq, msg.sender_id, c.kind, c.title, c.encrypted,
               CASE WHEN msg.media_id IS NULL THEN msg.body
                    ELSE CASE msg.type WHEN 'image' THEN 'Photo' WHEN 'video' THEN 'Video' WHEN 'audio' THEN 'Audio'
                                       ELSE coalesce((SELECT md.declared_name FROM media md WHERE md.id = msg.media_id), 'File')
                         END || CASE WHEN msg.body <> '' THEN ': ' || msg.body ELSE '' END
               END AS body
          FROM s
          JOIN messages msg ON msg.conv_id = s.conv_id AND msg.seq = s.seq
          JOIN conversations c ON c.id = msg.conv_id
         WHERE msg.type IS NULL OR msg.type NOT IN ('edit', 'delete', 'reaction', 'unreaction')
    ), wanted AS MATERIALIZED (
        -- Members with a device who want this message now.
        SELECT m.*, mb.user_id
          FROM m
          JOIN members mb ON mb.conv_id = m.conv_id AND mb.user_id <> m.sender_id
         WHERE EXISTS (SELECT 1 FROM push_devices d WHERE d.user_id = mb.user_id)
           AND (mb.muted_until IS NULL OR mb.muted_until <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
           AND CASE mb.notify
                   WHEN 'none' THEN false
                   WHEN 'all' THEN true
                   ELSE (mb.notify = 'default' AND m.kind = 'direct')
                        OR EXISTS (SELECT 1 FROM mentions mn
                                    WHERE mn.conv_id = m.conv_id AND mn.seq = m.seq AND mn.user_id = mb.user_id)
               END
           AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = mb.user_id AND p.devices > 0)
    ), ins AS (
        INSERT INTO push_queue (device_id, conv_id, seq, payload)
        SELECT d.id, w.conv_id, w.seq,
               jsonb_build_object(
                   'conv', w.conv_id, 'seq', w.seq, 'sender', su.name, 'kind', w.kind,
                   'title', CASE WHEN w.kind = 'direct' THEN su.name ELSE coalesce(w.title, su.name) END,
                   -- An encrypted conversation's text is not the server's to show.
                   'body', CASE WHEN ru.push_preview AND NOT w.encrypted THEN left(w.body, 200) ELSE 'New message' END,
                   -- Per conversation of the member, a range of the messages'
                   -- primary key above its read cursor (a plain join let the
                   -- planner scan every message for every push).
                   'badge', (SELECT count(*) FROM (
                                SELECT 1 FROM members xm
                                 CROSS JOIN LATERAL (SELECT 1 FROM messages x
                                                      WHERE x.conv_id = xm.conv_id AND x.seq > xm.read_seq
                                                        AND x.sender_id IS DISTINCT FROM xm.user_id
                                                      LIMIT 999) per_conv
                                 WHERE xm.user_id = w.user_id LIMIT 999) unread),
                   'platform', d.platform, 'token', d.token, 'app_id', d.app_id, 'locale', d.locale)
          FROM wanted w
          JOIN users su ON su.id = w.sender_id
          JOIN users ru ON ru.id = w.user_id
          JOIN push_devices d ON d.user_id = w.user_id
        ON CONFLICT (device_id, conv_id, seq) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO queued FROM ins;
    RETURN queued;
END $$;
