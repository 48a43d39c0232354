//! The admin server every role runs (Jaeger v1's admin port): `GET /` health and `GET /metrics`.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::RwLock;
use prometheus_client::registry::Registry;

/// What `GET /` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// Starting or stopping: 503.
    Unavailable,
    /// Serving: 200.
    Ready,
    /// Serving with a problem (e.g. spooling to disk while Kafka is unreachable): 200, with the
    /// reason in the body so probes stay green while humans can see it.
    #[allow(dead_code, reason = "set by the Kafka writer's disk spool (streaming issue)")]
    Degraded(String),
}

/// The process's health, shared by the role's components.
pub struct Health {
    state: RwLock<HealthState>,
    up_since: SystemTime,
    started: Instant,
}

impl Health {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::new(HealthState::Unavailable),
            up_since: SystemTime::now(),
            started: Instant::now(),
        })
    }

    pub fn set(&self, state: HealthState) {
        let mut current = self.state.write();
        if *current != state {
            tracing::info!(from = ?*current, to = ?state, "health changed");
            *current = state;
        }
    }

    pub fn state(&self) -> HealthState {
        self.state.read().clone()
    }

    /// Jaeger v1's health body: `{"status":"Server available","upSince":"<RFC3339>","uptime":"<go duration>"}`.
    fn body(&self) -> (StatusCode, serde_json::Value) {
        let up_since = humantime::format_rfc3339_nanos(self.up_since).to_string();
        let uptime = spoor_model::duration::format_go_duration(self.started.elapsed());
        match self.state() {
            HealthState::Ready => (
                StatusCode::OK,
                serde_json::json!({"status": "Server available", "upSince": up_since, "uptime": uptime}),
            ),
            HealthState::Degraded(reason) => (
                StatusCode::OK,
                serde_json::json!({"status": "Server available", "upSince": up_since, "uptime": uptime, "degraded": reason}),
            ),
            HealthState::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "Server not available", "upSince": up_since, "uptime": uptime}),
            ),
        }
    }
}

#[derive(Clone)]
struct AdminState {
    health: Arc<Health>,
    registry: Arc<Registry>,
}

/// Binds the admin port (`--admin.http.host-port`) and serves it until [`Shutdown::stop_admin`], so
/// health keeps answering "not available" while the rest of the role drains.
pub async fn serve(
    settings: &crate::options::Settings,
    health: Arc<Health>,
    registry: Registry,
    shutdown: &crate::shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    use anyhow::Context;
    let host_port = settings.string("admin.http.host-port")?;
    let listener = spoor_collector::listen::bind(&host_port)
        .await
        .with_context(|| format!("cannot listen on --admin.http.host-port {host_port}"))?;
    let listener = spoor_tls::TlsListener::new(listener, crate::tls_options::server_tls(settings, "admin.http")?);
    tracing::info!(address = %host_port, tls = listener.tls().is_some(), "admin server listening");
    let router = router(health, Arc::new(registry));
    let stopped = shutdown.admin_stopped();
    Ok(tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stopped).await }))
}

/// The admin router: health at `/`, Prometheus metrics at `/metrics`.
pub fn router(health: Arc<Health>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(health_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(AdminState { health, registry })
}

async fn health_handler(State(state): State<AdminState>) -> Response {
    let (status, body) = state.health.body();
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn metrics_handler(State(state): State<AdminState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let response =
            router.oneshot(axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_is_503_until_ready_then_200() {
        let health = Health::new();
        let registry = Arc::new(Registry::default());
        let (status, body) = get(router(health.clone(), registry.clone()), "/").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("Server not available"), "{body}");

        health.set(HealthState::Ready);
        let (status, body) = get(router(health.clone(), registry.clone()), "/").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "Server available");
        assert!(json["upSince"].as_str().unwrap().ends_with('Z'));

        health.set(HealthState::Degraded("kafka unreachable, spooling".into()));
        let (status, body) = get(router(health, registry), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("spooling"), "{body}");
    }

    #[tokio::test]
    async fn metrics_are_served_in_prometheus_text() {
        let mut registry = Registry::default();
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        counter.inc();
        registry.register("spoor_test_things", "things", counter);
        let (status, body) = get(router(Health::new(), Arc::new(registry)), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("spoor_test_things_total 1"), "{body}");
    }
}
