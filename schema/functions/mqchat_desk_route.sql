-- Assigns waiting support conversations of desks with automatic routing
-- (schema/013_desk_routing.sql), oldest first: each to an online agent of
-- its desk under capacity — the least busy, or for 'round_robin' the one
-- assigned longest ago (never assigned: first), then by id. One row per
-- assignment made, for the caller's notices.
--
-- Concurrency: a conversation a claim holds is skipped (it is being
-- claimed); an agent's desk_agents row is locked while counting what it
-- holds, as desk.claim does, so routing and a claim never take one agent
-- past its capacity; several bridges may run this at once.
CREATE OR REPLACE FUNCTION mqchat_desk_route()
RETURNS TABLE (conv_id bigint, desk text, visitor text, agent text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q        record;
    v_agent  bigint;
    v_name   text;
BEGIN
    FOR q IN
        SELECT s.conv_id AS conv, s.desk_id, d.name AS desk_name, d.routing, v.name AS visitor_name
          FROM support_conversations s
          JOIN desks d ON d.id = s.desk_id
          LEFT JOIN users v ON v.id = s.visitor_id
         WHERE s.status = 'queued' AND d.routing <> 'manual'
         ORDER BY s.queued_at, s.conv_id
           FOR UPDATE OF s SKIP LOCKED
    LOOP
        SELECT ag.user_id, u.name INTO v_agent, v_name
          FROM desk_agents ag
          JOIN users u ON u.id = ag.user_id AND NOT u.banned
          JOIN presence p ON p.user_id = ag.user_id AND p.devices > 0 AND p.state = 'online'
          CROSS JOIN LATERAL (SELECT count(*) AS held FROM support_conversations x
                               WHERE x.assignee_id = ag.user_id AND x.desk_id = ag.desk_id
                                 AND x.status = 'assigned') h
         WHERE ag.desk_id = q.desk_id AND h.held < ag.capacity
         ORDER BY CASE WHEN q.routing = 'least_busy' THEN h.held END, ag.last_assigned_at NULLS FIRST, ag.user_id
         LIMIT 1
           FOR UPDATE OF ag SKIP LOCKED;
        CONTINUE WHEN v_agent IS NULL; -- nobody free at this desk now; another desk's may be
        UPDATE support_conversations SET status = 'assigned', assignee_id = v_agent, assigned_at = now()
         WHERE support_conversations.conv_id = q.conv;
        INSERT INTO members (conv_id, user_id) VALUES (q.conv, v_agent) ON CONFLICT DO NOTHING;
        UPDATE desk_agents SET last_assigned_at = clock_timestamp() WHERE desk_id = q.desk_id AND user_id = v_agent;
        conv_id := q.conv;
        desk := q.desk_name;
        visitor := q.visitor_name;
        agent := v_name;
        RETURN NEXT;
        v_agent := NULL;
    END LOOP;
END $$;
