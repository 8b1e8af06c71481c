//! Assertions on answers and small JSON helpers.

use reqwest::Response;
use serde_json::{Value, json};

/// Asserts a problem+json error with the given status and code (and a request id, a title, a
/// detail and a type); returns the body.
///
/// # Panics
/// On any difference, with the body in the message.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    check_problem(None, res, status, code).await
}

/// [`assert_problem`] for one row of a table of cases: every failure message starts with
/// `case`, so a table says which row failed.
///
/// ```ignore
/// let cases = [
///     // (case, body, status, code)
///     ("a taken username", json!({"username": "BOB", "password": PASSWORD}), 409, "username_taken"),
/// ];
/// for (case, body, status, code) in cases {
///     assert_problem_case(case, register(body).await, status, code).await;
/// }
/// ```
pub async fn assert_problem_case(case: &str, res: Response, status: u16, code: &str) -> Value {
    check_problem(Some(case), res, status, code).await
}

async fn check_problem(case: Option<&str>, res: Response, status: u16, code: &str) -> Value {
    let case = case.map(|c| format!("{c}: ")).unwrap_or_default();
    let actual = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        res.headers().contains_key("x-request-id"),
        "{case}no x-request-id"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(actual, status, "{case}status for {code}: {body}");
    assert_eq!(content_type, "application/problem+json", "{case}{body}");
    assert_eq!(body["code"], code, "{case}{body}");
    assert_eq!(body["status"], status, "{case}{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{case}{body}"
    );
    body
}

/// The answer's JSON body.
pub async fn json(res: Response) -> Value {
    res.json().await.unwrap()
}

/// The string field `key` of each item.
pub fn field<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    items.iter().map(|i| i[key].as_str().unwrap()).collect()
}

/// The integer `id` of each item.
pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

/// A valid analytics event (a built-in page view) with a fresh id.
pub fn pageview(session: &str, timestamp: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(),
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "shop.example", "path": "/"},
        "timestamp": timestamp,
    })
}
