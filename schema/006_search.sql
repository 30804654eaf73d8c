-- Full-text search over message bodies (the `search` request). Each message
-- carries its tsvector, made as it is stored in the configured text search
-- configuration (schema/functions/mqchat_message_search.sql and
-- mqchat_search_config.sql), and a GIN index answers the queries. The
-- configuration is 'simple' (no stemming, any language) until an operator
-- runs `mqchat-admin search-language english` (or any installed
-- configuration), which changes the setting and re-indexes what is stored.
CREATE TABLE mqchat_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO mqchat_settings VALUES ('search_config', 'simple');

ALTER TABLE messages ADD COLUMN search tsvector;
UPDATE messages SET search = to_tsvector('simple'::regconfig, body);
CREATE INDEX messages_search ON messages USING gin (search);
