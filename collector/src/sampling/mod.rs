//! Jaeger remote sampling (spec §2): clients ask which sampling strategy their service should use.
//!
//! The answers come from Jaeger's strategies file ([`file`](mod@file) decodes it with Go's JSON rules,
//! [`strategies`] applies Jaeger's rules), held by a [`StrategyStore`] that re-reads the file when
//! it changes ([`store`]). Thin transports serve it: HTTP ([`http`]: any path on 5778,
//! `/api/sampling` on 14268) in Jaeger's exact JSON ([`encode`]), and gRPC `SamplingManager`
//! ([`grpc`]: 5779, 14250).
//!
//! The binary opens the store once, with [`SamplingMetrics`] registered into its registry, and
//! either calls [`serve_sampling`] for 5778/5779 or mounts [`http_router`],
//! [`api_sampling_router`] and [`grpc_service`] on servers it already runs.

pub mod config;
pub mod encode;
pub mod error;
pub mod file;
pub mod go_json;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod store;
pub mod strategies;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use spoor_tls::{ServerTls, TlsListener};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

pub use self::config::{SamplingConfig, ALL_IN_ONE_SAMPLING_PROBABILITY, DEFAULT_SAMPLING_PROBABILITY};
pub use self::error::{SamplingError, SamplingRequestError};
pub use self::grpc::{grpc_service, set_health_status, SamplingGrpcHandler, HEALTH_SERVICE_NAME};
pub use self::http::{api_sampling_router, http_router, API_SAMPLING_PATH};
pub use self::metrics::SamplingMetrics;
pub use self::store::{ReloadOutcome, StrategyStore};
pub use self::strategies::{Strategies, StrategyWarning};

use crate::listen;

/// The sampling servers with their sockets bound, not yet serving. Binding first lets the caller
/// learn the ports (`:0` in tests) and fail start-up before anything serves.
pub struct SamplingServer {
    store: Arc<StrategyStore>,
    http_listener: Option<TcpListener>,
    grpc_listener: Option<TcpListener>,
    http_tls: Option<ServerTls>,
    grpc_tls: Option<ServerTls>,
}

impl SamplingServer {
    /// Binds `http_host_port` and `grpc_host_port`; an empty one leaves that transport off.
    pub async fn bind(config: &SamplingConfig, store: Arc<StrategyStore>) -> Result<Self, SamplingError> {
        let http_listener = bind_optional(&config.http_host_port, "HTTP").await?;
        let grpc_listener = bind_optional(&config.grpc_host_port, "gRPC").await?;
        Ok(Self { store, http_listener, grpc_listener, http_tls: None, grpc_tls: None })
    }

    /// Serves TLS on the HTTP port (`None`: plaintext, the default).
    pub fn with_http_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.http_tls = tls;
        self
    }

    /// Serves TLS on the gRPC port (`None`: plaintext, the default).
    pub fn with_grpc_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.grpc_tls = tls;
        self
    }

    pub fn http_local_addr(&self) -> Option<SocketAddr> {
        self.http_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn grpc_local_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then lets requests in progress finish (the gRPC health
    /// status turns NOT_SERVING first). Returns when both servers stopped.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), SamplingError> {
        let shutdown = shutdown.shared();
        let store = self.store;
        let http = async {
            let Some(listener) = self.http_listener else { return Ok(()) };
            let address = display_addr(&listener);
            tracing::info!(%address, tls = self.http_tls.is_some(), "sampling HTTP server listening");
            axum::serve(TlsListener::new(listener, self.http_tls), http_router(Arc::clone(&store)))
                .with_graceful_shutdown(shutdown.clone())
                .await
                .map_err(SamplingError::Http)?;
            tracing::info!(%address, "sampling HTTP server stopped");
            Ok::<(), SamplingError>(())
        };
        let grpc = async {
            let Some(listener) = self.grpc_listener else { return Ok(()) };
            let address = display_addr(&listener);
            let (health, health_service) = tonic_health::server::health_reporter();
            set_health_status(&health, ServingStatus::Serving).await;
            let not_serving_after_shutdown = {
                let shutdown = shutdown.clone();
                async move {
                    shutdown.await;
                    set_health_status(&health, ServingStatus::NotServing).await;
                    health.set_service_status("", ServingStatus::NotServing).await;
                }
            };
            tracing::info!(%address, tls = self.grpc_tls.is_some(), "sampling gRPC server listening");
            tonic::transport::Server::builder()
                .add_service(health_service)
                .add_service(grpc_service(Arc::clone(&store)))
                .serve_with_incoming_shutdown(TlsListener::new(listener, self.grpc_tls), not_serving_after_shutdown)
                .await?;
            tracing::info!(%address, "sampling gRPC server stopped");
            Ok(())
        };
        tokio::try_join!(http, grpc)?;
        Ok(())
    }
}

/// Binds `http_host_port` (Jaeger's 5778) and `grpc_host_port` (5779) and serves `store` on them
/// until `shutdown` completes (see [`SamplingServer`]).
pub async fn serve_sampling(
    config: SamplingConfig,
    store: Arc<StrategyStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SamplingError> {
    SamplingServer::bind(&config, store).await?.serve(shutdown).await
}

async fn bind_optional(host_port: &str, transport: &'static str) -> Result<Option<TcpListener>, SamplingError> {
    if host_port.trim().is_empty() {
        return Ok(None);
    }
    let listener = listen::bind(host_port).await.map_err(|source| SamplingError::Listen { transport, source })?;
    Ok(Some(listener))
}

fn display_addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|address| address.to_string()).unwrap_or_else(|_| "unknown".to_owned())
}
