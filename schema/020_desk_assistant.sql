-- The assistant (docs/assistant.md): a desk may have an assistant — a user
-- of role 'bot' that mqchat-bot runs — which answers a support conversation
-- first, from the desk's knowledge base, and hands it to the desk's people
-- by the desk's escalation rules:
--
--   bot ──handoff (a rule fired; the visitor's button; an agent takes over)──▶ queued ──▶ assigned ──▶ closed
--    ▲                                                                                      │
--    └──────────────────────────── back to the assistant (an agent) ────────────────────────┘
--
-- The assistant is a member of a conversation only while its status is
-- 'bot': the handoff takes it out, so it cannot write after it (silent by
-- construction, not by good behaviour).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'bridge', 'guest', 'bot'));

CREATE TABLE desk_assistants (
    desk_id  bigint PRIMARY KEY REFERENCES desks (id) ON DELETE CASCADE,
    bot_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The text search configuration its knowledge base is matched in.
    language regconfig NOT NULL DEFAULT 'english',
    -- The escalation rules and answer threshold (docs/assistant.md: keys,
    -- defaults); checked by mqchat-admin, read by mqchat-bot.
    rules    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rules) = 'object')
);
CREATE INDEX desk_assistants_by_bot ON desk_assistants (bot_id);

-- The knowledge base: entries of a desk, each with the phrasings of its
-- question, an answer and optional links. `key` names an entry in the
-- operator's file, so loading the file again updates it in place.
CREATE TABLE kb_entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    desk_id    bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,79}$'),
    answer     text NOT NULL CHECK (length(answer) BETWEEN 1 AND 4000),
    links      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(links) = 'array'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (desk_id, key)
);

-- One row per phrasing, with its lexemes (to_tsvector in the desk's
-- language: stemmed, without stop words) for matching a visitor's message:
-- candidates share a lexeme (GIN), the confidence is how much the two
-- lexeme sets overlap (schema/functions/mqchat_kb_match.sql).
CREATE TABLE kb_phrasings (
    entry_id bigint NOT NULL REFERENCES kb_entries (id) ON DELETE CASCADE,
    desk_id  bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    phrasing text NOT NULL CHECK (length(phrasing) BETWEEN 1 AND 500),
    lexemes  text[] NOT NULL
);
CREATE INDEX kb_phrasings_lexemes ON kb_phrasings USING gin (lexemes);
CREATE INDEX kb_phrasings_by_entry ON kb_phrasings (entry_id);

-- What the desk's people see first after a handoff (the rule that fired,
-- failures, sentiment, a summary, the answers given), and when the
-- conversation came to the assistant.
ALTER TABLE support_conversations ADD COLUMN handoff jsonb CHECK (handoff IS NULL OR jsonb_typeof(handoff) = 'object');
ALTER TABLE support_conversations ADD COLUMN bot_since timestamptz;
CREATE INDEX support_with_bot ON support_conversations (desk_id) WHERE status = 'bot';

-- Every handoff, with the rule that fired: the desk's statistics.
CREATE TABLE desk_escalations (
    conv_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    desk_id bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    rule    text NOT NULL CHECK (rule ~ '^[a-z_]{1,32}$'),
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_escalations_by_desk ON desk_escalations (desk_id, at);
