//! Opens the span store a role's options name (`--span-storage.type`).

use std::sync::Arc;

use anyhow::Context;
use spoor_storage::{EmbeddedConfig, EmbeddedStore, MemoryStore, Purger, SpanReader, SpanWriter, SyncPolicy};

use crate::options::Settings;

/// The store of a role: one of the named backends.
pub enum Store {
    Embedded(Arc<EmbeddedStore>),
    Memory(Arc<MemoryStore>),
}

impl Store {
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match settings.choice("span-storage.type", &["embedded", "badger", "memory"])?.as_str() {
            "memory" => Ok(Self::Memory(Arc::new(MemoryStore::new()))),
            _ => {
                let mut config = EmbeddedConfig::new(settings.string("data-dir")?);
                config.retention = settings.duration("embedded.span-store-ttl")?;
                config.sync_policy =
                    match settings.choice("embedded.sync-policy", &["every-batch", "os-buffer", "never"])?.as_str() {
                        "os-buffer" => SyncPolicy::OsBuffer,
                        "never" => SyncPolicy::Never,
                        _ => SyncPolicy::EveryBatch,
                    };
                let data_dir = config.data_dir.display().to_string();
                let store = EmbeddedStore::open(config)
                    .with_context(|| format!("cannot open the embedded store in --data-dir {data_dir}"))?;
                Ok(Self::Embedded(Arc::new(store)))
            }
        }
    }

    pub fn writer(&self) -> Arc<dyn SpanWriter> {
        match self {
            Self::Embedded(store) => store.clone(),
            Self::Memory(store) => store.clone(),
        }
    }

    pub fn reader(&self) -> Arc<dyn SpanReader> {
        match self {
            Self::Embedded(store) => store.clone(),
            Self::Memory(store) => store.clone(),
        }
    }

    pub fn purger(&self) -> Arc<dyn Purger> {
        match self {
            Self::Embedded(store) => store.clone(),
            Self::Memory(store) => store.clone(),
        }
    }

    /// Flushes and closes the store; call after every writer has stopped.
    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            Self::Embedded(store) => tokio::task::spawn_blocking(move || store.close())
                .await
                .context("closing the embedded store")?
                .context("closing the embedded store"),
            Self::Memory(_) => Ok(()),
        }
    }
}
