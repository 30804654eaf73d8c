-- Canned responses and business hours (docs/desks.md).
--
-- A canned response is a desk's ready answer an agent inserts by its
-- shortcut (the console shows them; nothing is sent by itself).
CREATE TABLE desk_canned_responses (
    desk_id  bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    shortcut text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    body     text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    PRIMARY KEY (desk_id, shortcut)
);

-- Business hours: when the desk answers, in its own time zone. A desk with
-- no hours is always open. Days are ISO (1 = Monday … 7 = Sunday); a span
-- may not cross midnight (two spans do).
ALTER TABLE desks ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
CREATE TABLE desk_hours (
    desk_id bigint NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
    day     smallint NOT NULL CHECK (day BETWEEN 1 AND 7),
    opens   time NOT NULL,
    closes  time NOT NULL CHECK (closes > opens),
    PRIMARY KEY (desk_id, day, opens)
);
