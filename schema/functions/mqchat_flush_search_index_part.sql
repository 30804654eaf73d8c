-- Merges the search entries of new messages into the search index for one
-- partition of messages_search: the `part`-th (from 0, modulo their
-- number, in name order). Returns the pages of pending entries merged and
-- how many partitions there are.
--
-- Why one at a time: merging every partition's pending list at once (as
-- mqchat_flush_search_index() does) took 35–100 ms of a core each second at
-- 1,100–2,200 ten-word messages a second, in one burst; on a small machine
-- that burst took a core from the broker, the bridge and the store for a
-- tenth of a second, and the slowest deliveries of the stored-chat case all
-- fell in those moments, a second apart (docs/benchmarks.md, 2026-12-04).
-- The bridge's search indexer calls this for each partition in turn, spread
-- over its interval: the same work in sixteen small pieces.
--
-- SECURITY DEFINER: gin_clean_pending_list is the index owner's; the
-- function does nothing else.
CREATE OR REPLACE FUNCTION mqchat_flush_search_index_part(part int, OUT pages bigint, OUT parts int)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    list regclass[] := ARRAY(SELECT i.inhrelid::regclass FROM pg_inherits i
                              WHERE i.inhparent = 'messages_search'::regclass ORDER BY 1);
BEGIN
    parts := cardinality(list);
    pages := 0;
    IF parts > 0 AND part >= 0 THEN
        pages := gin_clean_pending_list(list[1 + part % parts]);
    END IF;
END $$;
