//! Opens the span store a role's options name (`--span-storage.type`), and the namespace rules
//! (`--namespaces.config`) that decide which namespace each span belongs to.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use spoor_collector::kafka::{KafkaProducerConfig, KafkaSpanWriter, WriterHealth};
use spoor_collector::namespaces::RulesResolver;
use spoor_collector::{NamespaceResolver, SingleNamespace};
use spoor_model::namespace_rules::NamespaceRules;
use spoor_model::{Namespace, Span};
use spoor_query::ArchiveStorage;
use spoor_storage::elasticsearch::{ElasticsearchStore, EsMetrics, EsTarget};
use spoor_storage::router::{self, NamespaceRouter, NamespacesFile};
use spoor_storage::{
    EmbeddedConfig, EmbeddedStore, MemoryStore, Purger, SpanReader, SpanWriter, StorageError, SyncPolicy,
};

use crate::admin::{Health, HealthState};
use crate::options::Settings;
use crate::shutdown::Shutdown;

/// Which role opens the store: only a collector may write to Kafka, and only roles that read may
/// use a store without a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    AllInOne,
    Collector,
    Ingester,
    Query,
}

/// The backend of a role.
enum Backend {
    Embedded(Arc<EmbeddedStore>),
    Memory(Arc<MemoryStore>),
    /// One Elasticsearch client per namespace, each with its own credentials.
    Elasticsearch(Arc<NamespaceRouter>),
    /// The collector's streaming writer (no reads).
    Kafka(Arc<KafkaSpanWriter>),
}

/// The store of a role and the rules that attribute spans to namespaces (`None` without
/// `--namespaces.config`: every span is in the default namespace, the one `query` serves without
/// tenancy, so a span carrying `k8s.namespace.name` is never stored where nobody looks).
pub struct Store {
    backend: Backend,
    rules: Option<Arc<NamespaceRules>>,
}

impl Store {
    /// The all-in-one store.
    pub async fn open(settings: &Settings, registry: &mut Registry) -> anyhow::Result<Self> {
        Self::open_for(settings, Role::AllInOne, registry).await
    }

