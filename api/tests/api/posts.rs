use reqwest::Method;
use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn create_and_read_posts(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let res = app
        .post(
            "/v1/posts",
            &alice,
            json!({"title": "  Hello  ", "text": "World"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let post = json(res).await;
    assert_eq!(post["kind"], "post");
    assert_eq!(post["author"], "alice");
    assert_eq!(post["title"], "Hello");
    assert_eq!(post["text"], "World");
    assert_eq!(post["visibility"], "followers");
    assert_eq!(
        (post["comments"].as_i64(), post["reposts"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(post["quoted"].is_null() && post["reposted"].is_null());
    let id = post["id"].as_i64().unwrap();
    let again = json(app.get(&format!("/v1/posts/{id}"), &alice).await).await;
    assert_eq!(again, post);
    // Text may be empty; 100/1000 characters count Unicode scalar values.
    let res = app
        .post(
            "/v1/posts",
            &alice,
            json!({"title": "🦀".repeat(100), "text": "é".repeat(1000)}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app.post("/v1/posts", &alice, json!({"title": "t"})).await;
    assert_eq!(json(res).await["text"], "");
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE name = 'post.created'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(outbox, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn post_validation(db: PgPool) {
    let app = spawn_app(db).await;
    let t = app.register("alice").await;
    let long_text = "x".repeat(1001);
    let invalid = [
        // (case, body): each 422 validation_failed
        ("no title", json!({"text": "no title"})),
        ("a blank title", json!({"title": "   "})),
        ("a 101-character title", json!({"title": "x".repeat(101)})),
        (
            "a 1001-character text",
            json!({"title": "ok", "text": &long_text}),
        ),
        (
            "an unknown visibility",
            json!({"title": "ok", "visibility": "everyone"}),
        ),
        ("a number as title", json!({"title": 5})),
        ("a NUL in the title", json!({"title": "nul\u{0}char"})),
        (
            "a NUL in the text",
            json!({"title": "ok", "text": "nul\u{0}char"}),
        ),
        (
            "an empty title, a long text",
            json!({"title": "", "text": &long_text}),
        ),
    ];
    let mut problems = std::collections::HashMap::new();
    for (case, body) in invalid {
        let res = app.post("/v1/posts", &t, body).await;
        problems.insert(
            case,
            assert_problem_case(case, res, 422, "validation_failed").await,
        );
    }
    // Both invalid fields are named.
    let both = &problems["an empty title, a long text"];
    assert_eq!(both["errors"].as_array().unwrap().len(), 2);
    let missing = [
        // (method, path): each 404 post_not_found
        (Method::GET, "/v1/posts/999999"),
        (Method::GET, "/v1/posts/not-a-number"),
        (Method::POST, "/v1/posts/99999999999999999999/repost"),
    ];
    for (method, path) in missing {
        let body = (method == Method::POST).then(|| json!({}));
        let res = app.request(method.clone(), path, Some(&t), body).await;
        assert_problem_case(&format!("{method} {path}"), res, 404, "post_not_found").await;
    }
    // Every error is problem+json, including body limits of routes that read raw bytes.
    let res = app
        .client
        .post(format!("{}/v1/posts/1/repost", app.base))
        .bearer_auth(&t)
        .body(vec![b' '; 100_000])
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn visibility_rules(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.subscribe(&bob, "alice").await;
    let private = app.publish(&alice, "for followers", "x", "followers").await;
    let public = app.publish(&alice, "for all", "x", "public").await;
    let path = |id: i64| format!("/v1/posts/{id}");
    assert_eq!(app.get(&path(private), &alice).await.status(), 200);
    assert_eq!(app.get(&path(private), &bob).await.status(), 200);
    assert_problem(app.get(&path(private), &carol).await, 404, "post_not_found").await;
    assert_eq!(app.get(&path(public), &carol).await.status(), 200);

    // Bob's public repost of a followers-only post stays hidden from Carol.
    let res = app
        .post(
            &format!("/v1/posts/{private}/repost"),
            &bob,
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let repost = json(res).await;
    assert_eq!(repost["kind"], "repost");
    assert!(repost["title"].is_null() && repost["text"].is_null());
    assert_eq!(repost["reposted"]["id"], private);
    let repost_id = repost["id"].as_i64().unwrap();
    assert_problem(
        app.get(&path(repost_id), &carol).await,
        404,
        "post_not_found",
    )
    .await;
    // Carol cannot comment on, repost or quote what she cannot see.
    let cases = [
        // (method, path under the post, body)
        (Method::POST, "repost", Some(json!({}))),
        (Method::POST, "quote", Some(json!({"text": "hm"}))),
        (Method::POST, "comments", Some(json!({"text": "hm"}))),
        (Method::GET, "comments", None),
    ];
    for (method, under, body) in cases {
        let case = format!("{method} /v1/posts/{{private}}/{under}");
        let path = format!("/v1/posts/{private}/{under}");
        let res = app.request(method, &path, Some(&carol), body).await;
        assert_problem_case(&case, res, 404, "post_not_found").await;
    }
    // Profile timeline shows only what the caller may see.
    let seen = app.all_pages("/v1/users/alice/posts", &carol).await;
    assert_eq!(
        seen.iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![public]
    );
    let seen = app.all_pages("/v1/users/alice/posts", &bob).await;
    assert_eq!(seen.len(), 2);
    assert_problem(
        app.get("/v1/users/ghost/posts", &bob).await,
        404,
        "user_not_found",
    )
    .await;
    // `posts` on the profile counts every post, whatever the caller may see.
    assert_eq!(
        json(app.get("/v1/users/alice", &carol).await).await["posts"],
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn reposts_and_quotes(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let original = app.publish(&alice, "Original", "text", "public").await;
    let repost = json(
        app.post(
            &format!("/v1/posts/{original}/repost"),
            &bob,
            json!({"visibility": "public"}),
        )
        .await,
    )
    .await;
    let repost_id = repost["id"].as_i64().unwrap();
    assert_eq!(repost["visibility"], "public");
    let default = json(
        app.post(&format!("/v1/posts/{original}/repost"), &alice, json!({}))
            .await,
    )
    .await;
    assert_eq!(default["visibility"], "followers");
    assert_problem(
        app.post(&format!("/v1/posts/{original}/repost"), &bob, json!({}))
            .await,
        409,
        "already_reposted",
    )
    .await;
    assert_problem(
        app.post(&format!("/v1/posts/{repost_id}/repost"), &alice, json!({}))
            .await,
        422,
        "cannot_repost",
    )
    .await;
    assert_problem(
        app.post("/v1/posts/424242/repost", &alice, json!({})).await,
        404,
        "post_not_found",
    )
    .await;
    assert_eq!(
        json(app.get(&format!("/v1/posts/{original}"), &bob).await).await["reposts"],
        2
    );

    // Quoting a repost quotes its original.
    let res = app
        .post(
            &format!("/v1/posts/{repost_id}/quote"),
            &alice,
            json!({"text": "see this", "visibility": "public"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let quote = json(res).await;
    assert_eq!(quote["kind"], "quote");
    assert!(quote["title"].is_null());
    assert_eq!(quote["text"], "see this");
    assert_eq!(quote["quoted"]["id"], original);
    let quote_id = quote["id"].as_i64().unwrap();
    assert_problem(
        app.post(
            &format!("/v1/posts/{quote_id}/quote"),
            &bob,
            json!({"text": "x"}),
        )
        .await,
        422,
        "cannot_quote",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/posts/{original}/quote"),
            &bob,
            json!({"text": ""}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post(&format!("/v1/posts/{original}/quote"), &bob, json!({}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post("/v1/posts/424242/quote", &bob, json!({"text": "x"}))
            .await,
        404,
        "post_not_found",
    )
    .await;

    // A quote can be reposted; the repost nests the quote, which nests its original.
    let res = app
        .post(
            &format!("/v1/posts/{quote_id}/repost"),
            &bob,
            json!({"visibility": "public"}),
        )
        .await;
    let nested = json(res).await;
    assert_eq!(nested["reposted"]["id"], quote_id);
    assert_eq!(nested["reposted"]["quoted"]["id"], original);
    // And quoting a repost of a quote is quoting a quote.
    let nested_id = nested["id"].as_i64().unwrap();
    assert_problem(
        app.post(
            &format!("/v1/posts/{nested_id}/quote"),
            &alice,
            json!({"text": "x"}),
        )
        .await,
        422,
        "cannot_quote",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_daily_post_limit_holds_under_concurrency(db: PgPool) {
    let app = spawn_with(db.clone(), |s| s.limits.daily_post_limit = Some(5)).await;
    let alice = app.register("alice").await;
    let first = app.publish(&alice, "one", "", "public").await;
    let attempts =
        (0..20).map(|i| app.post("/v1/posts", &alice, json!({"title": format!("p{i}")})));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        16,
        "{statuses:?}"
    );
    // Reposts count too.
    let bob = app.register("bob").await;
    let res = app
        .post(&format!("/v1/posts/{first}/repost"), &alice, json!({}))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "daily_post_limit").await;
    assert_eq!(
        app.post(&format!("/v1/posts/{first}/repost"), &bob, json!({}))
            .await
            .status(),
        201
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM posts p JOIN users u ON u.id = p.author_id WHERE u.username = 'alice'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 5);
    assert_eq!(
        json(app.get("/v1/users/alice", &bob).await).await["posts"],
        5
    );
}
