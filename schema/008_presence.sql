-- Presence (docs/protocol.md, "Presence"). The plugin owns it: it publishes
-- a retained {"state", "devices", "last_seen", "text"?} on
-- chat/presence/{user} as the user's devices come and go. Two tables:
--  * presence_settings: what the user chose (status away/busy/online, a
--    status text, whether to hide last seen), set with the presence.set
--    request; the plugin reads it with the user (NOTIFY 'user <name>').
--  * presence: the last state the plugin published, kept by the bridge, so
--    last seen survives a broker restart and the plugin knows at start who
--    was online when the broker went down (they are offline now).
CREATE TABLE presence_settings (
    user_id        bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    status         text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'busy')),
    status_text    text NOT NULL DEFAULT '' CHECK (length(status_text) <= 100),
    hide_last_seen boolean NOT NULL DEFAULT false
);

CREATE TABLE presence (
    user_id   bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    state     text NOT NULL,
    devices   int NOT NULL,
    last_seen bigint NOT NULL -- ms since the epoch
);

-- A change of settings makes the plugin re-read the user:
-- schema/functions/mqchat_notify_presence_settings.sql.
