-- Moves the search entries of new messages into the search index: the
-- pending list of every partition's part of messages_search (a GIN index
-- with fastupdate, PostgreSQL's default) is merged into the index proper,
-- one partition after another (mqchat_flush_search_index_part, which says
-- which partitions there are). Returns the pages of pending entries merged.
--
-- Why: a message's INSERT only appends its entries to that pending list,
-- which is cheap; the merge is the expensive part, and without it the
-- merge is done by whichever INSERT finds the list over
-- gin_pending_list_limit (4 MB) — a store transaction, so every chat
-- message behind it waited: 100 to 340 ms, every few seconds at 1,600
-- ten-word messages a second into one partition, on a table too big for
-- autovacuum to come by often (docs/benchmarks.md, "The search index's
-- pending list", 2026-12-03). The bridge's search indexer merges the
-- partitions one at a time, spread over each second, rather than all at
-- once with this (bridge/search/search_indexer.hpp); this is for an
-- operator or a benchmark that wants every list merged now. Entries in a
-- pending list are searched as well, so a message is found by search as
-- soon as it is stored either way.
CREATE OR REPLACE FUNCTION mqchat_flush_search_index() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    done  record;
    part  int := 0;
    pages bigint := 0;
BEGIN
    LOOP
        done := mqchat_flush_search_index_part(part);
        pages := pages + done.pages;
        part := part + 1;
        EXIT WHEN part >= done.parts;
    END LOOP;
    RETURN pages;
END $$;
