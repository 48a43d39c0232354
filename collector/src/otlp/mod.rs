//! The OTLP receivers (spec §1.2): gRPC `TraceService/Export` ([`grpc`]) and OTLP/HTTP
//! `POST /v1/traces` ([`http`]). Both decode into an `ExportTraceServiceRequest`, convert it with
//! `spoor_model::otlp`, and submit the spans to the [`Pipeline`]; the sender is answered after the
//! pipeline stored them. Spans the conversion rejects are reported in OTLP's `partial_success`.

pub mod grpc;
pub mod http;
pub mod json;
pub mod lenient;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_model::otlp::spans_from_otlp_request;
use spoor_model::SpanBatch;
use spoor_tls::{ServerTls, TlsListener};
use tokio::net::TcpListener;

use crate::config::OtlpConfig;
use crate::error::ReceiveError;
use crate::listen::{self, ListenError};
use crate::pipeline::{Pipeline, Source, Transport};
use crate::sanitizer;

/// The transport-neutral part of both receivers: convert, submit, answer.
#[derive(Clone)]
pub struct OtlpExporter {
    pipeline: Arc<Pipeline>,
}

impl OtlpExporter {
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline }
    }

    /// Converts and stores the spans of `request`. `Ok` means every span that could be converted
    /// is stored; the response's `partial_success` counts and names the ones that could not.
    /// `repaired` holds the spans whose invalid UTF-8 the lenient decoder replaced.
    pub async fn export(
        &self,
        request: ExportTraceServiceRequest,
        transport: Transport,
        repaired: Option<&lenient::RepairedSpans>,
    ) -> Result<ExportTraceServiceResponse, ReceiveError> {
        let source = Source::otlp(transport);
        let conversion = spans_from_otlp_request(request);
        let rejected = u64::try_from(conversion.rejected).unwrap_or(u64::MAX);
        self.pipeline.metrics().record_invalid_spans(source, rejected);
        let partial_success = conversion.partial_success();
        let mut batch = SpanBatch::new(conversion.spans);
        if let Some(repaired) = repaired {
            for span in &mut batch.spans {
                if repaired.contains(span.trace_id, span.span_id) {
                    sanitizer::record_repaired_utf8(span);
                }
            }
        }
        self.pipeline.submit(batch, source).await?;
        Ok(ExportTraceServiceResponse { partial_success })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("OTLP {transport} receiver: {source}")]
    Listen { transport: &'static str, source: ListenError },
    #[error("OTLP gRPC receiver failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("OTLP HTTP receiver failed: {0}")]
    Http(#[source] std::io::Error),
}

/// The OTLP receivers with their sockets bound, not yet serving. Binding first lets the caller
/// learn the ports (`:0` in tests) and fail start-up before anything serves.
pub struct OtlpServer {
    config: OtlpConfig,
    pipeline: Arc<Pipeline>,
    grpc_listener: Option<TcpListener>,
    http_listener: Option<TcpListener>,
    grpc_tls: Option<ServerTls>,
    http_tls: Option<ServerTls>,
}

impl OtlpServer {
    /// Binds the configured listeners; an empty `host_port` leaves that transport off.
    pub async fn bind(config: OtlpConfig, pipeline: Arc<Pipeline>) -> Result<Self, ServeError> {
        let grpc_listener = bind_optional(&config.grpc_host_port, "gRPC").await?;
        let http_listener = bind_optional(&config.http_host_port, "HTTP").await?;
        Ok(Self { config, pipeline, grpc_listener, http_listener, grpc_tls: None, http_tls: None })
    }

    /// Serves TLS on the gRPC port (`None`: plaintext, the default).
    pub fn with_grpc_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.grpc_tls = tls;
        self
    }

    /// Serves TLS on the HTTP port (`None`: plaintext, the default).
    pub fn with_http_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.http_tls = tls;
        self
    }

    pub fn grpc_local_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn http_local_addr(&self) -> Option<SocketAddr> {
        self.http_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in progress
    /// finish (so every acknowledged span is stored). Returns when both servers stopped.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let shutdown = shutdown.shared();
        let grpc = async {
            let Some(listener) = self.grpc_listener else { return Ok(()) };
            tracing::info!(address = %display_addr(&listener), tls = self.grpc_tls.is_some(), "OTLP gRPC receiver listening");
            let service = grpc::trace_service(Arc::clone(&self.pipeline), &self.config);
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TlsListener::new(listener, self.grpc_tls), shutdown.clone())
                .await?;
            tracing::info!("OTLP gRPC receiver stopped");
            Ok::<(), ServeError>(())
        };
        let http = async {
            let Some(listener) = self.http_listener else { return Ok(()) };
            tracing::info!(address = %display_addr(&listener), tls = self.http_tls.is_some(), "OTLP HTTP receiver listening");
            let router = http::router(Arc::clone(&self.pipeline), &self.config);
            axum::serve(TlsListener::new(listener, self.http_tls), router)
                .with_graceful_shutdown(shutdown.clone())
                .await
                .map_err(ServeError::Http)?;
            tracing::info!("OTLP HTTP receiver stopped");
            Ok(())
        };
        tokio::try_join!(grpc, http)?;
        Ok(())
    }
}

/// Binds and serves the OTLP receivers until `shutdown` completes (see [`OtlpServer`]).
pub async fn serve_otlp(
    config: OtlpConfig,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    OtlpServer::bind(config, pipeline).await?.serve(shutdown).await
}

async fn bind_optional(host_port: &str, transport: &'static str) -> Result<Option<TcpListener>, ServeError> {
    if host_port.trim().is_empty() {
        return Ok(None);
    }
    let listener = listen::bind(host_port).await.map_err(|source| ServeError::Listen { transport, source })?;
    Ok(Some(listener))
}

fn display_addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|address| address.to_string()).unwrap_or_else(|_| "unknown".to_owned())
}
