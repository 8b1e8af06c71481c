//! Test harness: starts the real application on port 0 against the test's own fresh database
//! (from `#[sqlx::test]`) and the private test Redis, with its own key prefix.

use std::collections::HashMap;

use reqwest::{Method, Response, StatusCode};
use roost_api::{Application, BuildOptions};
use roost_common::Settings;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PASSWORD: &str = "correct-horse-42";

pub struct TestApp {
    pub base: String,
    pub metrics_base: String,
    pub db: PgPool,
    pub client: reqwest::Client,
    /// The settings the app was built from (a worker or a second replica reuses them).
    pub vars: HashMap<String, String>,
}

pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_with(db, &[]).await
}

/// Starts the app with extra settings (e.g. `("ROOST_DAILY_POST_LIMIT", "5")`).
pub async fn spawn_with(db: PgPool, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = [
        ("ROOST_DATABASE_URL", "postgres://unused@127.0.0.1/unused"),
        ("ROOST_HTTP_ADDR", "127.0.0.1:0"),
        ("ROOST_METRICS_ADDR", "127.0.0.1:0"),
        ("ROOST_JWT_SECRET", "test-secret-0123456789abcdef0123456789"),
        ("ROOST_ADMIN_TOKEN", ADMIN_TOKEN),
        ("ROOST_HTTP_WORKERS", "2"),
        ("ROOST_HASH_WORKERS", "2"),
        // Tests register many users from one address.
        ("ROOST_REGISTER_MAX_PER_IP", "100000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert(
        "ROOST_REDIS_URL".into(),
        std::env::var("ROOST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into()),
    );
    vars.insert(
        "ROOST_REDIS_KEY_PREFIX".into(),
        format!("test:{}:", uuid::Uuid::new_v4()),
    );
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    start(db, vars).await
}

/// Settings for an in-process worker beside an app: same database, Redis and key prefix,
/// short timings so recovery paths run within a test.
pub const FAST_WORKER: [(&str, &str); 6] = [
    ("ROOST_INGEST_BLOCK_MS", "200"),
    ("ROOST_INGEST_CLAIM_IDLE_SECONDS", "2"),
    ("ROOST_MAINTENANCE_INTERVAL_SECONDS", "1"),
    ("ROOST_OUTBOX_RELAY_AFTER_SECONDS", "1"),
    ("ROOST_JOB_LEASE_SECONDS", "3"),
    ("ROOST_INGEST_METRICS_ADDR", "127.0.0.1:0"),
];

/// How many API replicas of this key prefix listen on the revocations channel; `None` when
/// the app's Redis is unreachable (tests of a Redis outage).
async fn listeners(vars: &HashMap<String, String>) -> Option<i64> {
    let mut redis = redis::Client::open(vars["ROOST_REDIS_URL"].as_str())
        .ok()?
        .get_multiplexed_async_connection()
        .await
        .ok()?;
    let channel = format!("{}revocations", vars["ROOST_REDIS_KEY_PREFIX"]);
    let counts: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut redis)
        .await
        .ok()?;
    Some(counts.1)
}

async fn start(db: PgPool, vars: HashMap<String, String>) -> TestApp {
    let listening = listeners(&vars).await;
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings");
    let options = BuildOptions {
        // Cheap hashing keeps tests fast; production parameters are unit-tested.
        password_params: argon2::Params::new(1024, 1, 1, None).unwrap(),
    };
    let app = Application::build(settings, db.clone(), options)
        .await
        .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = format!("http://127.0.0.1:{}", app.metrics_port());
    tokio::spawn(app.run_until_stopped());
    // Pub/sub (notifications, revocations) reaches a replica only once it has subscribed:
    // tests start when it has, not at its leisure.
    if let Some(listening) = listening {
        eventually(10, "the replica's pub/sub subscription", || async {
            (listeners(&vars).await > Some(listening)).then_some(())
        })
        .await;
    }
    TestApp {
        base,
        metrics_base,
        db,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        vars,
    }
}

impl TestApp {
    /// A second API replica on the same database, Redis and key prefix.
    pub async fn peer(&self) -> TestApp {
        start(self.db.clone(), self.vars.clone()).await
    }

    /// An in-process worker for this app (see [`FAST_WORKER`]), with extra settings.
    pub async fn worker_with(&self, overrides: &[(&str, &str)]) -> roost_ingest::Worker {
        let mut vars = self.vars.clone();
        for (k, v) in FAST_WORKER.iter().chain(overrides) {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
        roost_ingest::Worker::start(settings, self.db.clone())
            .await
            .expect("start worker")
    }

    pub async fn worker(&self) -> roost_ingest::Worker {
        self.worker_with(&[]).await
    }

    /// This app's Prometheus metrics (from its metrics listener).
    pub async fn metrics(&self) -> String {
        scrape(&format!("{}/metrics", self.metrics_base)).await
    }

    /// A Redis connection to the test Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.vars["ROOST_REDIS_URL"].as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The Redis key (with this app's prefix) of `name`, e.g. `events`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.vars["ROOST_REDIS_KEY_PREFIX"])
    }

    /// Registers a client application; returns (id, api key).
    pub async fn create_application(&self, name: &str) -> (String, String) {
        let res = self
            .post("/v1/admin/applications", ADMIN_TOKEN, json!({"name": name}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["api_key"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /v1/events` with an API key and a raw JSON body.
    pub async fn send_events(&self, key: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}/v1/events", self.base))
            .header("X-Api-Key", key)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// Every stored event matching an admin query string (all pages).
    pub async fn stored_events(&self, query: &str) -> Vec<Value> {
        self.all_pages(&format!("/v1/admin/events?limit=100&{query}"), ADMIN_TOKEN)
            .await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request failed")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str) -> Response {
        self.request(Method::PUT, path, Some(token), None).await
    }

    /// A PUT whose future owns its inputs (for concurrent fan-out); returns the status.
    pub async fn put_owned(&self, path: String, token: String) -> u16 {
        self.put(&path, &token).await.status().as_u16()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Registers a user and returns their access token.
    pub async fn register(&self, username: &str) -> String {
        let res = self
            .request(
                Method::POST,
                "/v1/auth/register",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Logs a registered user in again (with [`PASSWORD`]): a new token, a new session.
    pub async fn login(&self, username: &str) -> String {
        let res = self
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn subscribe(&self, token: &str, username: &str) {
        let res = self
            .put(&format!("/v1/me/subscriptions/{username}"), token)
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    /// Publishes a post and returns its id.
    pub async fn publish(&self, token: &str, title: &str, text: &str, visibility: &str) -> i64 {
        let res = self
            .post(
                "/v1/posts",
                token,
                json!({"title": title, "text": text, "visibility": visibility}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// Every page of a list endpoint, following `next_cursor`.
    pub async fn all_pages(&self, path: &str, token: &str) -> Vec<Value> {
        self.pages_from(path, token, None).await
    }

    /// Every page from `cursor` on.
    pub async fn pages_from(
        &self,
        path: &str,
        token: &str,
        mut cursor: Option<String>,
    ) -> Vec<Value> {
        let mut items = Vec::new();
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_owned(),
            };
            let res = self.get(&url, token).await;
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            let body: Value = res.json().await.unwrap();
            items.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

/// Asserts a problem+json error with the given status and code; returns the body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    let actual = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(actual, status, "status for {code}: {body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

pub async fn json(res: Response) -> Value {
    res.json().await.unwrap()
}

pub fn field<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    items.iter().map(|i| i[key].as_str().unwrap()).collect()
}

pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The URL of the test's own database (same server as DATABASE_URL, another database).
pub async fn database_url(db: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// Polls `check` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A valid analytics event (a built-in page view) with a fresh id.
pub fn pageview(session: &str, timestamp: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(),
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "shop.example", "path": "/"},
        "timestamp": timestamp,
    })
}

/// The text of a metrics endpoint.
pub async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// An in-process worker's metrics.
pub async fn worker_metrics(worker: &roost_ingest::Worker) -> String {
    scrape(&format!(
        "http://127.0.0.1:{}/metrics",
        worker.metrics_port()
    ))
    .await
}
