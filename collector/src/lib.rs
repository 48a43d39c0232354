//! Spoor's collector: receivers decode their protocol into model spans, the sanitizer records
//! problems as warnings, and a bounded pipeline hands batches to a writer.
//!
//! The binary builds a [`Pipeline`] (writer, [`PipelineConfig`], [`CollectorMetrics`] registered
//! into its registry) and, with a shutdown future each, serves the receivers it enables:
//!
//! | receiver | config | serve | ports |
//! |---|---|---|---|
//! | OTLP gRPC + HTTP | [`OtlpConfig`] | [`serve_otlp`] / [`OtlpServer`] | 4317, 4318 |
//! | Jaeger gRPC + Thrift HTTP | [`JaegerConfig`] | [`serve_jaeger`] / [`JaegerServer`] (takes the sampling services) | 14250, 14268 |
//! | Zipkin | [`ZipkinConfig`] | [`serve_zipkin`] / [`ZipkinServer`] | 9411 |
//! | agent UDP | [`AgentConfig`] | [`serve_agent`] / [`AgentServer`] | 6831, 6832 |
#![forbid(unsafe_code)]

pub mod agent;
pub mod config;
pub mod error;
pub mod grpc_bytes;
pub mod http_body;
pub mod jaeger;
pub mod kafka;
pub mod listen;
pub mod metrics;
pub mod namespaces;
pub mod otlp;
pub mod pipeline;
pub mod rpc_status;
pub mod sampling;
pub mod sanitizer;
pub mod spool;
pub mod zipkin;

pub use agent::{serve_agent, AgentEndpoint, AgentServeError, AgentServer};
pub use config::{AgentConfig, JaegerConfig, OtlpConfig, PipelineConfig, ZipkinConfig};
pub use error::{ErrorKind, ReceiveError, SubmitError};
pub use jaeger::{serve_jaeger, JaegerServeError, JaegerServer};
pub use metrics::CollectorMetrics;
pub use namespaces::RulesResolver;
pub use otlp::{serve_otlp, OtlpServer, ServeError};
pub use pipeline::{Format, NamespaceResolver, Pipeline, SingleNamespace, Source, Transport};
pub use sanitizer::Sanitizer;
pub use zipkin::{serve_zipkin, ZipkinServeError, ZipkinServer};