    pub async fn open_for(settings: &Settings, role: Role, registry: &mut Registry) -> anyhow::Result<Self> {
        let kind = settings
            .choice("span-storage.type", &["embedded", "badger", "memory", "elasticsearch", "opensearch", "kafka"])?;
        let namespaces_path = settings.optional_string("namespaces.config").filter(|path| !path.trim().is_empty());
        let (backend, rules) = match kind.as_str() {
            "memory" => (Backend::Memory(Arc::new(MemoryStore::new())), Self::rules_only(namespaces_path.as_deref())?),
            "elasticsearch" | "opensearch" => {
                let (router, rules) = open_elasticsearch(settings, namespaces_path.as_deref(), registry).await?;
                (Backend::Elasticsearch(Arc::new(router)), rules)
            }
            "kafka" => {
                anyhow::ensure!(
                    role == Role::Collector,
                    "--span-storage.type=kafka is for `spoor collector` (Jaeger's streaming strategy); \
                     ingesters read Kafka and write to a store"
                );
                let config = kafka_producer_config(settings)?;
                let writer = KafkaSpanWriter::new(config, registry).context("cannot start the Kafka producer")?;
                (Backend::Kafka(Arc::new(writer)), Self::rules_only(namespaces_path.as_deref())?)
            }
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
                (Backend::Embedded(Arc::new(store)), Self::rules_only(namespaces_path.as_deref())?)
            }
        };
        Ok(Self { backend, rules })
    }

    /// The attribution rules of the namespaces file, for backends without per-namespace targets
    /// (the namespace tables are then only names the rules may use).
    fn rules_only(path: Option<&str>) -> anyhow::Result<Option<Arc<NamespaceRules>>> {
        let Some(path) = path else { return Ok(None) };
        let file = NamespacesFile::<toml::Table>::from_path(Path::new(path))?;
        Ok(Some(Arc::new(file.namespace_rules().context("invalid [rules] in --namespaces.config")?)))
    }

    pub fn writer(&self) -> Arc<dyn SpanWriter> {
        match &self.backend {
            Backend::Embedded(store) => store.clone(),
            Backend::Memory(store) => store.clone(),
            Backend::Elasticsearch(router) => router.clone(),
            Backend::Kafka(writer) => writer.clone(),
        }
    }

    pub fn reader(&self) -> anyhow::Result<Arc<dyn SpanReader>> {
        Ok(match &self.backend {
            Backend::Embedded(store) => store.clone(),
            Backend::Memory(store) => store.clone(),
            Backend::Elasticsearch(router) => router.clone(),
            Backend::Kafka(_) => anyhow::bail!("--span-storage.type=kafka cannot be read; query reads the store"),
        })
    }

    /// Where `POST /api/archive/{id}` keeps traces beyond retention: the embedded and memory
    /// stores keep them in the same store under `<namespace>/archive` (a name no Kubernetes namespace
    /// can have); Elasticsearch has no archive target yet (Jaeger's "not configured" answer).
    pub fn archive(&self) -> Option<ArchiveStorage> {
        let (reader, writer): (Arc<dyn SpanReader>, Arc<dyn SpanWriter>) = match &self.backend {
            Backend::Embedded(store) => (store.clone(), store.clone()),
            Backend::Memory(store) => (store.clone(), store.clone()),
            Backend::Elasticsearch(_) | Backend::Kafka(_) => return None,
        };
        Some(
            ArchiveStorage::new(reader, writer)
                .with_namespaces(|ns: &Namespace| Namespace::new(format!("{}/archive", ns.as_str()))),
        )
    }

    /// The namespaces a per-namespace store has targets for (`None`: any namespace is served).
    pub fn namespaces(&self) -> Option<Vec<String>> {
        match &self.backend {
            Backend::Elasticsearch(router) => {
                Some(router.namespaces().iter().map(|ns| ns.as_str().to_owned()).collect())
            }
            _ => None,
        }
    }

    pub fn purger(&self) -> Arc<dyn Purger> {
        match &self.backend {
            Backend::Embedded(store) => store.clone(),
            Backend::Memory(store) => store.clone(),
            Backend::Elasticsearch(router) => router.clone(),
            Backend::Kafka(_) => Arc::new(NothingToPurge),
        }
    }

    /// How the collector attributes spans to namespaces.
    pub fn namespace_resolver(&self) -> Arc<dyn NamespaceResolver> {
        match &self.rules {
            Some(rules) => Arc::new(RulesResolver::new(rules.clone())),
            None => Arc::new(SingleNamespace::default()),
        }
    }

    /// How the ingester attributes a span without a namespace header (Jaeger's own collector).
    pub fn namespace_of(&self) -> Arc<dyn Fn(&Span) -> Namespace + Send + Sync> {
        match self.rules.clone() {
            Some(rules) => Arc::new(move |span: &Span| rules.namespace_of(span)),
            None => Arc::new(|_: &Span| Namespace::default_namespace()),
        }
    }

    /// Mirrors the writer's health (Kafka reachable or spooling) into the role's health.
    pub fn watch_health(&self, health: Arc<Health>, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let writer = match &self.backend {
            Backend::Kafka(writer) => Some(writer.clone()),
            _ => None,
        };
        tokio::spawn(async move {
            let Some(writer) = writer else { return };
            let stopped = shutdown.stopped();
            tokio::pin!(stopped);
            loop {
                health.set(match writer.health() {
                    WriterHealth::Ready => HealthState::Ready,
                    WriterHealth::Degraded(reason) => HealthState::Degraded(reason),
                });
                tokio::select! {
                    () = &mut stopped => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// Flushes and closes the store; call after every writer has stopped.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Embedded(store) => tokio::task::spawn_blocking(move || store.close())
                .await
                .context("closing the embedded store")?
                .context("closing the embedded store"),
            Backend::Memory(_) | Backend::Elasticsearch(_) => Ok(()),
            Backend::Kafka(writer) => {
                writer.close().await;
                Ok(())
            }
        }
    }
}

/// The collector writing to Kafka stores nothing itself.
struct NothingToPurge;

#[async_trait::async_trait]
impl Purger for NothingToPurge {
    async fn purge(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// One Elasticsearch client per namespace of the namespaces file (or one `default` target from the
/// `--es.*` flags), each namespace's metrics labelled with its name.
async fn open_elasticsearch(
    settings: &Settings,
    namespaces_path: Option<&str>,
    registry: &mut Registry,
) -> anyhow::Result<(NamespaceRouter, Option<Arc<NamespaceRules>>)> {
    let file = es_namespaces_file(settings, namespaces_path)?;
    let rules = match namespaces_path {
        Some(_) => Some(Arc::new(file.namespace_rules().context("invalid [rules] in --namespaces.config")?)),
        None => None,
    };
    let metrics = EsMetrics::register(registry);
    let router = NamespaceRouter::build(file, |namespace: Namespace, target: EsTarget| {
        let metrics = metrics.clone();
        async move {
            let store = ElasticsearchStore::connect_with_metrics(namespace.as_str(), target, metrics).await?;
            Ok(Arc::new(store) as Arc<dyn router::Backend>)
        }
    })
    .await
    .context("cannot connect to Elasticsearch")?;
    Ok((router, rules))
}

/// The Elasticsearch target of every namespace: the tables of `--namespaces.config` over the
/// `--es.*` tuning, or one `default` target from the `--es.*` flags.
pub fn es_namespaces_file(
    settings: &Settings,
    namespaces_path: Option<&str>,
) -> anyhow::Result<NamespacesFile<EsTarget>> {
    let base = es_target_from_flags(settings)?;
    let file: NamespacesFile<EsTarget> = match namespaces_path {
        Some(path) => {
            let tables = NamespacesFile::<toml::Table>::from_path(Path::new(path))?;
            let inherited = inheritable_settings(&base)?;
            let merge = |name: &str, table: toml::Table| -> anyhow::Result<EsTarget> {
                let mut merged = inherited.clone();
                merge_tables(&mut merged, table);
                merged.try_into().with_context(|| format!("invalid [{name}] in --namespaces.config {path}"))
            };
            NamespacesFile {
                rules: tables.rules,
                unknown: tables.unknown,
                default: tables.default.map(|table| merge("default", table)).transpose()?,
                namespaces: tables
                    .namespaces
                    .into_iter()
                    .map(|(name, table)| Ok((name.clone(), merge(&name, table)?)))
                    .collect::<anyhow::Result<_>>()?,
            }
        }
        None => NamespacesFile {
            rules: Default::default(),
            unknown: Default::default(),
            default: Some(base),
            namespaces: Default::default(),
        },
    };
    Ok(file)
}

/// Every namespace's Elasticsearch target, `default` last (for the one-shot tools).
pub fn es_targets(settings: &Settings) -> anyhow::Result<Vec<(Namespace, EsTarget)>> {
    let path = settings.optional_string("namespaces.config").filter(|path| !path.trim().is_empty());
    let file = es_namespaces_file(settings, path.as_deref())?;
    let mut targets: Vec<(Namespace, EsTarget)> =
        file.namespaces.into_iter().map(|(name, target)| (Namespace::new(name), target)).collect();
    targets.extend(file.default.map(|target| (Namespace::default_namespace(), target)));
    Ok(targets)
}

/// The `--es.*` settings a namespace table starts from: tuning only. Where to connect and with which
/// credentials is never inherited, so one namespace's secret can never be sent to another's cluster
/// (Jaeger's operator once gave every instance the same secret, TRACING-1631). Nor is
/// `bearer_token_propagation`: a namespace table receives callers' tokens only if it says so.
fn inheritable_settings(base: &EsTarget) -> anyhow::Result<toml::Table> {
    let mut table = toml::Table::try_from(base).context("encoding the --es.* settings")?;
    for key in [
        "server_urls",
        "index_prefix",
        "username",
        "password_file",
        "api_key_file",
        "bearer_token_file",
        "bearer_token_propagation",
        "tls",
    ] {
        table.remove(key);
    }
    Ok(table)
}

/// `overlay`'s keys replace `base`'s; nested tables (`bulk`, `tls`) merge key by key.
fn merge_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(overlay_inner)) => merge_tables(inner, overlay_inner),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn optional_path(settings: &Settings, key: &str) -> Option<PathBuf> {
    settings.optional_string(key).filter(|value| !value.trim().is_empty()).map(PathBuf::from)
}

/// The single-cluster target from Jaeger's `--es.*` flags.
fn es_target_from_flags(settings: &Settings) -> anyhow::Result<EsTarget> {
    let urls: Vec<String> = settings
        .string("es.server-urls")?
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    let mut target = EsTarget::new(urls);
    target.index_prefix = settings.string("es.index-prefix")?;
    target.username = settings.optional_string("es.username").filter(|user| !user.is_empty());
    target.password_file = optional_path(settings, "es.password-file");
    target.bearer_token_file = optional_path(settings, "es.token-file");
    target.api_key_file = optional_path(settings, "es.api-key-file");
    target.bearer_token_propagation = settings.bool("es.bearer-token-propagation")?;
    target.tls.ca_file = optional_path(settings, "es.tls.ca");
    target.tls.cert_file = optional_path(settings, "es.tls.cert");
    target.tls.key_file = optional_path(settings, "es.tls.key");
    target.tls.server_name = settings.optional_string("es.tls.server-name").filter(|name| !name.is_empty());
    target.tls.skip_host_verify = settings.bool("es.tls.skip-host-verify")?;
    target.use_aliases = settings.bool("es.use-aliases")?;
    target.create_index_templates = settings.bool("es.create-index-templates")?;
    target.shards = settings.parse("es.num-shards")?;
    target.replicas = settings.parse("es.num-replicas")?;
    target.max_span_age = settings.duration("es.max-span-age")?;
    target.max_doc_count = settings.parse("es.max-doc-count")?;
    target.timeout = settings.duration("es.timeout")?;
    target.bulk.max_bytes = usize::try_from(settings.bytes("es.bulk.size")?).unwrap_or(usize::MAX);
    target.bulk.max_actions = settings.parse("es.bulk.actions")?;
    target.bulk.workers = settings.parse("es.bulk.workers")?;
    target.bulk.flush_interval = settings.duration("es.bulk.flush-interval")?;
    target.version = match settings.optional_string("es.version").filter(|v| !v.trim().is_empty()) {
        Some(version) => Some(version.trim().parse().context("invalid value for option --es.version")?),
        None => None,
    };
    target.validate().context("invalid --es.* options")?;
    Ok(target)
}

/// `--kafka.producer.*`.
fn kafka_producer_config(settings: &Settings) -> anyhow::Result<KafkaProducerConfig> {
    let mut config = KafkaProducerConfig {
        brokers: settings
            .string("kafka.producer.brokers")?
            .split(',')
            .map(str::trim)
            .filter(|broker| !broker.is_empty())
            .map(str::to_owned)
            .collect(),
        topic: settings.string("kafka.producer.topic")?,
        encoding: settings.parse("kafka.producer.encoding")?,
        compression: settings.parse("kafka.producer.compression")?,
        required_acks: settings.parse("kafka.producer.required-acks")?,
        batch_linger_ms: u64::try_from(settings.duration("kafka.producer.batch-linger")?.as_millis())
            .unwrap_or(u64::MAX),
        batch_size_bytes: usize::try_from(settings.bytes("kafka.producer.batch-size")?).unwrap_or(usize::MAX),
        max_message_bytes: usize::try_from(settings.bytes("kafka.producer.max-message-bytes")?).unwrap_or(usize::MAX),
        ..KafkaProducerConfig::default()
    };
    config.properties = crate::kafka_security::properties(settings, "kafka.producer")?;
    config.spool.directory = optional_path(settings, "kafka.producer.spool.dir");
    config.spool.max_bytes = settings.bytes("kafka.producer.spool.max-bytes")?;
    Ok(config)
}
