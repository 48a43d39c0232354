//! Per-namespace storage: the namespaces file (`--namespaces.config FILE`) and the
//! [`NamespaceRouter`] that sends each call to its namespace's own backend.
//!
//! # The namespaces file
//!
//! TOML. Top-level keys configure attribution and the policy for unknown namespaces; every other
//! table is one namespace's target, named by the namespace (a DNS-1123 label), plus the special
//! `[default]`. The target type `T` is the backend's (for Elasticsearch
//! `spoor_storage::elasticsearch::EsTarget`); secrets are never inline, only paths to files.
//!
//! ```toml
//! # "default" (the default): namespaces without a table are stored through [default].
//! # "refuse": writes and reads for them fail with StorageError::UnknownNamespace.
//! unknown_namespaces = "default"
//!
//! [rules]                      # optional; spoor_model::namespace_rules::NamespaceRulesConfig
//! order = [{ process_tag = "k8s.namespace.name" }, { tag = "istio.namespace" },
//!          { process_tag = "namespace" }, { service_suffix = true }]
//! service_suffix_known_only = true   # only a namespace with a table (or in known_namespaces)
//!
//! [default]
//! server_urls = ["http://es:9200"]
//! index_prefix = "shared"
//!
//! [bookinfo]
//! server_urls = ["https://es-bookinfo:9200"]
//! index_prefix = "bookinfo"
//! username = "writer"
//! password_file = "/etc/spoor/es-bookinfo/password"
//!
//! [payments]
//! server_urls = ["https://es-payments:9200"]
//! index_prefix = "payments"
//! tls.ca_file = "/etc/spoor/es-payments/ca.crt"
//! tls.cert_file = "/etc/spoor/es-payments/tls.crt"
//! tls.key_file = "/etc/spoor/es-payments/tls.key"
//! ```
//!
//! `rules` and `unknown_namespaces` are reserved: a Kubernetes namespace literally named `rules`
//! cannot have a table (`unknown_namespaces` is not a valid namespace name anyway).
//!
//! # Isolation
//!
//! [`NamespaceRouter::build`] calls the factory once per table, so every namespace has its own
//! backend instance (own client, own credentials); it refuses a factory that hands the same
//! instance to two namespaces. The `[default]` backend serves the namespace `default` and, under
//! [`UnknownNamespacePolicy::Default`], every namespace without a table. The namespace is passed
//! through unchanged to the backend.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spoor_model::namespace_rules::{
    is_valid_namespace_name, NamespaceRules, NamespaceRulesConfig, NamespaceRulesError,
};
use spoor_model::{Namespace, SpanBatch};

use crate::api::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Purger,
    Result, SpanReader, SpanWriter, StorageError, Trace, TraceQuery,
};

/// A complete backend: what a namespace's target is built into.
pub trait Backend: SpanWriter + SpanReader + Purger {}
impl<B: SpanWriter + SpanReader + Purger> Backend for B {}

/// What happens to spans and queries of a namespace that has no table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownNamespacePolicy {
    /// They go to the `[default]` target, under their own namespace name (the file must have a
    /// `[default]` table).
    #[default]
    Default,
    /// They are refused with [`StorageError::UnknownNamespace`]: the collector answers the sender
    /// with a permanent error and the query answers 401/PERMISSION_DENIED.
    Refuse,
}

impl UnknownNamespacePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Refuse => "refuse",
        }
    }
}

/// The top-level key holding the attribution rules.
pub const RULES_KEY: &str = "rules";
/// The top-level key holding the [`UnknownNamespacePolicy`].
pub const UNKNOWN_NAMESPACES_KEY: &str = "unknown_namespaces";
/// The table of the default target.
pub const DEFAULT_TABLE: &str = Namespace::DEFAULT_NAME;

/// Keys that would hold a secret inline; the file only takes paths (`password_file`, ...).
const INLINE_SECRET_KEYS: &[(&str, &str)] = &[
    ("password", "password_file"),
    ("api_key", "api_key_file"),
    ("bearer_token", "bearer_token_file"),
    ("token", "bearer_token_file"),
];

