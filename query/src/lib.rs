//! Spoor's query service: one transport-neutral [`QueryService`] with thin HTTP handlers serving
//! Jaeger's `/api/*` JSON API (port 16686) and the built-in trace viewer ([`ui`]).
//! [`grpc`] serves Jaeger's gRPC query APIs (api_v2 and api_v3, port 16685) and the
//! remote-storage read API (`jaeger.storage.v2`, port 17271) over the same service.
//!
//! Wiring, as the binary does it:
//!
//! ```no_run
//! # async fn run(reader: std::sync::Arc<dyn spoor_storage::SpanReader>) -> std::io::Result<()> {
//! use std::sync::Arc;
//! use spoor_query::{http, QueryMetrics, QueryService, QueryServiceOptions};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = QueryMetrics::register(&mut registry);
//! let service = Arc::new(QueryService::new(reader, QueryServiceOptions::default(), metrics));
//! let config = http::QueryHttpConfig::default();
//! http::serve(service, &config, std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]

mod adjuster;
mod error;
pub mod grpc;
pub mod http;
mod metrics;
mod service;
pub mod ui;

pub use error::{ErrorKind, QueryError};
pub use metrics::QueryMetrics;
pub use service::{QueryService, QueryServiceOptions, QueryTrace};
