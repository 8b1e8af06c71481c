//! Jobs: `word_count` over a text or a URL, queued through Redis and run by the worker; the
//! SSRF rules; failures; a job surviving an interrupted run.

use std::time::Duration;

use roost_testkit::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A loopback HTTP server answering every request with `status`, `content_type` and `body`
/// after `delay`. Returns its base URL.
async fn serve(
    status: u16,
    content_type: &'static str,
    body: &'static str,
    delay: Duration,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn wait_done(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(30, "the job to finish", || async {
        let job = json(app.get(&format!("/v1/jobs/{id}"), token).await).await;
        matches!(job["status"].as_str(), Some("succeeded" | "failed")).then_some(job)
    })
    .await
}

/// Makes a job look like `attempts` runs started and their worker died (the lease expired).
async fn interrupted(db: &PgPool, id: &str, attempts: i32) {
    sqlx::query(
        "UPDATE jobs SET status = 'running', attempts = $2, lease_until = now() - interval '1 second'
         WHERE id = $1::uuid",
    )
    .bind(id)
    .bind(attempts)
    .execute(db)
    .await
    .unwrap();
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let res = app.post("/v1/jobs", token, body).await;
    assert_eq!(res.status(), 202);
    let body = json(res).await;
    assert_eq!(body["status"], "queued");
    body["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn word_count_over_text_in_both_orders(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let text = "The cat and the hat. Don't stop: the CAT’s hat! 42";
    let id = create(&app, &alice, json!({"kind": "word_count", "text": text})).await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "word_count");
    assert!(job["finished_at"].is_string() && job["created_at"].is_string());
    assert!(job.get("error").is_none());
    let result = &job["result"];
    assert_eq!(result["total_words"], 11);
    assert_eq!(result["unique_words"], 8);
    assert_eq!(result["words"][0], json!(["the", 3]));
    assert_eq!(result["words"][1], json!(["hat", 2]), "ties alphabetically");
    assert!(
        result["words"]
            .as_array()
            .unwrap()
            .contains(&json!(["don't", 1]))
    );
    assert!(
        result["words"]
            .as_array()
            .unwrap()
            .contains(&json!(["cat's", 1]))
    );

    let id = create(
        &app,
        &alice,
        json!({"kind": "word_count", "text": "b a c a", "sort": "alphabetical"}),
    )
    .await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(
        job["result"]["words"],
        json!([["a", 2], ["b", 1], ["c", 1]])
    );

    // Only the owner sees a job.
    let bob = app.register("bob").await;
    assert_problem(
        app.get(&format!("/v1/jobs/{id}"), &bob).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(app.get("/v1/jobs/not-a-uuid", &bob).await, 404, "not_found").await;
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_job_requests_are_refused(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    for body in [
        json!({"kind": "word_count"}),
        json!({"kind": "word_count", "text": "a", "url": "http://example.com/"}),
        json!({"kind": "sum", "text": "a"}),
        json!({"kind": "word_count", "text": "a", "sort": "random"}),
        json!({"text": "a"}),
    ] {
        let res = app.post("/v1/jobs", &alice, body.clone()).await;
        assert_problem(res, 422, "validation_failed").await;
    }
    let big = "a ".repeat(5 * 1024 * 1024 + 1);
    let res = app
        .post(
            "/v1/jobs",
            &alice,
            json!({"kind": "word_count", "text": big}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    for url in [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "http://127.0.0.1:8080/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://user:pw@example.com/",
        "not a url",
    ] {
        let res = app
            .post(
                "/v1/jobs",
                &alice,
                json!({"kind": "word_count", "url": url}),
            )
            .await;
        assert_problem(res, 422, "url_not_allowed").await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn url_jobs_count_visible_text_and_fail_with_a_reason(db: PgPool) {
    let app = spawn_with(db, |s| s.jobs.fetch_allow_loopback = true).await;
    let worker = app
        .worker_with(|s| {
            s.jobs.fetch_allow_loopback = true;
            s.jobs.max_attempts = 2;
        })
        .await;
    let alice = app.register("alice").await;
    let page = serve(
        200,
        "text/html; charset=utf-8",
        "<html><head><title>hidden title</title><style>p{}</style></head><body><p>Hello hello</p><script>var x = 1;</script><p hidden>secret</p><p>world</p></body></html>",
        Duration::ZERO,
    )
    .await;
    let id = create(
        &app,
        &alice,
        json!({"kind": "word_count", "url": format!("{page}/index.html")}),
    )
    .await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["words"], json!([["hello", 2], ["world", 1]]));

    let missing = serve(404, "text/plain", "no", Duration::ZERO).await;
    let id = create(&app, &alice, json!({"kind": "word_count", "url": missing})).await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("404"), "{job}");
    assert!(job.get("result").is_none());

    // A server error is retried, then the job ends failed with the reason.
    let broken = serve(503, "text/plain", "down", Duration::ZERO).await;
    let id = create(&app, &alice, json!({"kind": "word_count", "url": broken})).await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("503") && error.contains("2 attempts"),
        "{error}"
    );
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_host_name_resolving_to_a_refused_address_fails_the_job(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    // `localhost` passes the synchronous check (it is a name) but resolves to loopback.
    let id = create(
        &app,
        &alice,
        json!({"kind": "word_count", "url": format!("http://localhost:{}/", free_port())}),
    )
    .await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("loopback"), "{job}");
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_interrupted_run_is_run_again(db: PgPool) {
    let app = spawn_with(db, |s| s.jobs.fetch_allow_loopback = true).await;
    let alice = app.register("alice").await;
    // A job whose first run died mid-way: running, under a lease that has expired, with its
    // stream entry still pending for a consumer that is gone.
    let id = create(
        &app,
        &alice,
        json!({"kind": "word_count", "text": "one two two"}),
    )
    .await;
    let mut redis = app.redis().await;
    let _: String = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(app.key("jobs"))
        .arg("jobs")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("jobs")
        .arg("dead-worker")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(app.key("jobs"))
        .arg(">")
        .query_async(&mut redis)
        .await
        .unwrap();
    interrupted(&app.db, &id, 1).await;
    let worker = app.worker().await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["words"], json!([["two", 2], ["one", 1]]));
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(attempts, 2);
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_job_interrupted_too_often_fails(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let id = create(&app, &alice, json!({"kind": "word_count", "text": "x"})).await;
    // Three runs already died (the limit is 3): the next claim gives up.
    interrupted(&app.db, &id, 3).await;
    let worker = app.worker().await;
    let job = wait_done(&app, &alice, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"].as_str().unwrap().contains("interrupted"),
        "{job}"
    );
    worker.shutdown().await;
}
