//! The request id (`x-request-id`): reused from the request when it is short and printable,
//! made otherwise; set for the whole handling of the request (a task-local), sent back in the
//! response header, logged, and given in 500 bodies.

use actix_web::dev::ServiceRequest;

tokio::task_local! {
    /// The id of the request whose handling is in progress on this task.
    pub(super) static REQUEST_ID: String;
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being handled, if any (used in 500 bodies).
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An incoming request id is reused when it is short and printable, otherwise a new one is made.
pub fn of(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}
