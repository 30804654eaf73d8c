-- Matching a visitor's message against a desk's knowledge base
-- (docs/assistant.md). Both sides become lexemes with PostgreSQL's text
-- search (to_tsvector in the desk's language: words stemmed, stop words
-- gone), so "Where is my order?" and "where are my orders" are the same
-- {order}. An entry's confidence is its best phrasing's Dice coefficient
-- with the message: 2·|shared| / (|phrasing| + |message|), from 0 (nothing
-- shared) to 1 (the same lexemes) — plain to explain, and a message that
-- says much more than the question scores lower. Candidates are the
-- phrasings sharing at least one lexeme (GIN on kb_phrasings.lexemes);
-- both sides' lexemes come from mqchat_kb_lexemes.
CREATE OR REPLACE FUNCTION mqchat_kb_match(p_desk bigint, p_text text, p_limit int)
RETURNS TABLE (key text, phrasing text, answer text, links jsonb, confidence real)
LANGUAGE sql STABLE AS $$
    WITH message AS (
        SELECT mqchat_kb_lexemes(coalesce((SELECT language FROM desk_assistants WHERE desk_id = p_desk),
                                          'english'::regconfig), p_text) AS lexemes
    ), scored AS (
        SELECT p.entry_id, p.phrasing,
               (2.0 * cardinality(ARRAY(SELECT unnest(p.lexemes) INTERSECT SELECT unnest(m.lexemes)))
                / (cardinality(p.lexemes) + cardinality(m.lexemes)))::real AS confidence
          FROM message m JOIN kb_phrasings p ON p.desk_id = p_desk AND p.lexemes && m.lexemes
    ), best AS (
        SELECT DISTINCT ON (entry_id) entry_id, phrasing, confidence
          FROM scored ORDER BY entry_id, confidence DESC, phrasing
    )
    SELECT e.key, b.phrasing, e.answer, e.links, b.confidence
      FROM best b JOIN kb_entries e ON e.id = b.entry_id
     ORDER BY b.confidence DESC, e.key
     LIMIT p_limit
$$;
