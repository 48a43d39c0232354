//! Spoor's storage contract ([`SpanWriter`], [`SpanReader`]) and its backends.
#![forbid(unsafe_code)]

pub mod api;
pub mod conformance;
pub mod embedded;
pub mod memory;

mod hashing;
mod matching;

pub use api::{
    Capabilities, ErrorKind, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Result, SpanReader, SpanStore,
    SpanWriter, StorageError, Trace, TraceQuery, DEFAULT_SEARCH_LIMIT,
};
pub use embedded::{EmbeddedConfig, EmbeddedStore, SyncPolicy};
pub use memory::MemoryStore;
