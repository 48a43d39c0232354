//! `spoor query`: Jaeger's query APIs and the UI over a store (usually Elasticsearch, per namespace).

use prometheus_client::registry::Registry;

use crate::admin::{self, Health, HealthState};
use crate::options::Settings;
use crate::query_servers::QueryServers;
use crate::shutdown::Shutdown;
use crate::storage::{Role, Store};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let health = Health::new();
    let mut registry = Registry::default();
    let shutdown = Shutdown::on_signals();

    let store = Store::open_for(&settings, Role::Query, &mut registry).await?;
    let servers = QueryServers::bind(
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
    tracing::info!("spoor query ready");

    let served = servers.serve(shutdown.clone()).await;
    health.set(HealthState::Unavailable);
    let closed = store.close().await;
    shutdown.stop_admin();
    let _ = admin_server.await;
    tracing::info!("spoor query stopped");
    served.and(closed)
}
