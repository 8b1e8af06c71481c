-- The benchmark data set (SPEC §5): :users users, each following :subs others, :posts posts
-- (one in ten a quote). Run once by `cargo xtask bench` with psql variables; every seeded user
-- gets the password hash of the already registered user `benchseed`. The stored events are
-- reset by seed-events.sql before every run.
\set ON_ERROR_STOP on
\timing on

BEGIN;
SET LOCAL synchronous_commit = off;

-- Users: user1 … userN, registered a year ago, a second apart.
INSERT INTO users (username, email, password_hash, created_at, subscriptions_count, subscribers_count, posts_count)
SELECT 'user' || i, 'user' || i || '@bench.example',
       (SELECT password_hash FROM users WHERE username = 'benchseed'),
       now() - interval '365 days' + i * interval '1 second',
       :subs, :subs, 0
FROM generate_series(1, :users) AS i;

-- Subscriptions: user i follows users i + 997·k (mod N), k = 1 … subs: every user has exactly
-- `subs` subscriptions and `subs` subscribers, never itself (997·subs < N).
WITH base AS (SELECT min(id) AS first FROM users WHERE username LIKE 'user%' AND username <> 'benchseed')
INSERT INTO subscriptions (subscriber_id, target_id, created_at)
SELECT base.first + i - 1, base.first + (i - 1 + 997 * k) % :users, now() - interval '30 days'
FROM base, generate_series(1, :users) AS i, generate_series(1, :subs) AS k;

-- Posts: round-robin authors, titles and texts from a small vocabulary, oldest first, every
-- second one public; every tenth post quotes the post 998 before it, a public titled post
-- (quoting a post one may not see, or a quote, is refused by the API).
WITH base AS (
  SELECT (SELECT min(id) FROM users WHERE username LIKE 'user%' AND username <> 'benchseed') AS first,
         (SELECT coalesce(max(id), 0) FROM posts) AS before,
         string_to_array(
           'river mountain coffee rust kernel garden winter summer music travel photo recipe bread '
           'coding design startup launch review cinema football election science history poetry '
           'market weather ocean forest city night morning update release benchmark database stream '
           'cloud cluster helm tilt grafana metric alert latency storage network', ' ') AS w
)
INSERT INTO posts (author_id, kind, title, body, visibility, original_id, created_at)
SELECT first + (i % :users),
       CASE WHEN i % 10 = 0 AND i > 1000 THEN 'quote' ELSE 'post' END,
       CASE WHEN i % 10 = 0 AND i > 1000 THEN NULL
            ELSE initcap(w[1 + (i * 7) % cardinality(w)]) || ' ' || w[1 + (i * 13) % cardinality(w)] || ' ' || i END,
       w[1 + (i * 17) % cardinality(w)] || ' ' || w[1 + (i * 31) % cardinality(w)] || ' notes on '
         || w[1 + (i * 7) % cardinality(w)] || ' and ' || w[1 + (i * 37) % cardinality(w)] || ' number ' || i,
       CASE WHEN i % 2 = 0 THEN 'public' ELSE 'followers' END,
       CASE WHEN i % 10 = 0 AND i > 1000 THEN before + i - 998 END,
       now() - interval '365 days' + i * (interval '365 days' / :posts)
FROM base, generate_series(1, :posts) AS i;

UPDATE users u SET posts_count = c.n
FROM (SELECT author_id, count(*) AS n FROM posts GROUP BY author_id) c
WHERE u.id = c.author_id;

COMMIT;

VACUUM ANALYZE users;
VACUUM ANALYZE subscriptions;
VACUUM ANALYZE posts;
