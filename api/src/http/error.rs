//! The API's one error type, rendered once as RFC 9457 problem details with a stable,
//! machine-readable `code`. Internal causes are logged (by the request logger) and never sent.

use crate::domain::cursor::InvalidCursor;
use std::fmt;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

/// Defines [`Code`] from one row per code: variant, code string (part of the contract),
/// HTTP status, problem title. Everything about a code is written once, here (the pattern of
/// Meilisearch's error codes); DOCS.md's error table is checked against it by a test.
macro_rules! codes {
    ($($variant:ident => $code:literal, $status:ident, $title:literal;)*) => {
        /// Every error code the API answers with. The strings are part of the contract.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable machine code (`code` and the end of `type` in a problem).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$variant => StatusCode::$status,)*
                }
            }

            /// The problem's fixed `title`.
            pub fn title(self) -> &'static str {
                match self {
                    $(Self::$variant => $title,)*
                }
            }
        }
    };
}

codes! {
    ValidationFailed => "validation_failed", UNPROCESSABLE_ENTITY, "Validation failed";
    MalformedBody => "malformed_body", BAD_REQUEST, "Malformed request body";
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large";
    InvalidCursor => "invalid_cursor", BAD_REQUEST, "Invalid cursor";
    NotFound => "not_found", NOT_FOUND, "Not found";
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    Unauthorized => "unauthorized", UNAUTHORIZED, "Unauthorized";
    Forbidden => "forbidden", FORBIDDEN, "Forbidden";
    UsernameTaken => "username_taken", CONFLICT, "Username taken";
    EmailTaken => "email_taken", CONFLICT, "E-mail address taken";
    WeakPassword => "weak_password", UNPROCESSABLE_ENTITY, "Weak password";
    PasswordMismatch => "password_mismatch", UNPROCESSABLE_ENTITY, "Passwords do not match";
    InvalidCredentials => "invalid_credentials", UNAUTHORIZED, "Invalid credentials";
    TooManyAttempts => "too_many_attempts", TOO_MANY_REQUESTS, "Too many attempts";
    UserNotFound => "user_not_found", NOT_FOUND, "User not found";
    CannotSubscribeToSelf => "cannot_subscribe_to_self", UNPROCESSABLE_ENTITY, "Cannot subscribe to yourself";
    SubscriptionLimitReached => "subscription_limit_reached", UNPROCESSABLE_ENTITY, "Subscription limit reached";
    PostNotFound => "post_not_found", NOT_FOUND, "Post not found";
    CannotRepost => "cannot_repost", UNPROCESSABLE_ENTITY, "Cannot repost";
    AlreadyReposted => "already_reposted", CONFLICT, "Already reposted";
    CannotQuote => "cannot_quote", UNPROCESSABLE_ENTITY, "Cannot quote";
    DailyPostLimit => "daily_post_limit", TOO_MANY_REQUESTS, "Daily post limit reached";
    TooManyUsernames => "too_many_usernames", UNPROCESSABLE_ENTITY, "Too many usernames";
    UnknownUsernames => "unknown_usernames", UNPROCESSABLE_ENTITY, "Unknown usernames";
    InvalidApiKey => "invalid_api_key", UNAUTHORIZED, "Invalid API key";
    InvalidSchema => "invalid_schema", UNPROCESSABLE_ENTITY, "Invalid JSON Schema";
    UrlNotAllowed => "url_not_allowed", UNPROCESSABLE_ENTITY, "URL not allowed";
    ApplicationExists => "application_exists", CONFLICT, "Application name taken";
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    NotAcceptable => "not_acceptable", NOT_ACCEPTABLE, "Not acceptable";
    HeadersTooLarge => "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header fields too large";
    RequestTimeout => "request_timeout", REQUEST_TIMEOUT, "Request timeout";
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
    Internal => "internal_error", INTERNAL_SERVER_ERROR, "Internal server error";
}

pub use crate::domain::FieldError;

