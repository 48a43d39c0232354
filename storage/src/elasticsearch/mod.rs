//! The Elasticsearch/OpenSearch backend: Jaeger's indices, documents and templates (spec §4), so
//! Jaeger and Spoor can read each other's data.
//!
//! One [`ElasticsearchStore`] serves one target (one namespace's cluster and index prefix). Files:
//! * `config.rs` — [`EsTarget`], the settings of one target;
//! * `client.rs` — the HTTP client, credentials from files re-read on change, error mapping;
//! * `indices.rs` — index and alias names; `templates.rs` — index templates per server version;
//! * `documents.rs` — span and service documents, both directions;
//! * `writer.rs` — the bulk writer ([`SpanWriter`](crate::SpanWriter)), dead letters, metrics, purge;
//! * `lifecycle.rs` — `es-index-cleaner` and `es-rollover`;
//! * `reader.rs`, `queries.rs`, `dependencies.rs` — the reader.

pub mod client;
pub mod config;
pub(crate) mod documents;
pub mod indices;
pub mod lifecycle;
pub mod templates;
pub mod writer;
// The reader (H-es-read).
pub mod dependencies;
mod queries;
mod reader;

use prometheus_client::registry::Registry;
use tracing::info;

pub use client::ServerVersion;
pub use config::{EsBulkConfig, EsTagsAsFields, EsTarget, EsTlsConfig, RolloverFrequency};
pub use dependencies::run_dependencies_job;
pub use writer::EsMetrics;

use crate::api::StorageError;

/// One Elasticsearch/OpenSearch target: writes through the bulk writer, reads with searches.
pub struct ElasticsearchStore {
    pub(crate) client: client::EsClient,
    pub(crate) target: EsTarget,
    pub(crate) indices: indices::IndexNames,
    /// The namespace (or other label) this store serves, for logs and metrics.
    pub(crate) ns_label: String,
    pub(crate) writer: writer::BulkWriter,
}

impl std::fmt::Debug for ElasticsearchStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchStore").field("namespace", &self.ns_label).field("client", &self.client).finish()
    }
}

impl ElasticsearchStore {
    /// Connects to the target: reads the credentials, detects the server version (unless
    /// `version` is set), installs the templates (when `create_index_templates`), and starts the
    /// bulk writer. Metrics are registered into `registry` with a `namespace` label of `ns_label`;
    /// for several stores in one registry use [`EsMetrics::register`] once and
    /// [`ElasticsearchStore::connect_with_metrics`].
    ///
    /// Fails with a retryable error when the cluster cannot be reached or refuses the credentials.
    pub async fn connect(
        ns_label: &str,
        target: EsTarget,
        registry: Option<&mut Registry>,
    ) -> Result<Self, StorageError> {
        let metrics = match registry {
            Some(registry) => EsMetrics::register(registry),
            None => EsMetrics::unregistered(),
        };
        Self::connect_with_metrics(ns_label, target, metrics).await
    }

    /// [`ElasticsearchStore::connect`] with metrics shared by several stores (each store's series
    /// carry its `namespace` label).
    pub async fn connect_with_metrics(
        ns_label: &str,
        target: EsTarget,
        metrics: EsMetrics,
    ) -> Result<Self, StorageError> {
        let client = client::EsClient::connect(&target).await?;
        let indices = indices::IndexNames::new(&target);
        if target.create_index_templates {
            templates::install(&client, &target, &indices, &templates::TemplateOptions::default()).await?;
        }
        let writer =
            writer::BulkWriter::start(client.clone(), &target, indices.clone(), metrics.for_namespace(ns_label));
        info!(
            namespace = ns_label,
            endpoint = client.endpoint(),
            version = %client.server_version().label(),
            prefix = %target.index_prefix,
            aliases = target.use_aliases,
            "elasticsearch store ready"
        );
        Ok(Self { client, target, indices, ns_label: ns_label.to_owned(), writer })
    }

    /// The detected (or configured) server version.
    pub fn server_version(&self) -> ServerVersion {
        self.client.server_version()
    }

    /// The target this store writes to.
    pub fn target(&self) -> &EsTarget {
        &self.target
    }
}
