//! Domain types that validate on parse: once a value has one of these types it is valid. No
//! HTTP here: a rule that fails says which field and why ([`FieldError`]), and the HTTP layer
//! turns that into 422 `validation_failed`.

pub mod account;
pub mod application;
pub mod cursor;
pub mod event;
pub mod job;
pub mod json_escape;
pub mod post;

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input field: its name as the client sent it and what is wrong, e.g.
/// `{"field": "title", "message": "must not be empty"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
