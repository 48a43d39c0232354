//! Jaeger's gRPC query APIs (api_v2, api_v3 on 16685) and the remote-storage read API
//! (storage.v2 on 17271), each served on 127.0.0.1:0 over a memory store and called with real
//! tonic clients generated from the same protos.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, TracesData};
use prost_types::Timestamp;
use spoor_model::jaeger_proto::timestamp_from_nanos;
use spoor_model::proto::jaeger::api_v2;
use spoor_model::proto::jaeger::api_v2::query_service_client::QueryServiceClient as ApiV2Client;
use spoor_model::proto::jaeger::api_v3;
use spoor_model::proto::jaeger::api_v3::query_service_client::QueryServiceClient as ApiV3Client;
use spoor_model::proto::jaeger::storage::v2 as storage_v2;
use spoor_model::proto::jaeger::storage::v2::capabilities_client::CapabilitiesClient;
use spoor_model::proto::jaeger::storage::v2::dependency_reader_client::DependencyReaderClient;
use spoor_model::proto::jaeger::storage::v2::trace_reader_client::TraceReaderClient;
use spoor_model::{KeyValue, Namespace, Span, SpanBatch, SpanId, SpanRef, TraceId};
use spoor_query::grpc::{serve_grpc, serve_remote_storage};
use spoor_query::{QueryMetrics, QueryService, QueryServiceOptions};
use spoor_storage::{MemoryStore, SpanReader, SpanWriter};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

// ---------------------------------------------------------------------------------------------
// Fixtures

const BIG_TRACE_ID: TraceId = TraceId::new(0, 0x25);
const OTLP_TRACE_ID: TraceId = TraceId::new(0xabc, 0xdef);
/// 2023-11-14T22:13:20Z, where the golden trace starts.
const T0: u64 = 1_700_000_000_000_000_000;
/// Every fixture starts within an hour after [`T0`].
const HOUR_NANOS: u64 = 3600 * SECOND_NANOS;

/// 25 spans of `big-svc` under one root, one millisecond apart.
fn big_trace() -> Vec<Span> {
    let p = process("big-svc", vec![KeyValue::string("hostname", "big-1")]);
    (1..=25)
        .map(|id| {
            let parent = (id > 1).then_some(1);
            span(BIG_TRACE_ID, id, parent, &format!("step-{id}"), T0 + 30 * SECOND_NANOS + id * 1_000_000, 500, &p)
        })
        .collect()
}

/// A client span with what api_v3 must turn back into OTLP fields: kind, error status with a
/// description, typed attributes, a scope with attributes, a link with attributes, and a log.
fn otlp_trace() -> Vec<Span> {
    let p = process("checkout", vec![KeyValue::string("k8s.pod.name", "checkout-7")]);
    let mut root = with_tags(
        span(OTLP_TRACE_ID, 0x1, None, "POST /pay", T0 + 60 * SECOND_NANOS, 2_000_000, &p),
        vec![
            KeyValue::string("span.kind", "client"),
            KeyValue::bool("error", true),
            KeyValue::string("otel.status_description", "card declined"),
            KeyValue::int64("http.status_code", 402),
            KeyValue::float64("retry.ratio", 0.5),
            KeyValue::bool("cache.hit", false),
            KeyValue::binary("payload", vec![1, 2, 3]),
            KeyValue::string("otel.scope.name", "payments-sdk"),
            KeyValue::string("otel.scope.version", "1.2.3"),
        ],
    );
    root.scope_attributes =
        vec![KeyValue::string("sdk.language", "rust"), KeyValue::binary("sdk.build", vec![0, 0x39])];
    root.references = vec![SpanRef::follows_from(TraceId::new(0, 0x77), SpanId(7))
        .with_attributes(vec![KeyValue::int64("link.batch", 123), KeyValue::bool("link.retry", true)])];
    let child = with_tags(
        span(OTLP_TRACE_ID, 0x2, Some(0x1), "charge", T0 + 60 * SECOND_NANOS + 100, 1_000_000, &p),
        vec![KeyValue::string("span.kind", "internal")],
    );
    vec![root, child]
}

async fn store_with_fixtures() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let namespace = Namespace::default_namespace();
    for trace in [golden_trace(), big_trace(), otlp_trace()] {
        store.write(&namespace, SpanBatch::new(trace)).await.expect("memory store accepts spans");
    }
    store
}

fn query_service(store: Arc<MemoryStore>) -> Arc<QueryService> {
    let reader: Arc<dyn SpanReader> = store;
    Arc::new(QueryService::new(reader, QueryServiceOptions::default(), QueryMetrics::unregistered()))
}

