//! Test helpers for the Jaeger, Zipkin and agent receivers: all of them on loopback port 0
//! writing into a `MemoryStore` (optionally behind a gate that holds writes), and the model
//! crate's fixture trace in every encoding (`model/tests/golden`), with the spans each encoding
//! must store.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::registry::Registry;
use spoor_collector::{
    AgentConfig, AgentEndpoint, AgentServer, CollectorMetrics, JaegerConfig, JaegerServer, Pipeline, PipelineConfig,
    ZipkinConfig, ZipkinServer,
};
use spoor_model::{Namespace, Span, SpanBatch, TraceId};
use spoor_storage::{GetTraceRequest, MemoryStore, SpanReader, SpanWriter};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The fixture trace's id (`model/tests/thrift_fixtures`).
pub const FIXTURE_TRACE_ID: &str = "463ac35c9f6413ad48485a3953bb6124";

pub fn fixture_trace_id() -> TraceId {
    FIXTURE_TRACE_ID.parse().unwrap()
}

/// A writer that holds every write until the gate opens, then stores into a `MemoryStore`.
pub struct GatedStore {
    pub store: Arc<MemoryStore>,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl SpanWriter for GatedStore {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> spoor_storage::Result<()> {
        let mut open = self.open.clone();
        open.wait_for(|open| *open).await.expect("gate sender kept by the test");
        self.store.write(ns, batch).await
    }
}

/// What to start. Every `host_port` defaults to `<host>:0`; an empty one leaves that receiver off.
pub struct Options {
    pub jaeger: JaegerConfig,
    pub zipkin: ZipkinConfig,
    pub agent: AgentConfig,
    pub pipeline: PipelineConfig,
    pub gate_open: bool,
}

impl Options {
    /// Every receiver on `host` (`127.0.0.1` or `[::1]`), port 0.
    pub fn on(host: &str) -> Self {
        let any = format!("{host}:0");
        Self {
            jaeger: JaegerConfig {
                grpc_host_port: any.clone(),
                thrift_http_host_port: any.clone(),
                ..JaegerConfig::default()
            },
            zipkin: ZipkinConfig { http_host_port: any.clone(), ..ZipkinConfig::default() },
            agent: AgentConfig {
                thrift_compact_host_port: any.clone(),
                thrift_binary_host_port: any.clone(),
                zipkin_thrift_compact_host_port: any,
                ..AgentConfig::default()
            },
            pipeline: PipelineConfig::default(),
            gate_open: true,
        }
    }
}

impl Options {
    /// Every receiver on `127.0.0.1`, port 0.
    pub fn local() -> Self {
        Self::on("127.0.0.1")
    }
}

/// The receivers of one test, serving until [`Receivers::stop`].
pub struct Receivers {
    pub jaeger_grpc: Option<SocketAddr>,
    pub jaeger_http: Option<SocketAddr>,
    pub zipkin: Option<SocketAddr>,
    pub agent_compact: Option<SocketAddr>,
    pub agent_binary: Option<SocketAddr>,
    pub agent_zipkin_compact: Option<SocketAddr>,
    pub store: Arc<MemoryStore>,
    pub pipeline: Arc<Pipeline>,
    pub registry: Registry,
    gate: watch::Sender<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl Receivers {
    pub async fn start() -> Self {
        Self::start_with(Options::local()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let store = Arc::new(MemoryStore::new());
        let (gate, open) = watch::channel(options.gate_open);
        let writer = Arc::new(GatedStore { store: Arc::clone(&store), open });
        let mut registry = Registry::default();
        let metrics = Arc::new(CollectorMetrics::register(&mut registry));
        let pipeline = Arc::new(Pipeline::new(writer, &options.pipeline, metrics));

        let jaeger = JaegerServer::bind(options.jaeger, Arc::clone(&pipeline)).await.expect("bind Jaeger receivers");
        let zipkin = ZipkinServer::bind(options.zipkin, Arc::clone(&pipeline)).await.expect("bind Zipkin receiver");
        let agent = AgentServer::bind(options.agent, Arc::clone(&pipeline)).await.expect("bind agent sockets");
        let (shutdown, signal) = oneshot::channel::<()>();
        let signal = futures::FutureExt::shared(async move {
            let _ = signal.await;
        });
        let mut receivers = Self {
            jaeger_grpc: jaeger.grpc_local_addr(),
            jaeger_http: jaeger.thrift_http_local_addr(),
            zipkin: zipkin.local_addr(),
            agent_compact: agent.local_addr(AgentEndpoint::JAEGER_COMPACT),
            agent_binary: agent.local_addr(AgentEndpoint::JAEGER_BINARY),
            agent_zipkin_compact: agent.local_addr(AgentEndpoint::ZIPKIN_COMPACT),
            store,
            pipeline,
            registry,
            gate,
            shutdown: Some(shutdown),
            servers: Vec::new(),
        };
        let jaeger_signal = signal.clone();
        receivers.servers.push(tokio::spawn(async move { jaeger.serve(jaeger_signal).await.expect("Jaeger serves") }));
        let zipkin_signal = signal.clone();
        receivers.servers.push(tokio::spawn(async move { zipkin.serve(zipkin_signal).await.expect("Zipkin serves") }));
        receivers.servers.push(tokio::spawn(agent.serve(signal)));
        receivers
    }

    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("metrics encode");
        text
    }

    /// The spans stored for `trace_id` in the default namespace, sorted by span id and start.
    pub async fn stored(&self, trace_id: TraceId) -> Vec<Span> {
        let trace = self
            .store
            .get_trace(&Namespace::default_namespace(), GetTraceRequest::new(trace_id))
            .await
            .expect("memory store reads");
        sorted(trace.map(|trace| trace.spans).unwrap_or_default())
    }

    /// Waits (up to 10 s) until `count` spans of `trace_id` are stored: UDP is not answered.
    pub async fn stored_eventually(&self, trace_id: TraceId, count: usize) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.stored(trace_id).await;
            if spans.len() >= count || tokio::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (up to 10 s) until the metrics text contains `line`; returns whether it did.
    pub async fn metric_eventually(&self, line: &str) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if self.metrics_text().contains(line) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Signals shutdown without waiting: the servers stop accepting and finish what they hold.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Signals shutdown and waits for every server to stop.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        for server in self.servers.drain(..) {
            tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops in time").expect("server task");
        }
    }
}

/// Spans in a stable order: span id, then start time, then operation name.
pub fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| {
        (a.span_id, a.start_time_unix_nano, &a.operation_name).cmp(&(
            b.span_id,
            b.start_time_unix_nano,
            &b.operation_name,
        ))
    });
    spans
}

