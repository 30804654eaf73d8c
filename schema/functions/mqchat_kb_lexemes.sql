-- A knowledge-base phrasing or a visitor's message as lexemes: PostgreSQL's
-- text search in the desk's language (words stemmed, stop words dropped),
-- the first 4,000 bytes. Stored with each phrasing (kb_phrasings.lexemes)
-- and computed for each message (mqchat_kb_match).
CREATE OR REPLACE FUNCTION mqchat_kb_lexemes(config regconfig, body text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT tsvector_to_array(to_tsvector(config, left(body, 4000))) $$;
