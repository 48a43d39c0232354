//! Real clients against the receivers: the OpenTelemetry Python Zipkin exporters (v2 JSON, v2
//! protobuf, v1 JSON), the OpenTelemetry Python Jaeger exporters 1.21 (agent UDP, collector HTTP,
//! gRPC) and the Node `jaeger-client` 3.19 (UDP 6832, HTTP `/api/traces`), each sending the known
//! 3-span trace of `tests/clients/python/send_otlp.py` to an in-process collector on loopback
//! ports writing into a `MemoryStore`. The assertions are what Jaeger stores for each client:
//! spans and parents, tag types as the client sent them, logs, `span.kind`, the error.
//!
//! They need the client installs that `tests/run-all` makes and names in `ZIPKIN_PYTHON`,
//! `JAEGER_PYTHON` (tests/clients/setup-python) and `SPOOR_NODE_CLIENTS` (tests/clients/setup-node).
//! Run them with `cargo test -p spoor-collector --test real_clients -- --include-ignored`; without
//! the variable a test fails, it never passes silently.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod receivers;

use std::path::PathBuf;
use std::process::Command;

use receivers::Receivers;
use serde_json::Value;
use spoor_model::{AttributeValue, RefType, Span, SpanId, TraceId, FLAG_SAMPLED};

const ROOT: &str = "spoor-test-root";
const CLIENT: &str = "spoor-test-client";
const INTERNAL: &str = "spoor-test-internal";
const LINK_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const LINK_SPAN_ID: &str = "b7ad6b7169203331";
const MS: u64 = 1_000_000;

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients")
}

fn required_env(name: &str, what: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} must name {what}; tests/run-all sets it (or run the setup script and export its output)"),
    }
}

fn zipkin_python() -> String {
    required_env("ZIPKIN_PYTHON", "the zipkin venv's python (tests/clients/setup-python)")
}

fn jaeger_python() -> String {
    required_env("JAEGER_PYTHON", "the jaeger venv's python (tests/clients/setup-python)")
}

fn node_clients() -> String {
    required_env("SPOOR_NODE_CLIENTS", "the Node client install (tests/clients/setup-node)")
}

