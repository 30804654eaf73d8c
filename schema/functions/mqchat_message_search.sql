-- Each message carries its text search vector in the configured language
-- (mqchat_search_config). mqchat_store_batch makes it in its INSERT, with
-- the configuration read once per batch; these triggers only fill in what
-- a writer left out: a row inserted without a vector, or a body changed
-- without a new one (a delete erasing the text).
CREATE OR REPLACE FUNCTION mqchat_message_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector(mqchat_search_config(), NEW.body);
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER messages_search BEFORE INSERT ON messages
    FOR EACH ROW WHEN (NEW.search IS NULL) EXECUTE FUNCTION mqchat_message_search();
CREATE OR REPLACE TRIGGER messages_search_body BEFORE UPDATE OF body ON messages
    FOR EACH ROW WHEN (NEW.search IS NOT DISTINCT FROM OLD.search) EXECUTE FUNCTION mqchat_message_search();
