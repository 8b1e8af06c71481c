//! The analytics reports (SQL in analytics/v1/*.sql), served by the admin routes.

use chrono::{Duration, Utc};
use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn logins_per_day_counts_distinct_users(db: PgPool) {
    let app = spawn_app(db).await;
    let worker = app.worker().await;
    for name in ["alice", "bob", "carol"] {
        app.register(name).await;
    }
    app.login("alice").await;
    app.login("alice").await;
    app.login("bob").await;
    // Two days ago, carol logged in (an event stored back then).
    let two_days_ago = Utc::now() - Duration::days(2);
    sqlx::query(
        "INSERT INTO events (id, application_id, session_id, category, name, data, \"timestamp\", received_at)
         VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000001', gen_random_uuid(),
                 'domain', 'user.logged_in', '{\"user_id\": 3}', $1, $1)",
    )
    .bind(two_days_ago)
    .execute(&app.db)
    .await
    .unwrap();
    eventually(20, "3 stored logins today", || async {
        (app.stored_events("name=user.logged_in").await.len() == 4).then_some(())
    })
    .await;
    let report = json(
        app.get("/v1/admin/analytics/logins-per-day?days=3", ADMIN_TOKEN)
            .await,
    )
    .await;
    let items = report["items"].as_array().unwrap();
    let day = |d: Duration| (Utc::now() - d).format("%Y-%m-%d").to_string();
    assert_eq!(
        items,
        &vec![
            json!({"day": day(Duration::days(2)), "users": 1}),
            json!({"day": day(Duration::days(1)), "users": 0}),
            json!({"day": day(Duration::zero()), "users": 2}),
        ]
    );
    let default = json(
        app.get("/v1/admin/analytics/logins-per-day", ADMIN_TOKEN)
            .await,
    )
    .await;
    assert_eq!(default["items"].as_array().unwrap().len(), 30);
    for bad in ["0", "367", "x"] {
        let res = app
            .get(
                &format!("/v1/admin/analytics/logins-per-day?days={bad}"),
                ADMIN_TOKEN,
            )
            .await;
        assert_problem(res, 422, "validation_failed").await;
    }
    worker.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn top_posts_ranks_each_days_comments(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut posts = Vec::new();
    for i in 0..12 {
        posts.push(app.publish(&alice, &format!("p{i}"), "t", "public").await);
    }
    // Today: post i gets i+1 comments for the last 11 posts (post 0 gets 1, tied with post 1).
    for (i, post) in posts.iter().enumerate() {
        for _ in 0..i.max(1) {
            app.post(
                &format!("/v1/posts/{post}/comments"),
                &bob,
                json!({"text": "c"}),
            )
            .await;
        }
    }
    // Yesterday: 2 comments on post 0 (moved back in time).
    for _ in 0..2 {
        app.post(
            &format!("/v1/posts/{}/comments", posts[0]),
            &bob,
            json!({"text": "old"}),
        )
        .await;
    }
    sqlx::query(
        "UPDATE comments SET created_at = created_at - interval '1 day' WHERE body = 'old'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let report = json(
        app.get("/v1/admin/analytics/top-posts?days=2", ADMIN_TOKEN)
            .await,
    )
    .await;
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["posts"],
        json!([{"post_id": posts[0], "comments": 2}])
    );
    let today = items[1]["posts"].as_array().unwrap();
    assert_eq!(today.len(), 10, "the top 10");
    assert_eq!(today[0], json!({"post_id": posts[11], "comments": 11}));
    assert_eq!(today[9], json!({"post_id": posts[2], "comments": 2}));
    let empty = json(
        app.get("/v1/admin/analytics/top-posts?days=1", ADMIN_TOKEN)
            .await,
    )
    .await;
    assert_eq!(empty["items"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn post_extremes_pick_the_most_and_least_commented(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let none = json(
        app.get("/v1/admin/analytics/users/alice/post-extremes", ADMIN_TOKEN)
            .await,
    )
    .await;
    assert_eq!(none, json!({"top": null, "worst": null}));
    let a = app.publish(&alice, "a", "t", "public").await;
    let b = app.publish(&alice, "b", "t", "public").await;
    let c = app.publish(&alice, "c", "t", "public").await;
    // A repost never counts, whatever its comments.
    let repost = json(
        app.post(&format!("/v1/posts/{c}/repost"), &alice, json!({}))
            .await,
    )
    .await;
    let repost = repost["id"].as_i64().unwrap();
    for (post, n) in [(a, 2), (b, 2), (repost, 5)] {
        for _ in 0..n {
            app.post(
                &format!("/v1/posts/{post}/comments"),
                &bob,
                json!({"text": "c"}),
            )
            .await;
        }
    }
    let report = json(
        app.get("/v1/admin/analytics/users/alice/post-extremes", ADMIN_TOKEN)
            .await,
    )
    .await;
    assert_eq!(
        report,
        json!({"top": {"post_id": a, "comments": 2}, "worst": {"post_id": c, "comments": 0}}),
        "ties go to the older post"
    );
    let res = app
        .get(
            "/v1/admin/analytics/users/nobody/post-extremes",
            ADMIN_TOKEN,
        )
        .await;
    assert_problem(res, 404, "user_not_found").await;
}