/// The parsed namespaces file. `T` is one namespace's target.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespacesFile<T> {
    pub rules: NamespaceRulesConfig,
    pub unknown: UnknownNamespacePolicy,
    /// The `[default]` table.
    pub default: Option<T>,
    /// One table per namespace, by name (`default` excluded).
    pub namespaces: BTreeMap<String, T>,
}

/// Why a namespaces file cannot be used. Messages name the file, the table and the key, never a
/// value from the file.
#[derive(Debug, thiserror::Error)]
pub enum NamespacesFileError {
    #[error("cannot read namespaces file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("namespaces file{at} is not valid TOML: {message}")]
    Syntax { at: String, message: String },
    #[error("namespaces file{at}: [{table}] {message}")]
    Table { at: String, table: String, message: String },
    #[error("namespaces file{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("namespaces file{at}: [rules] {source}")]
    Rules { at: String, source: NamespaceRulesError },
}

impl<T: DeserializeOwned> NamespacesFile<T> {
    /// Reads and parses the file at `path`.
    pub fn from_path(path: &Path) -> Result<Self, NamespacesFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| NamespacesFileError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &format!(" {}", path.display()))
    }

    /// Parses the file's text.
    pub fn from_toml_str(text: &str) -> Result<Self, NamespacesFileError> {
        Self::parse(text, "")
    }

    fn parse(text: &str, at: &str) -> Result<Self, NamespacesFileError> {
        let at = at.to_owned();
        let top: toml::Table = text.parse().map_err(|e: toml::de::Error| NamespacesFileError::Syntax {
            at: at.clone(),
            // toml's message quotes the offending line, which may be a secret typed inline:
            // keep only the first line (what went wrong and where).
            message: without_quoted_values(e.message()),
        })?;
        let mut rules = NamespaceRulesConfig::default();
        let mut unknown = None;
        let mut default = None;
        let mut namespaces = BTreeMap::new();
        for (key, value) in top {
            match key.as_str() {
                RULES_KEY => {
                    rules = NamespaceRulesConfig::deserialize(value).map_err(|e| NamespacesFileError::Table {
                        at: at.clone(),
                        table: key.clone(),
                        message: without_quoted_values(e.message()),
                    })?;
                }
                UNKNOWN_NAMESPACES_KEY => {
                    unknown =
                        Some(UnknownNamespacePolicy::deserialize(value).map_err(|_| NamespacesFileError::Invalid {
                            at: at.clone(),
                            message: format!("{UNKNOWN_NAMESPACES_KEY} must be \"default\" or \"refuse\""),
                        })?);
                }
                _ => {
                    let table_error =
                        |message: String| NamespacesFileError::Table { at: at.clone(), table: key.clone(), message };
                    if !is_valid_namespace_name(&key) {
                        return Err(table_error(
                            "is not a namespace name (a DNS-1123 label: lowercase letters, digits and '-', at most \
                             63 characters) nor a known top-level key (rules, unknown_namespaces)"
                                .to_owned(),
                        ));
                    }
                    let toml::Value::Table(table) = value else {
                        return Err(table_error("must be a table".to_owned()));
                    };
                    reject_inline_secrets(&table).map_err(&table_error)?;
                    let target = T::deserialize(toml::Value::Table(table))
                        .map_err(|e: toml::de::Error| table_error(without_quoted_values(e.message())))?;
                    if key == DEFAULT_TABLE {
                        default = Some(target);
                    } else {
                        namespaces.insert(key, target);
                    }
                }
            }
        }
        let file = Self { rules, unknown: unknown.unwrap_or_default(), default, namespaces };
        file.validate(&at)?;
        Ok(file)
    }
}

impl<T> NamespacesFile<T> {
    fn validate(&self, at: &str) -> Result<(), NamespacesFileError> {
        if self.unknown == UnknownNamespacePolicy::Default && self.default.is_none() {
            return Err(NamespacesFileError::Invalid {
                at: at.to_owned(),
                message: "unknown_namespaces = \"default\" (the default) needs a [default] table; add one or set \
                          unknown_namespaces = \"refuse\""
                    .to_owned(),
            });
        }
        if self.default.is_none() && self.namespaces.is_empty() {
            return Err(NamespacesFileError::Invalid { at: at.to_owned(), message: "no namespace table".to_owned() });
        }
        self.namespace_rules().map_err(|source| NamespacesFileError::Rules { at: at.to_owned(), source })?;
        Ok(())
    }

