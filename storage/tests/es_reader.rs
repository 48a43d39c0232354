//! The Elasticsearch reader against a real cluster: huge traces, Jaeger-written documents,
//! id forms, time windows, literal tag values and the dependencies job. Run with
//! `cargo test -p spoor-storage --test es_reader -- --include-ignored` after
//! `tests/infra/elasticsearch start` (and `tests/infra/opensearch start`).

// The checks are plain async fns run by `#[tokio::test]`s the macro below makes, so clippy's
// `allow-unwrap-in-tests` does not see them as tests.
#![allow(clippy::unwrap_used)]

mod es_common;

use std::collections::BTreeSet;
use std::time::Duration;

use es_common::TestStore;
use serde_json::json;
use spoor_model::{KeyValue, Namespace, Span, SpanKind, TraceId};
use spoor_storage::conformance::{base_time, child_of, query_for, span};
use spoor_storage::elasticsearch::run_dependencies_job;
use spoor_storage::{DependencyQuery, GetTraceRequest, Operation, OperationQuery, SpanReader};

const SECOND: u64 = 1_000_000_000;
const HOUR: u64 = 3_600 * SECOND;

fn ns() -> Namespace {
    Namespace::default()
}

/// `YYYY-MM-DD` (UTC) of a time, as index names carry it.
fn day(unix_nano: u64) -> String {
    let (year, month, day) = spoor_model::civil_date::civil_from_days((unix_nano / (86_400 * SECOND)) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// What tells the test's spans apart (each appears once in the set).
fn sorted_keys(spans: &[Span]) -> BTreeSet<(u64, String, u64, u64)> {
    let keys: BTreeSet<_> = spans
        .iter()
        .map(|s| (s.span_id.0, s.service_name().to_owned(), s.start_time_unix_nano, s.duration_nanos))
        .collect();
    assert_eq!(keys.len(), spans.len(), "spans repeat");
    keys
}

/// A v1 Jaeger span document (string tag values, microseconds only, no Spoor fields).
fn jaeger_v1_document(trace_id: &str, span_id: &str, service: &str, start_nanos: u64) -> serde_json::Value {
    let start_micros = start_nanos / 1_000;
    json!({
        "traceID": trace_id, "spanID": span_id, "flags": 1, "operationName": "legacy-op", "references": [],
        "startTime": start_micros, "startTimeMillis": start_micros / 1_000, "duration": 7,
        "tags": [{ "key": "legacy", "type": "bool", "value": "true" }], "logs": [],
        "process": { "serviceName": service, "tags": [] },
    })
}

macro_rules! against_both {
    ($($name:ident),+ $(,)?) => {
        mod elasticsearch {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
                async fn $name() {
                    super::$name(&super::es_common::es_url()).await;
                }
            )+
        }
        mod opensearch {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs OpenSearch (tests/infra/opensearch)"]
                async fn $name() {
                    super::$name(&super::es_common::opensearch_url()).await;
                }
            )+
        }
    };
}

against_both!(
    reads_a_trace_of_12000_spans_completely,
    reads_every_span_when_many_share_a_sort_position_across_pages,
    finds_a_64_bit_trace_written_by_jaeger_v1_by_both_id_forms,
    merges_a_trace_stored_under_16_and_32_hex_ids,
    get_trace_reads_only_the_requested_window,
    tag_values_are_literal_text_not_regular_expressions,
    operations_of_jaeger_service_documents_have_no_span_kind,
    dependencies_job_writes_a_jaeger_document_that_reads_return,
    dependencies_from_spans_span_many_pages,
);

/// 12,000 spans (more than one 10,000-hit page), many sharing a start microsecond and some
/// sharing a span id (client and server), come back complete from get_trace and find_traces.
async fn reads_a_trace_of_12000_spans_completely(url: &str) {
    let store = TestStore::new(url, "big").await;
    let trace_id = TraceId::new(0x1234, 0x5678);
    let t = base_time();
    let mut spans: Vec<Span> =
        (1..=11_990).map(|i| span(trace_id, i, "frontend", "op", t + (i % 40) * 1_000, 10)).collect();
    // Ten server spans sharing the id and start of a client span (the Zipkin/Envoy shape), around
    // the first page's end (position 10,000 in [start, spanID] order) and elsewhere.
    for i in [9_995, 9_996, 9_997, 9_998, 9_999, 10_000, 10_001, 10_002, 1, 11_990] {
        spans.push(span(trace_id, i, "backend", "op", t + (i % 40) * 1_000, 5));
    }
    assert_eq!(spans.len(), 12_000);
    store.write(spans.clone()).await;

    let trace = store.get_trace(&ns(), GetTraceRequest::new(trace_id)).await.unwrap().expect("found");
    assert_eq!(trace.spans.len(), 12_000);
    assert_eq!(sorted_keys(&trace.spans), sorted_keys(&spans));

    let traces = store.find_traces(&ns(), &query_for("backend")).await.unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(sorted_keys(&traces[0].spans), sorted_keys(&spans));
}