// ---- the model crate's golden files

pub fn model_golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/golden").join(name)
}

pub fn model_golden(name: &str) -> Vec<u8> {
    let path = model_golden_path(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Bytes of a `.hex` golden file (whitespace and `#` comments ignored).
pub fn model_golden_hex(name: &str) -> Vec<u8> {
    let text = String::from_utf8(model_golden(name)).unwrap();
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&digits[index..index + 2], 16).expect("hex golden file"))
        .collect()
}

/// The model spans a `.model.json` golden file says an encoding decodes to, sorted.
pub fn expected_spans(name: &str) -> Vec<Span> {
    sorted(serde_json::from_slice(&model_golden(name)).unwrap_or_else(|error| panic!("{name}: {error}")))
}

/// Every file of a model malformed-input corpus folder (`model/tests/corpus/<folder>`), by name.
pub fn model_corpus(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/corpus").join(folder);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Asserts that `stored` are exactly `expected`, naming the first span that differs.
pub fn assert_same_spans(stored: &[Span], expected: &[Span], what: &str) {
    assert_eq!(stored.len(), expected.len(), "{what}: stored {} spans, expected {}", stored.len(), expected.len());
    for (stored, expected) in stored.iter().zip(expected) {
        assert_eq!(stored, expected, "{what}: span {} differs", expected.span_id);
    }
}

/// Whether this machine can bind the IPv6 loopback; when not, says why on stderr.
pub fn ipv6_loopback_available() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(error) => {
            eprintln!("skipping the IPv6 part: this machine cannot bind [::1] ({error})");
            false
        }
    }
}
