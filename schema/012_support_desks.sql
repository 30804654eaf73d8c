-- Support desks (docs/desks.md): a desk is a team of agents answering
-- visitors' support conversations. A support conversation is an ordinary
-- conversation (kind 'support': its messages, receipts and history work as
-- any other's) with a row here saying which desk it waits at, its status and
-- who has it. The bridge moves it from one status to the next in
-- transactions (docs/protocol.md, "Support desks"):
--
--   queued ──claim──▶ assigned ──close──▶ closed
--     ▲                                     │
--     └──────────────── reopen ─────────────┘
--
-- ('bot' is for the assistant of the issue after this one.)
CREATE TABLE desks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The name visitors' requests and operators' commands use.
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE desk_agents (
    desk_id  bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- How many assigned conversations the agent holds at once on this desk.
    capacity int NOT NULL DEFAULT 5 CHECK (capacity BETWEEN 1 AND 100),
    PRIMARY KEY (desk_id, user_id)
);
CREATE INDEX desk_agents_by_user ON desk_agents (user_id);

-- A supervisor sees and acts on every desk's conversations.
ALTER TABLE users ADD COLUMN desk_supervisor boolean NOT NULL DEFAULT false;

ALTER TABLE conversations DROP CONSTRAINT conversations_kind_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_kind_check CHECK (kind IN ('group', 'direct', 'support'));

CREATE TABLE support_conversations (
    conv_id        bigint PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    desk_id        bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    visitor_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    status         text NOT NULL DEFAULT 'queued' CHECK (status IN ('bot', 'queued', 'assigned', 'closed')),
    assignee_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    -- What the visitor told before the chat (pre-chat form), and where from.
    details        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    -- When it (last) started waiting: the queue is oldest first.
    queued_at      timestamptz NOT NULL DEFAULT now(),
    assigned_at    timestamptz,
    closed_at      timestamptz,
    rating         smallint CHECK (rating BETWEEN 1 AND 5),
    rating_comment text CHECK (length(rating_comment) <= 2000)
);
CREATE INDEX support_queue ON support_conversations (desk_id, queued_at) WHERE status = 'queued';
CREATE INDEX support_assigned ON support_conversations (assignee_id) WHERE status = 'assigned';
CREATE INDEX support_by_visitor ON support_conversations (visitor_id);
