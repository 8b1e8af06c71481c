//! Domain types that validate on parse: once a value has one of these types it is valid.

pub mod account;
pub mod event;
pub mod json_escape;
pub mod pagination;
pub mod post;
