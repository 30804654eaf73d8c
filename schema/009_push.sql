-- Push notifications (docs/notifications.md). Devices register push tokens
-- (push.register); when a message is stored, the bridge queues one push per
-- device of each member who should get it (mqchat_queue_push); a sender
-- thread takes the queue to FCM / APNs. The queue is a table, so a bridge
-- restart loses nothing, and (device, conversation, seq) is unique, so a
-- message republished after a crash is never queued twice.
CREATE TABLE push_devices (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform   text NOT NULL CHECK (platform IN ('fcm', 'apns')),
    token      text NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    app_id     text NOT NULL CHECK (length(app_id) BETWEEN 1 AND 200),
    locale     text NOT NULL DEFAULT 'en' CHECK (length(locale) BETWEEN 1 AND 35),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, token)
);
CREATE INDEX push_devices_by_user ON push_devices (user_id);

-- Per member: which messages wake the phone ('default': every message in a
-- direct conversation, mentions in a group), and a mute until a time.
ALTER TABLE members ADD COLUMN notify text NOT NULL DEFAULT 'default'
    CHECK (notify IN ('default', 'all', 'mentions', 'none'));
ALTER TABLE members ADD COLUMN muted_until bigint; -- ms since the epoch
-- Per user: show the text in a push (preview) or only "New message".
ALTER TABLE users ADD COLUMN push_preview boolean NOT NULL DEFAULT true;

CREATE TABLE push_queue (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id bigint NOT NULL REFERENCES push_devices (id) ON DELETE CASCADE,
    conv_id   bigint NOT NULL,
    seq       bigint NOT NULL,
    payload   jsonb NOT NULL,
    attempts  int NOT NULL DEFAULT 0,
    next_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, conv_id, seq)
);
CREATE INDEX push_queue_due ON push_queue (next_at);

-- Queues the pushes for stored messages, given as [{"conv", "seq"}]: to
-- every device of every member who is offline (no device connected, per the
-- presence the bridge keeps), is not the sender, has not muted the
-- conversation, and wants this message (its notify setting; mentions from
-- the mentions table). The payload carries what the sender thread needs:
-- title, body (the text, or "New message" when the member hides previews),
-- the ids, and the badge (unread messages in all the member's conversations,
-- counted up to 999).
-- Returns the number queued.
CREATE FUNCTION mqchat_queue_push(stored jsonb) RETURNS bigint LANGUAGE sql AS $$
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
