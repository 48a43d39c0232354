//! Test helpers: a collector with real OTLP servers on 127.0.0.1:0 writing into a `MemoryStore`
//! (optionally behind a gate that holds writes), OTLP request builders, and a minimal HTTP/1.1
//! client over a `TcpStream`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use prometheus_client::registry::Registry;
use spoor_collector::{CollectorMetrics, OtlpConfig, OtlpServer, Pipeline, PipelineConfig, ServeError};
use spoor_model::{Namespace, Span, SpanBatch, TraceId};
use spoor_storage::{GetTraceRequest, MemoryStore, SpanReader, SpanWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A writer that holds every write until the gate opens, then stores into a `MemoryStore`.
pub struct GatedWriter {
    pub store: Arc<MemoryStore>,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl SpanWriter for GatedWriter {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> spoor_storage::Result<()> {
        let mut open = self.open.clone();
        open.wait_for(|open| *open).await.expect("gate sender kept by the test");
        self.store.write(ns, batch).await
    }
}

pub struct TestCollector {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub store: Arc<MemoryStore>,
    pub pipeline: Arc<Pipeline>,
    pub registry: Registry,
    gate: watch::Sender<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServeError>>>,
}

pub fn local_otlp_config() -> OtlpConfig {
    OtlpConfig { grpc_host_port: "127.0.0.1:0".into(), http_host_port: "127.0.0.1:0".into(), ..OtlpConfig::default() }
}

impl TestCollector {
    /// A collector with default limits whose writes go straight through.
    pub async fn start() -> Self {
        Self::start_with(local_otlp_config(), PipelineConfig::default(), true).await
    }

    /// A collector whose writes wait until [`TestCollector::open_gate`] when `gate_open` is false.
    pub async fn start_with(otlp: OtlpConfig, pipeline_config: PipelineConfig, gate_open: bool) -> Self {
        let store = Arc::new(MemoryStore::new());
        let (gate, open) = watch::channel(gate_open);
        let writer = Arc::new(GatedWriter { store: Arc::clone(&store), open });
        let mut registry = Registry::default();
        let metrics = Arc::new(CollectorMetrics::register(&mut registry));
        let pipeline = Arc::new(Pipeline::new(writer, &pipeline_config, metrics));
        let server = OtlpServer::bind(otlp, Arc::clone(&pipeline)).await.expect("bind OTLP servers");
        let grpc = server.grpc_local_addr().expect("gRPC enabled");
        let http = server.http_local_addr().expect("HTTP enabled");
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(server.serve(async move {
            let _ = signal.await;
        }));
        Self { grpc, http, store, pipeline, registry, gate, shutdown: Some(shutdown), server: Some(server) }
    }

    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("metrics encode");
        text
    }

    /// The spans stored for `trace_id` in the default namespace.
    pub async fn stored(&self, trace_id: TraceId) -> Vec<Span> {
        let trace = self
            .store
            .get_trace(&Namespace::default_namespace(), GetTraceRequest::new(trace_id))
            .await
            .expect("memory store reads");
        trace.map(|trace| trace.spans).unwrap_or_default()
    }

    /// Signals shutdown and waits for both servers to stop.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = self.server.take().expect("running");
        server.await.expect("server task")
    }
}

pub fn string_value(text: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(text.to_owned())) })
}

pub fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: string_value(value), key_strindex: 0 }
}

/// The trace id `trace_index` gives in [`request`].
pub fn trace_id(trace_index: u8) -> TraceId {
    TraceId::from_u128(u128::from_be_bytes(trace_id_bytes(trace_index)))
}

fn trace_id_bytes(trace_index: u8) -> [u8; 16] {
    let mut bytes = [0xab; 16];
    bytes[15] = trace_index;
    bytes
}

/// An OTLP span of trace `trace_index` with span id `span_index + 1`.
pub fn otlp_span(trace_index: u8, span_index: u64, name: &str) -> OtlpSpan {
    OtlpSpan {
        trace_id: trace_id_bytes(trace_index).to_vec(),
        span_id: (span_index + 1).to_be_bytes().to_vec(),
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + span_index * 1_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + span_index * 1_000 + 500,
        attributes: vec![attribute("http.method", "GET")],
        ..Default::default()
    }
}

/// A request of one resource (`service`) holding `spans`.
pub fn request_with(service: &str, spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![attribute("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "test-lib".into(), ..Default::default() }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A request of `span_count` spans of trace `trace_index`, service `checkout`.
pub fn request(trace_index: u8, span_count: u64) -> ExportTraceServiceRequest {
    request_with("checkout", (0..span_count).map(|i| otlp_span(trace_index, i, "GET /cart")).collect())
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole response.
pub async fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let framed = |wanted: &str| headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(wanted));
    if !framed("content-length") && !framed("transfer-encoding") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer (413) before reading a large body, and close; that is fine.
    let _ = stream.write_all(body).await;
    // A reset after the response (the server closed with bytes unread) keeps what was read.
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse_response(&raw)
}

pub async fn post(address: SocketAddr, content_type: &str, body: &[u8]) -> HttpResponse {
    http_request(address, "POST", "/v1/traces", &[("Content-Type", content_type)], body).await
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|window| window == b"\r\n") else { return body };
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}
