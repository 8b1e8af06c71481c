-- Report: a user's most and least commented post (v1).
-- Among the user's ($1 = user id) posts of kinds `post` and `quote`, all time: `top` has the
-- most comments, `worst` the fewest (zero counts); ties go to the older post. No row for a
-- user without such posts. Source: posts.comments_count, kept exact in the comment's
-- transaction. Index used: posts_author_created_idx (author_id, created_at, id).
(SELECT 'top' AS which, p.id AS post_id, p.comments_count::bigint AS comments
 FROM posts p
 WHERE p.author_id = $1 AND p.kind IN ('post', 'quote')
 ORDER BY p.comments_count DESC, p.created_at, p.id
 LIMIT 1)
UNION ALL
(SELECT 'worst', p.id, p.comments_count::bigint
 FROM posts p
 WHERE p.author_id = $1 AND p.kind IN ('post', 'quote')
 ORDER BY p.comments_count ASC, p.created_at, p.id
 LIMIT 1);
