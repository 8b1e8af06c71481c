//! Notifications: created by the worker from `comment.created`, delivered exactly once by
//! `unsent` calls and WebSockets, fanned out across API replicas.

use std::{collections::HashMap, time::Duration};

use futures_util::{SinkExt, StreamExt};
use roost_testkit::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn comment(app: &TestApp, token: &str, post: i64, text: &str) -> i64 {
    let res = app
        .post(
            &format!("/v1/posts/{post}/comments"),
            token,
            json!({"text": text}),
        )
        .await;
    assert_eq!(res.status(), 201);
    json(res).await["id"].as_i64().unwrap()
}

async fn notification_count(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn comments_notify_the_post_author_once(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    comment(&app, &alice, post, "my own post: no notification").await;
    let long = "é".repeat(150);
    let c1 = comment(&app, &bob, post, &long).await;
    let c2 = comment(&app, &bob, post, "second").await;
    eventually(20, "2 notifications", || async {
        (notification_count(&app.db).await == 2).then_some(())
    })
    .await;
    let unsent = json(app.get("/v1/notifications/unsent", &alice).await).await;
    let items = unsent["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["comment_id"], c1, "oldest first");
    assert_eq!(items[1]["comment_id"], c2);
    assert_eq!(items[0]["kind"], "comment");
    assert_eq!(items[0]["actor"], "bob");
    assert_eq!(items[0]["post_id"], post);
    assert_eq!(
        items[0]["excerpt"].as_str().unwrap().chars().count(),
        100,
        "the first 100 characters"
    );
    assert!(items[0]["created_at"].is_string() && items[0]["id"].is_i64());
    // Delivered: never again.
    let again = json(app.get("/v1/notifications/unsent", &alice).await).await;
    assert_eq!(again["items"], json!([]));
    let none_for_bob = json(app.get("/v1/notifications/unsent", &bob).await).await;
    assert_eq!(none_for_bob["items"], json!([]));
    // History keeps them, newest first, paginated.
    let history = app.all_pages("/v1/notifications?limit=1", &alice).await;
    assert_eq!(ids(&history).len(), 2);
    assert_eq!(history[0]["comment_id"], c2);
    assert!(history.iter().all(|h| h["delivered"] == true));
    let res = app
        .request(reqwest::Method::GET, "/v1/notifications/unsent", None, None)
        .await;
    assert_problem(res, 401, "unauthorized").await;
    worker.shutdown().await;
}

/// The worker may store comments out of order (several consumers, or the relay re-publishing a
/// lost entry): notifications still carry their comment's time and come oldest comment first.
#[sqlx::test(migrations = "../migrations")]
async fn notifications_are_dated_and_ordered_by_their_comments(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    let first = comment(&app, &bob, post, "first").await;
    // The first comment's stream entry is lost (as if Redis lost it): only the relay brings
    // it back, after the second comment has been stored.
    let redis = app.redis().await;
    let events = app.key("events");
    // The API publishes right after its commit, in the background: wait for the entry.
    let comment_in_stream = || {
        let (mut redis, events) = (redis.clone(), events.clone());
        async move {
            let entries: Vec<redis::Value> = redis::cmd("XRANGE")
                .arg(&events)
                .arg("-")
                .arg("+")
                .query_async(&mut redis)
                .await
                .unwrap();
            format!("{entries:?}")
                .contains("comment.created")
                .then_some(())
        }
    };
    eventually(10, "the first comment's entry", comment_in_stream).await;
    let _: i64 = redis::cmd("DEL")
        .arg(&events)
        .query_async(&mut redis.clone())
        .await
        .unwrap();
    let second = comment(&app, &bob, post, "second").await;
    // The relay only re-publishes rows older than a minute: the first comment comes back only
    // once the second one's notification is stored.
    let worker = app
        .worker_with(|s| s.pipeline.relay_after = Duration::from_secs(60))
        .await;
    eventually(20, "the second comment's notification", || async {
        (notification_count(&app.db).await == 1).then_some(())
    })
    .await;
    sqlx::query(
        "UPDATE outbox SET created_at = created_at - interval '2 minutes'
         WHERE payload->>'comment_id' = $1",
    )
    .bind(first.to_string())
    .execute(&app.db)
    .await
    .unwrap();
    eventually(20, "2 notifications", || async {
        (notification_count(&app.db).await == 2).then_some(())
    })
    .await;
    let stored_order: Vec<i64> =
        sqlx::query_scalar("SELECT comment_id FROM notifications ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        stored_order,
        vec![second, first],
        "the worker stored them out of order"
    );
    let comments = json(app.get(&format!("/v1/posts/{post}/comments"), &alice).await).await;
    let unsent = json(app.get("/v1/notifications/unsent", &alice).await).await;
    let items = unsent["items"].as_array().unwrap();
    assert_eq!(
        field(items, "excerpt"),
        vec!["first", "second"],
        "oldest comment first"
    );
    for (item, comment) in items.iter().zip(comments["items"].as_array().unwrap()) {
        assert_eq!(item["comment_id"], comment["id"]);
        assert_eq!(
            item["created_at"], comment["created_at"],
            "the comment's time"
        );
    }
    let history = app.all_pages("/v1/notifications?limit=1", &alice).await;
    assert_eq!(
        field(&history, "excerpt"),
        vec!["second", "first"],
        "newest first"
    );
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_unsent_calls_deliver_each_notification_exactly_once(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    for i in 0..60 {
        comment(&app, &bob, post, &format!("comment {i}")).await;
    }
    eventually(30, "60 notifications", || async {
        (notification_count(&app.db).await == 60).then_some(())
    })
    .await;
    let calls = (0..20).map(|_| async {
        json(app.get("/v1/notifications/unsent", &alice).await).await["items"]
            .as_array()
            .unwrap()
            .clone()
    });
    let results = futures_util::future::join_all(calls).await;
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for item in results.iter().flatten() {
        *seen.entry(item["id"].as_i64().unwrap()).or_default() += 1;
    }
    assert_eq!(seen.len(), 60, "every notification delivered");
    assert!(seen.values().all(|n| *n == 1), "none delivered twice");
    worker.shutdown().await;
}

async fn socket(app: &TestApp, token: Option<&str>) -> Socket {
    let url = format!("{}/v1/notifications/stream", app.base.replace("http", "ws"));
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    connect_async(request).await.expect("connect").0
}

async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn websockets_on_two_replicas_receive_each_notification_once(db: PgPool) {
    let a = spawn_app(db).await;
    let b = a.peer().await;
    let worker = a.worker().await;
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let post = a.publish(&alice, "Hello", "World", "public").await;
    // One notification waits before any socket is open.
    let early = comment(&a, &bob, post, "before the sockets").await;
    eventually(20, "the first notification", || async {
        (notification_count(&a.db).await == 1).then_some(())
    })
    .await;

    // Socket 1 on replica A with the header; socket 2 on replica B with a first message.
    let mut s1 = socket(&a, Some(&alice)).await;
    assert_eq!(next_json(&mut s1).await, json!({"type": "ready"}));
    let first = next_json(&mut s1).await;
    assert_eq!(first["type"], "notification");
    assert_eq!(first["comment_id"], early);
    let mut s2 = socket(&b, None).await;
    s2.send(Message::text(
        json!({"type": "auth", "token": alice}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut s2).await, json!({"type": "ready"}));

    // New comments, made through either replica, reach both sockets.
    let c1 = comment(&b, &bob, post, "live one").await;
    let c2 = comment(&a, &bob, post, "live two").await;
    for ws in [&mut s1, &mut s2] {
        let got: Vec<Value> = vec![next_json(ws).await, next_json(ws).await];
        let mut comments: Vec<i64> = got
            .iter()
            .map(|g| g["comment_id"].as_i64().unwrap())
            .collect();
        comments.sort_unstable();
        assert_eq!(comments, vec![c1, c2]);
        assert!(
            got.iter()
                .all(|g| g["type"] == "notification" && g["actor"] == "bob")
        );
    }
    // Claimed once: nothing is left for polling, and each is delivered.
    let unsent = json(a.get("/v1/notifications/unsent", &alice).await).await;
    assert_eq!(unsent["items"], json!([]));
    let undelivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NULL")
            .fetch_one(&a.db)
            .await
            .unwrap();
    assert_eq!(undelivered, 0);
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn sockets_refuse_missing_or_bad_credentials(db: PgPool) {
    let app = spawn_app(db).await;
    // A bad header: refused before the upgrade.
    let url = format!("{}/v1/notifications/stream", app.base.replace("http", "ws"));
    let mut request = url.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Bearer nope".parse().unwrap());
    let err = connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // A bad first message: an error message, then a policy close.
    let mut ws = socket(&app, None).await;
    ws.send(Message::text(
        json!({"type": "auth", "token": "nope"}).to_string(),
    ))
    .await
    .unwrap();
    let error = next_json(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "unauthorized");
    let close = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap();
    assert!(
        matches!(close, Some(Ok(Message::Close(Some(ref f)))) if u16::from(f.code) == 1008),
        "{close:?}"
    );
    // A plain HTTP GET on the socket route is a clear error.
    let alice = app.register("alice").await;
    let res = app.get("/v1/notifications/stream", &alice).await;
    assert_problem(res, 400, "malformed_body").await;
}

/// The next frame is a policy close (1008) with this reason, well before the sockets' 15 s
/// periodic check could have caught it.
async fn expect_policy_close(ws: &mut Socket, reason: &str) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("closed in time (not by the periodic check)");
        match frame {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 1008);
                assert_eq!(f.reason.as_str(), reason);
                return;
            }
            other => panic!("expected a policy close, got {other:?}"),
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn logout_closes_that_tokens_sockets_on_every_replica_at_once(db: PgPool) {
    let a = spawn_app(db).await;
    let b = a.peer().await;
    let worker = a.worker().await;
    let alice = a.register("alice").await;
    let other_session = a.login("alice").await;
    let bob = a.register("bob").await;
    let post = a.publish(&alice, "Hello", "World", "public").await;
    let mut on_a = socket(&a, Some(&alice)).await;
    let mut on_b = socket(&b, Some(&alice)).await;
    let mut other = socket(&b, Some(&other_session)).await;
    for ws in [&mut on_a, &mut on_b, &mut other] {
        assert_eq!(next_json(ws).await, json!({"type": "ready"}));
    }
    let res = a
        .request(reqwest::Method::POST, "/v1/auth/logout", Some(&alice), None)
        .await;
    assert_eq!(res.status(), 204);
    expect_policy_close(&mut on_a, "token revoked").await;
    expect_policy_close(&mut on_b, "token revoked").await;
    // The other session's socket stays and gets what follows.
    let c = comment(&a, &bob, post, "after the logout").await;
    let got = next_json(&mut other).await;
    assert_eq!(got["comment_id"], c);
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn nothing_is_claimed_for_a_revoked_socket_even_if_the_announcement_is_lost(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    let mut ws = socket(&app, Some(&alice)).await;
    assert_eq!(next_json(&mut ws).await, json!({"type": "ready"}));
    // Revoked in PostgreSQL only, as when the pub/sub message is lost (Redis away).
    let jti: uuid::Uuid = {
        let payload = alice.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        claims["jti"].as_str().unwrap().parse().unwrap()
    };
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, user_id, expires_at)
         SELECT $1, id, now() + interval '1 hour' FROM users WHERE username = 'alice'",
    )
    .bind(jti)
    .execute(&app.db)
    .await
    .unwrap();
    let c = comment(&app, &bob, post, "for a live session only").await;
    // The replica checks the socket's token before claiming: it closes the socket instead.
    expect_policy_close(&mut ws, "token revoked").await;
    eventually(20, "the notification", || async {
        (notification_count(&app.db).await == 1).then_some(())
    })
    .await;
    let fresh = app.login("alice").await;
    let unsent = json(app.get("/v1/notifications/unsent", &fresh).await).await;
    assert_eq!(
        unsent["items"][0]["comment_id"], c,
        "still unsent: {unsent}"
    );
    worker.shutdown().await;
}

/// The body deadline is for request bodies: a WebSocket's frames arrive for as long as it is
/// open.
#[sqlx::test(migrations = "../migrations")]
async fn sockets_outlive_the_request_body_deadline(db: PgPool) {
    let app = spawn_with(db, |s| s.http.body_timeout = Duration::from_secs(1)).await;
    let worker = app.worker().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "Hello", "World", "public").await;
    let mut ws = socket(&app, Some(&alice)).await;
    assert_eq!(next_json(&mut ws).await, json!({"type": "ready"}));
    tokio::time::sleep(Duration::from_secs(3)).await;
    ws.send(Message::Ping(vec![1].into())).await.unwrap();
    let c = comment(&app, &bob, post, "three seconds later").await;
    let got = next_json(&mut ws).await;
    assert_eq!(got["comment_id"], c);
    worker.shutdown().await;
}