    /// The configured namespaces (every table, `default` included when it has one), sorted.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.namespaces.keys().cloned().collect();
        if self.default.is_some() {
            names.push(DEFAULT_TABLE.to_owned());
        }
        names.sort();
        names
    }

    /// The attribution rules, knowing every namespace that has a table (so the `<app>.<namespace>`
    /// service-name rule accepts them).
    pub fn namespace_rules(&self) -> Result<NamespaceRules, NamespaceRulesError> {
        NamespaceRules::from_config(&self.rules)?.with_known_namespaces(self.namespace_names())
    }
}

/// A serde/toml message with every `"..."` value replaced by `"…"`: a type error quotes the value
/// it got (`invalid type: string "…", expected u32`), which may be a secret typed in the wrong place.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        if c == '"' {
            if in_quotes {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            out.push(c);
        }
    }
    if in_quotes {
        out.push('…');
    }
    out
}

fn reject_inline_secrets(table: &toml::Table) -> Result<(), String> {
    for (inline, file_key) in INLINE_SECRET_KEYS {
        if table.contains_key(*inline) {
            return Err(format!("secrets are read from files: use {file_key} instead of {inline}"));
        }
    }
    if let Some(toml::Value::Table(tls)) = table.get("tls") {
        for inline in ["key", "cert", "ca"] {
            if tls.contains_key(inline) {
                return Err(format!(
                    "certificates and keys are read from files: use tls.{inline}_file instead of tls.{inline}"
                ));
            }
        }
    }
    Ok(())
}

/// Sends every storage call to the backend of its namespace. See the module doc.
pub struct NamespaceRouter {
    backends: HashMap<Namespace, Arc<dyn Backend>>,
    default: Option<Arc<dyn Backend>>,
    unknown: UnknownNamespacePolicy,
}

