//! Helpers for the tests that need a real Elasticsearch or OpenSearch (`tests/infra/elasticsearch`,
//! `tests/infra/opensearch`): unique index prefixes, a refresh after each write, and a
//! store-per-namespace wrapper, as the namespace router builds in production.
//!
//! Elasticsearch is near-real-time: a write acknowledged by `_bulk` is durable but becomes
//! searchable only at the next refresh (1 s by default). The store does not refresh (that would
//! cost every production write a refresh); these tests call `_refresh` on the store's indices
//! after each write instead, so their reads see their writes at once.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::Transport;
use elasticsearch::http::Method;
use elasticsearch::Elasticsearch;
use serde_json::Value;
use spoor_model::{Namespace, SpanBatch};
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Purger,
    Result, SpanReader, SpanWriter, Trace, TraceQuery,
};
use tokio::sync::Mutex;

pub fn es_url() -> String {
    std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_owned())
}

pub fn opensearch_url() -> String {
    std::env::var("OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned())
}

/// A prefix no other test uses: lowercase, digits and dashes.
pub fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("spoor-test-{label}-{}-{nanos}-{sequence}", std::process::id())
}

/// A test target: one shard, no replica (a one-node cluster shared by many tests).
pub fn target(url: &str, index_prefix: &str) -> EsTarget {
    let mut target = EsTarget::new(vec![url.to_owned()]);
    target.index_prefix = index_prefix.to_owned();
    target.shards = 1;
    target.replicas = 0;
    target
}

/// Plain HTTP to the test cluster, for refreshes, raw documents and clean-up.
#[derive(Clone)]
pub struct Admin {
    client: Elasticsearch,
}

impl Admin {
    pub fn new(url: &str) -> Self {
        let transport = Transport::single_node(url).expect("valid test cluster url");
        Self { client: Elasticsearch::new(transport) }
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|body| body.to_string().into_bytes());
        let response = self
            .client
            .transport()
            .send(method, path, HeaderMap::new(), None::<&()>, body, None)
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        let status = response.status_code().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Makes everything written to `<prefix>-*` searchable.
    pub async fn refresh(&self, prefix: &str) {
        let (status, body) =
            self.request(Method::Post, &format!("/{prefix}-*/_refresh?ignore_unavailable=true"), None).await;
        assert!(status < 300, "refresh of {prefix}-*: {status} {body}");
    }

    /// Indexes a raw document (as another writer, e.g. Jaeger, would have) and refreshes it.
    pub async fn index_document(&self, index: &str, document: &Value) {
        let (status, body) = self.request(Method::Post, &format!("/{index}/_doc?refresh=true"), Some(document)).await;
        assert!(status < 300, "indexing into {index}: {status} {body}");
    }

