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

-- Which pushes a stored message queues: schema/functions/mqchat_queue_push.sql.
