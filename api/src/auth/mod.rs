//! Authentication: password hashing, access tokens, the login throttle and the request
//! extractors that turn a bearer token into a caller.

pub mod api_key;
pub mod extract;
pub mod gate;
pub mod password;
pub mod throttle;
pub mod token;

pub use extract::{AdminAuth, AuthUser};
