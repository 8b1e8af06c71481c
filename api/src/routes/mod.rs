//! HTTP handlers, one module per area. Handlers parse and validate input into domain types,
//! call the store, and shape the response; nothing else.

pub mod accounts;
pub mod admin;
pub mod body;
pub mod comments;
pub mod events;
pub mod jobs;
pub mod notifications;
pub mod ops;
pub mod posts;
pub mod users;

use actix_web::{HttpRequest, error::JsonPayloadError, http::header, web};

pub use body::read_body;
use chrono::{DateTime, Utc};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, Code, FieldError};

/// Largest JSON body accepted by the social routes.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Registers every `/v1` route.
pub fn configure(cfg: &mut ServiceConfig) {
    accounts::configure(cfg);
    users::configure(cfg);
    posts::configure(cfg);
    comments::configure(cfg);
    events::configure(cfg);
    jobs::configure(cfg);
    notifications::configure(cfg);
    admin::configure(cfg);
}

/// JSON bodies: size limit, and errors as problem details (400 for broken JSON, 413 for too
/// large, 422 for well-formed JSON of the wrong shape).
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(&err).into())
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(Code::PayloadTooLarge, "The request body is too large.")
        }
        JsonPayloadError::ContentType => body::not_json(),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            Code::ValidationFailed,
            format!("Invalid request body: {e}."),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            Code::MalformedBody,
            format!("The request body is not valid JSON: {e}."),
        ),
        JsonPayloadError::Payload(e) => crate::conformance::payload_error(e),
        other => ApiError::new(
            Code::MalformedBody,
            format!("Cannot read the request body: {other}."),
        ),
    }
}

/// A body that may be absent (empty): `None`, or the parsed JSON with the usual errors.
pub fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| json_error(&JsonPayloadError::Deserialize(e)))
}

/// Query strings: errors as 422 `validation_failed`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::new(
            Code::ValidationFailed,
            format!("Invalid query parameters: {err}."),
        )
        .into()
    })
}

/// Path parameters: a malformed id is a resource that does not exist (a post on post routes).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        let on_post = req
            .match_pattern()
            .is_some_and(|p| p.starts_with("/v1/posts/{id}"));
        if on_post {
            ApiError::post_not_found().into()
        } else {
            ApiError::not_found().into()
        }
    })
}

/// Any other body (non-JSON routes): the same size limit.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(JSON_LIMIT)
}

/// Every documented path with the methods it answers to and how each is authenticated, read
/// from the OpenAPI document the routes registered themselves in: the fallback tells "no such
/// path" (404) from "not with this method" (405 with `Allow`), and the authentication gate
/// knows which routes need which caller, without a second list of routes to keep in step.
#[derive(Clone, Debug, Default)]
pub struct RouteTable(Vec<Route>);

#[derive(Clone, Debug)]
struct Route {
    segments: Vec<Segment>,
    methods: Vec<(&'static str, Security)>,
}

/// How a route authenticates its caller (its OpenAPI `security`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// No credentials.
    Public,
    /// A user's bearer token, required.
    Bearer,
    /// A user's bearer token when the `Authorization` header is sent; the route may take it
    /// another way (the WebSocket's first message).
    BearerOptional,
    /// The administrator's token.
    Admin,
    /// A client application's `X-Api-Key`.
    ApiKey,
}

impl Security {
    /// The security an operation declares.
    pub fn of(operation: Option<&utoipa::openapi::path::Operation>) -> Self {
        let requirements: Vec<serde_json::Value> = operation
            .and_then(|op| op.security.as_ref())
            .map(|list| {
                list.iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect()
            })
            .unwrap_or_default();
        let names = |v: &serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let optional = requirements.iter().any(|r| names(r).is_empty());
        let schemes: Vec<String> = requirements.iter().flat_map(names).collect();
        match () {
            () if schemes.iter().any(|s| s == "admin") => Self::Admin,
            () if schemes.iter().any(|s| s == "api_key") => Self::ApiKey,
            () if schemes.iter().any(|s| s == "bearer") && optional => Self::BearerOptional,
            () if schemes.iter().any(|s| s == "bearer") => Self::Bearer,
            () => Self::Public,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    /// Any rest of the path, one segment or more (`/docs/{rest}*`).
    Rest,
}

/// GET routes that change state, so HEAD is not served as GET on them (RFC 9110 §9.2.1):
/// `unsent` marks what it returns delivered; the WebSocket claims as it streams.
pub const GETS_WITH_EFFECTS: [&str; 2] = ["/v1/notifications/unsent", "/v1/notifications/stream"];

/// Served outside the OpenAPI document: the document itself and the interactive docs.
const UNDOCUMENTED_GETS: [&str; 3] = ["/openapi.json", "/docs", "/docs/{rest}*"];

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let segments = |path: &str| -> Vec<Segment> {
            path.split('/')
                .map(|s| {
                    if s.starts_with('{') && s.ends_with("}*") {
                        Segment::Rest
                    } else if s.starts_with('{') && s.ends_with('}') {
                        Segment::Param
                    } else {
                        Segment::Literal(s.to_owned())
                    }
                })
                .collect()
        };
        let documented = doc.paths.paths.iter().map(|(path, item)| {
            // HEAD is served wherever GET is (as GET without a body), if GET is safe.
            let head = item
                .get
                .as_ref()
                .filter(|_| !GETS_WITH_EFFECTS.contains(&path.as_str()));
            let methods = [
                ("GET", item.get.as_ref()),
                ("HEAD", head),
                ("POST", item.post.as_ref()),
                ("PUT", item.put.as_ref()),
                ("PATCH", item.patch.as_ref()),
                ("DELETE", item.delete.as_ref()),
            ];
            Route {
                segments: segments(path),
                methods: methods
                    .into_iter()
                    .filter_map(|(m, op)| op.map(|op| (m, Security::of(Some(op)))))
                    .collect(),
            }
        });
        let undocumented = UNDOCUMENTED_GETS.iter().map(|path| Route {
            segments: segments(path),
            methods: vec![("GET", Security::Public), ("HEAD", Security::Public)],
        });
        Self(documented.chain(undocumented).collect())
    }

