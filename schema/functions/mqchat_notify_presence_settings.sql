-- A user's presence settings travel with the user in the plugin's directory:
-- a change asks the plugin to re-read the user ('user <name>').
CREATE OR REPLACE FUNCTION mqchat_notify_presence_settings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text;
BEGIN
    SELECT name INTO who FROM users WHERE id = NEW.user_id;
    PERFORM pg_notify('mqchat_directory', 'user ' || who);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER presence_settings_notify AFTER INSERT OR UPDATE ON presence_settings
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_presence_settings();
