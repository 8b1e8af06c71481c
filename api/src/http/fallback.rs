//! What no route answers: every documented path with its methods and security, read from the
//! OpenAPI document (so 404 and 405 + `Allow` need no second list of routes), and the default
//! service that answers 404, 405 and `OPTIONS`.

use actix_web::{HttpRequest, http::header, web};

use super::error::ApiError;

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
}
