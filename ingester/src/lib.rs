//! Spoor's ingester: consumes spans from Kafka and writes them to storage, committing an offset
//! only once every span up to it is durably written (or dead-lettered).
#![forbid(unsafe_code)]

mod config;
mod dead_letter;
mod error;
mod metrics;
mod offsets;
mod retry;
mod service;

pub use config::{IngesterConfig, InitialOffset};
pub use dead_letter::{
    DeadLetterReason, ERROR_HEADER, ERROR_REASON_HEADER, SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
};
pub use error::IngesterError;
pub use service::{Ingester, IngesterHealth, NamespaceFn};
