use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn comments_are_listed_oldest_first_and_counted(db: PgPool) {
    let app = spawn_app(db).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let post = app.publish(&alice, "t", "x", "public").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let res = app
            .post(
                &format!("/v1/posts/{post}/comments"),
                &bob,
                json!({"text": format!("c{i}")}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let c = json(res).await;
        assert_eq!(c["post_id"], post);
        assert_eq!(c["author"], "bob");
        assert!(c["created_at"].is_string());
        created.push(c["id"].as_i64().unwrap());
    }
    let listed = app
        .all_pages(&format!("/v1/posts/{post}/comments?limit=2"), &alice)
        .await;
    assert_eq!(
        listed
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        created
    );
    assert_eq!(field(&listed, "text"), vec!["c0", "c1", "c2", "c3", "c4"]);
    assert_eq!(
        json(app.get(&format!("/v1/posts/{post}"), &bob).await).await["comments"],
        5
    );
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE name = 'comment.created'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(events, 5);

    assert_problem(
        app.post(
            &format!("/v1/posts/{post}/comments"),
            &bob,
            json!({"text": ""}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/posts/{post}/comments"),
            &bob,
            json!({"text": "x".repeat(1001)}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post("/v1/posts/999999/comments", &bob, json!({"text": "x"}))
            .await,
        404,
        "post_not_found",
    )
    .await;
    assert_problem(
        app.get("/v1/posts/999999/comments", &bob).await,
        404,
        "post_not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/posts/{post}/comments?cursor=bad"), &bob)
            .await,
        400,
        "invalid_cursor",
    )
    .await;
}