/// With a page of 7 and groups of three spans at one (start, span id), every page boundary cuts
/// through ties; all spans are read once.
async fn reads_every_span_when_many_share_a_sort_position_across_pages(url: &str) {
    let store = TestStore::with_target(url, "ties", |target| target.max_doc_count = 7).await;
    let trace_id = TraceId::new(0, 0x7e5);
    let t = base_time();
    let mut spans = Vec::new();
    for group in 0..15u64 {
        for service in ["a", "b", "c"] {
            // Pairs of groups tie on [start µs, span id] but differ (duration), so both are kept.
            spans.push(span(trace_id, 100 + group / 2, service, "op", t + (group / 4) * 1_000, group + 1));
        }
    }
    store.write(spans.clone()).await;
    let trace = store.get_trace(&ns(), GetTraceRequest::new(trace_id)).await.unwrap().expect("found");
    assert_eq!(trace.spans.len(), spans.len());
    assert_eq!(sorted_keys(&trace.spans), sorted_keys(&spans));
}

/// A 64-bit trace in a document with a 16-hex `traceID` (Jaeger v1), one with a 32-hex id (Jaeger
/// v2) and one without leading zeros (Jaeger < 1.16) are found by the id parsed from either form.
async fn finds_a_64_bit_trace_written_by_jaeger_v1_by_both_id_forms(url: &str) {
    let store = TestStore::new(url, "ids").await;
    let t = base_time();
    let index = format!("{}-jaeger-span-{}", store.prefix, day(t));
    store.write(vec![span(TraceId::new(0, 1), 1, "warm-up", "op", t, 1)]).await; // creates the index
    store.admin.index_document(&index, &jaeger_v1_document("00000000000000ab", "0000000000000001", "v1", t)).await;
    store
        .admin
        .index_document(&index, &jaeger_v1_document("000000000000000000000000000000cd", "0000000000000001", "v2", t))
        .await;
    store.admin.index_document(&index, &jaeger_v1_document("ef", "0000000000000001", "legacy", t)).await;

    for (short, long, service) in [
        ("00000000000000ab", "000000000000000000000000000000ab", "v1"),
        ("00000000000000cd", "000000000000000000000000000000cd", "v2"),
        ("00000000000000ef", "000000000000000000000000000000ef", "legacy"),
    ] {
        for form in [short, long] {
            let trace_id = TraceId::from_hex(form).unwrap();
            let trace = store.get_trace(&ns(), GetTraceRequest::new(trace_id)).await.unwrap();
            let trace = trace.unwrap_or_else(|| panic!("{service} trace not found by {form}"));
            assert_eq!(trace.spans.len(), 1);
            assert_eq!(trace.spans[0].service_name(), service);
            assert_eq!(trace.spans[0].trace_id, trace_id);
            assert_eq!(trace.spans[0].start_time_unix_nano, t / 1_000 * 1_000, "microseconds only");
        }
        let found = store.find_trace_ids(&ns(), &query_for(service)).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].trace_id, TraceId::from_hex(short).unwrap());
        assert_eq!(found[0].start_time_max_unix_nano, t / 1_000 * 1_000);
    }
}

