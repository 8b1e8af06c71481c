-- The event pipeline: client applications, stored events (partitioned by receipt time, with a
-- key table for idempotency across partitions), the quarantine, notifications and jobs.

-- Client applications. The key is stored only as its SHA-256 digest; the built-in application
-- `roost` (the platform's own domain events) has no key.
CREATE TABLE applications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_digest bytea       UNIQUE CHECK (key_digest IS NULL OR length(key_digest) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- One name is one application for ever (events keep naming it after a revocation).
CREATE UNIQUE INDEX applications_name_key ON applications (lower(name));
INSERT INTO applications (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'roost');

-- Admin-registered JSON Schemas for (category, name). `version` grows on every change so a
-- worker can tell with one cheap query whether its compiled copies are current.
CREATE SEQUENCE event_types_version_seq;
CREATE TABLE event_types (
    category   text        NOT NULL,
    name       text        NOT NULL,
    schema     jsonb       NOT NULL,
    version    bigint      NOT NULL DEFAULT nextval('event_types_version_seq'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, name)
);

-- Stored events, partitioned by week of receipt (retention drops whole partitions). The worker
-- creates partitions ahead of time; the default partition only catches what it did not foresee.
CREATE TABLE events (
    id             uuid        NOT NULL,
    application_id uuid        NOT NULL,
    session_id     uuid        NOT NULL,
    category       text        NOT NULL,
    name           text        NOT NULL,
    data           jsonb       NOT NULL,
    "timestamp"    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (received_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
-- One index per admin filter, each ending in the (timestamp, id) order of every listing.
CREATE INDEX events_session_idx ON events (session_id, "timestamp", id);
CREATE INDEX events_application_idx ON events (application_id, "timestamp", id);
CREATE INDEX events_type_idx ON events (category, name, "timestamp", id);
CREATE INDEX events_timestamp_idx ON events ("timestamp", id);

-- Idempotency across partitions: PostgreSQL unique constraints on a partitioned table must
-- include the partition key, so the event id's uniqueness lives in this key table. An event row
-- is written only when its id was new here, in the same statement.
CREATE TABLE event_ids (
    id          uuid PRIMARY KEY,
    received_at timestamptz NOT NULL
);
CREATE INDEX event_ids_received_idx ON event_ids (received_at);

-- The quarantine: accepted events that broke their payload rule, came from the future, or
-- could not be processed (poison). `source` makes re-processing after a crash idempotent.
CREATE TABLE ingest_errors (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL UNIQUE,
    application_id uuid        REFERENCES applications (id),
    code           text        NOT NULL CHECK (code IN ('payload_invalid', 'future_timestamp', 'poison_message')),
    message        text        NOT NULL,
    event          jsonb       NOT NULL,
    received_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_errors_received_idx ON ingest_errors (received_at DESC, id DESC);
CREATE INDEX ingest_errors_application_idx ON ingest_errors (application_id, received_at DESC, id DESC);
CREATE INDEX ingest_errors_code_idx ON ingest_errors (code, received_at DESC, id DESC);

-- Notifications, created by the worker from `comment.created` (one per comment at most).
CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id),
    kind         text        NOT NULL DEFAULT 'comment' CHECK (kind IN ('comment')),
    actor_id     bigint      NOT NULL REFERENCES users (id),
    post_id      bigint      NOT NULL REFERENCES posts (id),
    comment_id   bigint      NOT NULL UNIQUE REFERENCES comments (id),
    excerpt      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unsent_idx ON notifications (user_id, created_at, id) WHERE delivered_at IS NULL;

-- Jobs. PostgreSQL is the source of truth; the Redis stream only wakes workers, and the
-- worker's sweep re-enqueues anything the stream lost.
CREATE TABLE jobs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     bigint      NOT NULL REFERENCES users (id),
    kind        text        NOT NULL CHECK (kind IN ('word_count')),
    status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    input_text  text,
    input_url   text,
    sort        text        NOT NULL CHECK (sort IN ('frequency', 'alphabetical')),
    result      jsonb,
    error       text,
    attempts    integer     NOT NULL DEFAULT 0,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    CHECK ((input_text IS NULL) <> (input_url IS NULL))
);
CREATE INDEX jobs_unfinished_idx ON jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- The outbox row now lives until the worker has stored its event (the worker deletes it in the
-- same transaction); `relayed_at` marks the relay's last re-publication.
DROP INDEX outbox_unpublished_idx;
ALTER TABLE outbox RENAME COLUMN published_at TO relayed_at;
ALTER TABLE outbox ADD COLUMN session_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE outbox ALTER COLUMN session_id DROP DEFAULT;
CREATE INDEX outbox_created_idx ON outbox (created_at);

-- The top-posts report groups comments by day.
CREATE INDEX comments_created_idx ON comments (created_at);
