//! Cross-origin requests (the Fetch standard's CORS protocol, with `actix-cors`). Two policies:
//! - `POST /v1/events` (client applications' pages send analytics from their own origins):
//!   `ROOST_INGEST_CORS_ALLOWED_ORIGINS`, `*` by default. The API key travels in a header, not
//!   a cookie, so no credentials mode is needed;
//! - every other `/v1` route: `ROOST_CORS_ALLOWED_ORIGINS`, empty by default, which sends no
//!   CORS headers at all (browsers then refuse cross-origin calls).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered by the middleware;
//! a request from an origin not on the list is served without CORS headers (non-browser
//! clients are unaffected), so the browser refuses it.

use actix_cors::Cors;
use actix_web::http::{Method, Uri, header};
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

fn policy(origins: &[String], methods: &[Method]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(methods.iter().cloned())
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS.map(header::HeaderName::from_static))
        .max_age(MAX_AGE);
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// The policy of `POST /v1/events` (origins already [`validate`]d).
pub fn ingest(origins: &[String]) -> Cors {
    policy(origins, &[Method::POST])
}

/// The policy of the other `/v1` routes (origins already [`validate`]d).
pub fn api(origins: &[String]) -> Cors {
    policy(
        origins,
        &[
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ],
    )
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
