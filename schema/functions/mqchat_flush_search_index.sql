-- Moves the search entries of new messages into the search index: the
-- pending list of each partition's part of messages_search (a GIN index
-- with fastupdate, PostgreSQL's default) is merged into the index proper.
-- Returns the pages of pending entries merged.
--
-- Why: a message's INSERT only appends its entries to that pending list,
-- which is cheap; the merge is the expensive part, and without this it is
-- done by whichever INSERT finds the list over gin_pending_list_limit (4 MB)
-- — a store transaction, so every chat message behind it waited: 100 to
-- 340 ms, every few seconds at 1,600 ten-word messages a second into one
-- partition, on a table too big for autovacuum to come by often
-- (docs/benchmarks.md, "The search index's pending list", 2026-12-03). The
-- bridge calls this every second from a connection of its own
-- (bridge/search/search_indexer.hpp), so the list stays small and the
-- store never merges. Entries in the pending list are searched as well, so
-- a message is found by search as soon as it is stored either way.
--
-- SECURITY DEFINER: gin_clean_pending_list is the index owner's; the
-- function does nothing else, and reads no argument.
CREATE OR REPLACE FUNCTION mqchat_flush_search_index() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    part  regclass;
    pages bigint := 0;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_inherits i
                 WHERE i.inhparent = 'messages_search'::regclass ORDER BY 1
    LOOP
        pages := pages + gin_clean_pending_list(part);
    END LOOP;
    RETURN pages;
END $$;
