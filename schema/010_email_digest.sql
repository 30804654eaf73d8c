-- E-mail digests (docs/notifications.md): a member who stays offline longer
-- than the configured delay, with unread messages, gets one e-mail listing
-- the conversations and how many; emailed_seq remembers how far each
-- conversation was covered, so the same messages are never mailed twice.
ALTER TABLE users ADD COLUMN email text CHECK (email IS NULL OR (length(email) <= 254 AND email ~ '^[^@\s<>]+@[^@\s<>]+$'));
ALTER TABLE members ADD COLUMN emailed_seq bigint NOT NULL DEFAULT 0;
