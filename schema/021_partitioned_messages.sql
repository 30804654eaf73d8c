-- The messages table, partitioned by conversation (docs/architecture.md,
-- "PostgreSQL grows too"): 16 partitions by a hash of conv_id. Every query
-- of the bridge names its conversation, so history, sync, a send and a
-- search within a conversation touch one partition, with indexes a
-- sixteenth of the size; vacuum, reindex and a dump work a partition at a
-- time. By hash rather than by time: history and search read by
-- conversation, and a conversation's messages span any time range.
--
-- On an existing installation this copies the messages once (stop the
-- bridges meanwhile; about 12 s per million messages here); the same
-- statements make the empty table of a new one.
CREATE TABLE messages_by_conv (LIKE messages INCLUDING DEFAULTS) PARTITION BY HASH (conv_id);
DO $$
BEGIN
    FOR i IN 0..15 LOOP
        EXECUTE format('CREATE TABLE messages_p%s PARTITION OF messages_by_conv FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       lpad(i::text, 2, '0'), i);
    END LOOP;
END
$$;
INSERT INTO messages_by_conv SELECT * FROM messages;

ALTER TABLE mentions DROP CONSTRAINT mentions_conv_id_seq_fkey;
ALTER TABLE reactions DROP CONSTRAINT reactions_conv_id_seq_fkey;
-- Its triggers go with it; schema/functions/mqchat_message_search.sql makes
-- them again on the new table after the migrations.
DROP TABLE messages;
ALTER TABLE messages_by_conv RENAME TO messages;

ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (conv_id, seq);
-- A resend of the same client message is recognised by this key.
ALTER TABLE messages ADD CONSTRAINT messages_conv_id_sender_id_client_id_key UNIQUE (conv_id, sender_id, client_id);
ALTER TABLE messages ADD CONSTRAINT messages_conv_id_fkey
    FOREIGN KEY (conv_id) REFERENCES conversations (id) ON DELETE CASCADE;
ALTER TABLE messages ADD CONSTRAINT messages_sender_id_fkey
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX messages_search ON messages USING gin (search);
CREATE INDEX messages_thread ON messages (conv_id, reply_to, seq) WHERE reply_to IS NOT NULL;
CREATE INDEX messages_by_ref ON messages (conv_id, ref) WHERE ref IS NOT NULL;

ALTER TABLE mentions ADD CONSTRAINT mentions_conv_id_seq_fkey
    FOREIGN KEY (conv_id, seq) REFERENCES messages (conv_id, seq) ON DELETE CASCADE;
ALTER TABLE reactions ADD CONSTRAINT reactions_conv_id_seq_fkey
    FOREIGN KEY (conv_id, seq) REFERENCES messages (conv_id, seq) ON DELETE CASCADE;