/// Runs a client to completion (off the async workers, so the receivers keep serving) and returns
/// its JSON report; fails the test with the client's stderr when it fails.
async fn run_client(program: String, args: Vec<String>, envs: Vec<(&'static str, String)>) -> Value {
    let what = format!("{program} {}", args.join(" "));
    let output = tokio::task::spawn_blocking(move || Command::new(&program).args(&args).envs(envs).output())
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstderr: {}\nstdout: {stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{what} printed no JSON ({error}): {stdout}"))
}

async fn send_zipkin(receivers: &Receivers, format: &str, json_version: &str) -> Value {
    let path = if json_version == "v1" { "/api/v1/spans" } else { "/api/v2/spans" };
    let endpoint = format!("http://{}{path}", receivers.zipkin.unwrap());
    let script = clients_dir().join("python/send_zipkin.py").display().to_string();
    let mut args = vec![script, "--format".into(), format.into(), "--endpoint".into(), endpoint];
    if format == "json" {
        args.extend(["--json-version".into(), json_version.into()]);
    }
    run_client(zipkin_python(), args, vec![]).await
}

async fn send_jaeger_python(receivers: &Receivers, transport: &str) -> Value {
    let endpoint = match transport {
        "agent-udp" => receivers.agent_compact.unwrap().to_string(),
        "collector-http" => format!("http://{}/api/traces", receivers.jaeger_http.unwrap()),
        _ => receivers.jaeger_grpc.unwrap().to_string(),
    };
    let script = clients_dir().join("python/send_jaeger.py").display().to_string();
    run_client(
        jaeger_python(),
        vec![script, "--transport".into(), transport.into(), "--endpoint".into(), endpoint],
        vec![],
    )
    .await
}

async fn send_jaeger_node(receivers: &Receivers, transport: &str) -> Value {
    let endpoint = match transport {
        "udp" => receivers.agent_binary.unwrap().to_string(),
        _ => format!("http://{}/api/traces", receivers.jaeger_http.unwrap()),
    };
    let script = clients_dir().join("node/send_jaeger.js").display().to_string();
    let args = vec![script, "--transport".into(), transport.into(), "--endpoint".into(), endpoint];
    run_client("node".into(), args, vec![("SPOOR_NODE_CLIENTS", node_clients())]).await
}

/// The three stored spans of the reported trace (waiting for UDP), by name.
struct StoredTrace {
    report: Value,
    spans: Vec<Span>,
}

impl StoredTrace {
    async fn of(receivers: &Receivers, report: Value) -> Self {
        let trace_id: TraceId = report["trace_id"].as_str().unwrap().parse().unwrap();
        let spans = receivers.stored_eventually(trace_id, 3).await;
        let names: Vec<&str> = spans.iter().map(|span| span.operation_name.as_str()).collect();
        assert_eq!(spans.len(), 3, "trace {trace_id}: stored {names:?}; report {report}");
        Self { report, spans }
    }

    fn span(&self, name: &str) -> &Span {
        self.spans.iter().find(|span| span.operation_name == name).unwrap_or_else(|| panic!("no span {name}"))
    }

    fn reported_span_id(&self, name: &str) -> SpanId {
        let spans = self.report["spans"].as_array().unwrap();
        let span = spans.iter().find(|span| span["name"] == name).unwrap();
        SpanId::from_hex(span["span_id"].as_str().unwrap()).unwrap()
    }

    /// Ids as reported, CHILD_OF parents, the service, sampled, 100/80/60 ms durations, and the
    /// client 10 ms and the internal span 20 ms after the root.
    fn assert_shape(&self, service: &str) {
        for name in [ROOT, CLIENT, INTERNAL] {
            let span = self.span(name);
            assert_eq!(span.span_id, self.reported_span_id(name), "{name}");
            assert_eq!(span.process.service_name, service, "{name}");
            assert_ne!(span.flags & FLAG_SAMPLED, 0, "{name}");
        }
        assert_eq!(parents(self.span(ROOT)), vec![]);
        assert_eq!(parents(self.span(CLIENT)), vec![self.span(ROOT).span_id]);
        assert_eq!(parents(self.span(INTERNAL)), vec![self.span(CLIENT).span_id]);
        let root_start = self.span(ROOT).start_time_unix_nano;
        for (name, offset_ms, duration_ms) in [(ROOT, 0, 100), (CLIENT, 10, 80), (INTERNAL, 20, 60)] {
            let span = self.span(name);
            // within a microsecond: clients convert times through floats
            assert!(span.start_time_unix_nano.abs_diff(root_start + offset_ms * MS) < 1_000, "{name} start");
            assert!(span.duration_nanos.abs_diff(duration_ms * MS) < 1_000, "{name} duration {}", span.duration_nanos);
        }
    }

    fn tag(&self, name: &str, key: &str) -> Option<AttributeValue> {
        self.span(name).tag(key).cloned()
    }

    fn kinds(&self) -> [Option<String>; 3] {
        [ROOT, CLIENT, INTERNAL].map(|name| self.span(name).tag("span.kind").map(|kind| kind.as_string().into_owned()))
    }
}

fn parents(span: &Span) -> Vec<SpanId> {
    span.references.iter().filter(|reference| reference.ref_type == RefType::ChildOf).map(|r| r.span_id).collect()
}

fn string(text: &str) -> Option<AttributeValue> {
    Some(AttributeValue::String(text.to_owned()))
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn assert_follows_from_the_link(span: &Span) {
    let link = span.references.iter().find(|reference| reference.ref_type == RefType::FollowsFrom);
    let link = link.unwrap_or_else(|| panic!("no FOLLOWS_FROM reference in {:?}", span.references));
    assert_eq!(link.trace_id, LINK_TRACE_ID.parse().unwrap());
    assert_eq!(link.span_id, SpanId::from_hex(LINK_SPAN_ID).unwrap());
}

// ---- Zipkin: every tag a string, the event a JSON annotation, no links

fn assert_zipkin_trace(trace: &StoredTrace) {
    trace.assert_shape("spoor-test-zipkin-python");
    for (key, value) in [
        ("spoor.test.str", "hello spoor"),
        ("spoor.test.bool", "true"),
        ("spoor.test.int", "42"),
        ("spoor.test.negative_int", "-7"),
        ("spoor.test.float", "3.25"),
        ("spoor.test.str_list", r#"["alpha","beta","gamma"]"#),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(trace.tag(ROOT, key), string(value), "{key}");
    }
    assert_eq!(trace.tag(INTERNAL, "error"), string("spoor test failure"));
    assert_eq!(trace.tag(INTERNAL, "otel.status_code"), string("ERROR"));
    assert_eq!(trace.tag(CLIENT, "error"), None);
    let logs = &trace.span(CLIENT).logs;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].timestamp_unix_nano, trace.span(CLIENT).start_time_unix_nano + 5 * MS);
    let event = logs[0].fields.iter().find(|field| field.key == "event").unwrap().value.as_string().into_owned();
    assert!(event.contains("spoor.test.event") && event.contains("something happened"), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the zipkin Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_zipkin_v2_json_trace_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_zipkin(&receivers, "json", "v2").await).await;
    assert_zipkin_trace(&trace);
    assert_eq!(trace.kinds(), [some("server"), some("client"), None], "Zipkin kind, lower case");
    receivers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the zipkin Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_zipkin_v2_protobuf_trace_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_zipkin(&receivers, "proto", "v2").await).await;
    assert_zipkin_trace(&trace);
    assert_eq!(trace.kinds(), [some("server"), some("client"), None]);
    receivers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the zipkin Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_zipkin_v1_json_trace_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_zipkin(&receivers, "json", "v1").await).await;
    assert_zipkin_trace(&trace);
    // The exporter's v1 encoder writes no cs/sr annotations, so Zipkin v1 carries no kind.
    assert_eq!(trace.kinds(), [None, None, None]);
    receivers.stop().await;
}

