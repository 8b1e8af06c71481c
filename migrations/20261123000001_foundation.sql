-- Roost foundation: accounts, subscriptions, posts, comments, token revocation, outbox.
-- Counters are denormalised onto their rows and updated in the same transaction as the
-- change, under the row lock, so they stay exact under concurrent writes. Rows listed by time
-- take clock_timestamp() (the insert's own moment, after any lock wait), not the transaction
-- start, so a row cannot commit behind a cursor a client already holds.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text        NOT NULL CHECK (username ~ '^[A-Za-z0-9_]{3,30}$'),
    email               text        CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    first_name          text,
    last_name           text,
    password_hash       text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    subscribers_count   integer     NOT NULL DEFAULT 0 CHECK (subscribers_count >= 0),
    subscriptions_count integer     NOT NULL DEFAULT 0 CHECK (subscriptions_count >= 0),
    posts_count         integer     NOT NULL DEFAULT 0 CHECK (posts_count >= 0)
);
-- Case-insensitive uniqueness; also the ordering/keyset index of user listings.
CREATE UNIQUE INDEX users_username_lower_key ON users ((lower(username) COLLATE "C"));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;
-- Substring search on usernames (GET /v1/users?q=).
CREATE INDEX users_username_trgm ON users USING gin (lower(username) gin_trgm_ops);

CREATE TABLE subscriptions (
    subscriber_id bigint      NOT NULL REFERENCES users (id),
    target_id     bigint      NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (subscriber_id, target_id),
    CHECK (subscriber_id <> target_id)
);
-- "Who follows X" (subscriber listings, visibility checks run on the primary key).
CREATE INDEX subscriptions_target_idx ON subscriptions (target_id, subscriber_id);

CREATE TABLE posts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id      bigint      NOT NULL REFERENCES users (id),
    kind           text        NOT NULL CHECK (kind IN ('post', 'repost', 'quote')),
    title          text,
    body           text,
    visibility     text        NOT NULL CHECK (visibility IN ('followers', 'public')),
    original_id    bigint      REFERENCES posts (id),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    comments_count integer     NOT NULL DEFAULT 0 CHECK (comments_count >= 0),
    reposts_count  integer     NOT NULL DEFAULT 0 CHECK (reposts_count >= 0),
    CHECK (
        (kind = 'post'   AND title IS NOT NULL AND body IS NOT NULL AND original_id IS NULL) OR
        (kind = 'repost' AND title IS NULL AND body IS NULL AND original_id IS NOT NULL) OR
        (kind = 'quote'  AND title IS NULL AND body IS NOT NULL AND original_id IS NOT NULL)
    )
);
-- Profile pages, feeds (author = ANY(...)) and own-post search, newest first.
CREATE INDEX posts_author_created_idx ON posts (author_id, created_at DESC, id DESC);
-- The "all" feed walks every post newest first and keeps the visible ones.
CREATE INDEX posts_created_idx ON posts (created_at DESC, id DESC);
-- Each user reposts a given post at most once.
CREATE UNIQUE INDEX posts_one_repost_per_user ON posts (author_id, original_id) WHERE kind = 'repost';
-- Substring search (ILIKE '%term%') on titles and texts.
CREATE INDEX posts_title_trgm ON posts USING gin (title gin_trgm_ops) WHERE kind = 'post';
CREATE INDEX posts_body_trgm ON posts USING gin (body gin_trgm_ops) WHERE kind IN ('post', 'quote');

CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id    bigint      NOT NULL REFERENCES posts (id),
    author_id  bigint      NOT NULL REFERENCES users (id),
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX comments_post_created_idx ON comments (post_id, created_at, id);

-- Revoked access tokens (logout). The source of truth for every replica; rows past their
-- token's expiry can be deleted by maintenance.
CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

-- Transactional outbox of domain events, relayed to the event stream by the pipeline.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    name         text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
