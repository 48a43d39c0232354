//! Jaeger's HTTP JSON query API (`/api/services`, `/api/operations`, `/api/traces`, ...) on port
//! 16686, as thin axum handlers over the [`QueryService`].
//!
//! The binary calls [`serve`] (or [`router`] to mount the routes itself).

mod api_v3;
mod archive;
mod bearer;
mod config;
mod envelope;
mod handlers;
pub(crate) mod json;
mod otlp_json;
mod params;
mod transform;
pub mod ui_model;

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use spoor_model::Namespace;
use spoor_tls::TlsListener;
use tokio::net::TcpListener;

pub use config::{QueryHttpConfig, QueryHttpConfigError, DEFAULT_QUERY_HTTP_HOST_PORT};
pub(crate) use envelope::error_response;

use crate::error::QueryError;
use crate::service::QueryService;
use handlers::ApiState;

/// Decides which namespace a request reads from: the configured one ([`FixedNamespace`]), or the
/// tenant a request header names ([`crate::tenancy::HeaderNamespaceSelector`]), passed to
/// [`router_with_namespaces`]. HTTP and gRPC share it.
pub trait NamespaceSelector: Send + Sync + 'static {
    /// The namespace for a request with these headers; an error refuses the request (its kind
    /// decides the status, e.g. [`crate::ErrorKind::PermissionDenied`]).
    fn select(&self, headers: &HeaderMap) -> Result<Namespace, QueryError>;
}

/// Every request reads the same namespace.
#[derive(Clone, Debug)]
pub struct FixedNamespace(pub Namespace);

impl NamespaceSelector for FixedNamespace {
    fn select(&self, _headers: &HeaderMap) -> Result<Namespace, QueryError> {
        Ok(self.0.clone())
    }
}

/// The `/api/*` routes, under `config.base_path` (and at the root as well when a base path is
/// set), reading the namespace `config.namespace`, and the trace viewer ([`crate::ui`]) under
/// `config.base_path`.
pub fn router(service: Arc<QueryService>, config: &QueryHttpConfig) -> Router {
    let namespaces = Arc::new(FixedNamespace(Namespace::new(&config.namespace)));
    router_with_namespaces(service, config, namespaces)
}

/// [`router`] with a custom [`NamespaceSelector`] (the tenancy seam).
pub fn router_with_namespaces(
    service: Arc<QueryService>,
    config: &QueryHttpConfig,
    namespaces: Arc<dyn NamespaceSelector>,
) -> Router {
    let api = Router::new()
        .route("/api/services", get(handlers::services))
        .route("/api/services/{service}/operations", get(handlers::service_operations))
        .route("/api/operations", get(handlers::operations))
        .route("/api/traces", get(handlers::search))
        .route("/api/traces/{trace_id}", get(handlers::trace))
        .route("/api/dependencies", get(handlers::dependencies))
        .route("/api/archive/{trace_id}", post(archive::archive_trace))
        .route("/api/transform", post(transform::transform))
        .route("/api/v3/traces", get(api_v3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(api_v3::get_trace))
        .route("/api/v3/trace-summaries", get(api_v3::find_trace_summaries))
        .route("/api/v3/services", get(api_v3::services))
        .route("/api/v3/operations", get(api_v3::operations))
        .with_state(ApiState { service, namespaces });
    let api = match config.route_prefix() {
        Some(prefix) => Router::new().nest(&prefix, api.clone()).merge(api),
        None => api,
    };
    let api = if config.bearer_token_propagation {
        api.layer(axum::middleware::from_fn(bearer::propagate_bearer_token))
    } else {
        api
    };
    api.merge(crate::ui::router(config))
}

/// Binds `config.host_port` and serves the API until `shutdown` completes, then finishes the
/// requests in flight. Fails at once on an invalid config or an address that cannot be bound.
pub async fn serve(
    service: Arc<QueryService>,
    config: &QueryHttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config.validate().map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let listener = TcpListener::bind(config.listen_address()).await?;
    serve_on(listener, service, config, shutdown).await
}

/// [`serve`] on a listener the caller bound (tests bind port 0 and read the address): a
/// `TcpListener`, or a [`TlsListener`] to serve HTTPS.
pub async fn serve_on(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    config: &QueryHttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let namespaces = Arc::new(FixedNamespace(Namespace::new(&config.namespace)));
    serve_on_with_namespaces(listener, service, config, namespaces, shutdown).await
}

/// [`serve_on`] with a custom [`NamespaceSelector`] (tenancy: see
/// [`crate::tenancy::namespace_selector`]); `config.namespace` is then unused.
pub async fn serve_on_with_namespaces(
    listener: impl Into<TlsListener>,
    service: Arc<QueryService>,
    config: &QueryHttpConfig,
    namespaces: Arc<dyn NamespaceSelector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config.validate().map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let listener = listener.into();
    let address = listener.local_addr()?;
    let tls = listener.tls().is_some();
    tracing::info!(%address, tls, base_path = %config.base_path, namespace = %config.namespace, "query http api listening");
    let app = router_with_namespaces(service, config, namespaces);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    tracing::info!(%address, "query http api stopped");
    Ok(())
}
