-- The plugin keeps users and memberships in memory and follows changes
-- through LISTEN mqchat_directory. Payloads (space-separated; names and
-- hashes contain no spaces):
--   'user+ <name> <role> <hash> <banned t|f>'  added, or password/role/ban changed
--   'user- <name>'                             deleted
--   'user <name>'                              renamed, or something the plugin
--                                              reads with the user changed: re-read it
--   'member+ <conv> <name> <version>'          added to a conversation (mqchat_notify_member)
--   'member- <conv> <name> <version>'          removed from a conversation
-- The data travels in the notice so a new user can log in the moment the
-- transaction that adds it commits, without another round trip. Guests are
-- the plugin's own business (it learns them from their tokens), so they are
-- not announced — except when one goes (deleted by retention, or renamed
-- by `mqchat-admin user erase`): 'user- <name>' then disconnects it.
CREATE OR REPLACE FUNCTION mqchat_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
    ELSIF NEW.role = 'guest' THEN
        IF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
            PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
        END IF;
    ELSIF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
        PERFORM pg_notify('mqchat_directory', 'user- ' || OLD.name);
        PERFORM pg_notify('mqchat_directory', 'user ' || NEW.name);
    ELSE
        PERFORM pg_notify('mqchat_directory', 'user+ ' || NEW.name || ' ' || NEW.role || ' ' || NEW.password_hash
                                              || ' ' || CASE WHEN NEW.banned THEN 't' ELSE 'f' END);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_user();
