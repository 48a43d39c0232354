//! Spoor's query service: one transport-neutral [`QueryService`] with thin HTTP handlers serving
//! Jaeger's `/api/*` JSON API (port 16686) and the built-in trace viewer ([`ui`]).
//! [`grpc`] serves Jaeger's gRPC query APIs (api_v2 and api_v3, port 16685) and the
//! remote-storage read API (`jaeger.storage.v2`, port 17271) over the same service.
//! [`tenancy`] picks a request's namespace from a tenant header (Jaeger's multi-tenancy) for
//! both. [`purge`] serves the testing-only purge endpoint Jaeger's storage integration suite calls.
//! [`archive`] is Jaeger's archive storage: add it with [`QueryService::with_archive`] (or
//! [`QueryService::with_archive_storage`] for a namespace mapping) and the archive endpoints and
//! trace-lookup fallback work; without it archiving answers Jaeger's "not configured" error.
//!
//! Wiring, as the binary does it:
//!
//! ```no_run
//! # async fn run(
//! #     reader: std::sync::Arc<dyn spoor_storage::SpanReader>,
//! #     purger: std::sync::Arc<dyn spoor_storage::Purger>,
//! # ) -> std::io::Result<()> {
//! use std::sync::Arc;
//! use spoor_model::Namespace;
//! use spoor_query::{grpc, http, namespace_selector, serve_purge, TenancyConfig};
//! use spoor_query::{QueryMetrics, QueryService, QueryServiceOptions};
//! use tokio::net::TcpListener;
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = QueryMetrics::register(&mut registry);
//! let service = Arc::new(QueryService::new(reader, QueryServiceOptions::default(), metrics));
//! let config = http::QueryHttpConfig::default();
//! let tenancy = TenancyConfig::default();
//! let namespaces = namespace_selector(&tenancy, Namespace::new(&config.namespace));
//! let http_listener = TcpListener::bind(config.listen_address()).await?;
//! let grpc_listener = TcpListener::bind("0.0.0.0:16685").await?;
//! let purge_listener = TcpListener::bind(spoor_query::purge::DEFAULT_PURGE_HOST_PORT).await?;
//! let shutdown = std::future::pending::<()>;
//! let (http, grpc, purge) = tokio::join!(
//!     http::serve_on_with_namespaces(http_listener, service.clone(), &config, namespaces.clone(), shutdown()),
//!     grpc::serve_grpc_with_namespaces(grpc_listener, service, namespaces, shutdown()),
//!     serve_purge(purge_listener, purger, shutdown()), // only with --testing.purge-endpoint
//! );
//! http.and(grpc).and(purge)
//! # }
//! ```
#![forbid(unsafe_code)]

mod adjuster;
pub mod archive;
mod bearer;
mod error;
pub mod grpc;
pub mod http;
mod metrics;
pub mod purge;
mod service;
pub mod tenancy;
pub mod ui;

pub use archive::ArchiveStorage;
pub use error::{ErrorKind, QueryError};
pub use metrics::QueryMetrics;
pub use purge::{purge_router, serve_purge};
pub use service::{QueryService, QueryServiceOptions, QueryTrace};
pub use tenancy::{namespace_selector, HeaderNamespaceSelector, TenancyConfig};
