use reqwest::Method;
use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn health_readiness_and_request_ids(db: PgPool) {
    let app = spawn_app(db).await;
    let res = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    let ready = json(app.request(Method::GET, "/readyz", None, None).await).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["postgres"], "ok");
    assert_eq!(ready["redis"], "ok");
    // A sane incoming request id is echoed back.
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[sqlx::test(migrations = "../migrations")]
async fn readiness_fails_without_postgres(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    db.close().await;
    let res = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(res.status(), 503);
    let body = json(res).await;
    assert_eq!(body["postgres"], "unavailable");
    assert_eq!(body["redis"], "ok");
}

/// An unreachable database is 503 `unavailable` (with `Retry-After`) on the account routes
/// too, never a 500: clients retry, and the error-rate alerts stay quiet.
#[sqlx::test(migrations = "../migrations")]
async fn accounts_answer_503_without_postgres(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    app.register("alice").await;
    db.close().await;
    for (path, body) in [
        (
            "/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
        ),
        (
            "/v1/auth/register",
            json!({"username": "bob", "password": PASSWORD}),
        ),
    ] {
        let res = app.request(Method::POST, path, None, Some(body)).await;
        assert!(res.headers().contains_key("retry-after"), "{path}");
        assert_problem(res, 503, "unavailable").await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_routes_are_problem_404s(db: PgPool) {
    let app = spawn_app(db).await;
    let token = app.register("alice").await;
    assert_problem(app.get("/v1/nothing-here", &token).await, 404, "not_found").await;
    assert_problem(
        app.request(Method::GET, "/metrics", None, None).await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn known_paths_with_another_method_are_405_with_allow(db: PgPool) {
    let app = spawn_app(db).await;
    let token = app.register("alice").await;
    let res = app.delete("/v1/posts/1", &token).await;
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app.get("/v1/auth/login", &token).await;
    assert_eq!(res.headers()["allow"], "POST, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app
        .post("/v1/me/subscriptions/bob", &token, json!({}))
        .await;
    assert_eq!(res.headers()["allow"], "DELETE, PUT, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app
        .request(Method::OPTIONS, "/v1/me/subscriptions/bob", None, None)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["allow"], "DELETE, PUT, OPTIONS");
    // One segment more is an unknown path again.
    assert_problem(app.get("/v1/posts/1/nope", &token).await, 404, "not_found").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_are_served_on_their_own_port(db: PgPool) {
    let app = spawn_app(db).await;
    let token = app.register("alice").await;
    app.get("/v1/users/nobody", &token).await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/v1/users/{username}",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"http_requests_total{method="POST",route="/v1/auth/register",status="201"} 1"#
    ));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("process_resident_memory_bytes"));
}

#[sqlx::test(migrations = "../migrations")]
async fn openapi_lists_every_route_and_docs_are_local(db: PgPool) {
    let app = spawn_app(db).await;
    let spec = json(app.request(Method::GET, "/openapi.json", None, None).await).await;
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/me", "get"),
        ("/v1/users", "get"),
        ("/v1/users/{username}", "get"),
        ("/v1/users/{username}/posts", "get"),
        ("/v1/me/subscriptions", "get"),
        ("/v1/me/subscribers", "get"),
        ("/v1/me/subscriptions/{username}", "put"),
        ("/v1/me/subscriptions/{username}", "delete"),
        ("/v1/posts", "post"),
        ("/v1/posts/{id}", "get"),
        ("/v1/posts/{id}/repost", "post"),
        ("/v1/posts/{id}/quote", "post"),
        ("/v1/posts/{id}/comments", "post"),
        ("/v1/posts/{id}/comments", "get"),
        ("/v1/me/posts", "get"),
        ("/v1/feed", "get"),
        ("/v1/subscriptions/posts", "get"),
        ("/v1/notifications/unsent", "get"),
        ("/v1/notifications", "get"),
        ("/v1/notifications/stream", "get"),
        ("/v1/jobs", "post"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/events", "post"),
        ("/v1/admin/applications", "post"),
        ("/v1/admin/applications", "get"),
        ("/v1/admin/applications/{id}", "delete"),
        ("/v1/admin/event-types/{category}/{name}", "put"),
        ("/v1/admin/event-types", "get"),
        ("/v1/admin/events", "get"),
        ("/v1/admin/sessions/{session_id}/events", "get"),
        ("/v1/admin/ingest-errors", "get"),
        ("/v1/admin/analytics/logins-per-day", "get"),
        ("/v1/admin/analytics/top-posts", "get"),
        ("/v1/admin/analytics/users/{username}/post-extremes", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["bearer", "admin", "api_key"] {
        assert!(
            schemes.contains_key(scheme),
            "security scheme {scheme} missing"
        );
    }
    let res = app.request(Method::GET, "/docs", None, None).await;
    assert!(res.status().is_redirection());
    let html = app
        .request(Method::GET, "/docs/", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("cdn"),
        "the docs page must not load assets from a CDN"
    );
    let js = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(js.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn internal_errors_carry_the_request_id_and_no_internals(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let token = app.register("alice").await;
    let post = app.publish(&token, "t", "", "public").await;
    sqlx::query("DROP TABLE comments CASCADE")
        .execute(&db)
        .await
        .unwrap();
    let res = app.get(&format!("/v1/posts/{post}/comments"), &token).await;
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = assert_problem(res, 500, "internal_error").await;
    assert_eq!(body["request_id"], request_id.as_str());
    let text = body.to_string();
    assert!(text.contains(&request_id));
    for leak in ["comments", "relation", "SELECT", "sqlx"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_redis_outage_degrades_without_failing_readiness_or_logins(db: PgPool) {
    let closed = format!("redis://127.0.0.1:{}/0", free_port());
    let app = spawn_with(db, |s| s.redis.url = closed.into()).await;
    let res = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(
        (body["postgres"].as_str(), body["redis"].as_str()),
        (Some("ok"), Some("unavailable"))
    );
    // The login throttle fails open: PostgreSQL still checks every password.
    let token = app.register("alice").await;
    let res = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(serde_json::json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get("/v1/me", &token).await.status(), 200);
}

/// `roost-api probe` (the chart's `helm test`): 0 when every URL answers 200, 1 otherwise.
#[sqlx::test(migrations = "../migrations")]
async fn the_probe_command_checks_urls(db: PgPool) {
    let app = spawn_app(db).await;
    let base = app.base.clone();
    let probe = move |paths: &[&str]| {
        let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roost-api"))
            .arg("probe")
            .args(&urls)
            .env_clear()
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _) = tokio::task::spawn_blocking({
        let probe = probe.clone();
        move || probe(&["/readyz", "/openapi.json"])
    })
    .await
    .unwrap();
    assert!(ok);
    let (ok, err) = tokio::task::spawn_blocking(move || probe(&["/readyz", "/nothing"]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("/nothing") && err.contains("404"), "{err}");
}
