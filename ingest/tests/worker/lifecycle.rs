//! The ingest binary checks the schema version, runs until SIGTERM and exits 0.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use roost_common::Settings;
use roost_testkit::{ChildProcess, command, database_url};
use sqlx::PgPool;

/// `roost-ingest` on the database at `url`, with test settings changed by `configure`, its
/// output piped.
fn ingest(url: &str, configure: impl FnOnce(&mut Settings)) -> Command {
    let mut settings = Settings::for_tests();
    settings.database.url = url.to_owned().into();
    configure(&mut settings);
    let mut cmd = command("roost-ingest", &settings);
    cmd.env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for the worker's start line (30 s at most), then SIGTERM: it must exit 0.
async fn started_then_stopped(mut child: ChildProcess) {
    let stdout = child.take_stdout();
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
    child.terminate();
    let exit = child.wait(Duration::from_secs(60)).await;
    assert!(exit.success(), "{exit:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn starts_on_a_migrated_database_and_stops_cleanly_on_sigterm(db: PgPool) {
    let url = database_url(&db).await;
    started_then_stopped(ChildProcess::spawn(ingest(&url, |_| {}))).await;
}

#[sqlx::test(migrations = false)]
async fn refuses_an_unmigrated_database(db: PgPool) {
    let url = database_url(&db).await;
    let output = tokio::task::spawn_blocking(move || ingest(&url, |_| {}).output().unwrap())
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
    let mut child = ChildProcess::spawn(ingest(&url, |s| {
        s.database.startup_wait = Duration::from_secs(30);
    }));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().is_none(), "it gave up at once");
    roost_common::db::MIGRATOR.run(&db).await.unwrap();
    started_then_stopped(child).await;
}
