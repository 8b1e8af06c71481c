//! The worker's integration tests, as one test binary (see `api/tests/api/main.rs` for why).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod consumers;
mod layers;
mod lifecycle;
mod partitions;
