//! Jaeger's gRPC query APIs as thin tonic handlers over the [`QueryService`]:
//!
//! - [`serve_grpc`] (port 16685): `jaeger.api_v2.QueryService` (`api_v2.rs`),
//!   `jaeger.api_v3.QueryService` (`api_v3.rs`) and `grpc.health.v1.Health`;
//! - [`serve_remote_storage`] (port 17271): `jaeger.storage.v2.TraceReader` and
//!   `DependencyReader` (`remote_storage.rs`), reading raw (unadjusted) traces,
//!   `Capabilities` (`capabilities.rs`) and `grpc.health.v1.Health`.
//!
//! Health reports SERVING under Jaeger's service names (see [`QUERY_HEALTH_SERVICE_NAMES`],
//! [`REMOTE_STORAGE_HEALTH_SERVICE_NAMES`]) and the overall name `""` while the server runs, and
//! NOT_SERVING once shutdown starts. Every service accepts and sends gzip.
//!
//! The namespace of a request is chosen by a [`NamespaceSelector`] from its metadata (gRPC
//! metadata are HTTP/2 headers), the same seam the HTTP API uses for tenancy. With
//! `bearer_token_propagation` in the config ([`serve_grpc_with_config`],
//! [`serve_remote_storage_with_config`]) each call's bearer token reaches the storage reads it
//! makes (`bearer.rs`).
//!
//! Wiring, as the binary does it:
//!
//! ```no_run
//! # async fn run(service: std::sync::Arc<spoor_query::QueryService>) -> std::io::Result<()> {
//! use spoor_model::Namespace;
//! use spoor_query::grpc::{serve_grpc, QueryGrpcConfig};
//!
//! let config = QueryGrpcConfig::default();
//! config.validate().map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
//! let listener = tokio::net::TcpListener::bind(config.listen_address()).await?;
//! serve_grpc(listener, service, Namespace::new(&config.namespace), std::future::pending()).await
//! # }
//! ```

mod api_v2;
mod api_v3;
mod bearer;
mod capabilities;
mod config;
pub(crate) mod convert;
mod remote_storage;
mod status;
pub(crate) mod summary;
#[cfg(test)]
mod wire_tests;

use std::future::Future;
use std::io;
use std::sync::Arc;

use spoor_model::proto::jaeger::api_v2::query_service_server::{
    QueryServiceServer as ApiV2Server, SERVICE_NAME as API_V2_SERVICE_NAME,
};
use spoor_model::proto::jaeger::api_v3::query_service_server::{
    QueryServiceServer as ApiV3Server, SERVICE_NAME as API_V3_SERVICE_NAME,
};
use spoor_model::proto::jaeger::storage::v2::capabilities_server::SERVICE_NAME as CAPABILITIES_SERVICE_NAME;
use spoor_model::proto::jaeger::storage::v2::dependency_reader_server::{
    DependencyReaderServer, SERVICE_NAME as DEPENDENCY_READER_SERVICE_NAME,
};
use spoor_model::proto::jaeger::storage::v2::trace_reader_server::{
    TraceReaderServer, SERVICE_NAME as TRACE_READER_SERVICE_NAME,
};
use spoor_model::Namespace;
use spoor_tls::TlsListener;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic_health::ServingStatus;

pub use config::{
    GrpcConfigError, QueryGrpcConfig, RemoteStorageGrpcConfig, DEFAULT_QUERY_GRPC_HOST_PORT,
    DEFAULT_REMOTE_STORAGE_HOST_PORT,
};

use crate::http::{FixedNamespace, NamespaceSelector};
use crate::service::QueryService;

/// The health status names of the query server (Jaeger's, minus the metrics query service
/// Spoor does not serve).
pub const QUERY_HEALTH_SERVICE_NAMES: [&str; 2] = [API_V2_SERVICE_NAME, API_V3_SERVICE_NAME];

/// The health status names of the remote-storage server.
pub const REMOTE_STORAGE_HEALTH_SERVICE_NAMES: [&str; 3] =
    [TRACE_READER_SERVICE_NAME, DEPENDENCY_READER_SERVICE_NAME, CAPABILITIES_SERVICE_NAME];

/// What every handler needs: the query service and how to pick a request's namespace.
#[derive(Clone)]
struct GrpcContext {
    service: Arc<QueryService>,
    namespaces: Arc<dyn NamespaceSelector>,
}

impl GrpcContext {
    fn namespace<T>(&self, request: &tonic::Request<T>) -> Result<Namespace, tonic::Status> {
        Ok(self.namespaces.select(request.metadata().as_ref())?)
    }
}

/// Serves the query APIs (api_v2, api_v3, health) on `listener`, reading `namespace`, until
/// `shutdown` completes; then finishes the calls in flight.
pub async fn serve_grpc(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    namespace: Namespace,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_grpc_with_namespaces(listener, service, Arc::new(FixedNamespace(namespace)), shutdown).await
}

/// [`serve_grpc`] with a custom [`NamespaceSelector`] (the tenancy seam).
pub async fn serve_grpc_with_namespaces(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    namespaces: Arc<dyn NamespaceSelector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_grpc_with_config(listener, service, &QueryGrpcConfig::default(), namespaces, shutdown).await
}

