//! The Jaeger collector receivers: gRPC `CollectorService/PostSpans` on 14250 ([`grpc`]) and
//! Jaeger Thrift over HTTP, `POST /api/traces` on 14268 ([`thrift_http`]). Both convert with the
//! model crate's codecs and answer after the [`Pipeline`] stored the spans.
//!
//! Jaeger's collector also serves remote sampling on these two ports. [`JaegerServer`] takes
//! extra services for that: [`JaegerServer::with_grpc_service`] (the `SamplingManager`) and
//! [`JaegerServer::with_http_router`] (`GET /api/sampling`).

pub mod grpc;
pub mod thrift_http;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use futures::FutureExt;
use spoor_tls::{ServerTls, TlsListener};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use self::grpc::{grpc_service, CollectorGrpcService, COLLECTOR_SERVICE_NAME};
pub use self::thrift_http::{thrift_http_router, TRACES_PATH};
use crate::config::JaegerConfig;
use crate::listen::{self, ListenError};
use crate::pipeline::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum JaegerServeError {
    #[error("Jaeger {transport} receiver: {source}")]
    Listen { transport: &'static str, source: ListenError },
    #[error("Jaeger gRPC receiver failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("Jaeger Thrift HTTP receiver failed: {0}")]
    Http(#[source] std::io::Error),
}

/// The Jaeger receivers with their sockets bound, not yet serving. Binding first lets the caller
/// learn the ports (`:0` in tests) and fail start-up before anything serves.
pub struct JaegerServer {
    grpc_listener: Option<TcpListener>,
    http_listener: Option<TcpListener>,
    grpc_routes: Routes,
    http_router: Router,
    grpc_tls: Option<ServerTls>,
    http_tls: Option<ServerTls>,
}

impl JaegerServer {
    /// Binds the configured listeners; an empty `host_port` leaves that transport off.
    pub async fn bind(config: JaegerConfig, pipeline: Arc<Pipeline>) -> Result<Self, JaegerServeError> {
        let grpc_listener = bind_optional(&config.grpc_host_port, "gRPC").await?;
        let http_listener = bind_optional(&config.thrift_http_host_port, "Thrift HTTP").await?;
        let grpc_routes = Routes::new(grpc_service(Arc::clone(&pipeline), &config));
        let http_router = thrift_http_router(pipeline, &config);
        Ok(Self { grpc_listener, http_listener, grpc_routes, http_router, grpc_tls: None, http_tls: None })
    }

    /// Serves TLS on the gRPC port (`None`: plaintext, the default).
    pub fn with_grpc_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.grpc_tls = tls;
        self
    }

    /// Serves TLS on the Thrift HTTP port (`None`: plaintext, the default).
    pub fn with_http_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.http_tls = tls;
        self
    }

    pub fn grpc_local_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn thrift_http_local_addr(&self) -> Option<SocketAddr> {
        self.http_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// Serves `service` on the gRPC port beside `CollectorService` (Jaeger serves its
    /// `SamplingManager` and grpc.health there). Ignored when the gRPC receiver is off.
    pub fn with_grpc_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.grpc_routes = self.grpc_routes.add_service(service);
        self
    }

    /// Serves `router`'s routes on the Thrift HTTP port beside `POST /api/traces` (Jaeger serves
    /// `GET /api/sampling` there). Ignored when the Thrift HTTP receiver is off.
    pub fn with_http_router(mut self, router: Router) -> Self {
        self.http_router = self.http_router.merge(router);
        self
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in progress
    /// finish (so every acknowledged span is stored). Returns when both servers stopped.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), JaegerServeError> {
        let shutdown = shutdown.shared();
        let grpc_routes = self.grpc_routes;
        let http_router = self.http_router;
        let grpc = async {
            let Some(listener) = self.grpc_listener else { return Ok(()) };
            let address = display_addr(&listener);
            tracing::info!(%address, tls = self.grpc_tls.is_some(), "Jaeger gRPC receiver listening");
            tonic::transport::Server::builder()
                .add_routes(grpc_routes)
                .serve_with_incoming_shutdown(TlsListener::new(listener, self.grpc_tls), shutdown.clone())
                .await?;
            tracing::info!(%address, "Jaeger gRPC receiver stopped");
            Ok::<(), JaegerServeError>(())
        };
        let http = async {
            let Some(listener) = self.http_listener else { return Ok(()) };
            let address = display_addr(&listener);
            tracing::info!(%address, tls = self.http_tls.is_some(), "Jaeger Thrift HTTP receiver listening");
            axum::serve(TlsListener::new(listener, self.http_tls), http_router)
                .with_graceful_shutdown(shutdown.clone())
                .await
                .map_err(JaegerServeError::Http)?;
            tracing::info!(%address, "Jaeger Thrift HTTP receiver stopped");
            Ok(())
        };
        tokio::try_join!(grpc, http)?;
        Ok(())
    }
}

/// Binds and serves the Jaeger receivers until `shutdown` completes (see [`JaegerServer`]).
pub async fn serve_jaeger(
    config: JaegerConfig,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), JaegerServeError> {
    JaegerServer::bind(config, pipeline).await?.serve(shutdown).await
}

async fn bind_optional(host_port: &str, transport: &'static str) -> Result<Option<TcpListener>, JaegerServeError> {
    if host_port.trim().is_empty() {
        return Ok(None);
    }
    let listener = listen::bind(host_port).await.map_err(|source| JaegerServeError::Listen { transport, source })?;
    Ok(Some(listener))
}

fn display_addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|address| address.to_string()).unwrap_or_else(|_| "unknown".to_owned())
}
