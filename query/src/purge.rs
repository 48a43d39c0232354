//! The purge endpoint of Jaeger's storage integration suite: `POST /purge` deletes everything the
//! store holds, in every namespace (Jaeger's `storagecleaner` extension, port 9231). For tests
//! only: the binary serves it only when started with `--testing.purge-endpoint`.
//!
//! Answers as Jaeger's extension does: `200` with the body `Purge request processed successfully`,
//! or `500` with `error purging storage: <reason>` (Go's `http.Error`: `text/plain`, a newline).
//! Other methods are `405`.

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use spoor_storage::Purger;
use spoor_tls::TlsListener;

/// Jaeger's port for the purge endpoint.
pub const DEFAULT_PURGE_HOST_PORT: &str = "0.0.0.0:9231";

/// The body of a successful purge, Jaeger's.
pub const PURGE_SUCCESS_BODY: &str = "Purge request processed successfully";

/// `POST /purge` over `store`.
pub fn purge_router(store: Arc<dyn Purger>) -> Router {
    Router::new().route("/purge", post(purge)).with_state(store)
}

/// Serves [`purge_router`] on `listener` (a `TcpListener`, or a [`TlsListener`] for HTTPS) until
/// `shutdown` completes, then finishes the requests in flight.
pub async fn serve_purge(
    listener: impl Into<TlsListener>,
    store: Arc<dyn Purger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.into();
    let address = listener.local_addr()?;
    tracing::warn!(%address, "purge endpoint listening: POST /purge deletes all stored data (testing only)");
    axum::serve(listener, purge_router(store)).with_graceful_shutdown(shutdown).await?;
    tracing::info!(%address, "purge endpoint stopped");
    Ok(())
}

async fn purge(State(store): State<Arc<dyn Purger>>) -> Response {
    let text_plain = (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    match store.purge().await {
        Ok(()) => {
            tracing::info!("storage purged on request");
            (StatusCode::OK, [text_plain], PURGE_SUCCESS_BODY).into_response()
        }
        Err(error) => {
            tracing::warn!(error = %error, "purge request failed");
            let no_sniff = (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            let body = format!("error purging storage: {error}\n");
            (StatusCode::INTERNAL_SERVER_ERROR, [text_plain, no_sniff], body).into_response()
        }
    }
}