/// [`serve_grpc_with_namespaces`] with the per-call behaviour of `config` (bearer-token
/// propagation). `config.host_port` and `config.namespace` are not used: the caller bound the
/// listener and chose the namespaces.
pub async fn serve_grpc_with_config(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    config: &QueryGrpcConfig,
    namespaces: Arc<dyn NamespaceSelector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let context = GrpcContext { service, namespaces };
    let api_v2 = ApiV2Server::new(api_v2::ApiV2::new(context.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let api_v3 = ApiV3Server::new(api_v3::ApiV3::new(context))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let routes = Routes::new(api_v2).add_service(api_v3);
    let server = ServerProfile {
        health_names: &QUERY_HEALTH_SERVICE_NAMES,
        what: "query",
        bearer_token_propagation: config.bearer_token_propagation,
    };
    serve_routes(listener, routes, server, shutdown).await
}

/// Serves the remote-storage read API (storage.v2 TraceReader and DependencyReader, health) on
/// `listener`, reading `namespace`, until `shutdown` completes; then finishes the calls in
/// flight.
pub async fn serve_remote_storage(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    namespace: Namespace,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_remote_storage_with_namespaces(listener, service, Arc::new(FixedNamespace(namespace)), shutdown).await
}

/// [`serve_remote_storage`] with a custom [`NamespaceSelector`] (the tenancy seam).
pub async fn serve_remote_storage_with_namespaces(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    namespaces: Arc<dyn NamespaceSelector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_remote_storage_with_config(listener, service, &RemoteStorageGrpcConfig::default(), namespaces, shutdown).await
}

/// [`serve_remote_storage_with_namespaces`] with the per-call behaviour of `config`
/// (bearer-token propagation). `config.host_port` and `config.namespace` are not used: the
/// caller bound the listener and chose the namespaces.
pub async fn serve_remote_storage_with_config(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    config: &RemoteStorageGrpcConfig,
    namespaces: Arc<dyn NamespaceSelector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let context = GrpcContext { service, namespaces };
    let trace_reader = TraceReaderServer::new(remote_storage::RemoteTraceReader::new(context.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let capabilities = capabilities::server(context.clone());
    let dependency_reader = DependencyReaderServer::new(remote_storage::RemoteDependencyReader::new(context))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let routes = Routes::new(trace_reader).add_service(dependency_reader).add_service(capabilities);
    let server = ServerProfile {
        health_names: &REMOTE_STORAGE_HEALTH_SERVICE_NAMES,
        what: "remote storage",
        bearer_token_propagation: config.bearer_token_propagation,
    };
    serve_routes(listener, routes, server, shutdown).await
}

/// What differs between the two gRPC servers besides their routes.
struct ServerProfile {
    /// Reported SERVING while the server runs, NOT_SERVING once shutdown starts.
    health_names: &'static [&'static str],
    /// The server's name in logs.
    what: &'static str,
    /// Run each call with its bearer token ([`bearer::BearerTokenLayer`]).
    bearer_token_propagation: bool,
}

/// Serves `routes` plus grpc.health (reporting `health_names` SERVING, then NOT_SERVING once
/// `shutdown` starts) until `shutdown` completes; then finishes the calls in flight. The listener
/// is a `TcpListener`, or a [`TlsListener`] to serve TLS.
async fn serve_routes(
    listener: impl Into<TlsListener>,
    routes: Routes,
    server: ServerProfile,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let ServerProfile { health_names, what, bearer_token_propagation } = server;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_status(&health, health_names, ServingStatus::Serving).await;
    let listener = listener.into();
    let address = listener.local_addr()?;
    tracing::info!(%address, tls = listener.tls().is_some(), bearer_token_propagation, "{what} grpc api listening");
    // TlsListener sets TCP_NODELAY on every connection, plain or TLS.
    tonic::transport::Server::builder()
        .layer(tower::util::option_layer(bearer_token_propagation.then_some(bearer::BearerTokenLayer)))
        .add_routes(routes.add_service(health_service))
        .serve_with_incoming_shutdown(listener, not_serving_after(shutdown, health, health_names))
        .await
        .map_err(io::Error::other)?;
    tracing::info!(%address, "{what} grpc api stopped");
    Ok(())
}

async fn set_status(health: &tonic_health::server::HealthReporter, names: &[&str], status: ServingStatus) {
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// `shutdown`, after which every status (the overall one included) reads NOT_SERVING, so a load
/// balancer watching health stops sending calls while those in flight finish.
async fn not_serving_after(
    shutdown: impl Future<Output = ()>,
    health: tonic_health::server::HealthReporter,
    names: &'static [&'static str],
) {
    shutdown.await;
    set_status(&health, names, ServingStatus::NotServing).await;
    health.set_service_status("", ServingStatus::NotServing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_names_are_jaegers() {
        assert_eq!(QUERY_HEALTH_SERVICE_NAMES, ["jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"]);
        assert_eq!(
            REMOTE_STORAGE_HEALTH_SERVICE_NAMES,
            ["jaeger.storage.v2.TraceReader", "jaeger.storage.v2.DependencyReader", "jaeger.storage.v2.Capabilities"]
        );
    }
}
