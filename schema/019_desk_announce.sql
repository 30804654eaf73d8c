-- Whether the desk's agents have heard of a waiting conversation
-- (desk.queued). On a desk with automatic routing a new conversation is
-- not announced at once: the router announces it only if it could not
-- assign it in its next round, and tells the agents it was taken only if it
-- had been announced. A rush of visitors then costs two notices each (the
-- visitor's and the agent's desk.assigned) instead of one to every agent
-- and one more to all but one (docs/benchmarks.md, desks_ws).
ALTER TABLE support_conversations ADD COLUMN announced boolean NOT NULL DEFAULT true;
CREATE INDEX support_unannounced ON support_conversations (conv_id) WHERE NOT announced;