// ---- Jaeger exporters of OpenTelemetry Python: typed tags, logs, the link as FOLLOWS_FROM

fn assert_jaeger_python_trace(trace: &StoredTrace) {
    trace.assert_shape("spoor-test-jaeger-python");
    assert_eq!(trace.tag(ROOT, "spoor.test.str"), string("hello spoor"));
    assert_eq!(trace.tag(ROOT, "spoor.test.bool"), Some(AttributeValue::Bool(true)));
    assert_eq!(trace.tag(ROOT, "spoor.test.int"), Some(AttributeValue::Int64(42)));
    assert_eq!(trace.tag(ROOT, "spoor.test.negative_int"), Some(AttributeValue::Int64(-7)));
    assert_eq!(trace.tag(ROOT, "spoor.test.float"), Some(AttributeValue::Float64(3.25)));
    assert_eq!(trace.tag(ROOT, "spoor.test.str_list"), string("('alpha', 'beta', 'gamma')"));
    assert_eq!(trace.tag(ROOT, "http.response.status_code"), Some(AttributeValue::Int64(200)));
    assert_eq!(trace.tag(ROOT, "service.version"), string("1.2.3"), "resource attributes become span tags");
    assert_eq!(trace.kinds(), [some("server"), some("client"), some("internal")]);
    assert_eq!(trace.tag(INTERNAL, "error"), Some(AttributeValue::Bool(true)));
    assert_eq!(trace.tag(INTERNAL, "otel.status_code"), string("ERROR"));
    assert_eq!(trace.tag(INTERNAL, "otel.status_description"), string("spoor test failure"));
    assert_eq!(trace.tag(ROOT, "error"), None);
    assert_follows_from_the_link(trace.span(CLIENT));
    let logs = &trace.span(CLIENT).logs;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].timestamp_unix_nano.abs_diff(trace.span(CLIENT).start_time_unix_nano + 5 * MS) < 1_000);
    let field = |key: &str| logs[0].fields.iter().find(|field| field.key == key).map(|field| field.value.clone());
    assert_eq!(field("message"), string("spoor.test.event"));
    assert_eq!(field("event.int"), Some(AttributeValue::Int64(7)));
    assert_eq!(field("event.bool"), Some(AttributeValue::Bool(false)));
    assert_eq!(field("event.float"), Some(AttributeValue::Float64(0.25)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the jaeger Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_jaeger_thrift_compact_over_agent_udp_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_jaeger_python(&receivers, "agent-udp").await).await;
    assert_jaeger_python_trace(&trace);
    assert!(receivers
        .metrics_text()
        .contains(r#"jaeger_agent_thrift_udp_server_packets_processed_total{model="jaeger",protocol="compact"} 3"#));
    receivers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the jaeger Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_jaeger_thrift_binary_over_collector_http_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_jaeger_python(&receivers, "collector-http").await).await;
    assert_jaeger_python_trace(&trace);
    receivers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the jaeger Python client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn python_jaeger_proto_over_grpc_post_spans_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_jaeger_python(&receivers, "grpc").await).await;
    assert_jaeger_python_trace(&trace);
    // The proto exporter also puts the resource on each span's own process.
    let process = &trace.span(ROOT).process;
    assert_eq!(
        process.tags.iter().find(|tag| tag.key == "host.name").map(|tag| tag.value.clone()),
        string("spoor-test-host")
    );
    receivers.stop().await;
}

