//! `spoor all-in-one`: the collector's receivers, the query service and one store in one process.

use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use spoor_collector::{listen, CollectorMetrics, Pipeline, PipelineConfig};
use spoor_model::Namespace;
use spoor_query::{
    grpc as query_grpc, http as query_http, namespace_selector, serve_purge, QueryMetrics, QueryService,
    QueryServiceOptions, TenancyConfig,
};

use crate::admin::{self, Health, HealthState};
use crate::options::Settings;
use crate::receivers::Receivers;
use crate::shutdown::Shutdown;
use crate::storage::Store;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let health = Health::new();
    let mut registry = Registry::default();
    let shutdown = Shutdown::on_signals();

    let store = Store::open(&settings)?;

    let pipeline_config = PipelineConfig {
        max_inflight_bytes: usize::try_from(settings.bytes("collector.queue-size-bytes")?).unwrap_or(usize::MAX),
        ..PipelineConfig::default()
    };
    let collector_metrics = Arc::new(CollectorMetrics::register(&mut registry));
    let pipeline = Arc::new(Pipeline::new(store.writer(), &pipeline_config, collector_metrics));
    let receivers = Receivers::bind(&settings, pipeline, &mut registry).await?;

    let query_options = QueryServiceOptions {
        max_clock_skew_adjust_ms: u64::try_from(settings.duration("query.max-clock-skew-adjustment")?.as_millis())
            .unwrap_or(u64::MAX),
        max_spans_per_trace: settings.parse("query.max-spans-per-trace")?,
    };
    let query_service =
        Arc::new(QueryService::new(store.reader(), query_options, QueryMetrics::register(&mut registry)));
    let query_config = query_http::QueryHttpConfig {
        host_port: settings.string("query.http-server.host-port")?,
        base_path: settings.string("query.base-path")?,
        ..query_http::QueryHttpConfig::default()
    };
    query_config.validate().context("invalid value for option --query.base-path")?;
    let query_listener = listen::bind(&query_config.host_port)
        .await
        .with_context(|| format!("cannot listen on --query.http-server.host-port {}", query_config.host_port))?;

    let grpc_host_port = settings.string("query.grpc-server.host-port")?;
    let grpc_listener = match grpc_host_port.trim() {
        "" => None,
        host_port => Some(
            listen::bind(host_port)
                .await
                .with_context(|| format!("cannot listen on --query.grpc-server.host-port {grpc_host_port}"))?,
        ),
    };
    let remote_storage_host_port = settings.string("remote-storage.grpc.host-port")?;
    let remote_storage_listener =
        match remote_storage_host_port.trim() {
            "" => None,
            host_port => Some(listen::bind(host_port).await.with_context(|| {
                format!("cannot listen on --remote-storage.grpc.host-port {remote_storage_host_port}")
            })?),
        };

    let tenancy = TenancyConfig {
        enabled: settings.bool("multi-tenancy.enabled")?,
        header: settings.string("multi-tenancy.header")?,
        tenants: settings
            .string("multi-tenancy.tenants")?
            .split(',')
            .map(str::trim)
            .filter(|tenant| !tenant.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    tenancy.validate().context("invalid --multi-tenancy.* options")?;
    let namespaces = namespace_selector(&tenancy, Namespace::new(&query_config.namespace));

    let purge_listener = if settings.bool("testing.purge-endpoint")? {
        let host_port = settings.string("testing.purge-host-port")?;
        tracing::warn!(address = %host_port, "the purge endpoint is on: POST /purge deletes all data");
        Some(
            listen::bind(&host_port)
                .await
                .with_context(|| format!("cannot listen on --testing.purge-host-port {host_port}"))?,
        )
    } else {
        None
    };

    let admin_host_port = settings.string("admin.http.host-port")?;
    let admin_listener = listen::bind(&admin_host_port)
        .await
        .with_context(|| format!("cannot listen on --admin.http.host-port {admin_host_port}"))?;
    let registry = Arc::new(registry);
    let admin_server = tokio::spawn({
        let router = admin::router(health.clone(), registry);
        let stopped = shutdown.admin_stopped();
        async move { axum::serve(admin_listener, router).with_graceful_shutdown(stopped).await }
    });

    health.set(HealthState::Ready);
    tracing::info!("spoor all-in-one ready");

    let receivers = receivers.serve(shutdown.clone());
    let query = {
        let shutdown = shutdown.clone();
        let service = query_service.clone();
        let config = query_config.clone();
        let namespaces = namespaces.clone();
        async move {
            let result =
                query_http::serve_on_with_namespaces(query_listener, service, &config, namespaces, shutdown.stopped())
                    .await
                    .context("query HTTP server failed");
            shutdown.trigger();
            result
        }
    };
    let grpc = {
        let shutdown = shutdown.clone();
        let service = query_service.clone();
        let namespaces = namespaces.clone();
        async move {
            let Some(grpc_listener) = grpc_listener else { return Ok(()) };
            let result = query_grpc::serve_grpc_with_namespaces(grpc_listener, service, namespaces, shutdown.stopped())
                .await
                .context("query gRPC server failed");
            shutdown.trigger();
            result
        }
    };
    let remote_storage = {
        let shutdown = shutdown.clone();
        let service = query_service.clone();
        async move {
            let Some(listener) = remote_storage_listener else { return Ok(()) };
            let result =
                query_grpc::serve_remote_storage_with_namespaces(listener, service, namespaces, shutdown.stopped())
                    .await
                    .context("remote-storage gRPC server failed");
            shutdown.trigger();
            result
        }
    };
    let purge = {
        let shutdown = shutdown.clone();
        let purger = store.purger();
        async move {
            let Some(listener) = purge_listener else { return Ok(()) };
            let result = serve_purge(listener, purger, shutdown.stopped()).await.context("purge endpoint failed");
            shutdown.trigger();
            result
        }
    };
    let (receivers, query, grpc, remote_storage, purge) = tokio::join!(receivers, query, grpc, remote_storage, purge);
    health.set(HealthState::Unavailable);
    // Receivers have stopped and answered every request in flight: flush and close the store.
    let closed = store.close().await;
    shutdown.stop_admin();
    let _ = admin_server.await;
    tracing::info!("spoor all-in-one stopped");
    receivers.and(query).and(grpc).and(remote_storage).and(purge).and(closed)
}
