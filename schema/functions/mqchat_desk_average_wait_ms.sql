-- A desk's average wait: from waiting (queued_at) to an agent (assigned_at),
-- over the conversations assigned in the last hour, in milliseconds; NULL
-- when none were. What a visitor's widget multiplies by its place in the
-- queue for an estimate; desk.info, desk.visit and the desk.position notice
-- all give this one figure (docs/desks.md).
CREATE OR REPLACE FUNCTION mqchat_desk_average_wait_ms(desk bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (avg(extract(epoch FROM s.assigned_at - s.queued_at)) * 1000)::bigint
      FROM support_conversations s
     WHERE s.desk_id = desk AND s.assigned_at > now() - interval '1 hour';
$$;
