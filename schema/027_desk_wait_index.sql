-- The desk's average wait (mqchat_desk_average_wait_ms): the assignments of
-- the last hour, read by a range of this index instead of a scan of every
-- support conversation ever held — the desk router reads it for every desk
-- with visitors waiting, four times a second (docs/desks.md, "Routing").
CREATE INDEX support_assigned_at ON support_conversations (desk_id, assigned_at) WHERE assigned_at IS NOT NULL;
