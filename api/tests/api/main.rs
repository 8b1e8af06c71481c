//! The API's integration tests, as one test binary: each module covers one area against the
//! real application, PostgreSQL and Redis (the harness is the `roost-testkit` crate). One
//! binary instead of one per file keeps linking time and disk use down; nextest still runs
//! every test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod analytics;
mod comments;
mod crash;
mod doctor;
mod events;
mod feed;
mod http;
mod ingest;
mod jobs;
mod layers;
mod logs;
mod notifications;
mod ops;
mod posts;
mod users;
