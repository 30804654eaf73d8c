-- A new password makes the old remembered-login digest useless
-- (schema/003_login_digests.sql); drop it at once.
CREATE OR REPLACE FUNCTION mqchat_forget_login_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM login_digests WHERE user_id = NEW.id;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER users_forget_login_digest AFTER UPDATE OF password_hash ON users
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION mqchat_forget_login_digest();
