//! Spoor's collector: receivers decode their protocol into model spans, the sanitizer records
//! problems as warnings, and a bounded pipeline hands batches to a writer.
//!
//! The binary builds a [`Pipeline`] (writer, [`PipelineConfig`], [`CollectorMetrics`] registered
//! into its registry) and calls [`serve_otlp`] with an [`OtlpConfig`] and a shutdown future.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod otlp;
pub mod pipeline;
pub mod rpc_status;
pub mod sampling;
pub mod sanitizer;

pub use config::{OtlpConfig, PipelineConfig};
pub use error::{ErrorKind, ReceiveError, SubmitError};
pub use metrics::CollectorMetrics;
pub use otlp::{serve_otlp, OtlpServer, ServeError};
pub use pipeline::{Format, NamespaceResolver, Pipeline, SingleNamespace, Source, Transport};
pub use sanitizer::Sanitizer;
