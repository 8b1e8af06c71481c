//! The event ingest API and the worker behind it: applications, envelopes, idempotency,
//! session ordering, the quarantine, Redis outages, schemas and the admin queries.

use std::{collections::HashSet, time::Duration};

use reqwest::StatusCode;
use roost_common::Settings;
use roost_testkit::*;
use serde_json::{Value, json};
use sqlx::PgPool;

const SESSION: &str = "2f1e4c52-8a57-4a43-9a6b-6f1f6f9b9c10";

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn admin_routes_need_the_admin_token(db: PgPool) {
    let app = spawn_app(db).await;
    let user = app.register("alice").await;
    let cases = [
        // (case, path, token, status, code)
        (
            "no token",
            "/v1/admin/applications",
            None,
            401,
            "unauthorized",
        ),
        (
            "a bad token",
            "/v1/admin/applications",
            Some("not-a-token"),
            401,
            "unauthorized",
        ),
        (
            "a user's token",
            "/v1/admin/events",
            Some(user.as_str()),
            403,
            "forbidden",
        ),
    ];
    for (case, path, token, status, code) in cases {
        let res = app.request(reqwest::Method::GET, path, token, None).await;
        assert_problem_case(case, res, status, code).await;
    }
    let res = app.get("/v1/admin/applications", ADMIN_TOKEN).await;
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn applications_are_created_listed_and_revoked(db: PgPool) {
    let app = spawn_with(db, |s| s.pipeline.api_key_cache_ttl = Duration::ZERO).await;
    let (id, key) = app.create_application("web-shop").await;
    assert!(key.len() >= 43, "a key of at least 256 bits");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT key_digest FROM applications WHERE name = 'web-shop'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32, "only the SHA-256 digest is stored");
    let res = app
        .post(
            "/v1/admin/applications",
            ADMIN_TOKEN,
            json!({"name": "Web-Shop"}),
        )
        .await;
    assert_problem(res, 409, "application_exists").await;
    let res = app
        .post("/v1/admin/applications", ADMIN_TOKEN, json!({"name": " "}))
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let list = json(app.get("/v1/admin/applications", ADMIN_TOKEN).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["name"], "web-shop");
    assert!(list["items"][0].get("api_key").is_none());

    let event = pageview(SESSION, "2026-11-23T10:00:00Z");
    assert_eq!(app.send_events(&key, &event).await.status(), 202);
    let res = app
        .delete(&format!("/v1/admin/applications/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.delete(&format!("/v1/admin/applications/{id}"), ADMIN_TOKEN)
            .await
            .status(),
        204
    );
    let res = app.send_events(&key, &event).await;
    assert_problem(res, 401, "invalid_api_key").await;
    let res = app
        .delete(
            "/v1/admin/applications/7d3c1c52-0000-4000-8000-000000000000",
            ADMIN_TOKEN,
        )
        .await;
    assert_problem(res, 404, "not_found").await;
}

/// With the key cached on every replica (the default 10 s), a revocation through one replica
/// or the CLI stops the key on the others at once.
#[sqlx::test(migrations = "../migrations")]
async fn a_revoked_key_stops_at_once_on_every_replica(db: PgPool) {
    let a = spawn_app(db).await;
    let b = a.peer().await;
    let event = pageview(SESSION, "2026-11-23T10:00:00Z");
    let (id, key) = a.create_application("web").await;
    let (other_id, other_key) = a.create_application("mobile").await;
    for replica in [&a, &b] {
        assert_eq!(replica.send_events(&key, &event).await.status(), 202);
        assert_eq!(replica.send_events(&other_key, &event).await.status(), 202);
    }
    let res = a
        .delete(&format!("/v1/admin/applications/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(res.status(), 204);
    // Pub/sub is asynchronous: allow it a moment, far below the cache's 10 s.
    let started = std::time::Instant::now();
    eventually(3, "the key refused on the other replica", || async {
        (b.send_events(&key, &event).await.status() == 401).then_some(())
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_problem(a.send_events(&key, &event).await, 401, "invalid_api_key").await;
    // Only that application's key.
    assert_eq!(b.send_events(&other_key, &event).await.status(), 202);
    // The CLI announces its revocations too.
    // Exactly the app's settings (its database, Redis and key prefix), nothing inherited.
    let out = std::process::Command::new(bin("roost-api"))
        .args(["revoke-app", &other_id])
        .env_clear()
        .envs(a.settings.to_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("announced to 2"));
    eventually(3, "the CLI's revocation on both replicas", || async {
        (a.send_events(&other_key, &event).await.status() == 401
            && b.send_events(&other_key, &event).await.status() == 401)
            .then_some(())
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn envelopes_are_checked_one_by_one(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, key) = app.create_application("web").await;
    let res = app
        .send_events(
            "roost_not-a-key",
            &pageview(SESSION, "2026-11-23T10:00:00Z"),
        )
        .await;
    assert_problem(res, 401, "invalid_api_key").await;

    let res = app
        .send_events(&key, &pageview(SESSION, "2026-11-23 10:00:00.123456"))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(json(res).await, json!({"accepted": 1, "rejected": []}));

    let batch = json!([
        pageview(SESSION, "2026-11-23T10:00:00Z"),
        {"session_id": "nope", "category": "x", "name": "y", "data": {}, "timestamp": "2026-11-23T10:00:00Z"},
        {"session_id": SESSION, "category": "x", "name": "y", "data": [1], "timestamp": "yesterday"},
        {"session_id": SESSION, "category": "x", "name": "y", "data": {}, "timestamp": "2026-11-23T10:00:00Z", "extra": 1},
        {"session_id": SESSION, "category": "x", "name": "y", "data": {}, "timestamp": "2026-11-23T10:00:00Z"},
    ]);
    let body = json(app.send_events(&key, &batch).await).await;
    assert_eq!(body["accepted"], 2, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    let indexes: Vec<i64> = rejected
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    assert!(rejected.iter().all(|r| r["code"] == "invalid_event"));
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .contains("session_id")
    );
    assert!(
        rejected[1]["message"]
            .as_str()
            .unwrap()
            .contains("timestamp")
    );
    assert!(rejected[1]["message"].as_str().unwrap().contains("data"));
    assert!(rejected[2]["message"].as_str().unwrap().contains("extra"));

    // Whole-request refusals.
    let raw = |body: &'static str| {
        app.client
            .post(format!("{}/v1/events", app.base))
            .header("X-Api-Key", key.as_str())
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for body in ["{not json", "[]", "42"] {
        assert_problem_case(body, raw(body).await.unwrap(), 400, "malformed_body").await;
    }
    let many: Vec<Value> = (0..1001)
        .map(|_| pageview(SESSION, "2026-11-23T10:00:00Z"))
        .collect();
    let res = app.send_events(&key, &Value::Array(many)).await;
    assert_problem(res, 413, "payload_too_large").await;
    let big = json!({"session_id": SESSION, "category": "x", "name": "y",
        "data": {"blob": "x".repeat(1024 * 1024)}, "timestamp": "2026-11-23T10:00:00Z"});
    let res = app.send_events(&key, &big).await;
    assert_problem(res, 413, "payload_too_large").await;

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("roost_events_accepted_total 3"),
        "{metrics}"
    );
    assert!(metrics.contains("roost_events_rejected_total{cause=\"invalid_event\"} 3"));
    assert!(metrics.contains("roost_events_rejected_total{cause=\"invalid_api_key\"} 1"));
    assert!(metrics.contains("roost_events_rejected_total{cause=\"malformed_body\"} 3"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_same_id_is_stored_once_and_sessions_read_in_timestamp_order(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let (_, key) = app.create_application("web").await;
    let times = [
        "2026-11-23T10:00:03Z",
        "2026-11-23T10:00:01Z",
        "2026-11-23T10:00:04Z",
        "2026-11-23T10:00:02Z",
    ];
    let events: Vec<Value> = times.iter().map(|t| pageview(SESSION, t)).collect();
    // Out of order, split across requests, one event sent three times (twice in one batch).
    let dup = events[0].clone();
    for body in [
        json!([events[2], dup, dup]),
        json!([events[1], events[3]]),
        dup.clone(),
    ] {
        assert_eq!(app.send_events(&key, &body).await.status(), 202);
    }
    let stored = eventually(20, "4 stored events", || async {
        let items = app.stored_events(&format!("session_id={SESSION}")).await;
        (items.len() == 4).then_some(items)
    })
    .await;
    // Another copy now, after it was stored: still one row.
    assert_eq!(app.send_events(&key, &dup).await.status(), 202);
    // 7 accepted, 4 stored: 3 duplicates once the late copy is consumed.
    let metrics_url = format!("http://127.0.0.1:{}/metrics", worker.metrics_port());
    eventually(20, "the late duplicate to be consumed", || async {
        let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        text.contains("roost_ingest_events_duplicate_total 3")
            .then_some(())
    })
    .await;
    let page = json(
        app.get(
            &format!("/v1/admin/sessions/{SESSION}/events?limit=3"),
            ADMIN_TOKEN,
        )
        .await,
    )
    .await;
    let mut session = page["items"].as_array().unwrap().clone();
    session.extend(
        app.pages_from(
            &format!("/v1/admin/sessions/{SESSION}/events?limit=3"),
            ADMIN_TOKEN,
            page["next_cursor"].as_str().map(str::to_owned),
        )
        .await,
    );
    let ts: Vec<&str> = session
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(
        ts,
        vec![
            "2026-11-23T10:00:01Z",
            "2026-11-23T10:00:02Z",
            "2026-11-23T10:00:03Z",
            "2026-11-23T10:00:04Z"
        ]
    );
    assert_eq!(stored.len(), 4);
    assert_eq!(session[0]["application"], "web");
    assert_eq!(session[0]["data"]["host"], "shop.example");
    let ids: HashSet<&str> = session.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(count(&app.db, "SELECT count(*) FROM events").await, 4);
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn admin_event_queries_filter_and_paginate(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let (web_id, web) = app.create_application("web").await;
    let (mobile_id, mobile) = app.create_application("mobile").await;
    let other = "9a0c8e0e-51f0-4f4e-8d0b-3a4a0b3c1d2e";
    let mut cta = pageview(other, "2026-11-20T12:00:00Z");
    cta["name"] = json!("cta click");
    cta["data"]["element"] = json!("buy");
    app.send_events(
        &web,
        &json!([pageview(SESSION, "2026-11-21T12:00:00Z"), cta]),
    )
    .await;
    app.send_events(&mobile, &pageview(SESSION, "2026-11-22T12:00:00Z"))
        .await;
    eventually(20, "3 events", || async {
        (app.stored_events("application=web").await.len() == 2
            && app.stored_events("application=mobile").await.len() == 1)
            .then_some(())
    })
    .await;
    let names = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(
            app.stored_events("category=page%20interaction&name=cta%20click")
                .await
        ),
        vec!["cta click"]
    );
    assert_eq!(
        app.stored_events(&format!("session_id={SESSION}"))
            .await
            .len(),
        2
    );
    let window = app
        .stored_events(
            "from=2026-11-21T00:00:00Z&to=2026-11-22T12:00:00Z&category=page%20interaction",
        )
        .await;
    assert_eq!(window.len(), 1, "from inclusive, to exclusive");
    assert_eq!(window[0]["timestamp"], "2026-11-21T12:00:00Z");
    let all = app
        .all_pages(
            "/v1/admin/events?limit=1&category=page%20interaction",
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(all.len(), 3);
    // The filter takes the id the API handed out as well as the name (any case).
    assert_eq!(
        app.stored_events(&format!("application={web_id}"))
            .await
            .len(),
        2
    );
    assert_eq!(
        app.stored_events(&format!("application={}", mobile_id.to_uppercase()))
            .await
            .len(),
        1
    );
    assert_eq!(app.stored_events("application=MOBILE").await.len(), 1);
    for unknown in ["nope", "9a0c8e0e-51f0-4f4e-8d0b-3a4a0b3c1d2e"] {
        let res = app
            .get(
                &format!("/v1/admin/events?application={unknown}"),
                ADMIN_TOKEN,
            )
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert!(
            body["detail"].to_string().contains(unknown)
                || body["errors"].to_string().contains(unknown),
            "{body}"
        );
    }
    let cases = [
        // (query, status, code, how many fields the errors name)
        ("session_id=x&from=soon", 422, "validation_failed", Some(2)),
        ("cursor=garbage", 400, "invalid_cursor", None),
        ("limit=1001", 422, "validation_failed", None),
    ];
    for (query, status, code, fields) in cases {
        let res = app
            .get(&format!("/v1/admin/events?{query}"), ADMIN_TOKEN)
            .await;
        let body = assert_problem_case(query, res, status, code).await;
        if let Some(fields) = fields {
            assert_eq!(body["errors"].as_array().unwrap().len(), fields, "{query}");
        }
    }
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn every_quarantine_reason_is_recorded(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker_with(|s| s.pipeline.max_deliveries = 2).await;
    let web_app = app.create_application("web").await;
    let key = web_app.1.clone();

    // A schema registered before the events were accepted applies to them.
    let schema = json!({"type": "object", "required": ["total"],
        "properties": {"total": {"type": "number", "minimum": 0}}});
    let put = |schema: Value| {
        app.request(
            reqwest::Method::PUT,
            "/v1/admin/event-types/shop/order",
            Some(ADMIN_TOKEN),
            Some(json!({"schema": schema})),
        )
    };
    assert_eq!(put(schema.clone()).await.status(), 201);
    assert_eq!(put(schema.clone()).await.status(), 200);
    let res = put(json!({"type": "no-such-type"})).await;
    assert_problem(res, 422, "invalid_schema").await;

    let mut bad_builtin = pageview(SESSION, "2026-11-23T10:00:00Z");
    bad_builtin["data"] = json!({"host": "h"});
    let order = |total: Value| {
        json!({"id": uuid::Uuid::new_v4(), "session_id": SESSION, "category": "shop", "name": "order",
               "data": {"total": total}, "timestamp": "2026-11-23T10:00:00Z"})
    };
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let batch = json!([
        bad_builtin,
        order(json!("3")),
        order(json!(3)),
        pageview(SESSION, &future),
        pageview(SESSION, "2026-11-23T10:00:00Z"),
    ]);
    let body = json(app.send_events(&key, &batch).await).await;
    assert_eq!(
        body["accepted"], 5,
        "payload rules run in the worker: {body}"
    );

    // A poison entry: written straight to the stream, it can never be decoded.
    let mut redis = app.redis().await;
    let _: String = redis::cmd("XADD")
        .arg(app.key("events"))
        .arg("*")
        .arg("app")
        .arg("garbage")
        .arg("events")
        .arg("{\"not\": \"an array\"}")
        .query_async(&mut redis)
        .await
        .unwrap();

    let errors = eventually(20, "4 quarantined items", || async {
        let items = app.all_pages("/v1/admin/ingest-errors", ADMIN_TOKEN).await;
        (items.len() == 4).then_some(items)
    })
    .await;
    let codes: Vec<&str> = errors.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == "payload_invalid").count(), 2);
    assert!(codes.contains(&"future_timestamp"));
    assert!(codes.contains(&"poison_message"));
    let invalid = errors
        .iter()
        .find(|e| e["event"]["category"] == "shop")
        .unwrap();
    assert_eq!(invalid["application"], "web");
    assert!(
        invalid["message"].as_str().unwrap().contains("/total"),
        "{invalid}"
    );
    assert!(invalid["event"]["id"].is_string());
    let poison = errors
        .iter()
        .find(|e| e["code"] == "poison_message")
        .unwrap();
    assert!(poison["application"].is_null());
    assert_eq!(poison["event"]["fields"]["app"], "garbage");
    // The valid two are stored.
    eventually(20, "2 stored", || async {
        (app.stored_events("application=web").await.len() == 2).then_some(())
    })
    .await;
    // Filters on the quarantine.
    let only = app
        .all_pages(
            "/v1/admin/ingest-errors?code=future_timestamp&application=web",
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(only.len(), 1);
    let (web_id, _) = web_app;
    let by_id = app
        .all_pages(
            &format!("/v1/admin/ingest-errors?code=future_timestamp&application={web_id}"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(by_id, only, "the application's id filters like its name");
    let res = app
        .get("/v1/admin/ingest-errors?code=nope", ADMIN_TOKEN)
        .await;
    assert_problem(res, 422, "validation_failed").await;

    let metrics = worker_metrics(&worker).await;
    assert!(
        metrics.contains("roost_ingest_quarantined_total{code=\"payload_invalid\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("roost_ingest_quarantined_total{code=\"poison_message\"} 1"));
    assert!(metrics.contains("roost_ingest_events_stored_total"));
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_entry_that_keeps_failing_is_retried_then_quarantined(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker_with(|s| s.pipeline.max_deliveries = 2).await;
    // A well-formed entry whose write fails on its data: an application id that violates
    // the quarantine's foreign key cannot happen, so use a NUL in `data`, which jsonb refuses
    // (the API never lets one through; a foreign writer might).
    let mut redis = app.redis().await;
    let event = json!([{
        "id": uuid::Uuid::new_v4(), "session_id": SESSION, "category": "x", "name": "y",
        "data": {"bad": "a\u{0}b"}, "timestamp": "2026-11-23T10:00:00Z"
    }]);
    let _: String = redis::cmd("XADD")
        .arg(app.key("events"))
        .arg("*")
        .arg("app")
        .arg("00000000-0000-0000-0000-000000000001")
        .arg("received_at")
        .arg("2026-11-23T10:00:00Z")
        .arg("events")
        .arg(event.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    let errors = eventually(30, "the poison entry in the quarantine", || async {
        let items = app.all_pages("/v1/admin/ingest-errors", ADMIN_TOKEN).await;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "poison_message");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("could not be stored"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0]["application"], "roost");
    // Acknowledged: nothing stays pending.
    eventually(10, "no pending entries", || async {
        let mut redis = app.redis().await;
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg(app.key("events"))
            .arg("ingest")
            .query_async(&mut redis)
            .await
            .unwrap();
        match pending {
            redis::Value::Array(v) if matches!(v.first(), Some(redis::Value::Int(0))) => Some(()),
            _ => None,
        }
    })
    .await;
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn redis_down_means_503_and_nothing_accepted(db: PgPool) {
    let port = free_port();
    let app = spawn_with(db, |s| {
        s.redis.url = format!("redis://127.0.0.1:{port}/0").into();
    })
    .await;
    let (_, key) = app.create_application("web").await;
    let res = app
        .send_events(&key, &json!([pageview(SESSION, "2026-11-23T10:00:00Z")]))
        .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, 503, "unavailable").await;
    // The rest of the API still works without Redis.
    let token = app.register("alice").await;
    assert_eq!(app.get("/v1/me", &token).await.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn domain_events_are_stored_as_the_roost_application(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    app.register("bob").await;
    app.subscribe(&alice, "bob").await;
    app.delete("/v1/me/subscriptions/bob", &alice).await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    app.post(
        &format!("/v1/posts/{post}/comments"),
        &alice,
        json!({"text": "self"}),
    )
    .await;
    app.request(
        reqwest::Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"username": "alice", "password": PASSWORD})),
    )
    .await;
    let events = eventually(20, "7 domain events", || async {
        let items = app.stored_events("application=roost").await;
        (items.len() == 7).then_some(items)
    })
    .await;
    let mut names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "comment.created",
            "post.created",
            "subscription.created",
            "subscription.removed",
            "user.logged_in",
            "user.registered",
            "user.registered"
        ]
    );
    assert!(events.iter().all(|e| e["category"] == "domain"));
    let post_event = events.iter().find(|e| e["name"] == "post.created").unwrap();
    assert_eq!(post_event["data"]["post_id"], post);
    assert_eq!(post_event["data"]["username"], "alice");
    assert_eq!(post_event["data"]["text"], "World");
    // A user's domain events share one session.
    let session = post_event["session_id"].as_str().unwrap();
    assert_eq!(
        app.stored_events(&format!("session_id={session}"))
            .await
            .len(),
        6
    );
    // Each stored domain event leaves the outbox.
    eventually(10, "an empty outbox", || async {
        (count(&app.db, "SELECT count(*) FROM outbox").await == 0).then_some(())
    })
    .await;
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_relay_publishes_what_a_crash_left_in_the_outbox(db: PgPool) {
    let app = spawn_app(db).await;
    // A committed domain event whose publish never happened (the process died in between).
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO outbox (event_id, name, payload, session_id, created_at)
         VALUES ($1, 'user.logged_in', '{\"user_id\": 1}', $2, now() - interval '1 minute')",
    )
    .bind(id)
    .bind(uuid::Uuid::from_u64_pair(0, 1))
    .execute(&app.db)
    .await
    .unwrap();
    let worker = app.worker().await;
    let stored = eventually(20, "the relayed event", || async {
        let items = app
            .stored_events("application=roost&name=user.logged_in")
            .await;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(stored[0]["id"], id.to_string());
    eventually(10, "an empty outbox", || async {
        (count(&app.db, "SELECT count(*) FROM outbox").await == 0).then_some(())
    })
    .await;
    let metrics = worker_metrics(&worker).await;
    // At least once: a slow store can see the relay publish the row again (stored once).
    let relayed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("roost_outbox_relayed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(relayed >= 1.0, "{metrics}");
    assert!(metrics.contains("roost_outbox_backlog"));
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_stream_is_trimmed_only_below_what_was_acknowledged(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, key) = app.create_application("web").await;
    let mut redis = app.redis().await;
    let xlen = |mut r: redis::aio::MultiplexedConnection, k: String| async move {
        redis::cmd("XLEN")
            .arg(k)
            .query_async::<u64>(&mut r)
            .await
            .unwrap()
    };
    // No consumer group yet: nothing may be trimmed.
    for _ in 0..3 {
        app.send_events(&key, &pageview(SESSION, "2026-11-23T10:00:00Z"))
            .await;
    }
    assert_eq!(xlen(redis.clone(), app.key("events")).await, 3);
    // A second group that has read nothing holds everything back.
    let _: String = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(app.key("events"))
        .arg("audit")
        .arg("0")
        .query_async(&mut redis)
        .await
        .unwrap();
    let worker = app.worker().await;
    app.send_events(&key, &pageview(SESSION, "2026-11-23T10:00:00Z"))
        .await;
    eventually(20, "4 stored", || async {
        (app.stored_events("application=web").await.len() == 4).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await; // two maintenance ticks
    assert_eq!(xlen(redis.clone(), app.key("events")).await, 4);
    // Once the other group is gone, acknowledged entries go.
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(app.key("events"))
        .arg("audit")
        .query_async(&mut redis)
        .await
        .unwrap();
    eventually(20, "a trimmed stream", || async {
        (xlen(redis.clone(), app.key("events")).await == 0).then_some(())
    })
    .await;
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_cli_manages_applications(db: PgPool) {
    let mut settings = settings();
    settings.database.url = database_url(&db).await.into();
    let cli = |args: &[&str]| {
        let output = command("roost-api", &settings)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (ok, out) = cli(&["create-app", "batch-importer"]);
    assert!(ok, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap()
    };
    let (id, key) = (field("id:"), field("api_key:"));
    assert!(
        !cli(&["create-app", "Batch-Importer"]).0,
        "names are unique"
    );
    let (ok, list) = cli(&["list-apps"]);
    assert!(
        ok && list.contains(&id) && list.contains("active"),
        "{list}"
    );

    let app = spawn_with(db, |s| s.pipeline.api_key_cache_ttl = Duration::ZERO).await;
    let res = app
        .send_events(&key, &pageview(SESSION, "2026-11-23T10:00:00Z"))
        .await;
    assert_eq!(res.status(), 202);
    assert!(cli(&["revoke-app", &id]).0);
    let (_, list) = cli(&["list-apps"]);
    assert!(list.contains("revoked"), "{list}");
    let res = app
        .send_events(&key, &pageview(SESSION, "2026-11-23T10:00:00Z"))
        .await;
    assert_problem(res, 401, "invalid_api_key").await;
    assert!(!cli(&["revoke-app", "7d3c1c52-0000-4000-8000-000000000000"]).0);
}

#[sqlx::test(migrations = "../migrations")]
async fn several_workers_share_the_stream(db: PgPool) {
    let app = spawn_app(db).await;
    let two_consumers = |s: &mut Settings| s.pipeline.consumers = 2;
    let first = app.worker_with(two_consumers).await;
    let second = app.worker_with(two_consumers).await;
    let (_, key) = app.create_application("web").await;
    let sends = (0..40).map(|_| {
        let batch: Vec<Value> = (0..50)
            .map(|_| pageview(SESSION, "2026-11-23T10:00:00Z"))
            .collect();
        let (app, key) = (&app, &key);
        async move { app.send_events(key, &Value::Array(batch)).await.status() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 202));
    eventually(30, "2000 stored events", || async {
        (count(&app.db, "SELECT count(*) FROM events").await == 2000).then_some(())
    })
    .await;
    assert_eq!(
        count(&app.db, "SELECT count(DISTINCT id) FROM events").await,
        2000
    );
    let mut redis = app.redis().await;
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(app.key("events"))
        .arg("ingest")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        consumers.len(),
        4,
        "both workers' two consumers joined the group"
    );
    let stored_by_each: Vec<String> = [&first, &second]
        .iter()
        .map(|w| w.metrics.events_stored.get().to_string())
        .collect();
    let total: u64 = [&first, &second]
        .iter()
        .map(|w| w.metrics.events_stored.get())
        .sum();
    assert_eq!(
        total, 2000,
        "each event stored by exactly one worker: {stored_by_each:?}"
    );
    first.shutdown().await;
    second.shutdown().await;
}