/// The body of every error response (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "urn:roost:problem:validation_failed")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Present on 500 responses: quote it when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error answered to the client. Build one with [`ApiError::new`] or the shorthands.
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
    /// Headers the answer needs (`Allow` on a 405, `Accept-Encoding` on a 415, ...).
    pub headers: Vec<(&'static str, String)>,
    /// The internal cause of a 500, logged by the request logger, never sent.
    pub source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            headers: Vec::new(),
            source: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// 422 `validation_failed` listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(Code::ValidationFailed, detail).with_errors(errors)
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized() -> Self {
        Self::new(Code::Unauthorized, "A valid bearer token is required.")
    }

    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "The requested resource does not exist.")
    }

    /// 405 for a path that exists under other methods.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        Self::new(
            Code::MethodNotAllowed,
            format!("{method} is not supported here; use {allow}."),
        )
        .with_header("Allow", allow)
    }

    pub fn user_not_found(username: &str) -> Self {
        Self::new(Code::UserNotFound, format!("No user named `{username}`."))
    }

    pub fn post_not_found() -> Self {
        Self::new(Code::PostNotFound, "No such post, or you may not see it.")
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(Code::Unavailable, detail).with_retry_after(retry_after)
    }

    /// A 500 whose cause is logged but not sent.
    pub fn internal(cause: anyhow::Error) -> Self {
        Self {
            source: Some(cause),
            ..Self::new(Code::Internal, "Something went wrong on our side.")
        }
    }

    fn body(&self) -> Problem {
        let request_id = (self.code == Code::Internal).then(super::request_id::current);
        let detail = match &request_id {
            Some(Some(id)) => format!("{} Request id: {id}.", self.detail),
            _ => self.detail.clone(),
        };
        Problem {
            kind: format!("urn:roost:problem:{}", self.code.as_str()),
            title: self.code.title(),
            status: self.code.status().as_u16(),
            detail,
            code: self.code.as_str(),
            errors: self.errors.clone(),
            request_id: request_id.flatten(),
        }
    }

    /// The cause chain for the log line (`None` for client errors).
    pub fn cause_chain(&self) -> Option<String> {
        self.source.as_ref().map(|e| format!("{e:#}"))
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.code.as_str())
            .field("detail", &self.detail)
            .field("source", &self.cause_chain())
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl std::error::Error for ApiError {}

impl From<InvalidCursor> for ApiError {
    fn from(e: InvalidCursor) -> Self {
        Self::new(Code::InvalidCursor, e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // SQLSTATE class 22, data exceptions: a value PostgreSQL cannot hold (out of range, a
        // character it refuses). Every such value should be refused by the input checks
        // first; if one slips through, it is still the client's input, not a server fault.
        if let sqlx::Error::Database(db) = &error
            && db.code().is_some_and(|c| c.starts_with("22"))
        {
            let mut e = Self::new(
                Code::ValidationFailed,
                "A value in the request cannot be stored (out of range or not representable).",
            );
            e.source = Some(anyhow::Error::new(error).context("a data exception"));
            return e;
        }
        if is_unavailable(&error) {
            let mut e = Self::unavailable("The database is unavailable; retry shortly.", 2);
            e.source = Some(anyhow::Error::new(error).context("database unavailable"));
            return e;
        }
        Self::internal(anyhow::Error::new(error).context("database query failed"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(error)
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        for (name, value) in &self.headers {
            response.insert_header((*name, value.as_str()));
        }
        if matches!(self.code, Code::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self.code, Code::RequestTimeout) {
            // The rest of the body may still be on its way: the connection cannot be reused.
            response.force_close();
        }
        response.json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_detail_names_every_field() {
        let e = ApiError::validation(vec![
            FieldError::new("title", "is required"),
            FieldError::new("text", "is too long"),
        ]);
        assert_eq!(e.code.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.detail, "title: is required; text: is too long");
    }

    /// DOCS.md's "Error codes" table lists exactly the codes of [`Code`], each with its status.
    #[test]
    fn the_docs_error_table_matches_the_codes() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../DOCS.md")).unwrap();
        let section = docs
            .split("### Error codes")
            .nth(1)
            .expect("DOCS.md has an \"Error codes\" section");
        let section = section.split("\n#").next().unwrap_or(section);
        let documented: std::collections::BTreeSet<(String, u16)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_owned(), cells.get(2)?.parse().ok()?))
            })
            .collect();
        let defined: std::collections::BTreeSet<(String, u16)> = Code::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), c.status().as_u16()))
            .collect();
        assert_eq!(documented, defined, "DOCS.md's error table against Code");
        assert_eq!(defined.len(), Code::ALL.len(), "each code string once");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal(anyhow::anyhow!("SELECT secret FROM t failed"));
        let body = serde_json::to_string(&e.body()).unwrap();
        assert!(!body.contains("SELECT"), "{body}");
        assert_eq!(
            e.cause_chain().as_deref(),
            Some("SELECT secret FROM t failed")
        );
    }
}
