use reqwest::Method;
use roost_testkit::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn register_returns_a_token_body_and_records_the_event(db: PgPool) {
    let app = spawn_app(db).await;
    let res = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "Alice", "password": PASSWORD, "password_confirmation": PASSWORD,
                        "email": "Alice@Example.com", "first_name": "Alice", "last_name": "Liddell"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["username"], "Alice");
    assert!(body["user"]["id"].is_i64());
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let token = body["access_token"].as_str().unwrap();
    let me = json(app.get("/v1/me", token).await).await;
    assert_eq!(me["username"], "Alice");
    assert_eq!(me["email"], "Alice@Example.com");
    assert_eq!(me["first_name"], "Alice");
    assert_eq!(me["last_name"], "Liddell");
    assert_eq!(me["posts"], 0);
    // Registering writes user.registered (not user.logged_in) to the outbox.
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM outbox ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(names, vec!["user.registered"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn register_errors(db: PgPool) {
    let app = spawn_app(db).await;
    let reg =
        |body: serde_json::Value| app.request(Method::POST, "/v1/auth/register", None, Some(body));
    app.register("bob").await;
    reg(json!({"username": "carol", "password": PASSWORD, "email": "c@x.io"})).await;
    let cases = [
        // (case, body, status, code)
        (
            "a taken username, in another case",
            json!({"username": "BOB", "password": PASSWORD}),
            409,
            "username_taken",
        ),
        (
            "a taken e-mail address, in another case",
            json!({"username": "carol2", "password": PASSWORD, "email": "C@X.IO"}),
            409,
            "email_taken",
        ),
        (
            "a short password",
            json!({"username": "dave", "password": "short"}),
            422,
            "weak_password",
        ),
        (
            "the username as password",
            json!({"username": "dave_pw_1234", "password": "Dave_PW_1234"}),
            422,
            "weak_password",
        ),
        (
            "a confirmation that differs",
            json!({"username": "dave", "password": PASSWORD, "password_confirmation": "other"}),
            422,
            "password_mismatch",
        ),
        (
            "a bad username and no password",
            json!({"username": "a b"}),
            422,
            "validation_failed",
        ),
        (
            "a two-character username",
            json!({"username": "xy", "password": PASSWORD}),
            422,
            "validation_failed",
        ),
        (
            "a malformed e-mail address",
            json!({"username": "eve", "password": PASSWORD, "email": "not-an-email"}),
            422,
            "validation_failed",
        ),
        (
            "a number as username",
            json!({"username": 5, "password": PASSWORD}),
            422,
            "validation_failed",
        ),
    ];
    let mut problems = std::collections::HashMap::new();
    for (case, body, status, code) in cases {
        problems.insert(
            case,
            assert_problem_case(case, reg(body).await, status, code).await,
        );
    }
    // The detail lists every unmet rule.
    let weak = &problems["a short password"];
    assert_eq!(weak["errors"].as_array().unwrap().len(), 3, "{weak}");
    assert!(weak["detail"].as_str().unwrap().contains("10 characters"));
    let same = &problems["the username as password"];
    assert!(
        same["detail"].as_str().unwrap().contains("username"),
        "{same}"
    );
    // Every invalid field is named, in order.
    let fields: Vec<&str> = problems["a bad username and no password"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["username", "password"]);
    let res = app
        .client
        .post(format!("{}/v1/auth/register", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_body").await;
    let res = app
        .client
        .post(format!("{}/v1/auth/register", app.base))
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn login_by_username_or_email_and_logout(db: PgPool) {
    let app = spawn_app(db).await;
    app.request(
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"username": "frank", "password": PASSWORD, "email": "frank@example.com"})),
    )
    .await;
    let login = |u: &str, p: &str| {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": u, "password": p})),
        )
    };
    let by_name = json(login("FRANK", PASSWORD).await).await;
    assert_eq!(by_name["user"]["username"], "frank");
    let by_email = login("Frank@Example.com", PASSWORD).await;
    assert_eq!(by_email.status(), 200);
    let token = by_name["access_token"].as_str().unwrap().to_owned();
    let other = json(by_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Unknown user and wrong password are indistinguishable.
    let a = assert_problem(login("nobody", PASSWORD).await, 401, "invalid_credentials").await;
    assert_problem(
        login("fr\u{0}ank", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let b = assert_problem(
        login("frank", "wrong-password-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(a["detail"], b["detail"]);

    // Logout revokes only the presented token.
    let res = app
        .request(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get("/v1/me", &token).await, 401, "unauthorized").await;
    assert_eq!(app.get("/v1/me", &other).await.status(), 200);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM outbox WHERE name = 'user.logged_in'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(names.len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn revocation_holds_on_another_replica(db: PgPool) {
    let one = spawn_app(db.clone()).await;
    let two = spawn_app(db).await;
    let token = one.register("grace").await;
    assert_eq!(two.get("/v1/me", &token).await.status(), 200);
    one.request(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await;
    assert_problem(two.get("/v1/me", &token).await, 401, "unauthorized").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_tokens_are_unauthorized(db: PgPool) {
    let app = spawn_app(db).await;
    let cases = [
        // (case, method, path, token)
        ("no token", Method::GET, "/v1/me", None),
        (
            "a token that is no JWT",
            Method::GET,
            "/v1/me",
            Some("garbage"),
        ),
        (
            "logging out without a token",
            Method::POST,
            "/v1/auth/logout",
            None,
        ),
    ];
    for (case, method, path, token) in cases {
        let res = app.request(method, path, token, None).await;
        assert_problem_case(case, res, 401, "unauthorized").await;
    }
    // A token signed with another secret.
    let other = spawn_with(app.db.clone(), |s| {
        s.auth.jwt_secret = Some("another-secret-0123456789abcdef0123".into());
    })
    .await;
    let foreign = other.register("henry").await;
    assert_problem(app.get("/v1/me", &foreign).await, 401, "unauthorized").await;
    // A well-signed token whose user no longer exists (e.g. a reset database).
    let ghost = spawn_app(other.db.clone()).await;
    let token = ghost.register("ghost").await;
    sqlx::query("DELETE FROM outbox")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE username = 'ghost'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_problem(
        ghost.post("/v1/posts", &token, json!({"title": "t"})).await,
        401,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn login_is_throttled_per_username_and_reset_by_success(db: PgPool) {
    let app = spawn_with(db, |s| s.auth.login_max_failures_per_user = 3).await;
    app.register("ivy").await;
    let login = |p: &str| {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "ivy", "password": p})),
        )
    };
    // Two failures, then a success resets the count.
    for _ in 0..2 {
        assert_problem(login("wrong-password-1").await, 401, "invalid_credentials").await;
    }
    assert_eq!(login(PASSWORD).await.status(), 200);
    for _ in 0..3 {
        assert_problem(login("wrong-password-1").await, 401, "invalid_credentials").await;
    }
    let res = login(PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_problem(res, 429, "too_many_attempts").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_username_and_its_email_share_one_throttle(db: PgPool) {
    let app = spawn_with(db, |s| s.auth.login_max_failures_per_user = 2).await;
    app.request(
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"username": "jack", "password": PASSWORD, "email": "jack@example.com"})),
    )
    .await;
    let login = |u: &str| {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": u, "password": "wrong-password-1"})),
        )
    };
    assert_problem(login("JACK").await, 401, "invalid_credentials").await;
    assert_problem(login("jack@example.com").await, 401, "invalid_credentials").await;
    let res = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "Jack@Example.com", "password": PASSWORD})),
        )
        .await;
    assert_problem(res, 429, "too_many_attempts").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn parallel_guesses_cannot_pass_the_limit(db: PgPool) {
    let app = spawn_with(db, |s| s.auth.login_max_failures_per_user = 5).await;
    app.register("kim").await;
    let guesses = (0..30).map(|i| {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "kim", "password": format!("guess-{i}-password!")})),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        25,
        "{statuses:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn behind_a_trusted_proxy_the_rightmost_forwarded_address_counts(db: PgPool) {
    let app = spawn_with(db, |s| {
        s.http.trust_forwarded_for = true;
        s.auth.login_max_failures_per_ip = 2;
    })
    .await;
    let attempt = |spoofed: &str| {
        app.client
            .post(format!("{}/v1/auth/login", app.base))
            .header("x-forwarded-for", format!("{spoofed}, 203.0.113.7"))
            .json(&json!({"username": format!("nobody{spoofed}"), "password": "x"}))
            .send()
    };
    // Rotating the client-supplied (leftmost) part does not reset the count.
    assert_eq!(attempt("1.1.1.1").await.unwrap().status(), 401);
    assert_eq!(attempt("2.2.2.2").await.unwrap().status(), 401);
    assert_problem(attempt("3.3.3.3").await.unwrap(), 429, "too_many_attempts").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn login_is_throttled_per_client_address(db: PgPool) {
    let app = spawn_with(db, |s| s.auth.login_max_failures_per_ip = 4).await;
    for i in 0..4 {
        let res = app
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": format!("ghost{i}"), "password": "x"})),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "someone", "password": "x"})),
        )
        .await;
    assert_problem(res, 429, "too_many_attempts").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_registrations_of_one_username_create_one_user(db: PgPool) {
    let app = spawn_app(db).await;
    let attempts = (0..20).map(|i| {
        let name = if i % 2 == 0 { "Zed" } else { "zed" };
        app.request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": name, "password": PASSWORD})),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn registrations_are_throttled_per_client_address(db: PgPool) {
    let app = spawn_with(db, |s| s.auth.register_max_per_ip = 3).await;
    let register = |name: String| {
        app.request(
            reqwest::Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": name, "password": PASSWORD})),
        )
    };
    // Parallel registrations cannot slip past the limit while their hashes run.
    let results =
        futures_util::future::join_all((0..10).map(|i| register(format!("user{i}")))).await;
    let created = results.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 3);
    for res in results.into_iter().filter(|r| r.status() != 201) {
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 0 && wait <= 600, "{wait}");
        assert_problem(res, 429, "too_many_attempts").await;
    }
    // Invalid requests cost no hash and are not counted: they still get their own error.
    let res = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "x"})),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
}
