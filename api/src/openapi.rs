//! The OpenAPI document. Paths and schemas are collected from the handlers' annotations as
//! the routes are registered (utoipa-actix-web), so the document cannot drift from the code.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme},
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
