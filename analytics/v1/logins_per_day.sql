-- Report: logins per day (v1).
-- Distinct users who logged in on each UTC day, for the $1 days ending today (included),
-- oldest day first; days without logins are listed with 0.
-- Source: the `user.logged_in` domain events of the built-in application `roost`
-- (application id 00000000-0000-0000-0000-000000000001), so it covers the event
-- retention period. Index used: events_type_idx (category, name, "timestamp", id).
WITH bounds AS (
    SELECT (now() AT TIME ZONE 'UTC')::date - ($1::int - 1) AS first_day,
           (now() AT TIME ZONE 'UTC')::date AS last_day
),
days AS (
    SELECT generate_series(first_day, last_day, interval '1 day')::date AS day FROM bounds
),
logins AS (
    SELECT (e."timestamp" AT TIME ZONE 'UTC')::date AS day,
           count(DISTINCT e.data ->> 'user_id') AS users
    FROM events e, bounds b
    WHERE e.category = 'domain'
      AND e.name = 'user.logged_in'
      AND e.application_id = '00000000-0000-0000-0000-000000000001'
      AND e."timestamp" >= b.first_day::timestamp AT TIME ZONE 'UTC'
      AND e."timestamp" < (b.last_day + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1
)
SELECT to_char(d.day, 'YYYY-MM-DD') AS day, coalesce(l.users, 0) AS users
FROM days d
LEFT JOIN logins l USING (day)
ORDER BY d.day;
