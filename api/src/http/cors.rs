//! Cross-origin requests (the Fetch standard's CORS protocol, with `actix-cors`). Two policies:
//! - `POST /v1/events` (client applications' pages send analytics from their own origins):
//!   `ROOST_INGEST_CORS_ALLOWED_ORIGINS`, `*` by default. The API key travels in a header, not
//!   a cookie, so no credentials mode is needed;
//! - every other `/v1` route: `ROOST_CORS_ALLOWED_ORIGINS`, empty by default, which sends no
//!   CORS headers at all (browsers then refuse cross-origin calls).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered by the middleware
//! (403 for an origin not on the list); a request from an origin not on the list is served
//! without CORS headers (non-browser clients are unaffected), so the browser refuses it.

use actix_cors::Cors;
use actix_web::http::{Method, Uri, header, header::HeaderValue};
use anyhow::{Context, bail};

/// The request headers browsers may send.
const ALLOWED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "content-encoding",
    "x-api-key",
    "x-request-id",
    "traceparent",
    "tracestate",
];
/// Response headers scripts may read.
const EXPOSED_HEADERS: [&str; 3] = ["x-request-id", "retry-after", "location"];
/// How long browsers may cache a preflight answer, in seconds.
const MAX_AGE: usize = 3600;

/// Checks a list of origins (`*`, or `scheme://host[:port]` each) at start-up.
pub fn validate(setting: &str, origins: &[String]) -> anyhow::Result<()> {
    for origin in origins {
        if origin == "*" {
            continue;
        }
        let uri: Uri = origin
            .parse()
            .with_context(|| format!("{setting}: `{origin}` is not an origin"))?;
        let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
        if uri.scheme().is_none() || uri.host().is_none() || !bare || origin.ends_with('/') {
            bail!("{setting}: `{origin}` is not an origin (write scheme://host[:port])");
        }
    }
    Ok(())
}

/// An origin list: any origin (`*`), or these.
#[derive(Clone, Debug)]
struct Origins {
    any: bool,
    listed: Vec<String>,
}

impl Origins {
    fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            listed: origins.iter().filter(|o| *o != "*").cloned().collect(),
        }
    }

    fn allow(&self, origin: &HeaderValue) -> bool {
        self.any
            || origin
                .to_str()
                .is_ok_and(|o| self.listed.iter().any(|l| l == o))
    }
}

/// The one CORS middleware, outermost but for the request log, so every answer (the
/// authentication gate's and the HTTP rules' refusals included) carries the headers: the
/// origin is checked against the ingest list on `POST /v1/events` and against the API list on
/// the other `/v1` routes (origins already [`validate`]d); nothing else is cross-origin.
pub fn policy(ingest_origins: &[String], api_origins: &[String]) -> Cors {
    let ingest = Origins::new(ingest_origins);
    let api = Origins::new(api_origins);
    Cors::default()
        .allowed_origin_fn(move |origin, head| match head.uri.path() {
            "/v1/events" => ingest.allow(origin),
            path if path.starts_with("/v1/") => api.allow(origin),
            _ => false,
        })
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ])
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS.map(header::HeaderName::from_static))
        .max_age(MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let ok = |o: &[&str]| validate("X", &o.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(ok(&["*", "https://shop.example", "http://localhost:3000"]).is_ok());
        assert!(ok(&["shop.example"]).is_err());
        assert!(ok(&["https://shop.example/path"]).is_err());
        assert!(ok(&["https://shop.example/"]).is_err());
    }
}
