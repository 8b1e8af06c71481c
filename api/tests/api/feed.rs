use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn following_and_all_feeds(db: PgPool) {
    let app = spawn_app(db).await;
    let me = app.register("me_user").await;
    let friend = app.register("friend").await;
    let stranger = app.register("stranger").await;
    app.subscribe(&me, "friend").await;
    let mine = app.publish(&me, "mine", "", "followers").await;
    let friends = app.publish(&friend, "friend's", "", "followers").await;
    let public_stranger = app.publish(&stranger, "public", "", "public").await;
    let hidden_stranger = app.publish(&stranger, "hidden", "", "followers").await;
    // The friend reposts the hidden post: the repost is hidden from me too.
    let _ = app
        .post(
            &format!("/v1/posts/{public_stranger}/repost"),
            &friend,
            json!({}),
        )
        .await;
    let repost_public = ids(&app.all_pages("/v1/users/friend/posts", &friend).await)[0];
    let _ = app
        .post(
            &format!("/v1/posts/{hidden_stranger}/quote"),
            &friend,
            json!({"text": "q"}),
        )
        .await;

    let following = app.all_pages("/v1/feed?limit=1", &me).await;
    assert_eq!(ids(&following), vec![repost_public, friends, mine]);
    let default_scope = app.all_pages("/v1/feed?scope=following", &me).await;
    assert_eq!(ids(&default_scope), ids(&following));
    let all = app.all_pages("/v1/feed?scope=all&limit=2", &me).await;
    assert_eq!(
        ids(&all),
        vec![repost_public, public_stranger, friends, mine]
    );
    assert!(all.iter().all(|p| p["id"] != hidden_stranger));

    assert_problem(
        app.get("/v1/feed?scope=nope", &me).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/v1/feed?from=yesterday", &me).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/v1/feed?limit=101", &me).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/v1/feed?cursor=xyz", &me).await,
        400,
        "invalid_cursor",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn feed_time_window_is_from_inclusive_to_exclusive(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let me = app.register("me_user").await;
    let a = app.publish(&me, "a", "", "public").await;
    let b = app.publish(&me, "b", "", "public").await;
    let c = app.publish(&me, "c", "", "public").await;
    for (id, at) in [
        (a, "2026-01-01T00:00:00Z"),
        (b, "2026-01-02T00:00:00Z"),
        (c, "2026-01-03T00:00:00Z"),
    ] {
        sqlx::query("UPDATE posts SET created_at = $2::timestamptz WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&db)
            .await
            .unwrap();
    }
    let window = app
        .all_pages(
            "/v1/feed?from=2026-01-02T00:00:00Z&to=2026-01-03T00:00:00Z",
            &me,
        )
        .await;
    assert_eq!(ids(&window), vec![b]);
    let from = app
        .all_pages("/v1/feed?from=2026-01-02T00:00:00%2B00:00", &me)
        .await;
    assert_eq!(ids(&from), vec![c, b]);
    let to = app
        .all_pages("/v1/feed?scope=all&to=2026-01-02T00:00:00Z", &me)
        .await;
    assert_eq!(ids(&to), vec![a]);
}

#[sqlx::test(migrations = "../migrations")]
async fn pagination_is_stable_under_concurrent_inserts(db: PgPool) {
    let app = spawn_app(db).await;
    let me = app.register("me_user").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        expected.push(app.publish(&me, &format!("p{i}"), "", "public").await);
    }
    expected.reverse();
    let first = json(app.get("/v1/feed?limit=3", &me).await).await;
    let mut seen = ids(first["items"].as_array().unwrap());
    // New posts arrive between page requests: no duplicates, no gaps among the old ones.
    for i in 0..3 {
        app.publish(&me, &format!("new{i}"), "", "public").await;
    }
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.pages_from("/v1/feed?limit=3", &me, Some(cursor)).await;
    seen.extend(ids(&rest));
    assert_eq!(seen, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn own_post_search(db: PgPool) {
    let app = spawn_app(db).await;
    let me = app.register("me_user").await;
    let other = app.register("other").await;
    app.subscribe(&me, "other").await;
    let rust = app.publish(&me, "Learning Rust", "body", "followers").await;
    let trust = app.publish(&me, "TRUST me", "body", "public").await;
    app.publish(&me, "100% sure", "body", "public").await;
    app.publish(&other, "rust too", "", "public").await;
    let _ = app
        .post(
            &format!("/v1/posts/{rust}/quote"),
            &me,
            json!({"text": "rust quote"}),
        )
        .await;
    let _ = app
        .post(&format!("/v1/posts/{rust}/repost"), &me, json!({}))
        .await;

    let found = app.all_pages("/v1/me/posts?title=rust", &me).await;
    assert_eq!(ids(&found), vec![trust, rust]);
    assert_eq!(found[0]["title"], "TRUST me");
    assert_eq!(found[0]["text"], "body");
    assert!(found[0]["created_at"].is_string());
    let keys: Vec<&String> = found[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    // Every own titled post without a filter; quotes and reposts never appear.
    assert_eq!(app.all_pages("/v1/me/posts?limit=1", &me).await.len(), 3);
    assert_eq!(app.all_pages("/v1/me/posts?title=%25", &me).await.len(), 1);
    assert!(
        app.all_pages("/v1/me/posts?title=nothing", &me)
            .await
            .is_empty()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn subscription_search(db: PgPool) {
    let app = spawn_app(db).await;
    let me = app.register("me_user").await;
    let ann = app.register("ann").await;
    let ben = app.register("ben").await;
    let cat = app.register("cat").await;
    app.subscribe(&me, "ann").await;
    app.subscribe(&me, "ben").await;
    app.subscribe(&ben, "ann").await;
    let ann_rust = app
        .publish(&ann, "Rust tips", "borrowing", "followers")
        .await;
    let ann_go = app
        .publish(&ann, "Go tips", "goroutines and RUST", "public")
        .await;
    let ben_post = app.publish(&ben, "Cooking", "pasta", "followers").await;
    let ben_quote = json(
        app.post(
            &format!("/v1/posts/{ann_rust}/quote"),
            &ben,
            json!({"text": "rust is nice"}),
        )
        .await,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let _ben_repost = app
        .post(&format!("/v1/posts/{ann_go}/repost"), &ben, json!({}))
        .await;
    app.publish(&cat, "Rust from a stranger", "", "public")
        .await;
    // Ben quotes a post that I cannot see: that quote is hidden from me.
    let cat_hidden = app.publish(&cat, "secret", "", "followers").await;
    app.subscribe(&ben, "cat").await;
    let _ = app
        .post(
            &format!("/v1/posts/{cat_hidden}/quote"),
            &ben,
            json!({"text": "rust secret"}),
        )
        .await;

    let all = app.all_pages("/v1/subscriptions/posts?limit=2", &me).await;
    assert_eq!(ids(&all), vec![ben_quote, ben_post, ann_go, ann_rust]);
    let keys: Vec<&String> = all[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert_eq!(all[0]["username"], "ben");
    let by_title = app
        .all_pages("/v1/subscriptions/posts?title=RUST", &me)
        .await;
    assert_eq!(ids(&by_title), vec![ann_rust]); // never a quote
    let by_text = app
        .all_pages("/v1/subscriptions/posts?text=rust", &me)
        .await;
    assert_eq!(ids(&by_text), vec![ben_quote, ann_go]); // the quote's own text only
    let by_user = app
        .all_pages("/v1/subscriptions/posts?usernames=BEN", &me)
        .await;
    assert_eq!(ids(&by_user), vec![ben_quote, ben_post]);
    let combined = app
        .all_pages(
            "/v1/subscriptions/posts?usernames=ann,ben&title=tips&text=go",
            &me,
        )
        .await;
    assert_eq!(ids(&combined), vec![ann_go]);
    // An existing user I do not follow contributes nothing.
    assert!(
        app.all_pages("/v1/subscriptions/posts?usernames=cat", &me)
            .await
            .is_empty()
    );

    let unknown = assert_problem(
        app.get("/v1/subscriptions/posts?usernames=ann,ghost,nobody", &me)
            .await,
        422,
        "unknown_usernames",
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("ghost"));
    assert!(unknown["detail"].as_str().unwrap().contains("nobody"));
    assert_eq!(unknown["errors"].as_array().unwrap().len(), 2);
    let eleven = (0..11)
        .map(|i| format!("ghost{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert_problem(
        app.get(&format!("/v1/subscriptions/posts?usernames={eleven}"), &me)
            .await,
        422,
        "too_many_usernames",
    )
    .await;
}
