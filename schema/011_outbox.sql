-- The outbox (docs/architecture.md, "The path of one message", step 8) gets
-- a table of its own. published_seq lived on the conversation row, next to
-- last_seq: recording it locked the row every store of that conversation
-- must lock too, so a store waited behind the deferred writer's update, and
-- the partial index on last_seq > published_seq made every store's update
-- of last_seq a new index entry (no HOT update). Now the store writes only
-- conversations.last_seq and the deferred writer only this table; no row
-- is wanted by both. A conversation without a row here has published
-- nothing (published_seq 0).
CREATE TABLE conversation_outbox (
    conv_id       bigint PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    -- The highest seq the broker has acknowledged on .../msg. Everything
    -- above it is republished after a bridge restart.
    published_seq bigint NOT NULL
);
INSERT INTO conversation_outbox (conv_id, published_seq)
    SELECT id, published_seq FROM conversations WHERE published_seq > 0;
DROP INDEX conversations_unpublished;
ALTER TABLE conversations DROP COLUMN published_seq;

-- mqchat_store_batch now also returns each stored message's membership
-- version (schema/functions/mqchat_store_batch.sql): a new result type.
DROP FUNCTION IF EXISTS mqchat_store_batch(jsonb);
