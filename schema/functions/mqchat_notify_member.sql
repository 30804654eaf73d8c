-- Announces a membership change on mqchat_directory (the formats are in
-- mqchat_notify_user.sql) with the conversation's new membership version
-- (schema/004_membership_versions.sql says why deliveries need it).
CREATE OR REPLACE FUNCTION mqchat_notify_member() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who  text;
    conv bigint;
    v    bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT name INTO who FROM users WHERE id = NEW.user_id;
        conv := NEW.conv_id;
    ELSE
        -- When the user itself is being deleted the row is gone already and
        -- its 'user-' notice removes every membership at once.
        SELECT name INTO who FROM users WHERE id = OLD.user_id;
        conv := OLD.conv_id;
    END IF;
    IF who IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE conversations SET members_version = nextval('mqchat_members_version') WHERE id = conv
        RETURNING members_version INTO v;
    IF NOT FOUND THEN -- the conversation itself is being deleted
        RETURN NULL;
    END IF;
    PERFORM pg_notify('mqchat_directory',
                      CASE WHEN TG_OP = 'INSERT' THEN 'member+ ' ELSE 'member- ' END || conv || ' ' || who || ' ' || v);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER members_notify AFTER INSERT OR DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION mqchat_notify_member();
