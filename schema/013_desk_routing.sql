-- Automatic assignment (docs/desks.md, "Routing"): a desk whose routing is
-- not 'manual' gets its waiting conversations assigned by the bridge's
-- desk router, oldest first, to an agent who is online (presence: a device
-- connected, status online) and under capacity: the least busy one
-- ('least_busy'), or the one assigned longest ago ('round_robin'; also the
-- tie-break of least_busy).
ALTER TABLE desks ADD COLUMN routing text NOT NULL DEFAULT 'manual'
    CHECK (routing IN ('manual', 'least_busy', 'round_robin'));
ALTER TABLE desk_agents ADD COLUMN last_assigned_at timestamptz;
CREATE INDEX support_routable ON support_conversations (queued_at, conv_id) WHERE status = 'queued';
