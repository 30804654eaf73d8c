-- The text search configuration of message search: 'simple' (no stemming,
-- any language) until an operator runs `mqchat-admin search-language
-- english` (or any installed configuration), which changes the setting and
-- re-indexes what is stored. Queries (the `search` request) and the vectors
-- stored with messages (mqchat_message_search) both use it.
-- PL/pgSQL, not SQL: every stored batch reads it, and a SQL function's
-- query is planned anew at each call where PL/pgSQL keeps the plan.
CREATE OR REPLACE FUNCTION mqchat_search_config() RETURNS regconfig LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT value::regconfig FROM mqchat_settings WHERE key = 'search_config');
END $$;