/// A running server; dropping it starts its shutdown.
struct Server {
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let address = listener.local_addr().expect("bound address");
        let (shutdown, shutdown_signal) = oneshot::channel();
        let stopped = tokio::spawn(serve(listener, shutdown_signal));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .expect("valid endpoint")
            .connect()
            .await
            .expect("server accepts connections");
        Self { channel, shutdown: Some(shutdown), stopped: Some(stopped) }
    }

    /// The query server (api_v2, api_v3, health) over the fixtures, reading the default namespace.
    async fn query() -> Self {
        let service = query_service(store_with_fixtures().await);
        Self::start(|listener, signal| {
            serve_grpc(listener, service, Namespace::default_namespace(), async {
                let _ = signal.await;
            })
        })
        .await
    }

    /// The remote-storage server (storage.v2, health) over the fixtures.
    async fn remote_storage() -> Self {
        let service = query_service(store_with_fixtures().await);
        Self::start(|listener, signal| {
            serve_remote_storage(listener, service, Namespace::default_namespace(), async {
                let _ = signal.await;
            })
        })
        .await
    }

    fn api_v2(&self) -> ApiV2Client<Channel> {
        ApiV2Client::new(self.channel.clone())
    }

    /// Sends and accepts gzip, so every api_v3 test also exercises compression.
    fn api_v3(&self) -> ApiV3Client<Channel> {
        ApiV3Client::new(self.channel.clone())
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
    }

    fn trace_reader(&self) -> TraceReaderClient<Channel> {
        TraceReaderClient::new(self.channel.clone())
    }

    fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// Completes the server's shutdown future; calls in flight go on.
    fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Shuts down, drops this side's connection and waits for the server to return.
    async fn shut_down(mut self) -> std::io::Result<()> {
        self.begin_shutdown();
        let stopped = self.stopped.take().expect("server task");
        drop(self);
        stopped.await.expect("server task did not panic")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

fn time(nanos: u64) -> Option<Timestamp> {
    Some(timestamp_from_nanos(nanos))
}

async fn collect<T>(mut stream: tonic::Streaming<T>) -> Result<Vec<T>, tonic::Status> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item?);
    }
    Ok(items)
}

fn otlp_spans(traces: &TracesData) -> Vec<&OtlpSpan> {
    traces.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect()
}

