-- Conversations as clients manage them over requests (docs/protocol.md,
-- "Requests"): one-to-one conversations found again by their pair, groups
-- with admins, and each member's read and delivered cursors.
ALTER TABLE conversations ADD COLUMN kind text NOT NULL DEFAULT 'group' CHECK (kind IN ('group', 'direct'));
-- 'alice bob' (the two names in order) for a direct conversation: creating
-- it again finds the same one.
ALTER TABLE conversations ADD COLUMN direct_key text UNIQUE;
ALTER TABLE conversations ADD CONSTRAINT conversations_direct_key_check
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL));

ALTER TABLE members ADD COLUMN role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member'));
-- The highest seq the member has read / has had delivered (receipts).
ALTER TABLE members ADD COLUMN read_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN delivered_seq bigint NOT NULL DEFAULT 0;
