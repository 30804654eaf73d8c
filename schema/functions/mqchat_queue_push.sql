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
-- It runs about ten times a second over everything stored since, and most
-- members of most conversations have no push device or are online. So it
-- first finds who could get a push at all — members of these conversations
-- with a device who are offline, have not muted the conversation and take
-- some notifications — and when nobody could (most live traffic) it ends
-- there without reading a message. Otherwise it reads only the messages of
-- those conversations, each by its key (the LATERAL … LIMIT 1: joined as a
-- whole, the partitioned messages table got a plan, cached for the session,
-- that scanned every partition — made while the tables were small, it cost
-- 20 ms a call and grew with the table), and builds payloads only for those.
-- (mqchat's connections run with jit off: the planner's guess for the
-- badge counts crossed jit_above_cost, and compiling took 0.7 s a call.)
-- PL/pgSQL, not SQL: a SQL function's query is planned again at every call
-- (3.4 ms of a 6 ms call for 300 messages); PL/pgSQL keeps the plan for the
-- session.
CREATE OR REPLACE FUNCTION mqchat_queue_push(stored jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    queued   bigint;
    v_now    bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    v_convs  bigint[];
    t_conv   bigint[];            -- who could get a push: (conversation, member, notify setting)
    t_user   bigint[];
    t_notify text[];
BEGIN
    SELECT array_agg(DISTINCT (e ->> 'conv')::bigint) INTO v_convs FROM jsonb_array_elements(stored) e;
    SELECT array_agg(mb.conv_id), array_agg(mb.user_id), array_agg(mb.notify)
      INTO t_conv, t_user, t_notify
      FROM members mb
     WHERE mb.conv_id = ANY (v_convs) AND mb.notify <> 'none'
       AND (mb.muted_until IS NULL OR mb.muted_until <= v_now)
       AND EXISTS (SELECT 1 FROM push_devices d WHERE d.user_id = mb.user_id)
       AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = mb.user_id AND p.devices > 0);
    IF t_user IS NULL THEN
        RETURN 0;
    END IF;
    WITH t AS MATERIALIZED (
        SELECT * FROM unnest(t_conv, t_user, t_notify) AS t(conv_id, user_id, notify)
    ), s AS MATERIALIZED (
        SELECT DISTINCT (e ->> 'conv')::bigint AS conv_id, (e ->> 'seq')::bigint AS seq
          FROM jsonb_array_elements(stored) e
         WHERE (e ->> 'conv')::bigint = ANY (t_conv)
    ), m AS MATERIALIZED (
        SELECT msg.conv_id, msg.seq, msg.sender_id, c.kind, c.title, c.encrypted,
               CASE WHEN msg.media_id IS NULL THEN msg.body
                    ELSE CASE msg.type WHEN 'image' THEN 'Photo' WHEN 'video' THEN 'Video' WHEN 'audio' THEN 'Audio'
                                       ELSE coalesce((SELECT md.declared_name FROM media md WHERE md.id = msg.media_id), 'File')
                         END || CASE WHEN msg.body <> '' THEN ': ' || msg.body ELSE '' END
               END AS body
          FROM s
         CROSS JOIN LATERAL (SELECT x.conv_id, x.seq, x.sender_id, x.type, x.body, x.media_id FROM messages x
                              WHERE x.conv_id = s.conv_id AND x.seq = s.seq LIMIT 1) msg
          JOIN conversations c ON c.id = msg.conv_id
         WHERE msg.type IS NULL OR msg.type NOT IN ('edit', 'delete', 'reaction', 'unreaction')
    ), wanted AS MATERIALIZED (
        -- Of those members, the ones who want this message (mentions from the mentions table).
        SELECT m.*, t.user_id
          FROM m
          JOIN t ON t.conv_id = m.conv_id AND t.user_id <> m.sender_id
         WHERE CASE t.notify
                   WHEN 'all' THEN true
                   ELSE (t.notify = 'default' AND m.kind = 'direct')
                        OR EXISTS (SELECT 1 FROM mentions mn
                                    WHERE mn.conv_id = m.conv_id AND mn.seq = m.seq AND mn.user_id = t.user_id)
               END
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
