//! Test support shared by the integration tests of `roost-api` and `roost-ingest` (a
//! dev-dependency only, never in a shipped binary):
//!
//! - [`spawn_app`] / [`spawn_with`]: the real API in-process on port 0, on the test's own
//!   database (from `#[sqlx::test]`) and the test Redis under a key prefix of its own;
//!   [`TestApp`] drives it over HTTP, starts more replicas ([`TestApp::peer`]) and in-process
//!   workers ([`TestApp::worker`]).
//! - [`settings`]: typed settings for tests ([`roost_common::Settings::for_tests`] plus what the
//!   API tests need), changed field by field; [`Settings::to_env`](roost_common::Settings::to_env)
//!   renders them for a spawned binary ([`command`]).
//! - [`database_url`]: the URL of the test's own database, for a spawned binary.
//! - [`eventually`]: poll until a condition holds, with a deadline and a message naming what
//!   was awaited.
//! - [`ChildProcess`]: a spawned binary, killed when dropped; [`bin`] finds the built
//!   binaries without building anything.
//! - [`module_graph`]: a crate's module graph read with `syn`, for the layer tests.
//! - [`assert_problem`] (and [`assert_problem_case`] for tables of error cases: rows of
//!   input, expected status, expected code) and small JSON helpers.
//!
//! A failing helper panics with a message: in a test, that is the failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod assert;
pub mod module_graph;
mod process;

pub use app::{ADMIN_TOKEN, PASSWORD, TestApp, fast_worker, settings, spawn_app, spawn_with};
pub use assert::{assert_problem, assert_problem_case, field, ids, json, pageview};
pub use process::{ChildProcess, bin, command, free_port, wait_healthy};

use std::{future::Future, time::Duration};

use sqlx::PgPool;

/// The URL of the test's own database: the server of `DATABASE_URL` (set by the test stack,
/// as `#[sqlx::test]` needs), the database `db` is connected to.
///
/// # Panics
/// When `DATABASE_URL` is unset or has no database part, or the query fails.
pub async fn database_url(db: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db)
        .await
        .expect("the test database answers");
    let base = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set (source .roost/test/env, or run `make test`)");
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends with /<database>");
    format!("{server}/{name}")
}

/// Polls `check` every 50 ms until it returns `Some`, and returns that value.
///
/// # Panics
/// After `secs` seconds without `Some`: "timed out after {secs} s waiting for {what}".
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of a metrics endpoint (`GET url`).
pub async fn scrape(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap()
}

/// An in-process worker's metrics.
pub async fn worker_metrics(worker: &roost_ingest::Worker) -> String {
    scrape(&format!(
        "http://127.0.0.1:{}/metrics",
        worker.metrics_port()
    ))
    .await
}

/// A connection to the Redis that [`roost_common::Settings::for_tests`] names
/// (`ROOST_REDIS_URL`).
pub async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis_at(&roost_common::Settings::for_tests().redis).await
}

/// A connection to the Redis of `settings`.
pub(crate) async fn redis_at(
    settings: &roost_common::settings::RedisSettings,
) -> redis::aio::MultiplexedConnection {
    use secrecy::ExposeSecret;
    redis::Client::open(settings.url.expose_secret())
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the test Redis answers (ROOST_REDIS_URL)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_first_value() {
        let mut calls = 0;
        let value = eventually(5, "the third call", || {
            calls += 1;
            let done = calls == 3;
            async move { done.then_some(calls) }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 1 s waiting for something that never happens")]
    async fn eventually_names_what_it_waited_for() {
        eventually(1, "something that never happens", || async { None::<()> }).await;
    }
}