fn attribute<'a>(attributes: &'a [OtlpKeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn trace_id_of(traces: &TracesData) -> TraceId {
    let spans = otlp_spans(traces);
    TraceId::from_bytes(&spans[0].trace_id).expect("16-byte trace id")
}

// ---------------------------------------------------------------------------------------------
// api_v2

#[tokio::test]
async fn api_v2_get_trace_streams_a_25_span_trace_as_three_chunks_with_embedded_processes() {
    let server = Server::query().await;
    let request = api_v2::GetTraceRequest { trace_id: BIG_TRACE_ID.to_bytes().to_vec(), ..Default::default() };
    let chunks = collect(server.api_v2().get_trace(request).await.unwrap().into_inner()).await.unwrap();

    let sizes: Vec<usize> = chunks.iter().map(|chunk| chunk.spans.len()).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    for span in chunks.iter().flat_map(|chunk| &chunk.spans) {
        assert_eq!(span.trace_id, BIG_TRACE_ID.to_bytes().to_vec(), "16-byte trace id");
        let process = span.process.as_ref().expect("process embedded in every span");
        assert_eq!(process.service_name, "big-svc");
        assert_eq!(process.tags[0].key, "hostname");
        assert_eq!(span.process_id, "");
    }
    let operations: Vec<&str> =
        chunks.iter().flat_map(|chunk| &chunk.spans).map(|span| span.operation_name.as_str()).collect();
    assert_eq!(operations[0], "step-1", "adjusted traces are sorted by start time");
    assert_eq!(operations[24], "step-25");
}

#[tokio::test]
async fn api_v2_get_trace_of_an_unknown_id_is_not_found() {
    let server = Server::query().await;
    let request =
        api_v2::GetTraceRequest { trace_id: TraceId::new(0, 0x404).to_bytes().to_vec(), ..Default::default() };
    let status = server.api_v2().get_trace(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.message(), "trace not found");
}

#[tokio::test]
async fn api_v2_get_trace_of_a_zero_or_malformed_id_is_invalid_argument() {
    let server = Server::query().await;
    for trace_id in [vec![0; 16], vec![0; 8], vec![1, 2, 3], vec![]] {
        let request = api_v2::GetTraceRequest { trace_id: trace_id.clone(), ..Default::default() };
        let status = server.api_v2().get_trace(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{trace_id:?}: {status:?}");
    }
}

#[tokio::test]
async fn api_v2_get_trace_accepts_an_8_byte_id_and_a_time_window() {
    let server = Server::query().await;
    let request = api_v2::GetTraceRequest {
        trace_id: BIG_TRACE_ID.low.to_be_bytes().to_vec(),
        start_time: time(T0),
        end_time: time(T0 + HOUR_NANOS),
        raw_traces: false,
    };
    let chunks = collect(server.api_v2().get_trace(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(chunks.iter().map(|chunk| chunk.spans.len()).sum::<usize>(), 25);
}

#[tokio::test]
async fn api_v2_get_trace_adjusts_shared_span_ids_unless_raw() {
    let server = Server::query().await;
    let trace_id = golden_trace_id().to_bytes().to_vec();
    let shared_id = 0xb2_u64.to_be_bytes().to_vec();
    let count_shared = |chunks: &[api_v2::SpansResponseChunk]| {
        chunks.iter().flat_map(|chunk| &chunk.spans).filter(|span| span.span_id == shared_id).count()
    };

    let raw = api_v2::GetTraceRequest { trace_id: trace_id.clone(), raw_traces: true, ..Default::default() };
    let chunks = collect(server.api_v2().get_trace(raw).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(count_shared(&chunks), 2, "raw: the Zipkin-style client and server spans share an id");

    let adjusted = api_v2::GetTraceRequest { trace_id, raw_traces: false, ..Default::default() };
    let chunks = collect(server.api_v2().get_trace(adjusted).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(count_shared(&chunks), 1, "adjusted: the server span got its own id");
}

fn api_v2_query(service: &str) -> api_v2::TraceQueryParameters {
    api_v2::TraceQueryParameters {
        service_name: service.to_owned(),
        start_time_min: time(T0 - HOUR_NANOS),
        start_time_max: time(T0 + HOUR_NANOS),
        ..Default::default()
    }
}

#[tokio::test]
async fn api_v2_find_traces_streams_each_trace_in_chunks_of_its_own() {
    let server = Server::query().await;
    let request =
        api_v2::FindTracesRequest { query: Some(api_v2::TraceQueryParameters { search_depth: 0, ..api_v2_query("") }) };
    let chunks = collect(server.api_v2().find_traces(request).await.unwrap().into_inner()).await.unwrap();

    let mut spans_per_trace: HashMap<Vec<u8>, usize> = HashMap::new();
    for chunk in &chunks {
        assert!(!chunk.spans.is_empty() && chunk.spans.len() <= 10, "chunk of {}", chunk.spans.len());
        let trace_id = &chunk.spans[0].trace_id;
        assert!(chunk.spans.iter().all(|span| &span.trace_id == trace_id), "a chunk holds one trace");
        *spans_per_trace.entry(trace_id.clone()).or_default() += chunk.spans.len();
    }
    assert_eq!(spans_per_trace.get(BIG_TRACE_ID.to_bytes().as_slice()), Some(&25));
    assert_eq!(spans_per_trace.get(golden_trace_id().to_bytes().as_slice()), Some(&4));
    assert_eq!(spans_per_trace.get(OTLP_TRACE_ID.to_bytes().as_slice()), Some(&2));
    assert_eq!(chunks.len(), 3 + 1 + 1);
}

#[tokio::test]
async fn api_v2_find_traces_filters_by_service_tags_and_duration() {
    let server = Server::query().await;
    let mut query = api_v2_query("frontend.shop");
    query.tags.insert("http.status_code".into(), "200".into());
    query.duration_min = Some(prost_types::Duration { seconds: 0, nanos: 100_000_000 });
    let request = api_v2::FindTracesRequest { query: Some(query) };
    let chunks = collect(server.api_v2().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].spans[0].trace_id, golden_trace_id().to_bytes().to_vec());

    let mut query = api_v2_query("frontend.shop");
    query.tags.insert("http.status_code".into(), "500".into());
    let request = api_v2::FindTracesRequest { query: Some(query) };
    let chunks = collect(server.api_v2().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert!(chunks.is_empty(), "no match is an empty stream");
}

#[tokio::test]
async fn api_v2_find_traces_without_query_or_time_range_is_invalid_argument() {
    let server = Server::query().await;
    let status = server.api_v2().find_traces(api_v2::FindTracesRequest { query: None }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "missing query");

    let query = api_v2::TraceQueryParameters { start_time_min: None, ..api_v2_query("big-svc") };
    let status = server.api_v2().find_traces(api_v2::FindTracesRequest { query: Some(query) }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "start_time_min is required");

    let backwards = api_v2::TraceQueryParameters {
        start_time_min: time(T0 + HOUR_NANOS),
        start_time_max: time(T0),
        ..api_v2_query("big-svc")
    };
    let status = server.api_v2().find_traces(api_v2::FindTracesRequest { query: Some(backwards) }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn api_v2_get_services_lists_stored_services_sorted() {
    let server = Server::query().await;
    let response = server.api_v2().get_services(api_v2::GetServicesRequest {}).await.unwrap().into_inner();
    assert_eq!(response.services, vec!["backend.shop", "big-svc", "checkout", "frontend.shop"]);
}

#[tokio::test]
async fn api_v2_get_operations_lists_names_once_and_operations_with_their_span_kind() {
    let server = Server::query().await;
    let request = api_v2::GetOperationsRequest { service: "checkout".into(), span_kind: String::new() };
    let response = server.api_v2().get_operations(request).await.unwrap().into_inner();
    assert_eq!(response.operation_names, vec!["POST /pay", "charge"]);
    let operations: Vec<(&str, &str)> =
        response.operations.iter().map(|op| (op.name.as_str(), op.span_kind.as_str())).collect();
    assert_eq!(operations, vec![("POST /pay", "client"), ("charge", "internal")]);

    let request = api_v2::GetOperationsRequest { service: "checkout".into(), span_kind: "client".into() };
    let response = server.api_v2().get_operations(request).await.unwrap().into_inner();
    assert_eq!(response.operation_names, vec!["POST /pay"]);

    let request = api_v2::GetOperationsRequest { service: "checkout".into(), span_kind: "sideways".into() };
    let status = server.api_v2().get_operations(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

/// The fixtures' one link between services: the golden trace's frontend calls the backend
/// through a Zipkin-style shared span id.
fn fixture_window() -> (Option<Timestamp>, Option<Timestamp>) {
    (time(T0 - HOUR_NANOS), time(T0 + HOUR_NANOS))
}

#[tokio::test]
async fn api_v2_get_dependencies_computes_links_from_the_spans_in_the_window() {
    let server = Server::query().await;
    let (start_time, end_time) = fixture_window();
    let request = api_v2::GetDependenciesRequest { start_time, end_time };
    let response = server.api_v2().get_dependencies(request).await.unwrap().into_inner();
    assert_eq!(
        response.dependencies,
        vec![api_v2::DependencyLink {
            parent: "frontend.shop".into(),
            child: "backend.shop".into(),
            call_count: 1,
            source: "jaeger".into(),
        }]
    );

    let later =
        api_v2::GetDependenciesRequest { start_time: time(T0 + HOUR_NANOS), end_time: time(T0 + 2 * HOUR_NANOS) };
    assert!(server.api_v2().get_dependencies(later).await.unwrap().into_inner().dependencies.is_empty());
}

#[tokio::test]
async fn api_v2_get_dependencies_requires_both_times() {
    let server = Server::query().await;
    let status = server.api_v2().get_dependencies(api_v2::GetDependenciesRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "start_time is required");
}

#[tokio::test]
async fn api_v2_archive_trace_without_archive_storage_is_jaegers_internal_error() {
    let server = Server::query().await;
    let request = api_v2::ArchiveTraceRequest { trace_id: BIG_TRACE_ID.to_bytes().to_vec(), ..Default::default() };
    let status = server.api_v2().archive_trace(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(status.message(), "failed to archive trace: archive span storage was not configured");
}

// ---------------------------------------------------------------------------------------------
// api_v3

fn api_v3_query(service: &str) -> api_v3::TraceQueryParameters {
    api_v3::TraceQueryParameters {
        service_name: service.to_owned(),
        start_time_min: time(T0 - HOUR_NANOS),
        start_time_max: time(T0 + HOUR_NANOS),
        ..Default::default()
    }
}

#[tokio::test]
async fn api_v3_get_trace_returns_one_traces_data_with_kind_status_scope_and_typed_attributes() {
    let server = Server::query().await;
    let request = api_v3::GetTraceRequest { trace_id: OTLP_TRACE_ID.to_hex32(), ..Default::default() };
    let messages = collect(server.api_v3().get_trace(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.len(), 1, "one TracesData per trace");
    let traces = &messages[0];

    assert_eq!(traces.resource_spans.len(), 1);
    let resource = traces.resource_spans[0].resource.as_ref().expect("resource");
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some(&any_value::Value::StringValue("checkout".into()))
    );
    assert_eq!(
        attribute(&resource.attributes, "k8s.pod.name"),
        Some(&any_value::Value::StringValue("checkout-7".into()))
    );
    let scopes = &traces.resource_spans[0].scope_spans;
    let scope = scopes.iter().find(|s| s.scope.as_ref().is_some_and(|scope| scope.name == "payments-sdk"));
    let scope = scope.and_then(|s| s.scope.as_ref()).expect("the payments-sdk scope");
    assert_eq!(scope.version, "1.2.3");
    assert_eq!(attribute(&scope.attributes, "sdk.language"), Some(&any_value::Value::StringValue("rust".into())));
    assert_eq!(attribute(&scope.attributes, "sdk.build"), Some(&any_value::Value::BytesValue(vec![0, 0x39])));

    let spans = otlp_spans(traces);
    let root = spans.iter().find(|span| span.name == "POST /pay").expect("root span");
    assert_eq!(root.kind, OtlpSpanKind::Client as i32);
    let status = root.status.as_ref().expect("status restored from the error tag");
    assert_eq!(status.code, OtlpStatusCode::Error as i32);
    assert_eq!(status.message, "card declined");
    assert_eq!(attribute(&root.attributes, "http.status_code"), Some(&any_value::Value::IntValue(402)));
    assert_eq!(attribute(&root.attributes, "retry.ratio"), Some(&any_value::Value::DoubleValue(0.5)));
    assert_eq!(attribute(&root.attributes, "cache.hit"), Some(&any_value::Value::BoolValue(false)));
    assert_eq!(attribute(&root.attributes, "payload"), Some(&any_value::Value::BytesValue(vec![1, 2, 3])));
    for derived in ["span.kind", "error", "otel.status_description", "otel.scope.name"] {
        assert_eq!(attribute(&root.attributes, derived), None, "{derived} is an OTLP field again");
    }
    assert_eq!(root.end_time_unix_nano - root.start_time_unix_nano, 2_000_000);
    assert_eq!(root.links.len(), 1);
    let link = &root.links[0];
    assert_eq!(
        attribute(&link.attributes, "opentracing.ref_type"),
        Some(&any_value::Value::StringValue("follows_from".into()))
    );
    assert_eq!(attribute(&link.attributes, "link.batch"), Some(&any_value::Value::IntValue(123)));
    assert_eq!(attribute(&link.attributes, "link.retry"), Some(&any_value::Value::BoolValue(true)));

    let child = spans.iter().find(|span| span.name == "charge").expect("child span");
    assert_eq!(child.kind, OtlpSpanKind::Internal as i32);
    assert_eq!(child.parent_span_id, 0x1_u64.to_be_bytes().to_vec());
    assert_eq!(child.trace_id, OTLP_TRACE_ID.to_bytes().to_vec());
}

#[tokio::test]
async fn api_v3_get_trace_of_an_unknown_or_malformed_id_fails_with_the_right_code() {
    let server = Server::query().await;
    let request = api_v3::GetTraceRequest { trace_id: "404".into(), ..Default::default() };
    let status = server.api_v3().get_trace(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.message(), "trace not found");

    for malformed in ["", "not-hex", "0", &"1".repeat(33)] {
        let request = api_v3::GetTraceRequest { trace_id: malformed.to_owned(), ..Default::default() };
        let status = server.api_v3().get_trace(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{malformed:?}: {status:?}");
    }
}

#[tokio::test]
async fn api_v3_find_traces_streams_one_traces_data_per_trace_most_recent_first() {
    let server = Server::query().await;
    let request = api_v3::FindTracesRequest { query: Some(api_v3_query("")) };
    let messages = collect(server.api_v3().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    let trace_ids: Vec<TraceId> = messages.iter().map(trace_id_of).collect();
    assert_eq!(trace_ids, vec![OTLP_TRACE_ID, BIG_TRACE_ID, golden_trace_id()]);
    for traces in &messages {
        let id = trace_id_of(traces);
        assert!(otlp_spans(traces).iter().all(|span| span.trace_id == id.to_bytes().to_vec()));
    }
    assert_eq!(otlp_spans(&messages[1]).len(), 25, "a whole trace in one message");
}

#[tokio::test]
async fn api_v3_find_traces_search_depth_of_zero_means_100_and_positive_depth_limits() {
    let server = Server::query().await;
    let query = api_v3::TraceQueryParameters { search_depth: -1, ..api_v3_query("") };
    let request = api_v3::FindTracesRequest { query: Some(query) };
    let messages = collect(server.api_v3().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.len(), 3);

    let query = api_v3::TraceQueryParameters { search_depth: 1, ..api_v3_query("") };
    let request = api_v3::FindTracesRequest { query: Some(query) };
    let messages = collect(server.api_v3().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.iter().map(trace_id_of).collect::<Vec<_>>(), vec![OTLP_TRACE_ID]);
}

#[tokio::test]
async fn api_v3_find_traces_matches_attributes_and_operation() {
    let server = Server::query().await;
    let mut query = api_v3_query("checkout");
    query.operation_name = "POST /pay".into();
    query.attributes.insert("http.status_code".into(), "402".into());
    let request = api_v3::FindTracesRequest { query: Some(query) };
    let messages = collect(server.api_v3().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.iter().map(trace_id_of).collect::<Vec<_>>(), vec![OTLP_TRACE_ID]);
}

#[tokio::test]
async fn api_v3_find_traces_requires_both_start_times() {
    let server = Server::query().await;
    for query in [
        api_v3::TraceQueryParameters { start_time_min: None, ..api_v3_query("checkout") },
        api_v3::TraceQueryParameters { start_time_max: None, ..api_v3_query("checkout") },
    ] {
        let request = api_v3::FindTracesRequest { query: Some(query) };
        let status = server.api_v3().find_traces(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().ends_with("is required"), "{}", status.message());
    }
    let status = server.api_v3().find_traces(api_v3::FindTracesRequest { query: None }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn api_v3_get_services_and_operations_list_what_is_stored() {
    let server = Server::query().await;
    let services = server.api_v3().get_services(api_v3::GetServicesRequest {}).await.unwrap().into_inner();
    assert_eq!(services.services, vec!["backend.shop", "big-svc", "checkout", "frontend.shop"]);

    let request = api_v3::GetOperationsRequest { service: "backend.shop".into(), span_kind: String::new() };
    let response = server.api_v3().get_operations(request).await.unwrap().into_inner();
    let operations: Vec<(&str, &str)> =
        response.operations.iter().map(|op| (op.name.as_str(), op.span_kind.as_str())).collect();
    assert_eq!(
        operations,
        vec![("SELECT orders", ""), ("backend.shop.svc.cluster.local:8080/*", "server")],
        "an operation without a kind has an empty span_kind on gRPC"
    );
}

#[tokio::test]
async fn api_v3_find_trace_summaries_summarise_every_matching_trace() {
    let server = Server::query().await;
    let request = api_v3::FindTraceSummariesRequest { query: Some(api_v3_query("")) };
    let messages = collect(server.api_v3().find_trace_summaries(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.len(), 1);
    let summaries = &messages[0].summaries;
    let ids: Vec<&str> = summaries.iter().map(|summary| summary.trace_id.as_str()).collect();
    assert_eq!(ids, vec![OTLP_TRACE_ID.to_hex32(), BIG_TRACE_ID.to_hex32(), golden_trace_id().to_hex32()]);

    let checkout = &summaries[0];
    assert_eq!(checkout.root_service_name, "checkout");
    assert_eq!(checkout.root_operation_name, "POST /pay");
    assert_eq!(checkout.span_count, 2);
    assert_eq!(checkout.error_span_count, 1);
    assert_eq!(checkout.orphan_span_count, 0);
    assert_eq!(checkout.min_start_time_unix_nano, T0 + 60 * SECOND_NANOS);
    assert_eq!(checkout.max_end_time_unix_nano, T0 + 60 * SECOND_NANOS + 2_000_000);

    let golden = &summaries[2];
    assert_eq!(golden.root_service_name, "frontend.shop");
    assert_eq!(golden.span_count, 4);
    let services: Vec<(&str, i32, i32)> =
        golden.services.iter().map(|s| (s.name.as_str(), s.span_count, s.error_span_count)).collect();
    assert_eq!(services, vec![("backend.shop", 2, 1), ("frontend.shop", 2, 0)]);

    let query = api_v3::TraceQueryParameters { service_name: "nobody".into(), ..api_v3_query("") };
    let request = api_v3::FindTraceSummariesRequest { query: Some(query) };
    let messages = collect(server.api_v3().find_trace_summaries(request).await.unwrap().into_inner()).await.unwrap();
    assert!(messages.is_empty());
}

#[tokio::test]
async fn api_v3_get_dependencies_computes_links_from_the_spans_in_the_window() {
    let server = Server::query().await;
    let (start_time, end_time) = fixture_window();
    let request = api_v3::GetDependenciesRequest { start_time, end_time };
    let response = server.api_v3().get_dependencies(request).await.unwrap().into_inner();
    assert_eq!(
        response.dependencies,
        vec![api_v3::Dependency { parent: "frontend.shop".into(), child: "backend.shop".into(), call_count: 1 }]
    );
    let inverted = api_v3::GetDependenciesRequest { start_time: time(T0), end_time: time(T0 - 1) };
    let status = server.api_v3().get_dependencies(inverted).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "end_time is before start_time");
}

// ---------------------------------------------------------------------------------------------
// storage.v2 (remote storage)

fn storage_query(service: &str) -> storage_v2::TraceQueryParameters {
    storage_v2::TraceQueryParameters {
        service_name: service.to_owned(),
        start_time_min: time(T0 - HOUR_NANOS),
        start_time_max: time(T0 + HOUR_NANOS),
        ..Default::default()
    }
}

#[tokio::test]
async fn remote_storage_get_traces_returns_each_existing_trace_raw_in_request_order() {
    let server = Server::remote_storage().await;
    let params = |trace_id: TraceId| storage_v2::GetTraceParams {
        trace_id: trace_id.to_bytes().to_vec(),
        start_time: None,
        end_time: None,
    };
    let request = storage_v2::GetTracesRequest {
        query: vec![params(golden_trace_id()), params(TraceId::new(0, 0x404)), params(BIG_TRACE_ID)],
    };
    let messages = collect(server.trace_reader().get_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.iter().map(trace_id_of).collect::<Vec<_>>(), vec![golden_trace_id(), BIG_TRACE_ID]);

    let shared_id = 0xb2_u64.to_be_bytes().to_vec();
    let shared = otlp_spans(&messages[0]).iter().filter(|span| span.span_id == shared_id).count();
    assert_eq!(shared, 2, "raw: the adjusters did not give the server span a new id");
    assert_eq!(otlp_spans(&messages[1]).len(), 25);
}

#[tokio::test]
async fn remote_storage_get_traces_with_a_malformed_id_is_invalid_argument() {
    let server = Server::remote_storage().await;
    let request = storage_v2::GetTracesRequest {
        query: vec![storage_v2::GetTraceParams { trace_id: vec![1, 2, 3], start_time: None, end_time: None }],
    };
    let status = server.trace_reader().get_traces(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn remote_storage_find_trace_ids_returns_ids_with_their_start_range() {
    let server = Server::remote_storage().await;
    let request = storage_v2::FindTraceIDsRequest { query: Some(storage_query("big-svc")) };
    let response = server.trace_reader().find_trace_i_ds(request).await.unwrap().into_inner();
    assert_eq!(response.trace_ids.len(), 1);
    let found = &response.trace_ids[0];
    assert_eq!(found.trace_id, BIG_TRACE_ID.to_bytes().to_vec());
    assert_eq!(found.start, time(T0 + 30 * SECOND_NANOS + 1_000_000));
    assert_eq!(found.end, time(T0 + 30 * SECOND_NANOS + 25_000_000));

    let request = storage_v2::FindTraceIDsRequest { query: Some(storage_query("")) };
    let response = server.trace_reader().find_trace_i_ds(request).await.unwrap().into_inner();
    let ids: Vec<Vec<u8>> = response.trace_ids.into_iter().map(|found| found.trace_id).collect();
    let expected: Vec<Vec<u8>> =
        [OTLP_TRACE_ID, BIG_TRACE_ID, golden_trace_id()].iter().map(|id| id.to_bytes().to_vec()).collect();
    assert_eq!(ids, expected, "most recent first");
}

#[tokio::test]
async fn remote_storage_find_traces_matches_typed_attributes() {
    let server = Server::remote_storage().await;
    let typed = |key: &str, value: any_value::Value| OtlpKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    };
    let mut query = storage_query("");
    query.attributes = vec![typed("http.status_code", any_value::Value::IntValue(402))];
    let request = storage_v2::FindTracesRequest { query: Some(query) };
    let messages = collect(server.trace_reader().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.iter().map(trace_id_of).collect::<Vec<_>>(), vec![OTLP_TRACE_ID]);

    let mut query = storage_query("");
    query.attributes = vec![typed("cache.hit", any_value::Value::BoolValue(true))];
    let request = storage_v2::FindTracesRequest { query: Some(query) };
    let messages = collect(server.trace_reader().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert!(messages.is_empty(), "cache.hit is false");
}

#[tokio::test]
async fn remote_storage_finds_traces_by_scope_and_link_attributes_and_returns_them() {
    let server = Server::remote_storage().await;
    let typed = |key: &str, value: any_value::Value| OtlpKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    };
    let mut query = storage_query("checkout");
    query.attributes = vec![
        typed("sdk.language", any_value::Value::StringValue("rust".into())),
        typed("link.batch", any_value::Value::IntValue(123)),
        typed("link.retry", any_value::Value::BoolValue(true)),
    ];
    let request = storage_v2::FindTracesRequest { query: Some(query) };
    let messages = collect(server.trace_reader().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(messages.iter().map(trace_id_of).collect::<Vec<_>>(), vec![OTLP_TRACE_ID]);
    let scope_spans = &messages[0].resource_spans[0].scope_spans;
    let with_attributes = scope_spans.iter().find(|ss| ss.scope.as_ref().is_some_and(|s| !s.attributes.is_empty()));
    let with_attributes = with_attributes.expect("the scope keeps its attributes");
    assert_eq!(with_attributes.spans.iter().map(|span| span.name.as_str()).collect::<Vec<_>>(), ["POST /pay"]);
    let root = &with_attributes.spans[0];
    assert_eq!(attribute(&root.links[0].attributes, "link.batch"), Some(&any_value::Value::IntValue(123)));

    let mut query = storage_query("checkout");
    query.attributes = vec![typed("link.batch", any_value::Value::IntValue(124))];
    let request = storage_v2::FindTracesRequest { query: Some(query) };
    let messages = collect(server.trace_reader().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert!(messages.is_empty());
}

#[tokio::test]
async fn api_v2_has_no_place_for_scope_or_link_attributes_and_leaves_them_out() {
    let server = Server::query().await;
    let request = api_v2::GetTraceRequest { trace_id: OTLP_TRACE_ID.to_bytes().to_vec(), ..Default::default() };
    let chunks = collect(server.api_v2().get_trace(request).await.unwrap().into_inner()).await.unwrap();
    let root = chunks.iter().flat_map(|chunk| &chunk.spans).find(|span| span.operation_name == "POST /pay").unwrap();
    assert_eq!(root.references.len(), 1, "the link itself is kept");
    let keys: Vec<&str> = root.tags.iter().map(|tag| tag.key.as_str()).collect();
    assert!(!keys.iter().any(|key| key.starts_with("sdk.") || key.starts_with("link.")), "{keys:?}");
}

#[tokio::test]
async fn remote_storage_lists_services_operations_and_summaries() {
    let server = Server::remote_storage().await;
    let services = server.trace_reader().get_services(storage_v2::GetServicesRequest {}).await.unwrap().into_inner();
    assert_eq!(services.services, vec!["backend.shop", "big-svc", "checkout", "frontend.shop"]);

    let request = storage_v2::GetOperationsRequest { service: "checkout".into(), span_kind: "internal".into() };
    let operations = server.trace_reader().get_operations(request).await.unwrap().into_inner();
    assert_eq!(
        operations.operations,
        vec![storage_v2::Operation { name: "charge".into(), span_kind: "internal".into() }]
    );

    let request = storage_v2::FindTraceSummariesRequest { query: Some(storage_query("big-svc")) };
    let messages =
        collect(server.trace_reader().find_trace_summaries(request).await.unwrap().into_inner()).await.unwrap();
    let summaries: Vec<&storage_v2::TraceSummary> = messages.iter().flat_map(|m| &m.summaries).collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].trace_id, BIG_TRACE_ID.to_bytes().to_vec());
    assert_eq!(summaries[0].span_count, 25);
    assert_eq!(summaries[0].root_operation_name, "step-1");
}

#[tokio::test]
async fn remote_storage_find_without_time_range_is_invalid_argument() {
    let server = Server::remote_storage().await;
    let query = storage_v2::TraceQueryParameters { start_time_max: None, ..storage_query("big-svc") };
    let request = storage_v2::FindTraceIDsRequest { query: Some(query) };
    let status = server.trace_reader().find_trace_i_ds(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "start_time_max is required");
}

#[tokio::test]
async fn remote_storage_get_dependencies_computes_links_with_their_source() {
    let server = Server::remote_storage().await;
    let mut client = DependencyReaderClient::new(server.channel.clone());
    let (start_time, end_time) = fixture_window();
    let request = storage_v2::GetDependenciesRequest { start_time, end_time };
    let response = client.get_dependencies(request).await.unwrap().into_inner();
    assert_eq!(
        response.dependencies,
        vec![storage_v2::Dependency {
            parent: "frontend.shop".into(),
            child: "backend.shop".into(),
            call_count: 1,
            source: "jaeger".into(),
        }]
    );
    let status = client.get_dependencies(storage_v2::GetDependenciesRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Health, shutdown (tenancy: tests/tenancy.rs)

#[tokio::test]
async fn remote_storage_capabilities_allow_searching_without_a_service_name() {
    let server = Server::remote_storage().await;
    let response = CapabilitiesClient::new(server.channel.clone())
        .get_capabilities(storage_v2::GetCapabilitiesRequest {})
        .await
        .expect("Capabilities is served")
        .into_inner();
    let search = response.search.expect("search capabilities are set");
    assert!(search.without_service_name, "the memory store searches every service");
    assert!(search.same_span_conjunction, "every tag of a query must match within one span");
    assert_eq!(search.filter, None, "no structured filter is evaluated");
}

#[tokio::test]
async fn remote_storage_search_without_a_service_name_finds_every_service() {
    let server = Server::remote_storage().await;
    let mut query = storage_query("");
    query.attributes = vec![OtlpKeyValue {
        key: "hostname".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue("big-1".into())) }),
        key_strindex: 0,
    }];
    let request = storage_v2::FindTracesRequest { query: Some(query) };
    let traces = collect(server.trace_reader().find_traces(request).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(traces.iter().map(trace_id_of).collect::<Vec<_>>(), vec![BIG_TRACE_ID]);
}

async fn health_of(client: &mut HealthClient<Channel>, service: &str) -> Result<ServingStatus, tonic::Status> {
    let response = client.check(HealthCheckRequest { service: service.to_owned() }).await?.into_inner();
    Ok(ServingStatus::try_from(response.status).expect("known status"))
}

#[tokio::test]
async fn query_server_health_reports_jaegers_service_names_as_serving() {
    let server = Server::query().await;
    let mut health = server.health();
    for service in ["", "jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"] {
        assert_eq!(health_of(&mut health, service).await.unwrap(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health_of(&mut health, "jaeger.storage.v2.TraceReader").await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn remote_storage_server_health_reports_jaegers_service_names_as_serving() {
    let server = Server::remote_storage().await;
    let mut health = server.health();
    for service in
        ["", "jaeger.storage.v2.TraceReader", "jaeger.storage.v2.DependencyReader", "jaeger.storage.v2.Capabilities"]
    {
        assert_eq!(health_of(&mut health, service).await.unwrap(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health_of(&mut health, "jaeger.api_v3.QueryService").await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn health_watchers_see_not_serving_when_shutdown_starts_and_the_server_then_stops() {
    let mut server = Server::query().await;
    let request = HealthCheckRequest { service: "jaeger.api_v3.QueryService".into() };
    let mut watch = server.health().watch(request).await.unwrap().into_inner();
    let first = watch.next().await.expect("initial status").unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    server.begin_shutdown();
    let next = watch.next().await.expect("status change").unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    server.shut_down().await.expect("server stops cleanly");
}

#[tokio::test]
async fn server_stops_cleanly_on_shutdown() {
    let server = Server::remote_storage().await;
    let _ = server.trace_reader().get_services(storage_v2::GetServicesRequest {}).await.unwrap();
    server.shut_down().await.expect("server stops cleanly");
}
