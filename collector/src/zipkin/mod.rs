//! The Zipkin receiver on 9411 ([`http`]): what Envoy/Istio sidecars, Istio's Mixer and Zipkin
//! clients send, in all four Zipkin encodings, converted by `spoor_model::zipkin` and answered
//! after the [`Pipeline`] stored the spans.

pub mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use spoor_tls::{ServerTls, TlsListener};
use tokio::net::TcpListener;

pub use self::http::{router, ZipkinBody};
use crate::config::ZipkinConfig;
use crate::listen::{self, ListenError};
use crate::pipeline::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum ZipkinServeError {
    #[error("Zipkin receiver: {0}")]
    Listen(#[from] ListenError),
    #[error("Zipkin receiver failed: {0}")]
    Http(#[source] std::io::Error),
}

/// The Zipkin receiver with its socket bound, not yet serving. Binding first lets the caller
/// learn the port (`:0` in tests) and fail start-up before anything serves.
pub struct ZipkinServer {
    listener: Option<TcpListener>,
    router: Router,
    tls: Option<ServerTls>,
}

impl ZipkinServer {
    /// Binds the configured listener; an empty `http_host_port` leaves the receiver off.
    pub async fn bind(config: ZipkinConfig, pipeline: Arc<Pipeline>) -> Result<Self, ZipkinServeError> {
        let listener = match config.http_host_port.trim() {
            "" => None,
            host_port => Some(listen::bind(host_port).await?),
        };
        Ok(Self { listener, router: router(pipeline, &config), tls: None })
    }

    /// Serves TLS (`None`: plaintext, the default).
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.tls = tls;
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in progress
    /// finish (so every acknowledged span is stored).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ZipkinServeError> {
        let Some(listener) = self.listener else { return Ok(()) };
        let address = listener.local_addr().map(|address| address.to_string()).unwrap_or_else(|_| "unknown".into());
        tracing::info!(%address, tls = self.tls.is_some(), "Zipkin receiver listening");
        axum::serve(TlsListener::new(listener, self.tls), self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ZipkinServeError::Http)?;
        tracing::info!(%address, "Zipkin receiver stopped");
        Ok(())
    }
}

/// Binds and serves the Zipkin receiver until `shutdown` completes (see [`ZipkinServer`]).
pub async fn serve_zipkin(
    config: ZipkinConfig,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ZipkinServeError> {
    ZipkinServer::bind(config, pipeline).await?.serve(shutdown).await
}