    /// Deletes the indices and templates whose names start with `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) {
        let (_, indices) =
            self.request(Method::Get, &format!("/_cat/indices/{prefix}*?h=index&format=json"), None).await;
        let names: Vec<String> = indices
            .as_array()
            .map(|rows| rows.iter().filter_map(|row| row["index"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        for chunk in names.chunks(50) {
            let _ = self.request(Method::Delete, &format!("/{}?ignore_unavailable=true", chunk.join(",")), None).await;
        }
        for api in ["_index_template", "_template"] {
            let (status, templates) = self.request(Method::Get, &format!("/{api}/{prefix}*"), None).await;
            if status >= 300 {
                continue;
            }
            let names: Vec<String> = match api {
                "_index_template" => templates["index_templates"]
                    .as_array()
                    .map(|list| list.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                _ => templates.as_object().map(|map| map.keys().cloned().collect()).unwrap_or_default(),
            };
            for name in names {
                let _ = self.request(Method::Delete, &format!("/{api}/{name}"), None).await;
            }
        }
    }
}

/// One [`ElasticsearchStore`] per namespace, each on index prefix `<prefix>-<namespace>`, made on
/// first use (what the namespace router does with one target per namespace). Every write is
/// followed by a refresh. Dropping it deletes the indices and templates it created.
pub struct StorePerNamespace {
    url: String,
    prefix: String,
    admin: Admin,
    stores: Mutex<HashMap<Namespace, Arc<ElasticsearchStore>>>,
    capabilities: Capabilities,
}

impl StorePerNamespace {
    pub async fn new(url: &str, label: &str) -> Self {
        let prefix = unique_prefix(label);
        let probe = ElasticsearchStore::connect("probe", target(url, &format!("{prefix}-probe")), None)
            .await
            .unwrap_or_else(|error| panic!("cannot reach {url}: {error}"));
        Self {
            url: url.to_owned(),
            prefix,
            admin: Admin::new(url),
            stores: Mutex::new(HashMap::new()),
            capabilities: probe.capabilities(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn store(&self, ns: &Namespace) -> Arc<ElasticsearchStore> {
        let mut stores = self.stores.lock().await;
        if let Some(store) = stores.get(ns) {
            return store.clone();
        }
        let target = target(&self.url, &format!("{}-{ns}", self.prefix));
        let store = Arc::new(ElasticsearchStore::connect(ns.as_str(), target, None).await.expect("connect"));
        stores.insert(ns.clone(), store.clone());
        store
    }
}

impl Drop for StorePerNamespace {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let prefix = self.prefix.clone();
        // Clean-up needs async HTTP; run it on a runtime of its own so it works from any test.
        let cleanup = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(admin.delete_prefix(&prefix));
            }
        });
        let _ = cleanup.join();
    }
}

#[async_trait]
impl SpanWriter for StorePerNamespace {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<()> {
        let store = self.store(ns).await;
        store.write(ns, batch).await?;
        self.admin.refresh(&format!("{}-{ns}", self.prefix)).await;
        Ok(())
    }
}

#[async_trait]
impl SpanReader for StorePerNamespace {
    async fn get_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>> {
        self.store(ns).await.get_trace(ns, request).await
    }

    async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
        self.store(ns).await.find_trace_ids(ns, query).await
    }

    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        self.store(ns).await.find_traces(ns, query).await
    }

    async fn services(&self, ns: &Namespace) -> Result<Vec<String>> {
        self.store(ns).await.services(ns).await
    }

    async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>> {
        self.store(ns).await.operations(ns, query).await
    }

    async fn dependencies(&self, ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
        self.store(ns).await.dependencies(ns, query).await
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
}

#[async_trait]
impl Purger for StorePerNamespace {
    async fn purge(&self) -> Result<()> {
        let stores: Vec<Arc<ElasticsearchStore>> = self.stores.lock().await.values().cloned().collect();
        for store in stores {
            store.purge().await?;
        }
        Ok(())
    }
}

/// One store on a unique prefix, deleted (indices and templates) when dropped.
pub struct TestStore {
    pub store: ElasticsearchStore,
    pub admin: Admin,
    pub prefix: String,
}

impl TestStore {
    pub async fn new(url: &str, label: &str) -> Self {
        Self::with_target(url, label, |_| {}).await
    }

    /// A store whose target `adjust` changes first (e.g. a small `max_doc_count`).
    pub async fn with_target(url: &str, label: &str, adjust: impl FnOnce(&mut EsTarget)) -> Self {
        let prefix = unique_prefix(label);
        let mut target = target(url, &prefix);
        adjust(&mut target);
        let store = ElasticsearchStore::connect(label, target, None)
            .await
            .unwrap_or_else(|error| panic!("cannot reach {url}: {error}"));
        Self { store, admin: Admin::new(url), prefix }
    }

    /// Writes and makes the spans searchable.
    pub async fn write(&self, spans: Vec<spoor_model::Span>) {
        let ns = Namespace::default();
        for chunk in spans.chunks(2_000) {
            self.store.write(&ns, SpanBatch::new(chunk.to_vec())).await.expect("write succeeds");
        }
        self.admin.refresh(&self.prefix).await;
    }
}

impl std::ops::Deref for TestStore {
    type Target = ElasticsearchStore;
    fn deref(&self) -> &ElasticsearchStore {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let prefix = self.prefix.clone();
        let cleanup = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(admin.delete_prefix(&prefix));
            }
        });
        let _ = cleanup.join();
    }
}
