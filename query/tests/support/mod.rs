//! Test helpers: an in-process API over a `MemoryStore`, span fixtures and golden files.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use spoor_model::{KeyValue, Log, Namespace, Process, Span, SpanBatch, SpanId, SpanRef, TraceId, FLAG_SAMPLED};
use spoor_query::http::{router, QueryHttpConfig};
use spoor_query::{ArchiveStorage, QueryMetrics, QueryService, QueryServiceOptions};
use spoor_storage::{MemoryStore, SpanReader, SpanWriter};
use tower::ServiceExt;

pub const SECOND_NANOS: u64 = 1_000_000_000;

/// The API router over a fresh memory store, called in-process.
pub struct Api {
    pub router: Router,
    pub store: Arc<MemoryStore>,
    pub service: Arc<QueryService>,
}

impl Api {
    pub fn new() -> Self {
        Self::with(QueryServiceOptions::default(), QueryHttpConfig::default())
    }

    pub fn with(options: QueryServiceOptions, config: QueryHttpConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reader: Arc<dyn SpanReader> = store.clone();
        let service = Arc::new(QueryService::new(reader, options, QueryMetrics::unregistered()));
        Self { router: router(service.clone(), &config), store, service }
    }

    /// An API whose archive is the same memory store under `<namespace>-archive` (see
    /// [`archive_namespace`]), as a deployment with one embedded store would wire it.
    pub fn with_archive(config: QueryHttpConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reader: Arc<dyn SpanReader> = store.clone();
        let archive = ArchiveStorage::new(store.clone(), store.clone()).with_namespaces(archive_namespace);
        let service = QueryService::new(reader, QueryServiceOptions::default(), QueryMetrics::unregistered())
            .with_archive_storage(archive);
        let service = Arc::new(service);
        Self { router: router(service.clone(), &config), store, service }
    }

    pub async fn post(&self, uri: &str, body: &str) -> TestResponse {
        send(&self.router, Request::post(uri).body(Body::from(body.to_owned())).expect("valid request")).await
    }

    /// Writes spans into the default namespace.
    pub async fn write(&self, spans: Vec<Span>) {
        self.write_to(&Namespace::default_namespace(), spans).await;
    }

    pub async fn write_to(&self, namespace: &Namespace, spans: Vec<Span>) {
        self.store.write(namespace, SpanBatch::new(spans)).await.expect("memory store accepts spans");
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        get(&self.router, uri).await
    }
}

/// The archive namespace of `namespace` in [`Api::with_archive`].
pub fn archive_namespace(namespace: &Namespace) -> Namespace {
    Namespace::new(format!("{namespace}-archive"))
}

pub async fn get(router: &Router, uri: &str) -> TestResponse {
    send(router, Request::get(uri).body(Body::empty()).expect("valid request")).await
}

pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router.clone().oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    TestResponse { status, headers, body: String::from_utf8(bytes.to_vec()).expect("utf-8 body") }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.body.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a 200 JSON envelope and returns it.
    pub fn ok_json(&self) -> serde_json::Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.content_type(), "application/json");
        self.json()
    }

    /// Asserts Jaeger's error response: the status, text/plain, and exactly this envelope.
    pub fn assert_error(&self, status: StatusCode, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type(), "text/plain; charset=utf-8");
        let expected = serde_json::json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": message}]
        });
        assert_eq!(self.json(), expected);
        assert!(self.body.ends_with("}\n"), "http.Error appends a newline: {:?}", self.body);
    }

    /// `data[*].traceID` of a trace list.
    pub fn trace_ids(&self) -> Vec<String> {
        let json = self.ok_json();
        json["data"]
            .as_array()
            .expect("data is a list")
            .iter()
            .map(|t| t["traceID"].as_str().expect("traceID is a string").to_owned())
            .collect()
    }
}

pub fn now_unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

pub fn process(service: &str, tags: Vec<KeyValue>) -> Arc<Process> {
    Arc::new(Process { service_name: service.to_owned(), tags })
}

