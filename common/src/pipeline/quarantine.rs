//! Why an accepted event sits in the quarantine (`ingest_errors.code`) instead of the events
//! table: the one list of quarantine codes, from SPEC §3.5.

use crate::text_enum::text_enum;

text_enum! {
    /// A quarantine code, stored as its text (`ingest_errors.code`), served as such by
    /// `GET /v1/admin/ingest-errors` and used as the `code` label of the worker's quarantine
    /// metric.
    pub enum QuarantineCode {
        /// The payload breaks its type's rule (built-in or a registered JSON Schema).
        PayloadInvalid = "payload_invalid",
        /// The timestamp is more than 5 minutes after receipt.
        FutureTimestamp = "future_timestamp",
        /// The entry or event could not be stored even alone, after its bounded retries.
        PoisonMessage = "poison_message",
    }
}
