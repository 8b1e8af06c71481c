//! Test harness: starts the real application on port 0 against the test's own fresh database
//! (from `#[sqlx::test]`) and the private test Redis, with its own key prefix.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

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
    TestApp {
        base,
        metrics_base,
        db,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl TestApp {
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
