-- A desk's average wait: from waiting (queued_at) to an agent (assigned_at),
-- over its latest 100 assignments of the last hour, in milliseconds; NULL
-- when none were. What a visitor's widget multiplies by its place in the
-- queue for an estimate; desk.info, desk.visit and the desk.position notice
-- all give this one figure (docs/desks.md).
--
-- The latest 100, not the whole hour: it is read for every desk.visit and
-- by the router for every desk with visitors waiting, four times a second,
-- so its cost must not grow with the desk's traffic. Over a whole hour it
-- averaged 2,000 rows in the benchmark's rush of 2,000 visitors (1.0 ms a
-- call, ~2,900 calls in ten seconds: the rush's largest statement in
-- PostgreSQL, docs/benchmarks.md, 2026-12-04); a busy desk's latest 100
-- are also the truer estimate of what a visitor arriving now will wait.
-- A backward range of the index of schema/027 reads them.
CREATE OR REPLACE FUNCTION mqchat_desk_average_wait_ms(desk bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (avg(extract(epoch FROM l.assigned_at - l.queued_at)) * 1000)::bigint
      FROM (SELECT s.assigned_at, s.queued_at FROM support_conversations s
             WHERE s.desk_id = desk AND s.assigned_at > now() - interval '1 hour'
             ORDER BY s.assigned_at DESC LIMIT 100) l;
$$;
