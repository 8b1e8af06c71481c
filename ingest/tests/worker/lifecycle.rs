//! The ingest binary checks the schema version, runs until SIGTERM and exits 0.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use sqlx::PgPool;

async fn database_url(db: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn ingest(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roost-ingest"));
    cmd.env("ROOST_DATABASE_URL", url)
        .env("ROOST_INGEST_METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for the worker's start line (30 s at most), then SIGTERM: it must exit 0.
async fn started_then_stopped(mut child: std::process::Child) {
    let stdout = child.stdout.take().unwrap();
    let started = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("roost-ingest started"))
    });
    let started = tokio::time::timeout(Duration::from_secs(30), started)
        .await
        .expect("roost-ingest did not start in time")
        .unwrap();
    assert!(started);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn starts_on_a_migrated_database_and_stops_cleanly_on_sigterm(db: PgPool) {
    let url = database_url(&db).await;
    started_then_stopped(ingest(&url).spawn().unwrap()).await;
}

#[sqlx::test(migrations = false)]
async fn refuses_an_unmigrated_database(db: PgPool) {
    let url = database_url(&db).await;
    let output = tokio::task::spawn_blocking(move || ingest(&url).output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("roost-api migrate"), "{stderr}");
}

/// With a start-up wait (the chart's), a worker that starts before the migrations waits for
/// them instead of crash-looping.
#[sqlx::test(migrations = false)]
async fn waits_for_the_migrations_when_told_to(db: PgPool) {
    let url = database_url(&db).await;
    let mut child = ingest(&url)
        .env("ROOST_DATABASE_STARTUP_WAIT_SECONDS", "30")
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "it gave up at once");
    roost_common::db::MIGRATOR.run(&db).await.unwrap();
    started_then_stopped(child).await;
}
