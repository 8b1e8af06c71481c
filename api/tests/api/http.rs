//! HTTP semantics (RFC 9110), route by route from the served OpenAPI document: `HEAD`,
//! `OPTIONS`, 405 with `Allow`, 406, 415; and the protections every answer carries: security
//! headers, the header size cap (431), the body deadline (408).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use roost_testkit::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every documented path with a sample for each parameter, and its documented methods.
async fn routes(app: &TestApp) -> Vec<(String, Vec<Method>)> {
    let doc = json(app.request(Method::GET, "/openapi.json", None, None).await).await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "1")
            .replace("{username}", "alice")
            .replace("{session_id}", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
            .replace("{category}", "c")
            .replace("{name}", "n");
        assert!(
            !concrete.contains('{'),
            "a parameter without a sample: {path}"
        );
        let methods = ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .map(|m| m.to_uppercase().parse().unwrap())
            .collect();
        routes.push((concrete, methods));
    }
    assert!(routes.len() > 30, "{} routes", routes.len());
    routes
}

fn token_for<'a>(path: &str, user: &'a str) -> &'a str {
    if path.starts_with("/v1/admin") {
        ADMIN_TOKEN
    } else {
        user
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_route_answers_head_options_and_other_methods_by_the_rfc(db: PgPool) {
    let app = spawn_app(db).await;
    let user = app.register("alice").await;
    let mut checked = 0;
    for (path, methods) in routes(&app).await {
        let token = token_for(&path, &user);
        let get = methods.contains(&Method::GET);
        let safe = get && !roost_api::http::fallback::GETS_WITH_EFFECTS.contains(&path.as_str());
        let mut allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        if safe {
            allow.push("HEAD");
        }
        allow.sort_unstable();
        allow.push("OPTIONS");
        let allow = allow.join(", ");

        // OPTIONS: 204 with every method the path takes.
        let res = app.request(Method::OPTIONS, &path, Some(token), None).await;
        assert_eq!(res.status(), 204, "OPTIONS {path}");
        assert_eq!(res.headers()["allow"], allow.as_str(), "OPTIONS {path}");

        // A method the path does not take: 405 with the same Allow.
        let res = app.request(Method::PATCH, &path, Some(token), None).await;
        assert_eq!(res.headers()["allow"], allow.as_str(), "PATCH {path}");
        assert_problem(res, 405, "method_not_allowed").await;

        // HEAD: GET's status and headers, no body.
        if safe {
            let got = app.request(Method::GET, &path, Some(token), None).await;
            let head = app.request(Method::HEAD, &path, Some(token), None).await;
            assert_eq!(head.status(), got.status(), "HEAD {path}");
            assert_eq!(
                head.headers().get("content-type"),
                got.headers().get("content-type"),
                "HEAD {path}"
            );
            assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
        }

        // An Accept that admits no JSON: 406.
        if path.starts_with("/v1/") {
            let res = app
                .client
                .request(methods[0].clone(), format!("{}{path}", app.base))
                .bearer_auth(token)
                .header("Accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_problem(res, 406, "not_acceptable").await;
        }

        // A content coding we do not speak: 415.
        for method in methods
            .iter()
            .filter(|m| [Method::POST, Method::PUT].contains(m))
        {
            let res = app
                .client
                .request(method.clone(), format!("{}{path}", app.base))
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "br")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.headers()["accept-encoding"],
                "gzip, deflate",
                "{method} {path}"
            );
            assert_problem(res, 415, "unsupported_media_type").await;
        }
        checked += 1;
    }
    assert!(checked > 30);
}