// ---- Node jaeger-client: Thrift binary, numbers as doubles, 64-bit trace ids

fn assert_jaeger_node_trace(trace: &StoredTrace) {
    trace.assert_shape("spoor-test-jaeger-node");
    assert!(trace.span(ROOT).trace_id.is_64bit(), "jaeger-client's default 64-bit trace id");
    assert_eq!(trace.tag(ROOT, "spoor.test.str"), string("hello spoor"));
    assert_eq!(trace.tag(ROOT, "spoor.test.bool"), Some(AttributeValue::Bool(true)));
    assert_eq!(
        trace.tag(ROOT, "spoor.test.int"),
        Some(AttributeValue::Float64(42.0)),
        "JavaScript numbers are doubles"
    );
    assert_eq!(trace.tag(ROOT, "spoor.test.float"), Some(AttributeValue::Float64(3.25)));
    assert_eq!(trace.kinds(), [some("server"), some("client"), None]);
    assert_eq!(trace.tag(INTERNAL, "error"), Some(AttributeValue::Bool(true)));
    assert_follows_from_the_link(trace.span(CLIENT));
    let client_log = &trace.span(CLIENT).logs;
    assert_eq!(client_log.len(), 1, "{client_log:?}");
    assert_eq!(client_log[0].timestamp_unix_nano, trace.span(CLIENT).start_time_unix_nano + 5 * MS);
    assert!(client_log[0]
        .fields
        .iter()
        .any(|field| field.key == "event" && field.value == AttributeValue::String("spoor.test.event".into())));
    let error_log = &trace.span(INTERNAL).logs;
    assert!(error_log[0].fields.iter().any(|field| field.value == AttributeValue::String("spoor test failure".into())));
    let process = &trace.span(ROOT).process;
    let process_tag = |key: &str| process.tags.iter().find(|tag| tag.key == key).map(|tag| tag.value.clone());
    assert_eq!(process_tag("jaeger.version"), string("Node-3.19.0"));
    assert_eq!(process_tag("spoor.test.process"), string("node"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Node jaeger-client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn node_jaeger_client_thrift_binary_over_udp_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_jaeger_node(&receivers, "udp").await).await;
    assert_jaeger_node_trace(&trace);
    assert!(receivers.metrics_text().contains(r#"format="jaeger",transport="udp",svc="spoor-test-jaeger-node""#));
    receivers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Node jaeger-client (tests/run-all sets ZIPKIN_PYTHON/JAEGER_PYTHON/SPOOR_NODE_CLIENTS)"]
async fn node_jaeger_client_thrift_over_http_is_stored() {
    let receivers = Receivers::start().await;
    let trace = StoredTrace::of(&receivers, send_jaeger_node(&receivers, "http").await).await;
    assert_jaeger_node_trace(&trace);
    assert!(receivers.metrics_text().contains(r#"format="jaeger",transport="http",svc="spoor-test-jaeger-node""#));
    receivers.stop().await;
}
