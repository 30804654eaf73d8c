-- Users' data rights (docs/data-rights.md): erasure, retention and the
-- operators' audit log. Only new tables, new columns with defaults and new
-- indexes: applies to a database with data in moments, bridges running.

-- `mqchat-admin user erase`: the row stays (messages keep their sender id,
-- so others' history keeps its seqs and a consistent sender), renamed to a
-- random pseudonym, banned, its password unusable; erased_at says when.
ALTER TABLE users ADD COLUMN erased_at timestamptz;

-- Names that belonged to an erased person are not handed to someone else
-- (others' devices still show the old messages under that name). Only a
-- SHA-256 of the name, and nothing that links it to the pseudonym.
CREATE TABLE erased_names (
    name_hash bytea PRIMARY KEY CHECK (length(name_hash) = 32)
);

-- Retention: how long messages are kept, per conversation, per desk (its
-- support conversations), per kind of conversation; the most specific
-- setting of a conversation wins (conv, then desk, then kind). max_age_s
-- NULL: keep forever (a conversation exempt from its kind's limit).
-- scope 'visitors': how long web visitors' identities and closed support
-- conversations are kept (always with a max age).
CREATE TABLE retention_settings (
    scope      text NOT NULL CHECK (scope IN ('conv', 'desk', 'kind', 'visitors')),
    conv_id    bigint REFERENCES conversations (id) ON DELETE CASCADE,
    desk_id    bigint REFERENCES desks (id) ON DELETE CASCADE,
    kind       text CHECK (kind IN ('group', 'direct', 'support')),
    max_age_s  bigint CHECK (max_age_s IS NULL OR max_age_s BETWEEN 3600 AND 3153600000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'conv') = (conv_id IS NOT NULL)),
    CHECK ((scope = 'desk') = (desk_id IS NOT NULL)),
    CHECK ((scope = 'kind') = (kind IS NOT NULL)),
    CHECK (scope <> 'visitors' OR max_age_s IS NOT NULL)
);
CREATE UNIQUE INDEX retention_settings_one
    ON retention_settings (scope, coalesce(conv_id, 0), coalesce(desk_id, 0), coalesce(kind, ''));

-- Where the purge (schema/functions/mqchat_purge_expired.sql) goes on:
-- it walks the conversations in id order a batch at a time, then the
-- expired visitors, then starts over. One row; purges from several bridges
-- take turns on it.
CREATE TABLE retention_state (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    next_conv bigint NOT NULL DEFAULT 0,
    phase     text NOT NULL DEFAULT 'messages' CHECK (phase IN ('messages', 'visitors'))
);
INSERT INTO retention_state DEFAULT VALUES;

CREATE INDEX support_closed_at ON support_conversations (closed_at) WHERE status = 'closed';
CREATE INDEX visitors_last_visit ON visitors (last_visit);

-- What operators did with mqchat-admin: who (the OS user, and the person
-- they say they are), what (the command, secrets masked), when, and how it
-- ended. A row is written before the command runs ('running') and finished
-- after it, so a command that dies half way still shows.
CREATE TABLE admin_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    os_user     text NOT NULL CHECK (length(os_user) <= 200),
    actor       text CHECK (actor IS NULL OR length(actor) <= 200),
    command     text NOT NULL CHECK (length(command) <= 100),
    args        text[] NOT NULL,
    outcome     text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'ok', 'failed')),
    detail      text CHECK (detail IS NULL OR length(detail) <= 2000),
    finished_at timestamptz
);
CREATE INDEX admin_audit_at ON admin_audit (at);

-- A guest (the support widget's visitor) is created by the first message
-- it sends: not under a name that was erased (schema/functions/mqchat_store_batch.sql).