    /// The routes of `path`'s shape, most specific (most literal segments) first.
    fn matching(&self, path: &str) -> Vec<&Route> {
        let parts: Vec<&str> = path.split('/').collect();
        let matches = |segments: &[Segment]| {
            let rest = segments.last() == Some(&Segment::Rest);
            (segments.len() == parts.len() || rest && parts.len() >= segments.len())
                && segments.iter().zip(&parts).all(|(s, p)| match s {
                    Segment::Literal(l) => l == p,
                    Segment::Param => !p.is_empty(),
                    Segment::Rest => true,
                })
        };
        let mut routes: Vec<&Route> = self.0.iter().filter(|r| matches(&r.segments)).collect();
        let literals = |r: &Route| {
            r.segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count()
        };
        routes.sort_by_key(|r| std::cmp::Reverse(literals(r)));
        routes
    }

    /// The methods `path` answers to: those of every route of that shape (none when no route
    /// has it).
    pub fn allowed(&self, path: &str) -> Vec<&'static str> {
        let mut allowed: Vec<&'static str> = self
            .matching(path)
            .into_iter()
            .flat_map(|r| r.methods.iter().map(|(m, _)| *m))
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }

    /// How the route serving `method path` authenticates; `None` for no such route.
    pub fn security(&self, method: &str, path: &str) -> Option<Security> {
        self.matching(path).into_iter().find_map(|r| {
            r.methods
                .iter()
                .find(|(m, _)| *m == method)
                .map(|(_, security)| *security)
        })
    }
}

/// The default service: a known path with another method is 405 `method_not_allowed` (with
/// `Allow`), and `OPTIONS` on it is 204 with `Allow`; anything else is 404 `not_found`.
pub async fn not_found(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let mut allowed = routes.allowed(req.match_info().as_str());
    if allowed.is_empty() || allowed.contains(&req.method().as_str()) {
        return Err(ApiError::not_found());
    }
    allowed.push("OPTIONS");
    if req.method() == actix_web::http::Method::OPTIONS {
        return Ok(actix_web::HttpResponse::NoContent()
            .insert_header((header::ALLOW, allowed.join(", ")))
            .finish());
    }
    Err(ApiError::method_not_allowed(
        req.method().as_str(),
        &allowed,
    ))
}

/// Parses an optional RFC 3339 time filter. A `+` decoded to a space by form encoding is
/// accepted as the `+` the client meant.
pub fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&raw.replace(' ', "+"))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"))
}

/// Collects field errors; `Err` with all of them when any.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_tells_unknown_paths_from_other_methods() {
        use utoipa::openapi::{
            HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, path::Operation,
        };
        let doc = OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path(
                        "/v1/posts/{id}",
                        PathItem::new(HttpMethod::Get, Operation::new()),
                    )
                    .path(
                        "/v1/posts",
                        PathItem::new(HttpMethod::Post, Operation::new()),
                    ),
            )
            .build();
        let table = RouteTable::from_openapi(&doc);
        assert_eq!(
            table.security("GET", "/v1/posts/42"),
            Some(Security::Public)
        );
        assert_eq!(table.security("DELETE", "/v1/posts/42"), None);
        assert_eq!(table.allowed("/v1/posts/42"), vec!["GET", "HEAD"]);
        assert_eq!(table.allowed("/v1/posts"), vec!["POST"]);
        assert_eq!(table.allowed("/docs/index.html"), vec!["GET", "HEAD"]);
        assert_eq!(table.allowed("/openapi.json"), vec!["GET", "HEAD"]);
        assert!(table.allowed("/v1/posts/42/nope").is_empty());
        assert!(table.allowed("/v1/posts/").is_empty());
        assert!(table.allowed("/v2/posts").is_empty());
    }

    #[test]
    fn time_filters() {
        assert!(parse_time("from", None).unwrap().is_none());
        let t = parse_time("from", Some("2026-01-02T03:04:05 00:00"))
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert!(parse_time("from", Some("yesterday")).is_err());
    }
}
