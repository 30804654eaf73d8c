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

CREATE FUNCTION mqchat_notify_presence_settings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text;
BEGIN
    SELECT name INTO who FROM users WHERE id = NEW.user_id;
    PERFORM pg_notify('mqchat_directory', 'user ' || who);
    RETURN NULL;
END $$;
CREATE TRIGGER presence_settings_notify AFTER INSERT OR UPDATE ON presence_settings
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_presence_settings();
