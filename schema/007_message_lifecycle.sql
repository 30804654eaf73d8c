-- Replies, mentions, edits, deletes and reactions (docs/protocol.md,
-- "Message types"). An edit, a delete or a reaction is itself a message in
-- the conversation (its own seq, type 'edit' / 'delete' / 'reaction' /
-- 'unreaction', `ref` = the seq it is about), so clients that already have
-- the original apply it as it arrives; the original row is updated too, so
-- history shows the current state. A delete erases the text of the original
-- and of its edits.
ALTER TABLE messages ADD COLUMN ref bigint;
ALTER TABLE messages ADD COLUMN edited_at bigint;        -- ms since the epoch of the last edit
ALTER TABLE messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
CREATE INDEX messages_thread ON messages (conv_id, reply_to, seq) WHERE reply_to IS NOT NULL;
CREATE INDEX messages_by_ref ON messages (conv_id, ref) WHERE ref IS NOT NULL;

CREATE TABLE reactions (
    conv_id  bigint NOT NULL,
    seq      bigint NOT NULL,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reaction text NOT NULL CHECK (length(reaction) BETWEEN 1 AND 32),
    PRIMARY KEY (conv_id, seq, user_id, reaction),
    FOREIGN KEY (conv_id, seq) REFERENCES messages (conv_id, seq) ON DELETE CASCADE
);

-- Members named with @name in a message (for notifications).
CREATE TABLE mentions (
    conv_id bigint NOT NULL,
    seq     bigint NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (conv_id, seq, user_id),
    FOREIGN KEY (conv_id, seq) REFERENCES messages (conv_id, seq) ON DELETE CASCADE
);
CREATE INDEX mentions_by_user ON mentions (user_id, conv_id, seq);

-- mqchat_store_batch now also takes `ref` events and records mentions, and
-- returns them: a new result type, so the old function goes here and the
-- current one (schema/functions/mqchat_store_batch.sql) is created after
-- the migrations.
DROP FUNCTION IF EXISTS mqchat_store_batch(jsonb);
