//! Crash tests with the real binaries: while at least 50,000 events flow, `kill -9` the worker
//! (then restart it), or an API process in the middle of requests. Afterwards every event that
//! got a 202 is stored exactly once, and every committed comment produced exactly one
//! notification. The figures are printed (run with `--nocapture` to see them).

use std::{
    collections::HashSet,
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use roost_common::Settings;
use roost_testkit::{
    ADMIN_TOKEN, ChildProcess, PASSWORD, command, database_url, eventually, free_port, wait_healthy,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

const EVENTS: usize = 50_000;
const PER_REQUEST: usize = 100;
const COMMENTS: usize = 150;

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The real binaries on one database, Redis and key prefix.
struct Stack {
    settings: Settings,
}

impl Stack {
    /// The test's database, a key prefix of its own, one hashing thread, short worker
    /// timings (200 ms reads, reclaim after 2 s, maintenance every second, relay after 2 s).
    async fn new(db: &PgPool) -> Self {
        let mut settings = Settings::for_tests();
        settings.database.url = database_url(db).await.into();
        settings.redis.key_prefix = format!("crash:{}:", Uuid::new_v4());
        settings.auth.jwt_secret = Some("crash-secret-0123456789abcdef0123456789".into());
        settings.auth.admin_token = Some(ADMIN_TOKEN.into());
        settings.auth.hash_workers = 1;
        settings.http.workers = 2;
        settings.pipeline.block = Duration::from_millis(200);
        settings.pipeline.claim_idle = Duration::from_secs(2);
        settings.pipeline.maintenance_interval = Duration::from_secs(1);
        settings.pipeline.relay_after = Duration::from_secs(2);
        Self { settings }
    }

    /// Starts binary `name` with the stack's settings changed by `configure`.
    fn spawn(&self, name: &str, configure: impl FnOnce(&mut Settings)) -> ChildProcess {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let mut cmd = command(name, &settings);
        cmd.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        ChildProcess::spawn(cmd)
    }

    async fn api(&self) -> (ChildProcess, String) {
        let port = free_port();
        let proc = self.spawn("roost-api", |s| {
            s.http.addr = local(port);
            s.http.metrics_addr = local(free_port());
        });
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&format!("{base}/healthz")).await;
        (proc, base)
    }

    async fn worker(&self) -> ChildProcess {
        let port = free_port();
        let proc = self.spawn("roost-ingest", |s| s.ingest_metrics_addr = local(port));
        wait_healthy(&format!("http://127.0.0.1:{port}/healthz")).await;
        proc
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Registers `username` and returns a token.
async fn register(base: &str, username: &str) -> String {
    let body: Value = client()
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn api_key(base: &str) -> String {
    let body: Value = client()
        .post(format!("{base}/v1/admin/applications"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "load"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["api_key"].as_str().unwrap().to_owned()
}

fn batch(n: usize) -> (Vec<Uuid>, Value) {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let events = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": id, "session_id": Uuid::new_v4(), "category": "load", "name": "tick",
                   "data": {"i": i, "pad": "x".repeat(64)}, "timestamp": "2026-11-23T10:00:00Z"})
        })
        .collect();
    (ids, Value::Array(events))
}

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    sent: usize,
    accepted: HashSet<Uuid>,
    /// Events of requests that failed without an answer (connection reset by a killed
    /// process) and were sent again.
    retried: usize,
}

/// Sends `EVENTS` events in batches over `bases` (round robin, 8 in flight). A request that
/// fails without a status (its server died) is retried with the same ids on the next base;
/// a 503 is retried after its Retry-After. `progress` counts finished requests.
async fn send_all(bases: Vec<String>, key: String, progress: Arc<AtomicUsize>) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let requests = EVENTS / PER_REQUEST;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for lane in 0..8 {
        let (bases, key, tally, next, progress) = (
            bases.clone(),
            key.clone(),
            tally.clone(),
            next.clone(),
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = client();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= requests {
                    return;
                }
                let (ids, body) = batch(PER_REQUEST);
                tally.lock().await.sent += ids.len();
                let mut attempt = lane + n;
                loop {
                    let base = &bases[attempt % bases.len()];
                    let res = client
                        .post(format!("{base}/v1/events"))
                        .header("X-Api-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 202 => {
                            let answer: Value = r.json().await.unwrap();
                            assert_eq!(answer["accepted"], PER_REQUEST as u64);
                            tally.lock().await.accepted.extend(ids.iter().copied());
                            break;
                        }
                        Ok(r) if r.status() == 503 => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => {
                            tally.lock().await.retried += ids.len();
                            attempt += 1;
                        }
                    }
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(tally).ok().unwrap().into_inner()
}

/// Bob comments on Alice's post `COMMENTS` times across `bases`; returns the ids answered 201.
async fn comment_all(bases: Vec<String>, token: String, post: i64) -> Vec<i64> {
    let client = client();
    let mut created = Vec::new();
    for i in 0..COMMENTS {
        let base = &bases[i % bases.len()];
        let res = client
            .post(format!("{base}/v1/posts/{post}/comments"))
            .bearer_auth(&token)
            .json(&json!({"text": format!("comment {i}")}))
            .send()
            .await;
        if let Ok(r) = res
            && r.status() == 201
        {
            created.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    created
}

async fn scalar(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db)
        .await
        .unwrap()
}

/// Waits for the pipeline to drain, then checks exactly-once storage and notifications.
async fn verify(db: &PgPool, tally: &Tally, comments_answered: &[i64], label: &str) {
    eventually(180, "every accepted event stored", || async {
        let stored = scalar(db, "SELECT count(*) FROM events WHERE category = 'load'").await;
        (stored >= tally.accepted.len() as i64).then_some(())
    })
    .await;
    let stored: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM events WHERE category = 'load'")
        .fetch_all(db)
        .await
        .unwrap();
    let distinct: HashSet<Uuid> = stored.iter().copied().collect();
    let duplicates = stored.len() - distinct.len();
    let missing = tally.accepted.difference(&distinct).count();
    // Unanswered requests may have reached Redis before their server died: stored, and never
    // twice, but not "accepted" from the client's point of view.
    let unanswered_but_stored = distinct.difference(&tally.accepted).count();
    let comments = scalar(db, "SELECT count(*) FROM comments").await;
    let notifications = eventually(60, "a notification per comment", || async {
        let n = scalar(db, "SELECT count(*) FROM notifications").await;
        (n >= comments).then_some(n)
    })
    .await;
    let unmatched = scalar(
        db,
        "SELECT count(*) FROM comments c LEFT JOIN notifications n ON n.comment_id = c.id
         WHERE n.id IS NULL",
    )
    .await;
    println!(
        "[{label}] events sent {} (re-sent after a connection error: {}), accepted (202) {}, \
         stored rows {}, distinct stored {}, duplicates {duplicates}, accepted but missing \
         {missing}, stored without a 202 {unanswered_but_stored}; comments committed {comments} \
         (answered 201: {}), notifications {notifications}",
        tally.sent,
        tally.retried,
        tally.accepted.len(),
        stored.len(),
        distinct.len(),
        comments_answered.len(),
    );
    assert!(
        tally.accepted.len() >= EVENTS,
        "every batch was eventually accepted"
    );
    assert_eq!(missing, 0, "every accepted event is stored");
    assert_eq!(duplicates, 0, "no event is stored twice");
    assert_eq!(unmatched, 0, "every committed comment has its notification");
    assert_eq!(
        notifications, comments,
        "exactly one notification per comment"
    );
    assert!(comments >= comments_answered.len() as i64);
}

async fn users_and_post(base: &str) -> (String, i64) {
    let alice = register(base, "alice").await;
    let bob = register(base, "bob").await;
    let post: Value = client()
        .post(format!("{base}/v1/posts"))
        .bearer_auth(&alice)
        .json(&json!({"title": "Crash", "text": "test", "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (bob, post["id"].as_i64().unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn kill_9_of_the_worker_loses_and_duplicates_nothing(db: PgPool) {
    let stack = Stack::new(&db).await;
    let (_api, base) = stack.api().await;
    let mut worker = stack.worker().await;
    let key = api_key(&base).await;
    let (bob, post) = users_and_post(&base).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(send_all(vec![base.clone()], key, progress.clone()));
    let talk = tokio::spawn(comment_all(vec![base.clone()], bob, post));
    let requests = EVENTS / PER_REQUEST;
    // Kill the worker a third of the way in, mid-batch, and bring a new one up later.
    eventually(120, "a third of the load", || async {
        (progress.load(Ordering::SeqCst) >= requests / 3).then_some(())
    })
    .await;
    worker.kill();
    let in_store_at_kill = scalar(&db, "SELECT count(*) FROM events WHERE category = 'load'").await;
    eventually(120, "two thirds of the load", || async {
        (progress.load(Ordering::SeqCst) >= 2 * requests / 3).then_some(())
    })
    .await;
    let _worker = stack.worker().await;
    let tally = load.await.unwrap();
    let answered = talk.await.unwrap();
    println!("[worker kill] {in_store_at_kill} events were stored when the worker was killed");
    verify(&db, &tally, &answered, "worker kill").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn kill_9_of_an_api_process_mid_request_loses_nothing_accepted(db: PgPool) {
    let stack = Stack::new(&db).await;
    let (_api1, base1) = stack.api().await;
    let (mut api2, base2) = stack.api().await;
    let _worker = stack.worker().await;
    let key = api_key(&base1).await;
    let (bob, post) = users_and_post(&base1).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let bases = vec![base2.clone(), base1.clone()];
    let load = tokio::spawn(send_all(bases.clone(), key, progress.clone()));
    let talk = tokio::spawn(comment_all(bases, bob, post));
    let requests = EVENTS / PER_REQUEST;
    eventually(120, "a third of the load", || async {
        (progress.load(Ordering::SeqCst) >= requests / 3).then_some(())
    })
    .await;
    // Requests are in flight on both processes: kill one of them.
    api2.kill();
    let tally = load.await.unwrap();
    let answered = talk.await.unwrap();
    assert!(tally.retried > 0 || tally.accepted.len() >= EVENTS);
    verify(&db, &tally, &answered, "api kill").await;
}