/// One trace whose spans were stored under both the 16- and the 32-hex id is one trace.
async fn merges_a_trace_stored_under_16_and_32_hex_ids(url: &str) {
    let store = TestStore::new(url, "merge").await;
    let t = base_time();
    let index = format!("{}-jaeger-span-{}", store.prefix, day(t));
    store.write(vec![span(TraceId::new(0, 0x42), 1, "svc", "op", t, 1)]).await; // 16 hex, by Spoor
    store
        .admin
        .index_document(
            &index,
            &jaeger_v1_document("00000000000000000000000000000042", "0000000000000002", "svc", t + 5_000),
        )
        .await;

    let trace = store.get_trace(&ns(), GetTraceRequest::new(TraceId::new(0, 0x42))).await.unwrap().expect("found");
    assert_eq!(trace.spans.len(), 2);
    let found = store.find_trace_ids(&ns(), &query_for("svc")).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].trace_id, TraceId::new(0, 0x42));
    assert_eq!(found[0].start_time_min_unix_nano, t);
    assert_eq!(found[0].start_time_max_unix_nano, (t + 5_000) / 1_000 * 1_000);
}

/// A request window reads only its indices: a trace two days old is not found within the last
/// hour, and is found with a window around it or with none (max_span_age, 72 h).
async fn get_trace_reads_only_the_requested_window(url: &str) {
    let store = TestStore::new(url, "window").await;
    let old = base_time() - 48 * HOUR;
    let trace_id = TraceId::new(0, 0x01d);
    store.write(vec![span(trace_id, 1, "svc", "op", old, 1)]).await;

    let mut recent = GetTraceRequest::new(trace_id);
    recent.start_time_min_unix_nano = Some(base_time() - HOUR);
    recent.start_time_max_unix_nano = Some(base_time() + HOUR);
    assert!(store.get_trace(&ns(), recent).await.unwrap().is_none());
    let mut around = GetTraceRequest::new(trace_id);
    around.start_time_min_unix_nano = Some(old - HOUR);
    around.start_time_max_unix_nano = Some(old + HOUR);
    assert!(store.get_trace(&ns(), around).await.unwrap().is_some());
    assert!(store.get_trace(&ns(), GetTraceRequest::new(trace_id)).await.unwrap().is_some());
}

/// `version=1.2` finds `1.2` only, and `1.*` finds nothing: values are text, not regexps.
async fn tag_values_are_literal_text_not_regular_expressions(url: &str) {
    let store = TestStore::new(url, "tags").await;
    let t = base_time();
    let mut dotted = span(TraceId::new(0, 1), 1, "svc", "op", t, 1);
    dotted.tags.push(KeyValue::string("version", "1.2"));
    let mut other = span(TraceId::new(0, 2), 1, "svc", "op", t, 1);
    other.tags.push(KeyValue::string("version", "1x2"));
    let mut star = span(TraceId::new(0, 3), 1, "svc", "op", t, 1);
    star.tags.push(KeyValue::string("version", "1.*"));
    store.write(vec![dotted, other, star]).await;

    let search = |value: &str| {
        let mut query = query_for("svc");
        query.tags.insert("version".into(), value.into());
        query
    };
    let ids = |found: Vec<spoor_storage::FoundTraceId>| found.into_iter().map(|f| f.trace_id).collect::<Vec<_>>();
    assert_eq!(ids(store.find_trace_ids(&ns(), &search("1.2")).await.unwrap()), vec![TraceId::new(0, 1)]);
    assert_eq!(ids(store.find_trace_ids(&ns(), &search("1.*")).await.unwrap()), vec![TraceId::new(0, 3)]);
    assert!(store.find_trace_ids(&ns(), &search("1")).await.unwrap().is_empty());
}

/// Jaeger's service documents have no `spanKind`: their operations have an unspecified kind.
async fn operations_of_jaeger_service_documents_have_no_span_kind(url: &str) {
    let store = TestStore::new(url, "ops").await;
    let t = base_time();
    let mut server = span(TraceId::new(0, 1), 1, "cart", "get", t, 1);
    server.tags.push(KeyValue::string("span.kind", "server"));
    store.write(vec![server]).await;
    let index = format!("{}-jaeger-service-{}", store.prefix, day(t));
    store.admin.index_document(&index, &json!({ "serviceName": "cart", "operationName": "legacy" })).await;

    let all = store.operations(&ns(), &OperationQuery { service_name: "cart".into(), span_kind: None }).await.unwrap();
    assert_eq!(
        all,
        vec![
            Operation { name: "get".into(), span_kind: SpanKind::Server },
            Operation { name: "legacy".into(), span_kind: SpanKind::Unspecified },
        ]
    );
    let unspecified = OperationQuery { service_name: "cart".into(), span_kind: Some(SpanKind::Unspecified) };
    assert_eq!(
        store.operations(&ns(), &unspecified).await.unwrap(),
        vec![Operation { name: "legacy".into(), span_kind: SpanKind::Unspecified }]
    );
}

