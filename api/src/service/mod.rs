//! The rules and orchestration of writes, callable from the routes and from the CLI: a
//! service function takes what it needs explicitly (pool, publisher, settings values; never
//! `AppState` or an HTTP type), calls the store and the domain, and says why it refused in
//! its own error enum, which the route maps to a problem.

pub mod accounts;
pub mod applications;
pub mod events;
pub mod jobs;
pub mod posts;
