-- Internal notes on support conversations (docs/desks.md, "Notes"): what
-- agents write for each other about a visitor's conversation. They are not
-- messages of the conversation — the visitor is a member of it and would
-- receive them — but rows of their own, read and written through desk.note
-- and desk.notes by the desk's agents and the supervisors only.
CREATE TABLE support_notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conv_id    bigint NOT NULL REFERENCES support_conversations (conv_id) ON DELETE CASCADE,
    author_id  bigint REFERENCES users (id) ON DELETE SET NULL,
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_notes_by_conv ON support_notes (conv_id, id);
