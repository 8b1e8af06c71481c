//! Everything both Roost binaries (`roost-api` and `roost-ingest`) share: the one settings
//! loader, the one telemetry setup, PostgreSQL and Redis clients, the pipeline's typed
//! contracts ([`pipeline`]), the enumerations stored in PostgreSQL ([`model`]) and the shutdown
//! signal.

pub mod db;
pub mod label;
pub mod metrics;
pub mod model;
pub mod netpolicy;
pub mod pipeline;
pub mod redis_client;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
mod text_enum;

pub use settings::Settings;