#[sqlx::test(migrations = "../migrations")]
async fn head_works_on_the_documents_and_json_bodies_need_json(db: PgPool) {
    let app = spawn_app(db).await;
    for path in ["/openapi.json", "/docs/", "/healthz"] {
        let res = app.request(Method::HEAD, path, None, None).await;
        assert_eq!(res.status(), 200, "HEAD {path}");
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = app.request(Method::POST, "/openapi.json", None, None).await;
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    // A JSON route with another content type: 415, naming what it takes.
    let res = app
        .client
        .post(format!("{}/v1/auth/login", app.base))
        .header("Content-Type", "text/plain")
        .body(r#"{"username": "a", "password": "b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["accept"], "application/json");
    assert_problem(res, 415, "unsupported_media_type").await;
    // gzip is decoded on JSON routes too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        json!({"username": "gzipped", "password": PASSWORD})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let res = app
        .client
        .post(format!("{}/v1/auth/register", app.base))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A bomb on a JSON route: 64 MiB of whitespace in about 64 KiB, refused at the route's
    // 64 KiB limit, decoded a piece at a time.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut bomb, &vec![b' '; 64 << 20]).unwrap();
    let res = app
        .client
        .post(format!("{}/v1/auth/login", app.base))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(bomb.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn every_answer_carries_security_headers(db: PgPool) {
    let app = spawn_app(db).await;
    let token = app.register("alice").await;
    for (path, token) in [
        ("/v1/me", Some(token.as_str())),
        ("/v1/nothing-here", None),
        ("/healthz", None),
        ("/docs/", None),
    ] {
        let res = app.request(Method::GET, path, token, None).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path.starts_with("/v1/") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
        if path == "/docs/" {
            assert!(csp.contains("script-src 'self'"), "{csp}");
        }
    }
    // Tokens are never cached.
    let res = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[sqlx::test(migrations = "../migrations")]
async fn oversized_headers_are_431(db: PgPool) {
    let app = spawn_app(db).await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("X-Big", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_problem(res, 431, "headers_too_large").await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("X-Fine", "a".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Sends a request head promising `declared` body bytes, then only `sent` of them; returns
/// what the server answered before closing (empty when it closed without answering).
async fn slow_body(app: &TestApp, declared: usize, sent: &[u8]) -> (String, Duration) {
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(sent).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn a_body_that_never_finishes_is_408_and_the_connection_closes(db: PgPool) {
    let app = spawn_with(db, |s| s.http.body_timeout = Duration::from_secs(1)).await;
    let (answer, waited) = slow_body(&app, 100, br#"{"username": "#).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // The same on a route that reads its body by hand.
    let (_, key) = app.create_application("slow").await;
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nX-Api-Key: {key}\r\n\
                 Content-Length: 50\r\n\r\n[{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A complete body in time is fine.
    let res = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _: Value = res.json().await.unwrap();
}

/// A request's credentials are checked before anything else about it: a logged-out token is
/// 401 and a user's token on an admin route is 403, even with a bad path, query and body.
#[sqlx::test(migrations = "../migrations")]
async fn authentication_comes_before_validation_on_every_route(db: PgPool) {
    let app = spawn_app(db).await;
    let user = app.register("alice").await;
    let revoked = app.register("bob").await;
    let res = app
        .request(Method::POST, "/v1/auth/logout", Some(&revoked), None)
        .await;
    assert_eq!(res.status(), 204);
    let doc = json(app.request(Method::GET, "/openapi.json", None, None).await).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Every parameter broken: not an id, not a user, not a category.
        let concrete = path
            .replace("{id}", "not-an-id")
            .replace("{username}", "no%20such%20user")
            .replace("{session_id}", "x")
            .replace("{category}", "%00")
            .replace("{name}", "%00");
        for (method, op) in item.as_object().unwrap() {
            let schemes: Vec<String> = op["security"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let method: Method = method.to_uppercase().parse().unwrap();
            let url = format!("{}{concrete}?limit=-5&cursor=%%%&from=soon", app.base);
            let send = |token: &str| {
                app.client
                    .request(method.clone(), &url)
                    .bearer_auth(token)
                    .header("Content-Type", "application/json")
                    .body("{not json")
                    .send()
            };
            if schemes.iter().any(|s| s == "admin") {
                let res = send(&user).await.unwrap();
                assert_eq!(res.status(), 403, "{method} {path} with a user token");
                let res = send(&revoked).await.unwrap();
                assert_eq!(res.status(), 401, "{method} {path} with a logged-out token");
                checked += 1;
            } else if schemes.iter().any(|s| s == "bearer") {
                let res = send(&revoked).await.unwrap();
                assert_eq!(res.status(), 401, "{method} {path} with a logged-out token");
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "{checked} routes checked");
}

/// The document states the rules the API enforces, from the same constants: a documented
/// bound is exactly the enforced one.
#[sqlx::test(migrations = "../migrations")]
async fn documented_rules_are_the_enforced_ones(db: PgPool) {
    use roost_api::domain::{
        account::{Password, Username},
        post::{MAX_TEXT, MAX_TITLE},
    };
    let app = spawn_app(db).await;
    let user = app.register("alice").await;
    let doc = json(app.request(Method::GET, "/openapi.json", None, None).await).await;
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let register = schema("RegisterRequest");
    assert_eq!(register["required"], json!(["username", "password"]));
    let username = &register["properties"]["username"];
    assert_eq!(username["minLength"], Username::MIN_CHARS);
    assert_eq!(username["maxLength"], Username::MAX_CHARS);
    assert_eq!(username["pattern"], Username::PATTERN);
    assert_eq!(username["type"], "string", "not nullable");
    let password = &register["properties"]["password"];
    assert_eq!(password["minLength"], Password::MIN_CHARS);
    assert_eq!(password["maxLength"], Password::MAX_CHARS);
    let post = schema("CreatePost");
    assert_eq!(post["properties"]["title"]["maxLength"], MAX_TITLE);
    assert_eq!(post["properties"]["text"]["maxLength"], MAX_TEXT);
    assert_eq!(schema("Visibility")["enum"], json!(["followers", "public"]));
    // Every bounded query parameter: its bounds are the API's, one past them is 422.
    let mut bounded = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        for param in get["parameters"].as_array().into_iter().flatten() {
            let (Some(min), Some(max)) = (
                param["schema"]["minimum"].as_i64(),
                param["schema"]["maximum"].as_i64(),
            ) else {
                continue;
            };
            let name = param["name"].as_str().unwrap();
            let concrete = path
                .replace("{username}", "alice")
                .replace("{session_id}", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
                .replace("{id}", "1");
            let token = token_for(&concrete, &user);
            for (value, refused) in [(min - 1, true), (max + 1, true), (min, false), (max, false)] {
                let url = format!("{concrete}?{name}={value}");
                let status = app.get(&url, token).await.status().as_u16();
                assert_eq!(status == 422, refused, "{path}?{name}={value}: {status}");
            }
            bounded += 1;
        }
    }
    assert!(bounded >= 13, "{bounded} bounded parameters");
}

#[sqlx::test(migrations = "../migrations")]
async fn event_type_schemas_are_objects_or_booleans_without_nul(db: PgPool) {
    let app = spawn_app(db).await;
    let put = |name: &'static str, schema: Value| {
        app.client
            .put(format!("{}/v1/admin/event-types/shop/{name}", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "schema": schema }))
            .send()
    };
    // Found by schemathesis: a NUL anywhere in the schema was a 500 (jsonb refuses it).
    for schema in [json!({"x": "\u{0}"}), json!({"properties": {"a\u{0}": {}}})] {
        let res = put("order", schema).await.unwrap();
        assert_problem(res, 422, "invalid_schema").await;
    }
    let res = put("always", json!(true)).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(json(res).await["schema"], true);
    let res = put("never", json!(false)).await.unwrap();
    assert_eq!(res.status(), 201);
    let listed = json(app.get("/v1/admin/event-types", ADMIN_TOKEN).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    // A job's body must be declared JSON, like every other JSON route.
    let user = app.register("alice").await;
    let res = app
        .client
        .post(format!("{}/v1/jobs", app.base))
        .bearer_auth(&user)
        .body(r#"{"kind": "word_count", "text": "a b"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

/// HEAD is safe: it never claims notifications, so it is not served on `unsent`.
#[sqlx::test(migrations = "../migrations")]
async fn head_on_a_get_with_effects_is_405_and_claims_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    let res = app
        .post(
            &format!("/v1/posts/{post}/comments"),
            &bob,
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    eventually(20, "the notification", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    let res = app
        .request(Method::HEAD, "/v1/notifications/unsent", Some(&alice), None)
        .await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, OPTIONS");
    let unsent = json(app.get("/v1/notifications/unsent", &alice).await).await;
    assert_eq!(unsent["items"].as_array().unwrap().len(), 1, "still unsent");
    worker.shutdown().await;
}

/// A value PostgreSQL refuses (SQLSTATE class 22) that slipped past the input checks is the
/// client's input: 422, never a 500.
#[sqlx::test(migrations = "../migrations")]
async fn data_exceptions_are_client_errors(db: PgPool) {
    let error = sqlx::query("SELECT '{\"a\": \"\\u0000\"}'::jsonb")
        .execute(&db)
        .await
        .unwrap_err();
    let answer = roost_api::http::error::ApiError::from(error);
    assert_eq!(answer.code.as_str(), "validation_failed");
    let error = sqlx::query("SELECT 1e999999::numeric")
        .execute(&db)
        .await
        .unwrap_err();
    assert_eq!(
        roost_api::http::error::ApiError::from(error).code.as_str(),
        "validation_failed"
    );
}
