//! Cross-cutting HTTP: everything above `domain` may use it, and it uses nothing above
//! `domain` (no `AppState`, no routes, no services).
//!
//! - [`error`]: the one error type, one row per code, rendered as problem+json;
//! - [`request_id`]: the request id, set for the whole handling of a request;
//! - [`request_log`]: request span, one JSON log line and the HTTP metrics per
//!   request;
//! - [`conformance`]: HTTP rules applied before routing (HEAD, 406, 415, 408, 431, security
//!   headers);
//! - [`input`]: bodies (decoding, limits, JSON), query and path errors, time filters, field
//!   error collection;
//! - [`page`]: the `limit` rule and the page shape;
//! - [`fallback`]: the route table read from the OpenAPI document, 404/405/`OPTIONS`;
//! - [`cors`]: the two CORS policies.

pub mod conformance;
pub mod cors;
pub mod error;
pub mod fallback;
pub mod input;
pub mod page;
pub mod request_id;
pub mod request_log;
