-- Report: top posts per day (v1).
-- For each of the $1 UTC days ending today (included), oldest day first: the 10 posts with
-- the most comments made that day, most first (ties: the older post, i.e. the lower id).
-- `posts` is a JSON array of {"post_id", "comments"}; empty on a day without comments.
-- Source: the comments table. Index used: comments_created_idx (created_at).
WITH bounds AS (
    SELECT (now() AT TIME ZONE 'UTC')::date - ($1::int - 1) AS first_day,
           (now() AT TIME ZONE 'UTC')::date AS last_day
),
days AS (
    SELECT generate_series(first_day, last_day, interval '1 day')::date AS day FROM bounds
),
counts AS (
    SELECT (c.created_at AT TIME ZONE 'UTC')::date AS day, c.post_id, count(*) AS comments
    FROM comments c, bounds b
    WHERE c.created_at >= b.first_day::timestamp AT TIME ZONE 'UTC'
      AND c.created_at < (b.last_day + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2
),
ranked AS (
    SELECT day, post_id, comments,
           row_number() OVER (PARTITION BY day ORDER BY comments DESC, post_id) AS rank
    FROM counts
)
SELECT to_char(d.day, 'YYYY-MM-DD') AS day,
       coalesce(
           jsonb_agg(jsonb_build_object('post_id', r.post_id, 'comments', r.comments)
                     ORDER BY r.rank) FILTER (WHERE r.post_id IS NOT NULL),
           '[]'::jsonb
       ) AS posts
FROM days d
LEFT JOIN ranked r ON r.day = d.day AND r.rank <= 10
GROUP BY d.day
ORDER BY d.day;
