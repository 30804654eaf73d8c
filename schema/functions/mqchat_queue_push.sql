-- Queues the pushes for stored messages, given as [{"conv", "seq"}]: to
-- every device of every member who is offline (no device connected, per the
-- presence the bridge keeps), is not the sender, has not muted the
-- conversation, and wants this message (its notify setting; mentions from
-- the mentions table). The payload carries what the sender thread needs:
-- title, body (the text, or "New message" when the member hides previews),
-- the ids, and the badge (unread messages in all the member's conversations,
-- counted up to 999).
-- Returns the number queued.
CREATE OR REPLACE FUNCTION mqchat_queue_push(stored jsonb) RETURNS bigint LANGUAGE sql AS $$
    WITH s AS (
        SELECT (e ->> 'conv')::bigint AS conv_id, (e ->> 'seq')::bigint AS seq FROM jsonb_array_elements(stored) e
    ), ins AS (
        INSERT INTO push_queue (device_id, conv_id, seq, payload)
        SELECT d.id, m.conv_id, m.seq,
               jsonb_build_object(
                   'conv', m.conv_id, 'seq', m.seq, 'sender', su.name, 'kind', c.kind,
                   'title', CASE WHEN c.kind = 'direct' THEN su.name ELSE coalesce(c.title, su.name) END,
                   'body', CASE WHEN ru.push_preview THEN left(m.body, 200) ELSE 'New message' END,
                   'badge', (SELECT count(*) FROM (SELECT 1 FROM members xm JOIN messages x
                                 ON x.conv_id = xm.conv_id AND x.seq > xm.read_seq AND x.sender_id IS DISTINCT FROM xm.user_id
                              WHERE xm.user_id = mb.user_id LIMIT 999) unread),
                   'platform', d.platform, 'token', d.token, 'app_id', d.app_id, 'locale', d.locale)
          FROM s
          JOIN messages m ON m.conv_id = s.conv_id AND m.seq = s.seq
          JOIN conversations c ON c.id = m.conv_id
          JOIN users su ON su.id = m.sender_id
          JOIN members mb ON mb.conv_id = m.conv_id AND mb.user_id <> m.sender_id
          JOIN users ru ON ru.id = mb.user_id
          JOIN push_devices d ON d.user_id = mb.user_id
          LEFT JOIN presence p ON p.user_id = mb.user_id
         WHERE (m.type IS NULL OR m.type NOT IN ('edit', 'delete', 'reaction', 'unreaction'))
           AND coalesce(p.devices, 0) = 0
           AND (mb.muted_until IS NULL OR mb.muted_until <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
           AND CASE mb.notify
                   WHEN 'none' THEN false
                   WHEN 'all' THEN true
                   ELSE (mb.notify = 'default' AND c.kind = 'direct')
                        OR EXISTS (SELECT 1 FROM mentions mn
                                    WHERE mn.conv_id = m.conv_id AND mn.seq = m.seq AND mn.user_id = mb.user_id)
               END
        ON CONFLICT (device_id, conv_id, seq) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM ins
$$;
