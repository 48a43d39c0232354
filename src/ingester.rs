//! `spoor ingester`: a Kafka consumer group that writes spans to the store, committing an offset
//! only once every span before it is durably stored (Jaeger's streaming strategy, without its loss).

use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use spoor_ingester::{Ingester, IngesterConfig, IngesterHealth};
use spoor_model::kafka::KafkaEncoding;

use crate::admin::{self, Health, HealthState};
use crate::options::Settings;
use crate::shutdown::Shutdown;
use crate::storage::{Role, Store};

/// `--kafka.consumer.*` and `--ingester.*`.
fn ingester_config(settings: &Settings) -> anyhow::Result<IngesterConfig> {
    let encoding: KafkaEncoding = settings.parse("kafka.consumer.encoding")?;
    let topic = settings.string("kafka.consumer.topic")?;
    // The pod name is the natural static-membership id on Kubernetes (a StatefulSet's is stable).
    let instance_id = settings
        .optional_string("ingester.instance-id")
        .or_else(|| std::env::var("POD_NAME").ok())
        .filter(|id| !id.trim().is_empty());
    let mut config = IngesterConfig {
        brokers: settings.string("kafka.consumer.brokers")?,
        group_id: settings.string("kafka.consumer.group-id")?,
        client_id: settings.string("kafka.consumer.client-id")?,
        encoding,
        instance_id,
        ..IngesterConfig::default()
    };
    config.dead_letter_topic = settings.optional_string("ingester.dead-letter-topic").filter(|t| !t.is_empty());
    config.topic = topic;
    config.kafka_properties = crate::kafka_security::properties(settings, "kafka.consumer")?;
    Ok(config)
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let health = Health::new();
    let mut registry = Registry::default();
    let shutdown = Shutdown::on_signals();

    let store = Store::open_for(&settings, Role::Ingester, &mut registry).await?;
    let ingester = Ingester::new(ingester_config(&settings)?, store.writer(), store.namespace_of(), &mut registry)
        .context("cannot start the Kafka consumer")?;
    let admin_server = admin::serve(&settings, health.clone(), registry, &shutdown).await?;

    // Ready once the consumer has joined its group; degraded while storage writes fail.
    let mut ingester_health = ingester.health();
    let health_task = tokio::spawn({
        let health = health.clone();
        async move {
            loop {
                let state = ingester_health.borrow_and_update().clone();
                health.set(match state {
                    // 200 with the reason: probes must not restart an ingester that waits for its
                    // topic to exist (Jaeger's operator points liveness at this port too).
                    IngesterHealth::Starting => HealthState::Degraded("joining the consumer group".into()),
                    IngesterHealth::Stopped => HealthState::Unavailable,
                    IngesterHealth::Ready { .. } => HealthState::Ready,
                    IngesterHealth::StorageFailing { .. } => {
                        HealthState::Degraded("storage writes are failing; offsets are held until they succeed".into())
                    }
                });
                if ingester_health.changed().await.is_err() {
                    return;
                }
            }
        }
    });
    tracing::info!("spoor ingester started");

    let result = ingester.run(shutdown.stopped()).await.context("the ingester failed");
    health_task.abort();
    health.set(HealthState::Unavailable);
    let closed = store.close().await;
    shutdown.stop_admin();
    let _ = tokio::time::timeout(Duration::from_secs(5), admin_server).await;
    tracing::info!("spoor ingester stopped");
    result.and(closed)
}
