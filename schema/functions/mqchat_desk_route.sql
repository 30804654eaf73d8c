-- Assigns waiting support conversations of desks with automatic routing
-- (schema/013_desk_routing.sql), oldest first: each to an online agent of
-- its desk under capacity — the least busy, or for 'round_robin' the one
-- assigned longest ago (never assigned: first), then by id. One row per
-- assignment made, for the caller's notices.
--
-- Per desk it reads its online agents with what each holds once, then
-- assigns from those figures in memory (counting per assignment made the
-- router fall seconds behind a rush of 2,000 visitors).
--
-- Concurrency: a conversation a claim holds is skipped (it is being
-- claimed); the agents' desk_agents rows are locked for the call, as
-- desk.claim locks the claimer's, so routing and a claim never take one
-- agent past its capacity (an agent whose row a claim holds is left out of
-- this round); several bridges may run this at once.
CREATE OR REPLACE FUNCTION mqchat_desk_route()
RETURNS TABLE (conv_id bigint, desk text, visitor text, agent text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    d        record;
    q        record;
    a_ids    bigint[];
    a_names  text[];
    a_cap    int[];
    a_held   int[];
    a_last   timestamptz[];
    best     int;
    i        int;
BEGIN
    FOR d IN
        SELECT DISTINCT k.id, k.name, k.routing
          FROM desks k JOIN support_conversations s ON s.desk_id = k.id AND s.status = 'queued'
         WHERE k.routing <> 'manual'
         ORDER BY k.id
    LOOP
        SELECT array_agg(x.user_id ORDER BY x.user_id), array_agg(x.name ORDER BY x.user_id),
               array_agg(x.capacity ORDER BY x.user_id), array_agg(x.held ORDER BY x.user_id),
               array_agg(x.last_assigned_at ORDER BY x.user_id)
          INTO a_ids, a_names, a_cap, a_held, a_last
          FROM (SELECT ag.user_id, u.name, ag.capacity, ag.last_assigned_at,
                       (SELECT count(*) FROM support_conversations h
                         WHERE h.assignee_id = ag.user_id AND h.desk_id = ag.desk_id AND h.status = 'assigned')::int AS held
                  FROM desk_agents ag
                  JOIN users u ON u.id = ag.user_id AND NOT u.banned
                  JOIN presence p ON p.user_id = ag.user_id AND p.devices > 0 AND p.state = 'online'
                 WHERE ag.desk_id = d.id
                 ORDER BY ag.user_id
                   FOR UPDATE OF ag SKIP LOCKED) x;
        CONTINUE WHEN a_ids IS NULL; -- nobody online and free to lock at this desk
        FOR q IN
            SELECT s.conv_id AS conv, v.name AS visitor_name
              FROM support_conversations s LEFT JOIN users v ON v.id = s.visitor_id
             WHERE s.desk_id = d.id AND s.status = 'queued'
             ORDER BY s.queued_at, s.conv_id
               FOR UPDATE OF s SKIP LOCKED
        LOOP
            best := NULL;
            FOR i IN 1 .. array_length(a_ids, 1) LOOP
                CONTINUE WHEN a_held[i] >= a_cap[i];
                IF best IS NULL
                   OR (d.routing = 'least_busy' AND a_held[i] < a_held[best])
                   OR ((d.routing <> 'least_busy' OR a_held[i] = a_held[best])
                       AND a_last[i] IS DISTINCT FROM a_last[best]
                       AND (a_last[i] IS NULL OR (a_last[best] IS NOT NULL AND a_last[i] < a_last[best]))) THEN
                    best := i;
                END IF;
            END LOOP;
            EXIT WHEN best IS NULL; -- everyone online is full: the rest wait
            UPDATE support_conversations SET status = 'assigned', assignee_id = a_ids[best], assigned_at = now()
             WHERE support_conversations.conv_id = q.conv;
            INSERT INTO members (conv_id, user_id) VALUES (q.conv, a_ids[best]) ON CONFLICT DO NOTHING;
            a_held[best] := a_held[best] + 1;
            a_last[best] := clock_timestamp();
            conv_id := q.conv;
            desk := d.name;
            visitor := q.visitor_name;
            agent := a_names[best];
            RETURN NEXT;
        END LOOP;
        UPDATE desk_agents ag SET last_assigned_at = u.last
          FROM unnest(a_ids, a_last) AS u(id, last)
         WHERE ag.desk_id = d.id AND ag.user_id = u.id AND u.last IS DISTINCT FROM ag.last_assigned_at;
    END LOOP;
END $$;