impl fmt::Debug for NamespaceRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceRouter")
            .field("namespaces", &self.namespaces())
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl NamespaceRouter {
    /// Builds one backend per table of `file` with `factory` (called with the namespace and its
    /// target; `default` for the `[default]` table), concurrently. Fails with the first factory
    /// error, prefixed with its namespace and of the same kind, or when the factory returns one
    /// instance for two namespaces.
    pub async fn build<T, F, Fut>(file: NamespacesFile<T>, factory: F) -> Result<Self>
    where
        F: Fn(Namespace, T) -> Fut,
        Fut: Future<Output = Result<Arc<dyn Backend>>>,
    {
        let NamespacesFile { unknown, default, namespaces, .. } = file;
        let mut targets: Vec<(Namespace, T)> =
            namespaces.into_iter().map(|(name, target)| (Namespace::new(name), target)).collect();
        if let Some(default) = default {
            targets.push((Namespace::new(DEFAULT_TABLE), default));
        }
        let builds =
            targets.into_iter().map(|(namespace, target)| {
                let built = factory(namespace.clone(), target);
                async move {
                    built.await.map(|backend| (namespace.clone(), backend)).map_err(|e| in_namespace(&namespace, e))
                }
            });
        let built = futures::future::try_join_all(builds).await?;
        let mut backends = HashMap::with_capacity(built.len());
        let mut default = None;
        for (namespace, backend) in built {
            if namespace.as_str() == DEFAULT_TABLE {
                default = Some(backend);
            } else {
                backends.insert(namespace, backend);
            }
        }
        let router = Self::from_backends(backends, default, unknown)?;
        tracing::info!(
            namespaces = router.namespaces().len(),
            unknown_namespaces = unknown.as_str(),
            "namespace router ready"
        );
        Ok(router)
    }

    /// A router over backends already built. `default` serves the namespace `default` (and unknown
    /// ones under [`UnknownNamespacePolicy::Default`]); a `default` entry in `backends` is the
    /// same as passing it as `default`. Refuses one instance shared by two namespaces and an
    /// invalid namespace name.
    pub fn from_backends(
        mut backends: HashMap<Namespace, Arc<dyn Backend>>,
        mut default: Option<Arc<dyn Backend>>,
        unknown: UnknownNamespacePolicy,
    ) -> Result<Self> {
        if let Some(named_default) = backends.remove(&Namespace::new(DEFAULT_TABLE)) {
            if default.is_some() {
                return Err(StorageError::InvalidQuery(
                    "the default namespace is configured twice (as a namespace and as the default)".into(),
                ));
            }
            default = Some(named_default);
        }
        let mut seen: Vec<(*const (), &str)> = Vec::with_capacity(backends.len() + 1);
        let all = backends.iter().map(|(ns, b)| (ns.as_str(), b)).chain(default.iter().map(|b| (DEFAULT_TABLE, b)));
        for (name, backend) in all {
            if !is_valid_namespace_name(name) {
                return Err(StorageError::InvalidQuery(format!("{name:?} is not a valid namespace name")));
            }
            let address = Arc::as_ptr(backend) as *const ();
            if let Some((_, other)) = seen.iter().find(|(seen_address, _)| *seen_address == address) {
                let (first, second) = if *other < name { (*other, name) } else { (name, *other) };
                return Err(StorageError::Backend(format!(
                    "namespaces {first} and {second} share one backend instance; each namespace needs its own \
                     client and credentials"
                )));
            }
            seen.push((address, name));
        }
        Ok(Self { backends, default, unknown })
    }

    /// The namespaces with a target (`default` included when configured), sorted: what the query
    /// side may offer.
    pub fn namespaces(&self) -> Vec<Namespace> {
        let mut names: Vec<Namespace> = self.backends.keys().cloned().collect();
        if self.default.is_some() {
            names.push(Namespace::new(DEFAULT_TABLE));
        }
        names.sort();
        names
    }

    pub fn unknown_namespace_policy(&self) -> UnknownNamespacePolicy {
        self.unknown
    }

    /// The backend serving `ns`, or [`StorageError::UnknownNamespace`].
    pub fn backend(&self, ns: &Namespace) -> Result<&Arc<dyn Backend>> {
        if let Some(backend) = self.backends.get(ns) {
            return Ok(backend);
        }
        let is_default = ns.as_str() == DEFAULT_TABLE;
        match (&self.default, self.unknown) {
            (Some(default), _) if is_default => Ok(default),
            (Some(default), UnknownNamespacePolicy::Default) => Ok(default),
            _ => Err(StorageError::UnknownNamespace(ns.as_str().to_owned())),
        }
    }

    fn all_backends(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.backends.values().chain(self.default.iter())
    }
}

/// `error` with its message prefixed by the namespace, keeping its kind.
fn in_namespace(ns: &Namespace, error: StorageError) -> StorageError {
    match error {
        StorageError::InvalidQuery(m) => StorageError::InvalidQuery(format!("namespace {ns}: {m}")),
        StorageError::Unavailable(m) => StorageError::Unavailable(format!("namespace {ns}: {m}")),
        StorageError::Overloaded(m) => StorageError::Overloaded(format!("namespace {ns}: {m}")),
        StorageError::UnknownNamespace(m) => StorageError::UnknownNamespace(m),
        StorageError::Corrupt(m) => StorageError::Corrupt(format!("namespace {ns}: {m}")),
        StorageError::Io(e) => StorageError::Unavailable(format!("namespace {ns}: {e}")),
        StorageError::Backend(m) => StorageError::Backend(format!("namespace {ns}: {m}")),
    }
}

#[async_trait]
impl SpanWriter for NamespaceRouter {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<()> {
        self.backend(ns)?.write(ns, batch).await
    }
}

#[async_trait]
impl SpanReader for NamespaceRouter {
    async fn get_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>> {
        self.backend(ns)?.get_trace(ns, request).await
    }

