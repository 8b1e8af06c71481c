//! The worker's integration tests, as one test binary (see `api/tests/api/main.rs` for why).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod consumers;
mod layers;
mod lifecycle;
#[path = "../../../api/tests/api/module_graph.rs"]
mod module_graph;
mod partitions;
