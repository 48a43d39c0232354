//! `spoor collector`: the receivers, writing into a store or, with `--span-storage.type=kafka`, into
//! Kafka for ingesters (Jaeger's streaming strategy).

use std::sync::Arc;

use prometheus_client::registry::Registry;
use spoor_collector::{CollectorMetrics, Pipeline, PipelineConfig};

use crate::admin::{self, Health, HealthState};
use crate::options::Settings;
use crate::receivers::Receivers;
use crate::shutdown::Shutdown;
use crate::storage::{Role, Store};

/// The pipeline's options (shared with all-in-one).
pub fn pipeline_config(settings: &Settings) -> anyhow::Result<PipelineConfig> {
    Ok(PipelineConfig {
        max_inflight_bytes: usize::try_from(settings.bytes("collector.queue-size-bytes")?).unwrap_or(usize::MAX),
        ..PipelineConfig::default()
    })
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let health = Health::new();
    let mut registry = Registry::default();
    let shutdown = Shutdown::on_signals();

    let store = Store::open_for(&settings, Role::Collector, &mut registry).await?;
    let collector_metrics = Arc::new(CollectorMetrics::register(&mut registry));
    let pipeline = Pipeline::new(store.writer(), &pipeline_config(&settings)?, collector_metrics)
        .with_namespace_resolver(store.namespace_resolver());
    let receivers = Receivers::bind(&settings, Arc::new(pipeline), &mut registry).await?;

    let admin_server = admin::serve(&settings, health.clone(), registry, &shutdown).await?;
    health.set(HealthState::Ready);
    let health_watch = store.watch_health(health.clone(), shutdown.clone());
    tracing::info!("spoor collector ready");

    let served = receivers.serve(shutdown.clone()).await;
    health.set(HealthState::Unavailable);
    health_watch.abort();
    // Every request in flight was answered: flush the writer (Kafka: deliver or spool what is queued).
    let closed = store.close().await;
    shutdown.stop_admin();
    let _ = admin_server.await;
    tracing::info!("spoor collector stopped");
    served.and(closed)
}