    async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
        self.backend(ns)?.find_trace_ids(ns, query).await
    }

    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        self.backend(ns)?.find_traces(ns, query).await
    }

    async fn services(&self, ns: &Namespace) -> Result<Vec<String>> {
        self.backend(ns)?.services(ns).await
    }

    async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>> {
        self.backend(ns)?.operations(ns, query).await
    }

    async fn dependencies(&self, ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
        self.backend(ns)?.dependencies(ns, query).await
    }

    /// What every backend can do (a capability holds only if all backends have it).
    fn capabilities(&self) -> Capabilities {
        self.all_backends().map(|b| b.capabilities()).fold(
            Capabilities { search_without_service: true, operation_span_kind: true, durable: true },
            |acc, c| Capabilities {
                search_without_service: acc.search_without_service && c.search_without_service,
                operation_span_kind: acc.operation_span_kind && c.operation_span_kind,
                durable: acc.durable && c.durable,
            },
        )
    }
}

#[async_trait]
impl Purger for NamespaceRouter {
    /// Purges every namespace's backend, concurrently; the first failure is returned after all
    /// have been tried.
    async fn purge(&self) -> Result<()> {
        let results = futures::future::join_all(self.all_backends().map(|backend| backend.purge())).await;
        results.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use parking_lot::Mutex;
    use spoor_model::namespace_rules::NamespaceRule;
    use spoor_model::{KeyValue, Process, Span, SpanId, TraceId};

    use super::*;
    use crate::api::ErrorKind;
    use crate::memory::MemoryStore;

    /// A small stand-in for the Elasticsearch target.
    #[derive(Clone, Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TestTarget {
        server_urls: Vec<String>,
        #[serde(default)]
        index_prefix: String,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password_file: Option<PathBuf>,
        #[serde(default)]
        tls: TestTls,
    }

    #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TestTls {
        ca_file: Option<PathBuf>,
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
    }

    const EXAMPLE: &str = r#"
unknown_namespaces = "default"

[rules]
order = [{ process_tag = "k8s.namespace.name" }, { service_suffix = true }]

[default]
server_urls = ["http://127.0.0.1:9200"]
index_prefix = "shared"

[bookinfo]
server_urls = ["https://es-bookinfo:9200"]
index_prefix = "bookinfo"
username = "writer"
password_file = "/etc/spoor/es-bookinfo/password"

