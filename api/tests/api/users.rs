use reqwest::Method;
use roost_testkit::*;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn listing_users_excludes_the_caller_and_pages_by_username(db: PgPool) {
    let app = spawn_app(db).await;
    let me = app.register("me_user").await;
    for name in ["Carl", "anna", "Bert", "dora", "a_b_c"] {
        app.register(name).await;
    }
    let all = app.all_pages("/v1/users?limit=2", &me).await;
    assert_eq!(
        field(&all, "username"),
        vec!["a_b_c", "anna", "Bert", "Carl", "dora"]
    );
    assert!(all.iter().all(|u| u["subscribers"] == 0));
    let q = app.all_pages("/v1/users?q=R", &me).await;
    assert_eq!(field(&q, "username"), vec!["Bert", "Carl", "dora"]);
    // LIKE wildcards are literal.
    let q = app.all_pages("/v1/users?q=_", &me).await;
    assert_eq!(field(&q, "username"), vec!["a_b_c"]);
    let q = app.all_pages("/v1/users?q=%25", &me).await;
    assert!(q.is_empty());
    let cases = [
        // (query, status, code)
        ("limit=0", 422, "validation_failed"),
        ("limit=101", 422, "validation_failed"),
        ("limit=abc", 422, "validation_failed"),
        ("cursor=nope!", 400, "invalid_cursor"),
    ];
    for (query, status, code) in cases {
        let res = app.get(&format!("/v1/users?{query}"), &me).await;
        assert_problem_case(query, res, status, code).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn profiles_and_subscriptions(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.register("carol").await;
    app.subscribe(&alice, "BOB").await;
    app.subscribe(&alice, "bob").await; // idempotent
    app.subscribe(&alice, "carol").await;
    app.subscribe(&bob, "alice").await;
    app.publish(&bob, "t", "x", "public").await;

    let p = json(app.get("/v1/users/Bob", &alice).await).await;
    assert_eq!(p["username"], "bob");
    assert_eq!(
        (
            p["subscribers"].as_i64(),
            p["subscriptions"].as_i64(),
            p["posts"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(p["subscribed"], true);
    assert!(p["joined_at"].is_string());
    let p = json(app.get("/v1/users/alice", &bob).await).await;
    assert_eq!(
        (p["subscribers"].as_i64(), p["subscriptions"].as_i64()),
        (Some(1), Some(2))
    );
    let p = json(app.get("/v1/users/carol", &bob).await).await;
    assert_eq!(p["subscribed"], false);
    assert_problem(
        app.get("/v1/users/nobody", &alice).await,
        404,
        "user_not_found",
    )
    .await;

    let subs = app.all_pages("/v1/me/subscriptions?limit=1", &alice).await;
    assert_eq!(field(&subs, "username"), vec!["bob", "carol"]);
    assert!(subs[0]["since"].is_string());
    let followers = app.all_pages("/v1/me/subscribers", &alice).await;
    assert_eq!(field(&followers, "username"), vec!["bob"]);

    let cases = [
        // (method, username, status, code)
        (Method::PUT, "alice", 422, "cannot_subscribe_to_self"),
        (Method::PUT, "ghost", 404, "user_not_found"),
        (Method::DELETE, "ghost", 404, "user_not_found"),
    ];
    for (method, username, status, code) in cases {
        let case = format!("{method} {username}");
        let path = format!("/v1/me/subscriptions/{username}");
        let res = app.request(method, &path, Some(&alice), None).await;
        assert_problem_case(&case, res, status, code).await;
    }
    assert_eq!(
        app.delete("/v1/me/subscriptions/bob", &alice)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.delete("/v1/me/subscriptions/bob", &alice)
            .await
            .status(),
        204
    );
    let p = json(app.get("/v1/users/bob", &alice).await).await;
    assert_eq!(
        (p["subscribers"].as_i64(), p["subscribed"].as_bool()),
        (Some(0), Some(false))
    );
    let events: Vec<String> =
        sqlx::query_scalar("SELECT name FROM outbox WHERE name LIKE 'subscription.%' ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|n| *n == "subscription.created")
            .count(),
        3
    );
    assert_eq!(
        events
            .iter()
            .filter(|n| *n == "subscription.removed")
            .count(),
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_subscription_limit_holds_under_concurrency(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let fan = app.register("fan").await;
    // 106 targets inserted directly (registration through the API is not what is tested).
    sqlx::query(
        "INSERT INTO users (username, password_hash) SELECT 'star' || g, 'x' FROM generate_series(1, 106) g",
    )
    .execute(&db)
    .await
    .unwrap();
    for i in 1..=99 {
        app.subscribe(&fan, &format!("star{i}")).await;
    }
    // 100 concurrent requests for 6 new targets, at the limit (99 + 1 allowed).
    let attempts = (0..100).map(|i| {
        app.put_owned(
            format!("/v1/me/subscriptions/star{}", 100 + i % 6),
            fan.clone(),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts).await;
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 422),
        "{statuses:?}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 100);
    let counter: i32 =
        sqlx::query_scalar("SELECT subscriptions_count FROM users WHERE username = 'fan'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(counter, 100);
    let subscribers: i64 = sqlx::query_scalar("SELECT sum(subscribers_count) FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(subscribers, 100);
    // A target none of the racing requests asked for (one of star100–105 won the race, and
    // re-subscribing to it would be an idempotent 204).
    assert_problem(
        app.put("/v1/me/subscriptions/star106", &fan).await,
        422,
        "subscription_limit_reached",
    )
    .await;
    // Re-subscribing to an existing target at the limit is still an idempotent 204.
    assert_eq!(
        app.put("/v1/me/subscriptions/star1", &fan).await.status(),
        204
    );
}
