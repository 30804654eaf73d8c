-- Each message carries its text search vector, made as it is stored, in the
-- configured language (mqchat_search_config: one primary-key lookup, about
-- 3 µs a message, so that changing the language is a setting and not a
-- rewritten function).
CREATE OR REPLACE FUNCTION mqchat_message_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector(mqchat_search_config(), NEW.body);
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER messages_search BEFORE INSERT OR UPDATE OF body ON messages
    FOR EACH ROW EXECUTE FUNCTION mqchat_message_search();
