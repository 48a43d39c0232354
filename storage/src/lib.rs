//! Spoor's storage contract ([`SpanWriter`], [`SpanReader`], [`Purger`]) and its backends.
#![forbid(unsafe_code)]

pub mod api;
pub mod conformance;
pub mod elasticsearch;
pub mod embedded;
pub mod memory;
pub mod request_context;
pub mod router;

mod dependencies;
mod hashing;
mod matching;

pub use api::{
    Capabilities, DependencyLink, DependencyQuery, ErrorKind, FoundTraceId, GetTraceRequest, Operation, OperationQuery,
    Purger, Result, SpanReader, SpanStore, SpanWriter, StorageError, Trace, TraceQuery, DEFAULT_SEARCH_LIMIT,
    DEPENDENCY_PARENT_LEAD, DEPENDENCY_SOURCE_SPANS,
};
pub use embedded::{EmbeddedConfig, EmbeddedStore, SyncPolicy};
pub use memory::MemoryStore;
