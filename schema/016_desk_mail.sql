-- Mail of the support desks (docs/desks.md, "Offline messages and
-- transcripts"): a visitor's offline message goes to the desk's address, a
-- transcript to the visitor. The request that asks for one writes it here in
-- its transaction; the bridge's desk mailer sends it (when the bridge has
-- smtp_url), retrying with backoff, and deletes it once sent or given up.
ALTER TABLE desks ADD COLUMN email text
    CHECK (email IS NULL OR (length(email) <= 254 AND email ~ '^[^@\s<>]+@[^@\s<>]+$'));

CREATE TABLE desk_mail (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    desk_id         bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('offline', 'transcript')),
    -- Who asked: offline messages and transcripts are limited per user.
    requester_id    bigint REFERENCES users (id) ON DELETE CASCADE,
    conv_id         bigint REFERENCES conversations (id) ON DELETE CASCADE,
    recipient       text NOT NULL CHECK (length(recipient) <= 254 AND recipient ~ '^[^@\s<>]+@[^@\s<>]+$'),
    reply_to        text CHECK (reply_to IS NULL OR (length(reply_to) <= 254 AND reply_to ~ '^[^@\s<>]+@[^@\s<>]+$')),
    subject         text NOT NULL CHECK (length(subject) <= 300 AND subject !~ '[\r\n]'),
    body            text NOT NULL CHECK (length(body) <= 1000000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_mail_due ON desk_mail (next_attempt_at);
-- What counts against the per-user limits (the rows are deleted once sent).
CREATE TABLE desk_mail_sent_log (
    requester_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    conv_id      bigint,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_mail_sent_log_by_user ON desk_mail_sent_log (requester_id, kind, at);
