//! `spoor all-in-one`: the collector's receivers, the query service and one store in one process.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use spoor_collector::{CollectorMetrics, Pipeline};

use crate::admin::{self, Health, HealthState};
use crate::collector::pipeline_config;
use crate::options::Settings;
use crate::query_servers::QueryServers;
use crate::receivers::Receivers;
use crate::shutdown::Shutdown;
use crate::storage::Store;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let health = Health::new();
    let mut registry = Registry::default();
    let shutdown = Shutdown::on_signals();

    let store = Store::open(&settings, &mut registry).await?;

    let collector_metrics = Arc::new(CollectorMetrics::register(&mut registry));
    let pipeline = Pipeline::new(store.writer(), &pipeline_config(&settings)?, collector_metrics)
        .with_namespace_resolver(store.namespace_resolver());
    let receivers = Receivers::bind(&settings, Arc::new(pipeline), &mut registry).await?;
    let query = QueryServers::bind(
        &settings,
        store.reader()?,
        store.archive(),
        store.purger(),
        store.namespaces(),
        &mut registry,
    )
    .await?;

    let admin_server = admin::serve(&settings, health.clone(), registry, &shutdown).await?;
    health.set(HealthState::Ready);
    tracing::info!("spoor all-in-one ready");

    let (receivers, query) = tokio::join!(receivers.serve(shutdown.clone()), query.serve(shutdown.clone()));
    health.set(HealthState::Unavailable);
    // Receivers have stopped and answered every request in flight: flush and close the store.
    let closed = store.close().await;
    shutdown.stop_admin();
    let _ = admin_server.await;
    tracing::info!("spoor all-in-one stopped");
    receivers.and(query).and(closed)
}