[payments]
server_urls = ["https://es-payments:9200"]
index_prefix = "payments"
tls.ca_file = "/etc/spoor/es-payments/ca.crt"
tls.cert_file = "/etc/spoor/es-payments/tls.crt"
tls.key_file = "/etc/spoor/es-payments/tls.key"
"#;

    fn parse(text: &str) -> Result<NamespacesFile<TestTarget>, NamespacesFileError> {
        NamespacesFile::from_toml_str(text)
    }

    fn span(id: u64, service: &str) -> Span {
        Span {
            trace_id: TraceId::new(0, id),
            span_id: SpanId(id),
            operation_name: "op".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_000_000_000,
            duration_nanos: 10,
            tags: vec![KeyValue::string("span.kind", "server")],
            logs: vec![],
            process: Arc::new(Process { service_name: service.into(), tags: vec![] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn batch(id: u64, service: &str) -> SpanBatch {
        SpanBatch::new(vec![span(id, service)])
    }

    #[test]
    fn parses_one_table_per_namespace_and_the_default() {
        let file = parse(EXAMPLE).unwrap();
        assert_eq!(file.unknown, UnknownNamespacePolicy::Default);
        assert_eq!(
            file.rules.order,
            vec![NamespaceRule::ProcessTag("k8s.namespace.name".into()), NamespaceRule::ServiceSuffix(true)]
        );
        assert_eq!(file.default.as_ref().unwrap().index_prefix, "shared");
        assert_eq!(file.namespaces.keys().collect::<Vec<_>>(), ["bookinfo", "payments"]);
        let bookinfo = &file.namespaces["bookinfo"];
        assert_eq!(bookinfo.username.as_deref(), Some("writer"));
        assert_eq!(bookinfo.password_file.as_deref(), Some(Path::new("/etc/spoor/es-bookinfo/password")));
        assert_eq!(
            file.namespaces["payments"].tls.key_file.as_deref(),
            Some(Path::new("/etc/spoor/es-payments/tls.key"))
        );
        assert_eq!(file.namespace_names(), ["bookinfo", "default", "payments"]);
    }

    #[test]
    fn the_rules_know_every_table() {
        let file = parse(EXAMPLE).unwrap();
        let rules = file.namespace_rules().unwrap();
        assert_eq!(rules.namespace_of(&span(1, "reviews.bookinfo")).as_str(), "bookinfo");
        assert_eq!(rules.namespace_of(&span(1, "api.example.com")).as_str(), "default");
    }

    #[test]
    fn rules_and_policy_have_defaults() {
        let file = parse("[default]\nserver_urls = [\"http://a:9200\"]\n").unwrap();
        assert_eq!(file.rules, NamespaceRulesConfig::default());
        assert_eq!(file.unknown, UnknownNamespacePolicy::Default);
        assert!(file.namespaces.is_empty());
    }

    #[test]
    fn reads_the_file_from_disk_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namespaces.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let file = NamespacesFile::<TestTarget>::from_path(&path).unwrap();
        assert_eq!(file.namespaces.len(), 2);
        let missing = NamespacesFile::<TestTarget>::from_path(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
        std::fs::write(&path, "[Bad_Name]\nserver_urls = []\n").unwrap();
        let bad = NamespacesFile::<TestTarget>::from_path(&path).unwrap_err().to_string();
        assert!(bad.contains("namespaces.toml") && bad.contains("[Bad_Name]"), "{bad}");
    }

    #[test]
    fn refuses_inline_secrets_without_echoing_them() {
        let text = "[default]\nserver_urls = [\"http://a\"]\npassword = \"hunter2\"\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("password_file"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let text = "[default]\nserver_urls = [\"http://a\"]\ntls.key = \"-----BEGIN PRIVATE KEY-----\"\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("tls.key_file") && !error.contains("BEGIN"), "{error}");
    }

    #[test]
    fn syntax_and_type_errors_do_not_echo_values() {
        let error = parse("[default]\nserver_urls = [\"http://a\"]\nusername = \"x\" \"s3cret\"\n").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let error = parse("[default]\nserver_urls = [\"http://a\"]\nusername = [\"s3cret\"]\n").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let error = parse("[default]\nserver_urls = \"s3cret\"\n").unwrap_err();
        assert!(error.to_string().contains("invalid type") && !error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn rejects_bad_files_with_clear_messages() {
        let cases = [
            ("[bookinfo]\nserver_urls = []\n", "needs a [default] table"),
            ("unknown_namespaces = \"drop\"\n[default]\nserver_urls = []\n", "\"default\" or \"refuse\""),
            ("unknown_namespaces = \"refuse\"\n", "no namespace table"),
            ("[default]\nserver_urls = []\nhost = \"x\"\n", "unknown field `host`"),
            ("[default]\nserver_urls = []\n[Book.info]\nserver_urls = []\n", "[Book]"),
            ("bookinfo = 3\n[default]\nserver_urls = []\n", "must be a table"),
            ("[rules]\ndefault_namespace = \"X\"\n[default]\nserver_urls = []\n", "[rules]"),
            ("[rules]\norder = [{ host = \"x\" }]\n[default]\nserver_urls = []\n", "[rules]"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn refuse_policy_needs_no_default_table() {
        let file = parse("unknown_namespaces = \"refuse\"\n[bookinfo]\nserver_urls = []\n").unwrap();
        assert_eq!(file.unknown, UnknownNamespacePolicy::Refuse);
        assert!(file.default.is_none());
    }

    /// Builds a router over memory stores, one per namespace, and keeps them for inspection.
    struct Built {
        router: NamespaceRouter,
        stores: Arc<Mutex<BTreeMap<String, Arc<MemoryStore>>>>,
    }

    async fn build(text: &str) -> Built {
        let file = parse(text).unwrap();
        let stores: Arc<Mutex<BTreeMap<String, Arc<MemoryStore>>>> = Arc::default();
        let router = NamespaceRouter::build(file, |ns, _target: TestTarget| {
            let stores = Arc::clone(&stores);
            async move {
                let store = Arc::new(MemoryStore::new());
                stores.lock().insert(ns.to_string(), Arc::clone(&store));
                Ok(store as Arc<dyn Backend>)
            }
        })
        .await
        .unwrap();
        Built { router, stores }
    }

    impl Built {
        fn store(&self, ns: &str) -> Arc<MemoryStore> {
            Arc::clone(&self.stores.lock()[ns])
        }
    }

    #[tokio::test]
    async fn a_write_to_one_namespace_never_reaches_another_backend() {
        let built = build(EXAMPLE).await;
        let bookinfo = Namespace::new("bookinfo");
        built.router.write(&bookinfo, batch(1, "reviews.bookinfo")).await.unwrap();

        assert!(built
            .store("bookinfo")
            .get_trace(&bookinfo, GetTraceRequest::new(TraceId::new(0, 1)))
            .await
            .unwrap()
            .is_some());
        for other in ["payments", "default"] {
            let store = built.store(other);
            for ns in ["bookinfo", "payments", "default"] {
                assert!(store.services(&Namespace::new(ns)).await.unwrap().is_empty(), "{other} got {ns}'s span");
            }
        }
        assert_eq!(built.router.services(&bookinfo).await.unwrap(), ["reviews.bookinfo"]);
        assert!(built.router.services(&Namespace::new("payments")).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_router_passes_the_namespace_through() {
        let built = build(EXAMPLE).await;
        // an unknown namespace goes to the default backend under its own name
        let team = Namespace::new("team-x");
        built.router.write(&team, batch(2, "svc")).await.unwrap();
        let default_store = built.store("default");
        assert_eq!(default_store.services(&team).await.unwrap(), ["svc"]);
        assert!(default_store.services(&Namespace::default_namespace()).await.unwrap().is_empty());
        // and reads for it find it there, while the default namespace does not see it
        assert_eq!(built.router.services(&team).await.unwrap(), ["svc"]);
        assert!(built.router.services(&Namespace::default_namespace()).await.unwrap().is_empty());
        let found = built.router.find_trace_ids(&team, &TraceQuery::default()).await.unwrap();
        assert_eq!(found.len(), 1);
    }

    #[tokio::test]
    async fn refuse_policy_refuses_unknown_namespaces() {
        let text = "unknown_namespaces = \"refuse\"\n[default]\nserver_urls = []\n[bookinfo]\nserver_urls = []\n";
        let built = build(text).await;
        let team = Namespace::new("team-x");
        let error = built.router.write(&team, batch(3, "svc")).await.unwrap_err();
        assert!(matches!(&error, StorageError::UnknownNamespace(name) if name == "team-x"), "{error}");
        assert_eq!(error.kind(), ErrorKind::UnknownNamespace);
        assert!(matches!(built.router.services(&team).await, Err(StorageError::UnknownNamespace(_))));
        assert!(matches!(
            built.router.get_trace(&team, GetTraceRequest::new(TraceId::new(0, 3))).await,
            Err(StorageError::UnknownNamespace(_))
        ));
        // the default table still serves the namespace `default`, and named ones work
        built.router.write(&Namespace::default_namespace(), batch(4, "svc")).await.unwrap();
        built.router.write(&Namespace::new("bookinfo"), batch(5, "svc")).await.unwrap();
        let stores: Vec<Arc<MemoryStore>> = built.stores.lock().values().cloned().collect();
        for store in stores {
            assert!(store.services(&team).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn refuse_without_default_table_refuses_the_default_namespace_too() {
        let built = build("unknown_namespaces = \"refuse\"\n[bookinfo]\nserver_urls = []\n").await;
        let error = built.router.write(&Namespace::default_namespace(), batch(6, "svc")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownNamespace);
        assert_eq!(built.router.namespaces(), [Namespace::new("bookinfo")]);
    }

    #[tokio::test]
    async fn lists_configured_namespaces_for_the_query_side() {
        let built = build(EXAMPLE).await;
        assert_eq!(
            built.router.namespaces(),
            [Namespace::new("bookinfo"), Namespace::new("default"), Namespace::new("payments")]
        );
    }

    #[tokio::test]
    async fn the_factory_is_called_once_per_namespace_with_its_own_target() {
        let file = parse(EXAMPLE).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let router = NamespaceRouter::build(file, |ns, target: TestTarget| {
            calls.lock().push((ns.to_string(), target.index_prefix.clone()));
            async { Ok(Arc::new(MemoryStore::new()) as Arc<dyn Backend>) }
        })
        .await
        .unwrap();
        let mut calls = calls.lock().clone();
        calls.sort();
        assert_eq!(
            calls,
            [
                ("bookinfo".to_owned(), "bookinfo".to_owned()),
                ("default".to_owned(), "shared".to_owned()),
                ("payments".to_owned(), "payments".to_owned())
            ]
        );
        assert_eq!(router.namespaces().len(), 3);
    }

    #[tokio::test]
    async fn refuses_one_backend_instance_shared_by_two_namespaces() {
        let file = parse(EXAMPLE).unwrap();
        let shared: Arc<dyn Backend> = Arc::new(MemoryStore::new());
        let error = NamespaceRouter::build(file, |_ns, _target: TestTarget| {
            let shared = Arc::clone(&shared);
            async move { Ok(shared) }
        })
        .await
        .unwrap_err();
        assert!(error.to_string().contains("share one backend instance"), "{error}");
    }

    #[tokio::test]
    async fn a_factory_error_names_its_namespace_and_keeps_its_kind() {
        let file = parse(EXAMPLE).unwrap();
        let error = NamespaceRouter::build(file, |ns, _target: TestTarget| async move {
            if ns.as_str() == "payments" {
                Err(StorageError::Unavailable("connection refused".into()))
            } else {
                Ok(Arc::new(MemoryStore::new()) as Arc<dyn Backend>)
            }
        })
        .await
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert_eq!(error.to_string(), "storage unavailable: namespace payments: connection refused");
    }

    #[tokio::test]
    async fn purge_empties_every_backend() {
        let built = build(EXAMPLE).await;
        for ns in ["bookinfo", "payments", "default", "team-x"] {
            built.router.write(&Namespace::new(ns), batch(7, "svc")).await.unwrap();
        }
        built.router.purge().await.unwrap();
        for ns in ["bookinfo", "payments", "default", "team-x"] {
            assert!(built.router.services(&Namespace::new(ns)).await.unwrap().is_empty(), "{ns}");
        }
    }

    #[tokio::test]
    async fn capabilities_hold_only_when_every_backend_has_them() {
        let built = build(EXAMPLE).await;
        assert_eq!(built.router.capabilities(), MemoryStore::new().capabilities());
    }

    /// Counts calls, to prove dispatch without a store.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl SpanWriter for Counting {
        async fn write(&self, _ns: &Namespace, _batch: SpanBatch) -> Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[async_trait]
    impl SpanReader for Counting {
        async fn get_trace(&self, _ns: &Namespace, _request: GetTraceRequest) -> Result<Option<Trace>> {
            Ok(None)
        }
        async fn find_trace_ids(&self, _ns: &Namespace, _query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
            Ok(vec![])
        }
        async fn services(&self, _ns: &Namespace) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn operations(&self, _ns: &Namespace, _query: &OperationQuery) -> Result<Vec<Operation>> {
            Ok(vec![])
        }
        async fn dependencies(&self, _ns: &Namespace, _query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
            Ok(vec![])
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities { search_without_service: false, operation_span_kind: true, durable: true }
        }
    }

    #[async_trait]
    impl Purger for Counting {
        async fn purge(&self) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn from_backends_treats_a_default_entry_as_the_default() {
        let a = Arc::new(Counting::default());
        let d = Arc::new(Counting::default());
        let backends: HashMap<Namespace, Arc<dyn Backend>> = [
            (Namespace::new("a"), Arc::clone(&a) as Arc<dyn Backend>),
            (Namespace::default_namespace(), Arc::clone(&d) as Arc<dyn Backend>),
        ]
        .into();
        let router = NamespaceRouter::from_backends(backends, None, UnknownNamespacePolicy::Default).unwrap();
        router.write(&Namespace::new("a"), batch(1, "s")).await.unwrap();
        router.write(&Namespace::new("other"), batch(1, "s")).await.unwrap();
        router.write(&Namespace::default_namespace(), batch(1, "s")).await.unwrap();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(d.0.load(Ordering::SeqCst), 2);
        assert!(!router.capabilities().search_without_service);
    }
}
