//! The OpenAPI document. Paths and schemas are collected from the handlers' annotations as
//! the routes are registered (utoipa-actix-web), so the document cannot drift from the code.

use crate::http::fallback::Security;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        Ref, RefOr,
        security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roost API",
        description = "Social publishing with a built-in event pipeline. Errors are RFC 9457 problem details with a stable `code`; list endpoints use keyset pagination (`limit`, opaque `cursor`, `next_cursor`).",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, login, logout, own profile"),
        (name = "users", description = "Profiles and subscriptions"),
        (name = "posts", description = "Posts, reposts, quotes and feeds"),
        (name = "search", description = "Own-post and subscription search"),
        (name = "comments", description = "Comments"),
        (name = "notifications", description = "Notifications: polling, history, WebSocket"),
        (name = "jobs", description = "Background jobs (word count)"),
        (name = "events", description = "Analytics event ingest for client applications (X-Api-Key)"),
        (name = "admin", description = "Administration (admin token): applications, event types, events, quarantine"),
        (name = "analytics", description = "Analytics reports (admin token)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The bootstrap admin token, sent as a bearer token on /v1/admin/*.
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// Problem answers every `/v1` route may give, by status: the code and when.
const EVERY_ROUTE: [(&str, &str); 3] = [
    (
        "431",
        "`headers_too_large`: the request line and headers are over the limit (16 KiB by default)",
    ),
    (
        "406",
        "`not_acceptable`: the `Accept` header admits no JSON",
    ),
    (
        "503",
        "`unavailable`: the database is unreachable; retry after `Retry-After`",
    ),
];
/// Problem answers of every route that reads a body.
const WITH_BODY: [(&str, &str); 5] = [
    (
        "400",
        "`malformed_body`: the body is not JSON, or does not decode",
    ),
    ("408", "`request_timeout`: the body did not arrive in time"),
    (
        "413",
        "`payload_too_large`: the body is over the route's limit",
    ),
    (
        "415",
        "`unsupported_media_type`: not `application/json`, or an unknown `Content-Encoding`",
    ),
    (
        "422",
        "`validation_failed`: the body breaks the schema's rules",
    ),
];

/// Completes the document once the routes have registered themselves (utoipa-actix-web adds
/// paths after the `#[openapi]` modifiers ran): every answer a route gives because of how it
/// is built — its security (401, 403), body (400, 408, 413, 415, 422), query (422, and 400
/// `invalid_cursor` with a `cursor`), path parameters (404), the database behind it (503) and
/// the HTTP rules in front of it (406, 431) — is documented, and every error answer is
/// declared as `application/problem+json` with the `Problem` schema. Deriving them here keeps
/// the handlers' annotations to what is particular to each route, and the document true to
/// what is served.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;

    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in operations.into_iter().flatten() {
            let security = Security::of(Some(op));
            let parameters: Vec<(ParameterIn, String)> = op
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    RefOr::T(p) => Some((p.parameter_in.clone(), p.name.clone())),
                    RefOr::Ref(_) => None,
                })
                .collect();
            let mut add = |status: &str, why: &str| add_problem(op, status, why);
            if path.starts_with("/v1/") {
                for (status, why) in EVERY_ROUTE {
                    add(status, why);
                }
            }
            match security {
                Security::Bearer | Security::BearerOptional => add(
                    "401",
                    "`unauthorized`: the bearer token is missing, invalid, expired or revoked",
                ),
                Security::Admin => {
                    add("401", "`unauthorized`: not the admin token");
                    add("403", "`forbidden`: a user's token, not the admin token");
                }
                Security::ApiKey | Security::Public => {}
            }
            if op.request_body.is_some() {
                for (status, why) in WITH_BODY {
                    add_problem(op, status, why);
                }
            }
            if parameters.iter().any(|(at, _)| *at == ParameterIn::Query) {
                add_problem(
                    op,
                    "422",
                    "`validation_failed`: a query parameter breaks its rules",
                );
            }
            if parameters.iter().any(|(_, name)| name == "cursor") {
                add_problem(
                    op,
                    "400",
                    "`invalid_cursor`: the cursor was not issued for this list",
                );
            }
            if parameters.iter().any(|(at, _)| *at == ParameterIn::Path) {
                add_problem(
                    op,
                    "404",
                    "`not_found`: nothing by that id or name (a malformed one included)",
                );
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    declare_problem(response);
                }
            }
        }
    }
}

fn problem_content() -> utoipa::openapi::Content {
    utoipa::openapi::ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

/// Adds a problem answer, or the reason to an existing answer of that status.
fn add_problem(op: &mut utoipa::openapi::path::Operation, status: &str, why: &str) {
    let code = why.split('`').nth(1).unwrap_or(why);
    match op.responses.responses.get_mut(status) {
        Some(RefOr::T(existing)) => {
            if !existing.description.contains(code) {
                if !existing.description.is_empty() {
                    existing.description.push_str("; ");
                }
                existing.description.push_str(why);
            }
            if existing.content.is_empty() {
                existing
                    .content
                    .insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(why)
                .content(PROBLEM_JSON, problem_content())
                .build();
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// An error answer whose body is the `Problem` schema is `application/problem+json`.
fn declare_problem(response: &mut utoipa::openapi::Response) {
    let is_problem = |content: &RefOr<utoipa::openapi::Content>| matches!(content, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem")));
    if response
        .content
        .get("application/json")
        .is_some_and(is_problem)
        && let Some(content) = response.content.shift_remove("application/json")
    {
        response.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// The OpenAPI schema of a JSON Schema value: an object, or a boolean (`true` accepts
/// everything, `false` nothing; JSON Schema 2020-12 §4.3.2).
pub fn json_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .build()
        .into()
}
