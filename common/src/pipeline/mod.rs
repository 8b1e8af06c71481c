//! The pipeline's typed contracts: everything that crosses the api → Redis → worker boundary
//! is a Rust type here, encoded and decoded in one place, so a renamed field is a compile
//! error in both binaries instead of a silent loss.
//!
//! - [`keys`]: every Redis key, consumer group and pub/sub channel name;
//! - [`event`]: the event envelope as it travels ([`Event`], [`EventData`]);
//! - [`entry`]: the stream entries (an accepted batch, a job wake-up): one encoder and one
//!   decoder each;
//! - [`message`]: the pub/sub messages (notifications, revocations);
//! - [`domain_event`]: the platform's own events, one enum of typed payloads;
//! - [`outbox`]: writing domain events in the caller's transaction and publishing them;
//! - [`quarantine`]: why an accepted event was quarantined (the code enum).

pub mod domain_event;
pub mod entry;
pub mod event;
pub mod keys;
pub mod message;
pub mod outbox;
pub mod quarantine;

pub use domain_event::DomainEvent;
pub use entry::{EventBatch, JobWakeUp};
pub use event::{Event, EventData, ROOST_APPLICATION_ID};
pub use keys::Keys;
pub use quarantine::QuarantineCode;
