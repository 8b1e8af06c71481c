//! The API under test, in-process on port 0, and the in-process worker beside it.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use roost_api::{Application, BuildOptions};
use roost_common::{Settings, pipeline::Keys};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{database_url, eventually, redis_at, scrape};

/// The admin token of every API started by [`spawn_app`].
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The password [`TestApp::register`] and [`TestApp::login`] use.
pub const PASSWORD: &str = "correct-horse-42";

/// Settings for an API under test: [`Settings::for_tests`] with the admin token
/// [`ADMIN_TOKEN`] and registration throttling out of the way (tests register many users
/// from one address).
pub fn settings() -> Settings {
    let mut settings = Settings::for_tests();
    settings.auth.admin_token = Some(ADMIN_TOKEN.into());
    settings.auth.register_max_per_ip = 100_000;
    settings
}

/// Short worker timings, so recovery paths run within a test: 200 ms blocking reads, entries
/// reclaimed after 2 s idle, maintenance every second, the outbox relayed after 1 s, 3 s job
/// leases, the metrics listener on a free port.
pub fn fast_worker(settings: &mut Settings) {
    settings.pipeline.block = Duration::from_millis(200);
    settings.pipeline.claim_idle = Duration::from_secs(2);
    settings.pipeline.maintenance_interval = Duration::from_secs(1);
    settings.pipeline.relay_after = Duration::from_secs(1);
    settings.jobs.lease = Duration::from_secs(3);
    settings.ingest_metrics_addr = ([127, 0, 0, 1], 0).into();
}

/// A running API: its addresses, its database, an HTTP client and the settings it was built
/// from (a worker, a second replica or a spawned binary reuses them).
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the public listener.
    pub base: String,
    /// `http://127.0.0.1:<port>` of the metrics listener.
    pub metrics_base: String,
    /// The test's own database.
    pub db: PgPool,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    /// The settings the app was built from; `database.url` is the test database's URL.
    pub settings: Settings,
}

/// Starts the API with [`settings`] on the test's database `db`.
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_with(db, |_| {}).await
}

/// Starts the API with [`settings`] changed by `configure`
/// (`|s| s.limits.daily_post_limit = Some(5)`).
pub async fn spawn_with(db: PgPool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = settings();
    settings.database.url = database_url(&db).await.into();
    configure(&mut settings);
    start(db, settings).await
}

/// How many API replicas of this key prefix listen on the revocations channel; `None` when
/// the app's Redis is unreachable (tests of a Redis outage).
async fn listeners(settings: &Settings) -> Option<i64> {
    let url = secrecy::ExposeSecret::expose_secret(&settings.redis.url).to_owned();
    let mut redis = redis::Client::open(url)
        .ok()?
        .get_multiplexed_async_connection()
        .await
        .ok()?;
    let channel = Keys::new(&settings.redis.key_prefix).revocations;
    let counts: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut redis)
        .await
        .ok()?;
    Some(counts.1)
}

async fn start(db: PgPool, settings: Settings) -> TestApp {
    let listening = listeners(&settings).await;
    let options = BuildOptions {
        // Cheap hashing keeps tests fast; production parameters are unit-tested.
        password_params: argon2::Params::new(1024, 1, 1, None).unwrap(),
    };
    let app = Application::build(settings.clone(), db.clone(), options)
        .await
        .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = format!("http://127.0.0.1:{}", app.metrics_port());
    tokio::spawn(app.run_until_stopped());
    // Pub/sub (notifications, revocations) reaches a replica only once it has subscribed:
    // tests start when it has, not at its leisure.
    if let Some(listening) = listening {
        eventually(10, "the replica's pub/sub subscription", || async {
            (listeners(&settings).await > Some(listening)).then_some(())
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
        settings,
    }
}

impl TestApp {
    /// A second API replica on the same database, Redis and key prefix.
    pub async fn peer(&self) -> TestApp {
        start(self.db.clone(), self.settings.clone()).await
    }

    /// An in-process worker for this app: its settings with [`fast_worker`] timings, then
    /// changed by `configure`.
    pub async fn worker_with(&self, configure: impl FnOnce(&mut Settings)) -> roost_ingest::Worker {
        let mut settings = self.settings.clone();
        fast_worker(&mut settings);
        configure(&mut settings);
        roost_ingest::Worker::start(settings, self.db.clone())
            .await
            .expect("start worker")
    }

    /// An in-process worker for this app (see [`TestApp::worker_with`]).
    pub async fn worker(&self) -> roost_ingest::Worker {
        self.worker_with(|_| {}).await
    }

    /// This app's Prometheus metrics (from its metrics listener).
    pub async fn metrics(&self) -> String {
        scrape(&format!("{}/metrics", self.metrics_base)).await
    }

    /// A Redis connection to the test Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_at(&self.settings.redis).await
    }

    /// The Redis key (with this app's prefix) of `name`, e.g. `events`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.redis.key_prefix)
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

    /// A request to this app, with a bearer token and a JSON body when given.
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

    /// `GET path` with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// `POST path` with a bearer token and a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    /// `PUT path` with a bearer token and no body.
    pub async fn put(&self, path: &str, token: &str) -> Response {
        self.request(Method::PUT, path, Some(token), None).await
    }

    /// A PUT whose future owns its inputs (for concurrent fan-out); returns the status.
    pub async fn put_owned(&self, path: String, token: String) -> u16 {
        self.put(&path, &token).await.status().as_u16()
    }

    /// `DELETE path` with a bearer token.
    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Registers a user (with [`PASSWORD`]) and returns their access token.
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

    /// Subscribes the token's user to `username` (expects 204).
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