/// A span with the essentials; adjust fields on the result for the rest.
pub fn span(
    trace_id: TraceId,
    span_id: u64,
    parent: Option<u64>,
    operation: &str,
    start_unix_nano: u64,
    duration_nanos: u64,
    process: &Arc<Process>,
) -> Span {
    Span {
        trace_id,
        span_id: SpanId(span_id),
        operation_name: operation.to_owned(),
        references: parent.map(|parent| vec![SpanRef::child_of(trace_id, SpanId(parent))]).unwrap_or_default(),
        flags: FLAG_SAMPLED,
        start_time_unix_nano: start_unix_nano,
        duration_nanos,
        tags: vec![],
        logs: vec![],
        process: Arc::clone(process),
        warnings: vec![],
        scope_attributes: Vec::new(),
    }
}

pub fn with_tags(mut span: Span, tags: Vec<KeyValue>) -> Span {
    span.tags = tags;
    span
}

/// The trace the golden files show: a frontend calling a backend through Envoy sidecars that
/// share the client span's id with the server span (Zipkin style), with every value type.
pub fn golden_trace() -> Vec<Span> {
    let trace_id = TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10);
    let t0 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    let frontend = process(
        "frontend.shop",
        vec![
            KeyValue::string("hostname", "frontend-6f7d"),
            KeyValue::int64("ip", 0x0a00_0001), // packed 10.0.0.1, shown dotted
            KeyValue::string("client-uuid", "2b3c"),
        ],
    );
    let backend =
        process("backend.shop", vec![KeyValue::string("hostname", "backend-9a8b"), KeyValue::string("ip", "10.0.0.2")]);

    let mut root = with_tags(
        span(trace_id, 0xa1, None, "GET /checkout", t0, 120_000_000, &frontend),
        vec![
            KeyValue::string("span.kind", "server"),
            KeyValue::int64("http.status_code", 200),
            KeyValue::string("http.url", "http://shop/checkout?a=1&b=<2>"),
            KeyValue::bool("error", false),
            KeyValue::float64("sampler.param", 1.0),
            KeyValue::float64("ratio", 0.25),
            KeyValue::int64("big", 1 << 60),
            KeyValue::binary("payload", vec![0xde, 0xad, 0xbe, 0xef]),
        ],
    );
    root.flags = FLAG_SAMPLED | spoor_model::FLAG_DEBUG;
    root.logs = vec![Log {
        timestamp_unix_nano: t0 + 5_000_000,
        fields: vec![KeyValue::string("event", "cache miss"), KeyValue::int64("attempt", 2)],
    }];
    let client = with_tags(
        span(
            trace_id,
            0xb2,
            Some(0xa1),
            "backend.shop.svc.cluster.local:8080/*",
            t0 + 10_000_000,
            80_000_000,
            &frontend,
        ),
        vec![
            KeyValue::string("span.kind", "client"),
            KeyValue::string("upstream_cluster", "outbound|8080||backend.shop.svc.cluster.local"),
        ],
    );
    let server = with_tags(
        span(
            trace_id,
            0xb2,
            Some(0xa1),
            "backend.shop.svc.cluster.local:8080/*",
            t0 + 12_000_000,
            70_000_000,
            &backend,
        ),
        vec![KeyValue::string("span.kind", "server"), KeyValue::string("error", "true")],
    );
    let mut query = span(trace_id, 0xc3, Some(0xb2), "SELECT orders", t0 + 20_000_000, 30_000_000, &backend);
    query.flags = 0;
    query.warnings = vec!["span.kind tag missing".to_owned()];
    // Stored out of order: the adjusters sort by start time.
    vec![query, server, client, root]
}

pub fn golden_trace_id() -> TraceId {
    TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
}

/// Compares `actual` with `tests/golden/<name>`; `SPOOR_BLESS=1` (re)writes the file instead.
/// A missing golden file fails unless blessing.
pub fn assert_golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name].iter().collect();
    if std::env::var_os("SPOOR_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("golden file {} unreadable ({e}); run with SPOOR_BLESS=1 to create it", path.display())
    });
    assert!(
        expected == actual,
        "response differs from golden file {}; review and rerun with SPOOR_BLESS=1 if intended\nexpected: {expected}\nactual:   {actual}",
        path.display()
    );
}