/// The job writes `<prefix>-jaeger-dependencies-<day>` with Jaeger's document; reads of its window
/// then return the document's links (not links computed from spans written later).
async fn dependencies_job_writes_a_jaeger_document_that_reads_return(url: &str) {
    let store = TestStore::new(url, "deps").await;
    let t = base_time();
    let trace_id = TraceId::new(0, 0xde);
    store
        .write(vec![
            span(trace_id, 1, "frontend", "GET /", t, 100),
            child_of(span(trace_id, 2, "cart", "get", t + 1, 50), 1),
            child_of(span(trace_id, 3, "db", "select", t + 2, 10), 2),
        ])
        .await;
    let end = t + HOUR;
    let written = run_dependencies_job(&store, &ns(), end, Duration::from_secs(2 * 3_600)).await.unwrap();
    assert_eq!(written, 2);

    let index = format!("{}-jaeger-dependencies-{}", store.prefix, day(end));
    let (status, body) =
        store.admin.request(::elasticsearch::http::Method::Get, &format!("/{index}/_search"), None).await;
    assert_eq!(status, 200, "{body}");
    let document = &body["hits"]["hits"][0]["_source"];
    assert_eq!(
        document["dependencies"],
        json!([
            { "parent": "cart", "child": "db", "callCount": 1 },
            { "parent": "frontend", "child": "cart", "callCount": 1 },
        ])
    );
    assert!(document["timestamp"].as_str().unwrap().ends_with('Z'));

    // Spans written after the job do not change what the window's reads return.
    store.write(vec![child_of(span(trace_id, 4, "billing", "charge", t + 3, 10), 1)]).await;
    let window = DependencyQuery { end_time_unix_nano: end, lookback: Duration::from_secs(2 * 3_600) };
    let links = store.dependencies(&ns(), &window).await.unwrap();
    let summary: Vec<_> = links.iter().map(|l| (l.parent.as_str(), l.child.as_str(), l.call_count)).collect();
    assert_eq!(summary, vec![("cart", "db", 1), ("frontend", "cart", 1)]);

    // Running the job again for the same window replaces its document.
    assert_eq!(run_dependencies_job(&store, &ns(), end, Duration::from_secs(2 * 3_600)).await.unwrap(), 3);
    let links = store.dependencies(&ns(), &window).await.unwrap();
    assert_eq!(links.iter().map(|l| l.call_count).sum::<u64>(), 3);
}

/// Links computed from spans with pages of 5: traces cut by page boundaries count correctly.
async fn dependencies_from_spans_span_many_pages(url: &str) {
    let store = TestStore::with_target(url, "deppages", |target| target.max_doc_count = 5).await;
    let t = base_time();
    let mut spans = Vec::new();
    for trace in 1..=7u64 {
        let trace_id = TraceId::new(0, trace);
        spans.push(span(trace_id, 1, "frontend", "GET /", t, 100));
        spans.push(child_of(span(trace_id, 2, "cart", "get", t + 1, 50), 1));
        spans.push(child_of(span(trace_id, 3, "db", "select", t + 2, 10), 2));
    }
    // A Zipkin-style shared span id across a page boundary.
    let shared = TraceId::new(0, 99);
    let mut client = child_of(span(shared, 2, "frontend", "call", t + 1, 10), 1);
    client.tags.push(KeyValue::string("span.kind", "client"));
    let mut server = child_of(span(shared, 2, "backend", "serve", t + 1, 9), 1);
    server.tags.push(KeyValue::string("span.kind", "server"));
    spans.extend([span(shared, 1, "frontend", "GET /", t, 100), client, server]);
    store.write(spans).await;

    let window = DependencyQuery { end_time_unix_nano: t + HOUR, lookback: Duration::from_secs(2 * 3_600) };
    let links = store.dependencies(&ns(), &window).await.unwrap();
    let summary: Vec<_> = links.iter().map(|l| (l.parent.as_str(), l.child.as_str(), l.call_count)).collect();
    assert_eq!(summary, vec![("cart", "db", 7), ("frontend", "backend", 1), ("frontend", "cart", 7)]);
}
