-- The benchmark's stored events, reset before every run (a run stores millions more): :events
-- events of the application `bench`, received now (so they sit in the current week's
-- partition) with client timestamps over the last 30 days, in 100k sessions.
\set ON_ERROR_STOP on

TRUNCATE events, event_ids, ingest_errors;

BEGIN;
SET LOCAL synchronous_commit = off;

INSERT INTO event_ids (id, received_at)
SELECT md5('bench-event-' || i)::uuid, now() FROM generate_series(1, :events) AS i;

INSERT INTO events (id, application_id, session_id, category, name, data, "timestamp", received_at)
SELECT md5('bench-event-' || i)::uuid,
       (SELECT id FROM applications WHERE name = 'bench'),
       md5('bench-session-' || (i % 100000))::uuid,
       'page interaction', 'pageview',
       jsonb_build_object('host', 'bench.example', 'path', '/page/' || (i % 1000)),
       now() - interval '30 days' + i * (interval '30 days' / :events),
       now()
FROM generate_series(1, :events) AS i;

COMMIT;

VACUUM ANALYZE event_ids;
VACUUM ANALYZE events;
CHECKPOINT;
