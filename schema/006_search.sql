-- Full-text search over message bodies (the `search` request). Each message
-- carries its tsvector, made on insert by a trigger in the configured text
-- search configuration, and a GIN index answers the queries. The
-- configuration is 'simple' (no stemming, any language) until an operator
-- runs `mqchat-admin search-language english` (or any installed
-- configuration), which rewrites the trigger and re-indexes what is stored.
CREATE TABLE mqchat_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO mqchat_settings VALUES ('search_config', 'simple');

-- The configuration the search request uses for queries; the trigger below
-- has the same one written into it (no lookup per stored message).
CREATE FUNCTION mqchat_search_config() RETURNS regconfig LANGUAGE sql STABLE AS
$$ SELECT value::regconfig FROM mqchat_settings WHERE key = 'search_config' $$;

ALTER TABLE messages ADD COLUMN search tsvector;
CREATE FUNCTION mqchat_message_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple'::regconfig, NEW.body);
    RETURN NEW;
END $$;
CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF body ON messages
    FOR EACH ROW EXECUTE FUNCTION mqchat_message_search();
UPDATE messages SET search = to_tsvector('simple'::regconfig, body);
CREATE INDEX messages_search ON messages USING gin (search);
