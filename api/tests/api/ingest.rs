//! `POST /v1/events` as client SDKs send it: compressed bodies, cut emoji, big and precise
//! numbers, browser pages on other origins.

use std::io::Write;

use reqwest::{Method, Response};
use roost_testkit::*;
use serde_json::{Value, json};
use sqlx::PgPool;

const SESSION: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

async fn send_raw(app: &TestApp, key: &str, encoding: Option<&str>, body: Vec<u8>) -> Response {
    let mut req = app
        .client
        .post(format!("{}/v1/events", app.base))
        .header("X-Api-Key", key)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(encoding) = encoding {
        req = req.header("Content-Encoding", encoding);
    }
    req.send().await.unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn event(name: &str) -> Value {
    let mut e = pageview(SESSION, "2026-11-20T12:00:00Z");
    e["category"] = json!("sdk");
    e["name"] = json!(name);
    e
}

#[sqlx::test(migrations = "../migrations")]
async fn compressed_batches_are_decoded_and_limited_after_decoding(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let (_, key) = app.create_application("sdk").await;
    let batch = serde_json::to_vec(&json!([event("gzip"), event("gzip")])).unwrap();
    let res = send_raw(&app, &key, Some("gzip"), gzip(&batch)).await;
    assert_eq!(res.status(), 202);
    assert_eq!(json(res).await["accepted"], 2);
    let one = serde_json::to_vec(&event("deflate")).unwrap();
    let res = send_raw(&app, &key, Some("deflate"), zlib(&one)).await;
    assert_eq!(res.status(), 202);
    assert_eq!(json(res).await["accepted"], 1);
    // `identity`, and the legacy `x-gzip`, are fine too.
    let res = send_raw(&app, &key, Some("identity"), one.clone()).await;
    assert_eq!(res.status(), 202);
    let res = send_raw(&app, &key, Some("x-gzip"), gzip(&one)).await;
    assert_eq!(res.status(), 202);
    // The last three carried one event id: stored once.
    eventually(20, "3 stored", || async {
        (app.stored_events("category=sdk").await.len() == 3).then_some(())
    })
    .await;

    // A decompression bomb: 64 MiB of JSON whitespace in a ~64 KiB gzip body.
    let mut bomb = b"[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 64 << 20));
    bomb.extend_from_slice(b"]");
    let bomb = gzip(&bomb);
    assert!(bomb.len() < 1 << 20);
    let res = send_raw(&app, &key, Some("gzip"), bomb).await;
    assert_problem(res, 413, "payload_too_large").await;
    // Not gzip at all, or cut short.
    let res = send_raw(&app, &key, Some("gzip"), one.clone()).await;
    assert_problem(res, 400, "malformed_body").await;
    let cut = gzip(&one);
    let res = send_raw(&app, &key, Some("gzip"), cut[..cut.len() / 2].to_vec()).await;
    assert_problem(res, 400, "malformed_body").await;
    // Codings we do not speak are 415, naming the ones we do.
    for coding in ["br", "zstd", "gzip, gzip", "compress"] {
        let res = send_raw(&app, &key, Some(coding), one.clone()).await;
        assert_eq!(
            res.headers()["accept-encoding"],
            "gzip, deflate",
            "{coding}"
        );
        assert_problem(res, 415, "unsupported_media_type").await;
    }
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn event_data_is_stored_and_returned_as_sent(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let (_, key) = app.create_application("sdk").await;
    // Written by hand: serde_json would round these numbers before they were sent.
    let body = format!(
        r#"[{{"session_id": "{SESSION}", "category": "sdk", "name": "precise",
             "timestamp": "2026-11-20T12:00:00Z",
             "data": {{"big": 12345678901234567890123, "fine": 0.1234567890123456789,
                       "neg": -98765432109876543210.5, "cut": "ab\ud83d", "pair": "\ud83d\ude00",
                       "literal": "\\ud83d"}}}},
            {{"session_id": "{SESSION}", "category": "sdk", "name": "second",
              "timestamp": "2026-11-20T12:00:01Z", "data": {{"lone": "\udc00x"}}}},
            {{"session_id": "{SESSION}", "category": "sdk", "name": "huge",
              "timestamp": "2026-11-20T12:00:02Z", "data": {{"n": 1e999999}}}}]"#
    );
    let res = send_raw(&app, &key, None, body.into_bytes()).await;
    assert_eq!(res.status(), 202);
    let accepted = json(res).await;
    assert_eq!(accepted["accepted"], 2, "{accepted}");
    // A number PostgreSQL's numeric cannot hold is refused for that event only.
    assert_eq!(accepted["rejected"][0]["index"], 2, "{accepted}");
    assert!(
        accepted["rejected"][0]["message"]
            .as_str()
            .unwrap()
            .contains("number")
    );
    let stored = eventually(20, "2 stored", || async {
        let items = app.stored_events("category=sdk").await;
        (items.len() == 2).then_some(items)
    })
    .await;
    // The admin API's text: numbers exactly as sent.
    let raw = app
        .get("/v1/admin/events?category=sdk&name=precise", ADMIN_TOKEN)
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("12345678901234567890123"), "{raw}");
    assert!(raw.contains("0.1234567890123456789"), "{raw}");
    assert!(raw.contains("-98765432109876543210.5"), "{raw}");
    let data = &stored[0]["data"];
    assert_eq!(data["cut"], "ab\u{fffd}", "a lone surrogate becomes U+FFFD");
    assert_eq!(data["pair"], "\u{1f600}", "a pair stays the emoji");
    assert_eq!(data["literal"], "\\ud83d", "an escaped backslash is text");
    assert_eq!(stored[1]["data"]["lone"], "\u{fffd}x");
    // PostgreSQL holds the exact numeric too (analytics SQL sees what the client sent).
    let exact: String = sqlx::query_scalar(
        "SELECT (data->>'big') || ' ' || (data->>'fine') FROM events WHERE name = 'precise'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(exact, "12345678901234567890123 0.1234567890123456789");
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn quarantined_events_keep_their_data_as_sent(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let (_, key) = app.create_application("sdk").await;
    // A page view without `path` breaks its built-in rule.
    let body = format!(
        r#"{{"session_id": "{SESSION}", "category": "page interaction", "name": "pageview",
             "timestamp": "2026-11-20T12:00:00Z",
             "data": {{"host": "h", "n": 12345678901234567890123}}}}"#
    );
    let res = send_raw(&app, &key, None, body.into_bytes()).await;
    assert_eq!(res.status(), 202);
    eventually(20, "one quarantined", || async {
        let page = json(app.get("/v1/admin/ingest-errors", ADMIN_TOKEN).await).await;
        (page["items"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let raw = app
        .get("/v1/admin/ingest-errors", ADMIN_TOKEN)
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("12345678901234567890123"), "{raw}");
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn browsers_may_send_events_from_any_origin_but_nothing_else(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, key) = app.create_application("sdk").await;
    let preflight = |path: &'static str, method: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .header("Origin", "https://shop.example")
            .header("Access-Control-Request-Method", method)
            .header(
                "Access-Control-Request-Headers",
                "x-api-key, content-type, content-encoding",
            )
            .send()
    };
    let res = preflight("/v1/events", "POST").await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("x-api-key") && allowed.contains("content-encoding"));
    // The request itself carries the header too, and exposes the request id.
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .header("Origin", "https://shop.example")
        .header("X-Api-Key", &key)
        .json(&event("cors"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    // Refusals carry the headers too, so a page can read them: a bad key, a coding we do not
    // speak.
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .header("Origin", "https://shop.example")
        .header("X-Api-Key", "roost_not-a-key")
        .json(&event("cors"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_problem(res, 401, "invalid_api_key").await;
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .header("Origin", "https://shop.example")
        .header("X-Api-Key", &key)
        .header("Content-Encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_problem(res, 415, "unsupported_media_type").await;
    // The other routes send no CORS headers unless configured.
    let res = preflight("/v1/auth/login", "POST").await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res = app
        .client
        .get(format!("{}/v1/users", app.base))
        .header("Origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[sqlx::test(migrations = "../migrations")]
async fn cors_origins_are_configurable(db: PgPool) {
    let app = spawn_with(db, |s| {
        s.http.ingest_cors_origins = vec!["https://shop.example".into()];
        s.http.cors_origins = vec!["https://app.example".into()];
    })
    .await;
    // (path, origin, the origin allowed back, or refused with 403)
    let cases = [
        ("/v1/events", "https://shop.example", true),
        ("/v1/events", "https://evil.example", false),
        ("/v1/auth/login", "https://app.example", true),
        ("/v1/auth/login", "https://shop.example", false),
    ];
    for (path, origin, allowed) in cases {
        let res = app
            .client
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap();
        let echoed = res
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        if allowed {
            assert_eq!(echoed.as_deref(), Some(origin), "{path} from {origin}");
        } else {
            assert_eq!(echoed, None, "{path} from {origin}");
            assert_problem(res, 403, "forbidden").await;
        }
    }
}
