//! Everything both Roost binaries (`roost-api` and `roost-ingest`) share: the one settings
//! loader, the one telemetry setup, PostgreSQL and Redis clients, the domain-event outbox
//! vocabulary and the shutdown signal.

pub mod db;
pub mod label;
pub mod metrics;
pub mod netpolicy;
pub mod outbox;
pub mod redis_client;
pub mod settings;
pub mod shutdown;
pub mod stream;
pub mod telemetry;

pub use settings::Settings;
