//! The storage conformance suite: one async function per behaviour of the contract in
//! [`crate::api`], run by every backend.
//!
//! Each function takes a factory that makes a fresh, empty store (for a backend that needs a
//! guard, such as a temporary directory, the factory returns any [`Deref`] to the store that owns
//! the guard). Every check also uses its own namespace, so a backend may hand out one shared store
//! and the suite still runs in parallel. Reads are retried for a few seconds before failing, for
//! backends whose writes become visible after a refresh (Elasticsearch).
//!
//! A backend runs the whole suite with one macro, and the purge checks (which need a store of
//! their own, because a purge deletes every namespace) with another:
//!
//! ```ignore
//! spoor_storage::storage_conformance_tests!(|| async { std::sync::Arc::new(MemoryStore::new()) });
//! spoor_storage::storage_purge_conformance_tests!(|| async { std::sync::Arc::new(MemoryStore::new()) });
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoor_model::{
    KeyValue, Log, Namespace, Process, Span, SpanBatch, SpanId, SpanKind, SpanRef, TraceId, FLAG_SAMPLED,
};

use crate::api::{
    DependencyLink, DependencyQuery, ErrorKind, GetTraceRequest, Operation, OperationQuery, Purger, SpanReader,
    SpanStore, SpanWriter, Trace, TraceQuery, DEFAULT_SEARCH_LIMIT, DEPENDENCY_SOURCE_SPANS,
};

/// How long a read is retried before the suite declares a failure.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);
const MINUTE_NANOS: u64 = 60_000_000_000;
const SECOND_NANOS: u64 = 1_000_000_000;

/// Runs every behaviour of the suite as one `#[tokio::test]` each. The argument is an expression
/// usable as a factory: `Fn() -> impl Future<Output = impl Deref<Target = impl SpanStore>>`.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($factory:expr) => {
        $crate::storage_conformance_tests!(@tests $factory;
            gets_trace_by_64_bit_id_in_its_16_hex_form,
            gets_trace_by_128_bit_id,
            returns_every_field_of_a_span_unchanged,
            missing_trace_is_none,
            rewriting_the_same_spans_keeps_one_copy,
            different_spans_sharing_a_span_id_are_both_kept,
            trace_written_in_several_batches_is_returned_whole,
            empty_batch_is_accepted,
            services_are_listed_sorted,
            operations_carry_span_kind_and_filter_by_kind,
            finds_traces_by_service,
            finds_traces_by_operation,
            finds_traces_by_span_tag_process_tag_and_log_field,
            finds_traces_by_scope_attribute,
            finds_traces_by_link_attribute,
            scope_and_link_attributes_round_trip,
            matches_typed_tag_values_by_their_text_form,
            all_conditions_must_hold_on_the_same_span,
            duration_range_is_inclusive_and_applies_to_spans,
            start_time_range_is_inclusive,
            zero_time_bounds_cover_all_time,
            limit_keeps_the_most_recent_traces_first,
            default_limit_applies_when_limit_is_zero,
            found_traces_are_complete,
            namespaces_are_isolated,
            searches_without_service_when_capable,
            rejects_inverted_ranges,
            dependencies_count_calls_between_services,
            dependencies_follow_shared_span_ids,
            dependencies_count_only_spans_starting_in_the_window,
            dependencies_are_isolated_per_namespace,
        );
    };
    (@tests $factory:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::$name($factory).await;
            }
        )+
    };
}

/// Runs the purge checks as one `#[tokio::test]` each. The factory must make a store no other
/// test uses: a purge deletes every namespace.
#[macro_export]
macro_rules! storage_purge_conformance_tests {
    ($factory:expr) => {
        $crate::storage_conformance_tests!(@tests $factory;
            purge_deletes_every_namespace,
            purge_is_safe_while_writes_are_in_flight,
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

/// A 64-bit trace id (high half zero) is found by its 16-hex form.
pub async fn gets_trace_by_64_bit_id_in_its_16_hex_form<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(0, 0x00ab_cdef_0123_4567);
    let spans =
        vec![span(trace_id, 1, "frontend", "GET /", base_time(), 10), span(trace_id, 2, "cart", "get", base_time(), 5)];
    write(&*store, &ns, spans.clone()).await;

    let parsed = TraceId::from_hex("00abcdef01234567").expect("valid hex");
    let trace = get(&*store, &ns, parsed).await.expect("the 64-bit trace is found by its 16-hex form");
    assert_same_spans(&trace.spans, &spans);
}

/// A 128-bit trace id is found, and a 64-bit id equal to its low half is a different trace.
pub async fn gets_trace_by_128_bit_id<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let long_id = TraceId::new(0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00);
    let short_id = TraceId::new(0, 0x99aa_bbcc_ddee_ff00);
    let long_spans = vec![span(long_id, 1, "frontend", "GET /", base_time(), 10)];
    let short_spans = vec![span(short_id, 1, "frontend", "GET /other", base_time(), 10)];
    write(&*store, &ns, long_spans.clone()).await;
    write(&*store, &ns, short_spans.clone()).await;

    let parsed = TraceId::from_hex("112233445566778899aabbccddeeff00").expect("valid hex");
    let trace = get(&*store, &ns, parsed).await.expect("the 128-bit trace is found");
    assert_same_spans(&trace.spans, &long_spans);
    let trace = get(&*store, &ns, short_id).await.expect("the 64-bit trace is found");
    assert_same_spans(&trace.spans, &short_spans);
}

/// Every field of a span (typed tags, logs, references, flags, process, warnings) round-trips.
pub async fn returns_every_field_of_a_span_unchanged<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(7, 8);
    let mut rich = span(trace_id, 2, "checkout", "POST /pay", base_time() + 123_456_789, 987_654_321);
    rich.references =
        vec![SpanRef::child_of(trace_id, SpanId(1)), SpanRef::follows_from(TraceId::new(0, 99), SpanId(u64::MAX))];
    rich.flags = FLAG_SAMPLED | spoor_model::FLAG_DEBUG;
    rich.tags = vec![
        KeyValue::string("span.kind", "server"),
        KeyValue::bool("error", true),
        KeyValue::int64("http.status_code", -500),
        KeyValue::float64("ratio", 0.25),
        KeyValue::binary("blob", vec![0, 1, 255]),
        KeyValue::string("empty", ""),
        KeyValue::string("unicode", "grüße ✓"),
    ];
    rich.logs = vec![
        Log { timestamp_unix_nano: base_time() + 5, fields: vec![KeyValue::string("event", "retry")] },
        Log { timestamp_unix_nano: base_time() + 6, fields: vec![] },
    ];
    rich.process = Arc::new(Process {
        service_name: "checkout".into(),
        tags: vec![KeyValue::string("hostname", "node-1"), KeyValue::int64("pid", 42)],
    });
    rich.warnings = vec!["clock skew".into()];
    write(&*store, &ns, vec![rich.clone()]).await;

    let trace = get(&*store, &ns, trace_id).await.expect("the trace is found");
    assert_eq!(trace.spans, vec![rich], "the stored span differs from the written one");
}

/// An unknown trace is `Ok(None)`, also in a namespace that was never written.
pub async fn missing_trace_is_none<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let fresh =
        store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 42))).await.expect("not found is not an error");
    assert!(fresh.is_none(), "a namespace never written has no traces");
    write(&*store, &ns, vec![span(TraceId::new(0, 1), 1, "frontend", "GET /", base_time(), 1)]).await;
    let _ = get(&*store, &ns, TraceId::new(0, 1)).await;
    let missing =
        store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 42))).await.expect("not found is not an error");
    assert!(missing.is_none());
}

/// Writing the same spans again, in the same or a different grouping, leaves one copy of each.
pub async fn rewriting_the_same_spans_keeps_one_copy<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(0, 0x77);
    let first = span(trace_id, 1, "frontend", "GET /", base_time(), 10);
    let second = span(trace_id, 2, "cart", "get", base_time() + 1, 5);
    write(&*store, &ns, vec![first.clone(), second.clone()]).await;
    write(&*store, &ns, vec![first.clone(), second.clone()]).await;
    write(&*store, &ns, vec![second.clone()]).await;
    write(&*store, &ns, vec![first.clone()]).await;

    let trace = get_with_span_count(&*store, &ns, trace_id, 2).await;
    assert_same_spans(&trace.spans, &[first, second]);
    let found = search_until(&*store, &ns, &query_for("frontend"), |found| !found.is_empty()).await;
    assert_eq!(found.len(), 1, "a re-written trace is found once");
}

/// Two spans with one span id but different content (Envoy's shared client/server span) are both
/// kept.
pub async fn different_spans_sharing_a_span_id_are_both_kept<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(0, 0x5151);
    let mut client = span(trace_id, 9, "frontend", "egress cart", base_time(), 20);
    client.tags.push(KeyValue::string("span.kind", "client"));
    let mut server = span(trace_id, 9, "cart", "ingress cart", base_time() + 1, 18);
    server.tags.push(KeyValue::string("span.kind", "server"));
    write(&*store, &ns, vec![client.clone()]).await;
    write(&*store, &ns, vec![server.clone()]).await;

    let trace = get_with_span_count(&*store, &ns, trace_id, 2).await;
    assert_same_spans(&trace.spans, &[client, server]);
}

/// Spans of one trace written in separate batches come back together.
pub async fn trace_written_in_several_batches_is_returned_whole<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(3, 3);
    let spans: Vec<Span> =
        (1..=6).map(|i| span(trace_id, i, "frontend", "op", base_time() + i * SECOND_NANOS, 10)).collect();
    for pair in spans.chunks(2) {
        write(&*store, &ns, pair.to_vec()).await;
    }
    let trace = get_with_span_count(&*store, &ns, trace_id, spans.len()).await;
    assert_same_spans(&trace.spans, &spans);
}

/// An empty batch is a successful no-op.
pub async fn empty_batch_is_accepted<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    store.write(&ns, SpanBatch::default()).await.expect("an empty batch is accepted");
    assert!(store.services(&ns).await.expect("services").is_empty());
}

/// Services are listed once each, sorted.
pub async fn services_are_listed_sorted<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "zeta", "a", t, 1),
            span(TraceId::new(0, 1), 2, "alpha", "a", t, 1),
            span(TraceId::new(0, 2), 1, "mid", "a", t, 1),
            span(TraceId::new(0, 2), 2, "alpha", "b", t, 1),
        ],
    )
    .await;
    let services = eventually(|| store.services(&ns), |services: &Vec<String>| services.len() >= 3).await;
    assert_eq!(services, vec!["alpha".to_owned(), "mid".to_owned(), "zeta".to_owned()]);
}

/// Operations are listed per service with the span kind they were seen with, sorted by name then
/// kind, and can be filtered by kind.
pub async fn operations_carry_span_kind_and_filter_by_kind<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let with_kind = |span_id, operation: &str, kind: &str| {
        let mut s = span(TraceId::new(0, 10), span_id, "cart", operation, t, 1);
        if !kind.is_empty() {
            s.tags.push(KeyValue::string("span.kind", kind));
        }
        s
    };
    write(
        &*store,
        &ns,
        vec![
            with_kind(1, "get", "server"),
            with_kind(2, "get", "client"),
            with_kind(3, "add", "server"),
            with_kind(4, "cache", ""),
            with_kind(5, "get", "server"),
            span(TraceId::new(0, 10), 6, "other", "elsewhere", t, 1),
        ],
    )
    .await;

    let all_query = OperationQuery { service_name: "cart".into(), span_kind: None };
    let all = eventually(|| store.operations(&ns, &all_query), |ops: &Vec<Operation>| ops.len() >= 4).await;
    if store.capabilities().operation_span_kind {
        assert_eq!(
            all,
            vec![
                Operation { name: "add".into(), span_kind: SpanKind::Server },
                Operation { name: "cache".into(), span_kind: SpanKind::Unspecified },
                Operation { name: "get".into(), span_kind: SpanKind::Server },
                Operation { name: "get".into(), span_kind: SpanKind::Client },
            ]
        );
        let server_query = OperationQuery { service_name: "cart".into(), span_kind: Some(SpanKind::Server) };
        let servers = store.operations(&ns, &server_query).await.expect("operations");
        assert_eq!(
            servers,
            vec![
                Operation { name: "add".into(), span_kind: SpanKind::Server },
                Operation { name: "get".into(), span_kind: SpanKind::Server },
            ]
        );
    } else {
        let names: Vec<&str> = all.iter().map(|op| op.name.as_str()).collect();
        assert_eq!(names, vec!["add", "cache", "get"]);
    }
    let unknown = OperationQuery { service_name: "nobody".into(), span_kind: None };
    assert!(store.operations(&ns, &unknown).await.expect("operations").is_empty());
}

/// A search by service finds the traces with a span of that service.
pub async fn finds_traces_by_service<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "frontend", "GET /", t, 10),
            span(TraceId::new(0, 1), 2, "cart", "get", t, 5),
            span(TraceId::new(0, 2), 1, "frontend", "GET /", t + SECOND_NANOS, 10),
            span(TraceId::new(0, 3), 1, "billing", "charge", t, 10),
        ],
    )
    .await;
    let found = search_until(&*store, &ns, &query_for("cart"), |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)]);
    let found = search_until(&*store, &ns, &query_for("frontend"), |found| found.len() >= 2).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2), TraceId::new(0, 1)]);
    assert!(search(&*store, &ns, &query_for("nobody")).await.is_empty());
}

/// A search by service and operation finds only traces with a span of that operation in that
/// service.
pub async fn finds_traces_by_operation<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "frontend", "GET /cart", t, 10),
            span(TraceId::new(0, 2), 1, "frontend", "GET /home", t, 10),
            span(TraceId::new(0, 3), 1, "cart", "GET /cart", t, 10),
        ],
    )
    .await;
    let query = TraceQuery { operation_name: Some("GET /cart".into()), ..query_for("frontend") };
    let found = search_until(&*store, &ns, &query, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)]);
}

/// Tag conditions match span tags, process tags and log fields.
pub async fn finds_traces_by_span_tag_process_tag_and_log_field<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let mut by_tag = span(TraceId::new(0, 1), 1, "frontend", "op", t, 10);
    by_tag.tags.push(KeyValue::string("http.method", "PUT"));
    let mut by_process = span(TraceId::new(0, 2), 1, "frontend", "op", t, 10);
    by_process.process =
        Arc::new(Process { service_name: "frontend".into(), tags: vec![KeyValue::string("hostname", "node-7")] });
    let mut by_log = span(TraceId::new(0, 3), 1, "frontend", "op", t, 10);
    by_log.logs.push(Log { timestamp_unix_nano: t + 1, fields: vec![KeyValue::string("event", "cache miss")] });
    let unrelated = span(TraceId::new(0, 4), 1, "frontend", "op", t, 10);
    write(&*store, &ns, vec![by_tag, by_process, by_log, unrelated]).await;

    for (key, value, expected) in [
        ("http.method", "PUT", TraceId::new(0, 1)),
        ("hostname", "node-7", TraceId::new(0, 2)),
        ("event", "cache miss", TraceId::new(0, 3)),
    ] {
        let query = with_tags(query_for("frontend"), &[(key, value)]);
        let found = search_until(&*store, &ns, &query, |found| !found.is_empty()).await;
        assert_eq!(trace_ids(&found), vec![expected], "search by {key}={value}");
    }
    let query = with_tags(query_for("frontend"), &[("http.method", "DELETE")]);
    assert!(search(&*store, &ns, &query).await.is_empty());
}

/// Typed values match by their text form: `error=true` finds a bool `true` and a string
/// `"true"`; `http.status_code=200` finds an int64 200.
/// A tag condition also matches an OTLP instrumentation-scope attribute, of any type by its text
/// form, and several conditions may be met by scope attributes, span tags and process tags of one
/// span together (Jaeger's `Scope_Attributes` case).
pub async fn finds_traces_by_scope_attribute<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let mut scoped = span(TraceId::new(0, 1), 1, "frontend", "op", t, 10);
    scoped.scope_attributes = vec![
        KeyValue::string("scope.s", "sameplacevalue"),
        KeyValue::int64("scope.i", 123),
        KeyValue::float64("scope.d", 72.5),
        KeyValue::bool("scope.b", true),
        KeyValue::binary("scope.blob", vec![0, 0, 0x30, 0x39]),
    ];
    scoped.tags.push(KeyValue::string("http.method", "GET"));
    let mut other_scope = span(TraceId::new(0, 2), 1, "frontend", "op", t + 1, 10);
    other_scope.scope_attributes = vec![KeyValue::int64("scope.i", 124)];
    write(&*store, &ns, vec![scoped, other_scope]).await;

    let all_four = with_tags(
        query_for("frontend"),
        &[("scope.s", "sameplacevalue"), ("scope.i", "123"), ("scope.d", "72.5"), ("scope.b", "true")],
    );
    let found = search_until(&*store, &ns, &all_four, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)], "search by four typed scope attributes");
    let mixed = with_tags(query_for("frontend"), &[("scope.i", "123"), ("http.method", "GET")]);
    let found = search_until(&*store, &ns, &mixed, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)], "a scope attribute and a span tag of one span");
    let other = with_tags(query_for("frontend"), &[("scope.i", "124")]);
    let found = search_until(&*store, &ns, &other, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2)]);
    let wrong = with_tags(query_for("frontend"), &[("scope.b", "false")]);
    assert!(search(&*store, &ns, &wrong).await.is_empty());
}

/// A tag condition also matches an attribute of a span's link (a reference), of any type by its
/// text form (Jaeger's `Link_Attributes` case).
pub async fn finds_traces_by_link_attribute<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let mut linked = span(TraceId::new(0, 1), 1, "frontend", "op", t, 10);
    linked.references = vec![
        SpanRef::child_of(TraceId::new(0, 0xff), SpanId(0xff)).with_attributes(vec![
            KeyValue::string("link.s", "sameplacevalue"),
            KeyValue::int64("link.i", 123),
            KeyValue::float64("link.d", 72.5),
            KeyValue::bool("link.b", true),
            KeyValue::binary("link.blob", vec![0, 0, 0x30, 0x39]),
        ]),
        SpanRef::follows_from(TraceId::new(0, 0xfe), SpanId(2)),
    ];
    let mut bare_link = span(TraceId::new(0, 2), 1, "frontend", "op", t + 1, 10);
    bare_link.references = vec![SpanRef::child_of(TraceId::new(0, 0xff), SpanId(0xff))];
    write(&*store, &ns, vec![linked, bare_link]).await;

    let all_four = with_tags(
        query_for("frontend"),
        &[("link.s", "sameplacevalue"), ("link.i", "123"), ("link.d", "72.5"), ("link.b", "true")],
    );
    let found = search_until(&*store, &ns, &all_four, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)], "search by four typed link attributes");
    let wrong = with_tags(query_for("frontend"), &[("link.i", "124")]);
    assert!(search(&*store, &ns, &wrong).await.is_empty());
}

/// Scope attributes and link attributes come back with their keys, types and order, a bytes
/// value included, and a link without attributes stays without.
pub async fn scope_and_link_attributes_round_trip<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let trace_id = TraceId::new(0, 0x225);
    let mut rich = span(trace_id, 2, "checkout", "placeholder", base_time(), 1_000);
    rich.tags = vec![KeyValue::string("otel.scope.name", "testing-library"), KeyValue::string("a", "b")];
    rich.scope_attributes = vec![
        KeyValue::string("s", "sameplacevalue"),
        KeyValue::int64("i", 123),
        KeyValue::bool("b", true),
        KeyValue::float64("d", 72.5),
        KeyValue::binary("blob", vec![0, 0, 0x30, 0x39]),
    ];
    rich.references = vec![
        SpanRef::child_of(TraceId::new(0, 0xff), SpanId(0xff)).with_attributes(vec![
            KeyValue::string("s", "sameplacevalue"),
            KeyValue::int64("i", -123),
            KeyValue::bool("b", false),
            KeyValue::float64("d", 0.1 + 0.2),
            KeyValue::binary("blob", vec![255]),
        ]),
        SpanRef::child_of(TraceId::new(0, 1), SpanId(2)),
        SpanRef::follows_from(TraceId::new(0, 1), SpanId(2)),
    ];
    write(&*store, &ns, vec![rich.clone()]).await;

    let trace = get(&*store, &ns, trace_id).await.expect("the trace is found");
    assert_eq!(trace.spans, vec![rich], "the stored span differs from the written one");
}

pub async fn matches_typed_tag_values_by_their_text_form<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let mut bool_error = span(TraceId::new(0, 1), 1, "frontend", "op", t, 10);
    bool_error.tags.extend([KeyValue::bool("error", true), KeyValue::int64("http.status_code", 200)]);
    let mut string_error = span(TraceId::new(0, 2), 1, "frontend", "op", t + 1, 10);
    string_error.tags.extend([KeyValue::string("error", "true"), KeyValue::int64("http.status_code", 500)]);
    let mut no_error = span(TraceId::new(0, 3), 1, "frontend", "op", t + 2, 10);
    no_error.tags.extend([KeyValue::bool("error", false), KeyValue::float64("ratio", 1.5)]);
    write(&*store, &ns, vec![bool_error, string_error, no_error]).await;

    let errors = with_tags(query_for("frontend"), &[("error", "true")]);
    let found = search_until(&*store, &ns, &errors, |found| found.len() >= 2).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2), TraceId::new(0, 1)]);
    let ok = with_tags(query_for("frontend"), &[("http.status_code", "200")]);
    let found = search_until(&*store, &ns, &ok, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 1)]);
    let ratio = with_tags(query_for("frontend"), &[("ratio", "1.5")]);
    let found = search_until(&*store, &ns, &ratio, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 3)]);
}

/// A trace matches only when one span meets every condition; conditions spread over several
/// spans do not match.
pub async fn all_conditions_must_hold_on_the_same_span<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    // Trace 1: the tags and the operation are on different spans.
    let mut split_a = span(TraceId::new(0, 1), 1, "frontend", "GET /", t, 100);
    split_a.tags.push(KeyValue::string("http.method", "GET"));
    let mut split_b = span(TraceId::new(0, 1), 2, "frontend", "db", t, 100);
    split_b.tags.push(KeyValue::int64("http.status_code", 500));
    // Trace 2: one span has everything.
    let mut whole = span(TraceId::new(0, 2), 1, "frontend", "GET /", t, 100);
    whole.tags.extend([KeyValue::string("http.method", "GET"), KeyValue::int64("http.status_code", 500)]);
    // Trace 3: a matching span, but of another service.
    let mut other_service = span(TraceId::new(0, 3), 1, "cart", "GET /", t, 100);
    other_service.tags.extend([KeyValue::string("http.method", "GET"), KeyValue::int64("http.status_code", 500)]);
    let frontend_in_3 = span(TraceId::new(0, 3), 2, "frontend", "other", t, 100);
    write(&*store, &ns, vec![split_a, split_b, whole, other_service, frontend_in_3]).await;

    let query = TraceQuery {
        operation_name: Some("GET /".into()),
        ..with_tags(query_for("frontend"), &[("http.method", "GET"), ("http.status_code", "500")])
    };
    let found = search_until(&*store, &ns, &query, |found| !found.is_empty()).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2)]);
    let two_tags = with_tags(query_for("frontend"), &[("http.method", "GET"), ("http.status_code", "500")]);
    let found = search(&*store, &ns, &two_tags).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2)]);
    let slow_split =
        TraceQuery { duration_min_nanos: Some(100), ..with_tags(query_for("cart"), &[("http.method", "GET")]) };
    assert_eq!(trace_ids(&search(&*store, &ns, &slow_split).await), vec![TraceId::new(0, 3)]);
}

/// Duration bounds are inclusive and apply to a span's duration, not the trace's.
pub async fn duration_range_is_inclusive_and_applies_to_spans<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let ms = 1_000_000;
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "frontend", "op", t, 10 * ms),
            span(TraceId::new(0, 2), 1, "frontend", "op", t + 1, 20 * ms),
            span(TraceId::new(0, 3), 1, "frontend", "op", t + 2, 30 * ms),
            // Trace 4 lasts 40 ms overall but its frontend span only 1 ms.
            span(TraceId::new(0, 4), 1, "frontend", "op", t + 3, ms),
            span(TraceId::new(0, 4), 2, "cart", "op", t + 3, 40 * ms),
        ],
    )
    .await;
    let _ = search_until(&*store, &ns, &query_for("frontend"), |found| found.len() >= 4).await;

    let between =
        TraceQuery { duration_min_nanos: Some(10 * ms), duration_max_nanos: Some(20 * ms), ..query_for("frontend") };
    assert_eq!(trace_ids(&search(&*store, &ns, &between).await), vec![TraceId::new(0, 2), TraceId::new(0, 1)]);
    let at_least = TraceQuery { duration_min_nanos: Some(30 * ms), ..query_for("frontend") };
    assert_eq!(trace_ids(&search(&*store, &ns, &at_least).await), vec![TraceId::new(0, 3)]);
    let at_most = TraceQuery { duration_max_nanos: Some(ms), ..query_for("frontend") };
    assert_eq!(trace_ids(&search(&*store, &ns, &at_most).await), vec![TraceId::new(0, 4)]);
}

/// Start-time bounds are inclusive on span start.
pub async fn start_time_range_is_inclusive<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "frontend", "op", t - 30 * MINUTE_NANOS, 10),
            span(TraceId::new(0, 2), 1, "frontend", "op", t - 10 * MINUTE_NANOS, 10),
            span(TraceId::new(0, 3), 1, "frontend", "op", t, 10),
        ],
    )
    .await;
    let _ = search_until(&*store, &ns, &query_for("frontend"), |found| found.len() >= 3).await;

    let exact = TraceQuery {
        start_time_min_unix_nano: t - 10 * MINUTE_NANOS,
        start_time_max_unix_nano: t,
        ..query_for("frontend")
    };
    assert_eq!(trace_ids(&search(&*store, &ns, &exact).await), vec![TraceId::new(0, 3), TraceId::new(0, 2)]);
    let older = TraceQuery {
        start_time_min_unix_nano: t - 40 * MINUTE_NANOS,
        start_time_max_unix_nano: t - 10 * MINUTE_NANOS - 1,
        ..query_for("frontend")
    };
    assert_eq!(trace_ids(&search(&*store, &ns, &older).await), vec![TraceId::new(0, 1)]);
    let before_everything = TraceQuery {
        start_time_min_unix_nano: t - 120 * MINUTE_NANOS,
        start_time_max_unix_nano: t - 31 * MINUTE_NANOS,
        ..query_for("frontend")
    };
    assert!(search(&*store, &ns, &before_everything).await.is_empty());
}

/// A query whose start-time bounds are both 0 covers all time.
pub async fn zero_time_bounds_cover_all_time<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    write(
        &*store,
        &ns,
        vec![
            span(TraceId::new(0, 1), 1, "frontend", "op", t - 50 * MINUTE_NANOS, 10),
            span(TraceId::new(0, 2), 1, "frontend", "op", t, 10),
        ],
    )
    .await;
    let all_time = TraceQuery { start_time_min_unix_nano: 0, start_time_max_unix_nano: 0, ..query_for("frontend") };
    let found = search_until(&*store, &ns, &all_time, |found| found.len() >= 2).await;
    assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2), TraceId::new(0, 1)]);
}

/// With more matches than the limit, the most recent traces (by their latest matching span) come
/// first and the rest are cut.
pub async fn limit_keeps_the_most_recent_traces_first<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time() - 20 * MINUTE_NANOS;
    // Trace i starts at t + i seconds; trace 2 also has a late span, which makes it the newest.
    let mut spans: Vec<Span> =
        (1..=10).map(|i| span(TraceId::new(0, i), 1, "frontend", "op", t + i * SECOND_NANOS, 10)).collect();
    spans.push(span(TraceId::new(0, 2), 2, "frontend", "late", t + 60 * SECOND_NANOS, 10));
    // Written in several batches, oldest last, so insertion order does not decide.
    for chunk in spans.rchunks(3) {
        write(&*store, &ns, chunk.to_vec()).await;
    }
    let _ = search_until(&*store, &ns, &query_for("frontend"), |found| found.len() >= 10).await;

    let query = TraceQuery { limit: 4, ..query_for("frontend") };
    let found = search(&*store, &ns, &query).await;
    assert_eq!(
        trace_ids(&found),
        vec![TraceId::new(0, 2), TraceId::new(0, 10), TraceId::new(0, 9), TraceId::new(0, 8)]
    );
    assert_eq!(found[0].start_time_max_unix_nano, t + 60 * SECOND_NANOS);
    assert!(found[0].start_time_min_unix_nano <= found[0].start_time_max_unix_nano);
    assert!(found[0].start_time_min_unix_nano >= t + 2 * SECOND_NANOS);
}

/// A limit of 0 means the default (100).
pub async fn default_limit_applies_when_limit_is_zero<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time() - 30 * MINUTE_NANOS;
    let count = DEFAULT_SEARCH_LIMIT as u64 + 20;
    let spans: Vec<Span> =
        (1..=count).map(|i| span(TraceId::new(0, i), 1, "frontend", "op", t + i * SECOND_NANOS, 10)).collect();
    write(&*store, &ns, spans).await;
    let query = TraceQuery { limit: 0, ..query_for("frontend") };
    let found = search_until(&*store, &ns, &query, |found| found.len() >= DEFAULT_SEARCH_LIMIT).await;
    assert_eq!(found.len(), DEFAULT_SEARCH_LIMIT);
    assert_eq!(found[0].trace_id, TraceId::new(0, count));
}

/// `find_traces` returns whole traces (every span, not only the matching ones) in the order of
/// `find_trace_ids`.
pub async fn found_traces_are_complete<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let older =
        vec![span(TraceId::new(0, 1), 1, "frontend", "GET /", t, 10), span(TraceId::new(0, 1), 2, "cart", "get", t, 5)];
    let newer = vec![
        span(TraceId::new(0, 2), 1, "frontend", "GET /", t + SECOND_NANOS, 10),
        span(TraceId::new(0, 2), 2, "cart", "get", t + SECOND_NANOS, 5),
        span(TraceId::new(0, 2), 3, "db", "select", t + SECOND_NANOS, 1),
    ];
    write(&*store, &ns, older.iter().chain(&newer).cloned().collect()).await;
    let query = TraceQuery { operation_name: Some("get".into()), ..query_for("cart") };
    let _ = search_until(&*store, &ns, &query, |found| found.len() >= 2).await;

    let traces = store.find_traces(&ns, &query).await.expect("find_traces");
    assert_eq!(traces.len(), 2);
    assert_same_spans(&traces[0].spans, &newer);
    assert_same_spans(&traces[1].spans, &older);
}

/// One namespace's spans, services and operations are invisible from another.
pub async fn namespaces_are_isolated<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let team_a = unique_namespace();
    let team_b = unique_namespace();
    let trace_id = TraceId::new(0, 0xaaaa);
    let in_a = span(trace_id, 1, "frontend", "GET /a", base_time(), 10);
    let in_b = span(trace_id, 1, "backend", "GET /b", base_time(), 10);
    write(&*store, &team_a, vec![in_a.clone()]).await;
    write(&*store, &team_b, vec![in_b.clone()]).await;

    let trace_a = get(&*store, &team_a, trace_id).await.expect("trace in a");
    assert_eq!(trace_a.spans, vec![in_a]);
    let trace_b = get(&*store, &team_b, trace_id).await.expect("trace in b");
    assert_eq!(trace_b.spans, vec![in_b]);
    assert_eq!(store.services(&team_a).await.expect("services"), vec!["frontend".to_owned()]);
    assert_eq!(store.services(&team_b).await.expect("services"), vec!["backend".to_owned()]);
    assert!(search(&*store, &team_a, &query_for("backend")).await.is_empty());
    let ops = store
        .operations(&team_b, &OperationQuery { service_name: "frontend".into(), span_kind: None })
        .await
        .expect("operations");
    assert!(ops.is_empty());
    let unused = unique_namespace();
    assert!(store.services(&unused).await.expect("services").is_empty());
}

/// Without a service name, a capable backend searches every service; another backend answers
/// with an invalid-argument error.
pub async fn searches_without_service_when_capable<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let mut tagged_frontend = span(TraceId::new(0, 1), 1, "frontend", "op", t, 10);
    tagged_frontend.tags.push(KeyValue::string("user", "ada"));
    let mut tagged_cart = span(TraceId::new(0, 2), 1, "cart", "op", t + 1, 10);
    tagged_cart.tags.push(KeyValue::string("user", "ada"));
    let untagged = span(TraceId::new(0, 3), 1, "billing", "op", t + 2, 10);
    write(&*store, &ns, vec![tagged_frontend, tagged_cart, untagged]).await;
    let _ = search_until(&*store, &ns, &query_for("billing"), |found| !found.is_empty()).await;

    let query = with_tags(TraceQuery { service_name: None, ..query_for("") }, &[("user", "ada")]);
    if store.capabilities().search_without_service {
        let found = search_until(&*store, &ns, &query, |found| found.len() >= 2).await;
        assert_eq!(trace_ids(&found), vec![TraceId::new(0, 2), TraceId::new(0, 1)]);
        let everything = TraceQuery { service_name: None, ..query_for("") };
        assert_eq!(search(&*store, &ns, &everything).await.len(), 3);
    } else {
        let error = store.find_trace_ids(&ns, &query).await.expect_err("search without service is refused");
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    }
}

/// Ranges the wrong way round are an invalid-argument error.
pub async fn rejects_inverted_ranges<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let inverted_time =
        TraceQuery { start_time_min_unix_nano: t, start_time_max_unix_nano: t - 1, ..query_for("frontend") };
    let error = store.find_trace_ids(&ns, &inverted_time).await.expect_err("inverted time range");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    let inverted_duration =
        TraceQuery { duration_min_nanos: Some(10), duration_max_nanos: Some(9), ..query_for("frontend") };
    let error = store.find_trace_ids(&ns, &inverted_duration).await.expect_err("inverted duration range");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
}

/// A span of another service under a CHILD_OF parent in the same trace is one call; a child of
/// the same service, a parent that is not stored and a FOLLOWS_FROM reference are none. Parents
/// written after their children are found, and a span written twice counts once.
pub async fn dependencies_count_calls_between_services<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let first = TraceId::new(0, 0xd1);
    let second = TraceId::new(0x5, 0xd2);
    let root = span(first, 1, "frontend", "GET /", t, 100);
    let cart = child_of(span(first, 2, "cart", "get", t + 1, 50), 1);
    let cart_internal = child_of(span(first, 3, "cart", "compute", t + 2, 10), 2);
    let db = child_of(span(first, 4, "db", "SELECT", t + 3, 10), 2);
    let orphan = child_of(span(first, 5, "billing", "charge", t + 4, 10), 99);
    let mut follower = span(first, 6, "email", "send", t + 5, 10);
    follower.references = vec![SpanRef::follows_from(first, SpanId(1))];
    let other_root = span(second, 1, "frontend", "GET /", t + 10, 100);
    let other_cart = child_of(span(second, 2, "cart", "get", t + 11, 50), 1);
    // Children before their parents, in separate writes, as tracers usually send them.
    write(&*store, &ns, vec![cart.clone(), cart_internal, db, orphan, follower, other_cart]).await;
    write(&*store, &ns, vec![root, other_root, cart]).await;

    let links = dependencies_until(&*store, &ns, &around_base_time(), |links| total_calls(links) >= 3).await;
    assert_eq!(links, vec![link("cart", "db", 1), link("frontend", "cart", 2)]);
}

/// Zipkin-style shared span ids: the server span sharing a client span's id is called by it, and
/// the children of the shared id are the server's.
pub async fn dependencies_follow_shared_span_ids<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let trace_id = TraceId::new(0, 0x5a);
    let with_kind = |mut span: Span, kind: &str| {
        span.tags.push(KeyValue::string("span.kind", kind));
        span
    };
    let root = with_kind(span(trace_id, 1, "frontend", "GET /", t, 100), "server");
    let client = with_kind(child_of(span(trace_id, 2, "frontend", "GET /api", t + 1, 50), 1), "client");
    let server = with_kind(child_of(span(trace_id, 2, "backend", "GET /api", t + 2, 40), 1), "server");
    let query = with_kind(child_of(span(trace_id, 3, "db", "SELECT", t + 3, 10), 2), "client");
    write(&*store, &ns, vec![root, client, server, query]).await;

    let links = dependencies_until(&*store, &ns, &around_base_time(), |links| total_calls(links) >= 2).await;
    assert_eq!(links, vec![link("backend", "db", 1), link("frontend", "backend", 1)]);
}

/// A call counts when the child span starts in `[end - lookback, end]` (both inclusive), wherever
/// its parent starts.
pub async fn dependencies_count_only_spans_starting_in_the_window<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let trace_id = TraceId::new(0, 0x3e);
    let root = span(trace_id, 1, "frontend", "GET /", t - 30 * MINUTE_NANOS, 100);
    let before = child_of(span(trace_id, 2, "early", "op", t - SECOND_NANOS - 1, 10), 1);
    let at_start = child_of(span(trace_id, 3, "first", "op", t - SECOND_NANOS, 10), 1);
    let at_end = child_of(span(trace_id, 4, "last", "op", t, 10), 1);
    let after = child_of(span(trace_id, 5, "late", "op", t + 1, 10), 1);
    write(&*store, &ns, vec![root, before, at_start, at_end, after]).await;

    let window = DependencyQuery { end_time_unix_nano: t, lookback: Duration::from_secs(1) };
    let links = dependencies_until(&*store, &ns, &window, |links| total_calls(links) >= 2).await;
    assert_eq!(links, vec![link("frontend", "first", 1), link("frontend", "last", 1)]);
    let everything = dependencies_until(&*store, &ns, &around_base_time(), |links| total_calls(links) >= 4).await;
    assert_eq!(total_calls(&everything), 4);
}

/// Links are computed from the namespace's own spans only.
pub async fn dependencies_are_isolated_per_namespace<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore,
{
    let store = factory().await;
    let team_a = unique_namespace();
    let team_b = unique_namespace();
    let t = base_time();
    let trace_id = TraceId::new(0, 0x15);
    // The parent is in team_a, its child in team_b: no link in either.
    write(&*store, &team_a, vec![span(trace_id, 1, "frontend", "GET /", t, 10)]).await;
    write(&*store, &team_b, vec![child_of(span(trace_id, 2, "cart", "get", t + 1, 5), 1)]).await;
    write(&*store, &team_b, vec![span(trace_id, 3, "cart-root", "op", t + 2, 5)]).await;
    write(&*store, &team_b, vec![child_of(span(trace_id, 4, "stock", "op", t + 3, 5), 3)]).await;

    let links_b = dependencies_until(&*store, &team_b, &around_base_time(), |links| !links.is_empty()).await;
    assert_eq!(links_b, vec![link("cart-root", "stock", 1)]);
    let links_a = store.dependencies(&team_a, &around_base_time()).await.expect("dependencies");
    assert!(links_a.is_empty(), "{links_a:?}");
    let unused = store.dependencies(&unique_namespace(), &around_base_time()).await.expect("dependencies");
    assert!(unused.is_empty(), "a namespace never written has no links");
}

/// After a purge no namespace has spans, services, operations or links; writes after it are kept.
pub async fn purge_deletes_every_namespace<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore + Purger,
{
    let store = factory().await;
    let team_a = unique_namespace();
    let team_b = unique_namespace();
    let t = base_time();
    let trace_id = TraceId::new(0, 0x9e);
    let spans =
        vec![span(trace_id, 1, "frontend", "GET /", t, 10), child_of(span(trace_id, 2, "cart", "get", t, 5), 1)];
    write(&*store, &team_a, spans.clone()).await;
    write(&*store, &team_b, spans.clone()).await;
    let _ = get(&*store, &team_b, trace_id).await.expect("written");

    store.purge().await.expect("purge succeeds");
    for ns in [&team_a, &team_b] {
        let trace = store.get_trace(ns, GetTraceRequest::new(trace_id)).await.expect("get");
        assert!(trace.is_none(), "the trace survived the purge in {ns}");
        assert!(store.services(ns).await.expect("services").is_empty());
        let operations = OperationQuery { service_name: "frontend".into(), span_kind: None };
        assert!(store.operations(ns, &operations).await.expect("operations").is_empty());
        assert!(search(&*store, ns, &query_for("frontend")).await.is_empty());
        assert!(store.dependencies(ns, &around_base_time()).await.expect("dependencies").is_empty());
    }
    store.purge().await.expect("purging an empty store succeeds");

    write(&*store, &team_a, spans.clone()).await;
    let trace = get(&*store, &team_a, trace_id).await.expect("a write after the purge is kept");
    assert_same_spans(&trace.spans, &spans);
    assert_eq!(store.services(&team_a).await.expect("services"), vec!["cart".to_owned(), "frontend".to_owned()]);
}

/// Purging while writes are in flight fails no write with a permanent error, and the store
/// keeps working afterwards.
pub async fn purge_is_safe_while_writes_are_in_flight<F, Fut, H>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: Deref,
    H::Target: SpanStore + Purger,
{
    let store = factory().await;
    let ns = unique_namespace();
    let t = base_time();
    let writer = |first_trace: u64| {
        let store = &*store;
        let ns = &ns;
        async move {
            for trace in first_trace..first_trace + 40 {
                let spans = vec![span(TraceId::new(0, trace), 1, "frontend", "GET /", t, 10)];
                if let Err(error) = store.write(ns, SpanBatch::new(spans)).await {
                    assert!(error.kind().is_retryable(), "a write overlapping a purge failed for good: {error}");
                }
            }
        }
    };
    let purges = async {
        for _ in 0..3 {
            store.purge().await.expect("purge succeeds");
            tokio::task::yield_now().await;
        }
    };
    futures::join!(writer(1_000), writer(2_000), writer(3_000), purges);

    let after = span(TraceId::new(0, 0xafe), 1, "after", "op", t, 10);
    write(&*store, &ns, vec![after.clone()]).await;
    let trace = get(&*store, &ns, after.trace_id).await.expect("the store works after purges");
    assert_eq!(trace.spans, vec![after]);
    assert!(store.services(&ns).await.expect("services").contains(&"after".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// Helpers (public so backend-specific tests can build the same spans)
// ---------------------------------------------------------------------------------------------

/// A namespace no other check uses: lowercase, digits and dashes, valid for any backend.
pub fn unique_namespace() -> Namespace {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    Namespace::new(format!("conformance-{}-{nanos}-{sequence}", std::process::id()))
}

/// Ten minutes ago, in nanoseconds since the epoch: recent enough for any retention window.
pub fn base_time() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now_nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    now_nanos - 10 * MINUTE_NANOS
}

/// A minimal span of `service` with no tags.
pub fn span(trace_id: TraceId, span_id: u64, service: &str, operation: &str, start: u64, duration: u64) -> Span {
    Span {
        trace_id,
        span_id: SpanId(span_id),
        operation_name: operation.to_owned(),
        references: vec![],
        flags: FLAG_SAMPLED,
        start_time_unix_nano: start,
        duration_nanos: duration,
        tags: vec![],
        logs: vec![],
        process: Arc::new(Process { service_name: service.to_owned(), tags: vec![] }),
        warnings: vec![],
        scope_attributes: Vec::new(),
    }
}

/// A search of `service` over the last two hours (and a little into the future).
pub fn query_for(service: &str) -> TraceQuery {
    let t = base_time();
    TraceQuery {
        service_name: (!service.is_empty()).then(|| service.to_owned()),
        start_time_min_unix_nano: t - 110 * MINUTE_NANOS,
        start_time_max_unix_nano: t + 20 * MINUTE_NANOS,
        ..TraceQuery::default()
    }
}

/// `span` with a CHILD_OF reference to `parent` in its own trace.
pub fn child_of(mut span: Span, parent: u64) -> Span {
    span.references.push(SpanRef::child_of(span.trace_id, SpanId(parent)));
    span
}

/// A dependency window of two hours around [`base_time`].
fn around_base_time() -> DependencyQuery {
    DependencyQuery { end_time_unix_nano: base_time() + 60 * MINUTE_NANOS, lookback: Duration::from_secs(2 * 3600) }
}

fn link(parent: &str, child: &str, call_count: u64) -> DependencyLink {
    DependencyLink {
        parent: parent.to_owned(),
        child: child.to_owned(),
        call_count,
        source: DEPENDENCY_SOURCE_SPANS.to_owned(),
    }
}

fn total_calls(links: &[DependencyLink]) -> u64 {
    links.iter().map(|link| link.call_count).sum()
}

async fn dependencies_until<S: SpanStore + ?Sized>(
    store: &S,
    ns: &Namespace,
    query: &DependencyQuery,
    done: impl Fn(&Vec<DependencyLink>) -> bool,
) -> Vec<DependencyLink> {
    eventually(|| store.dependencies(ns, query), done).await
}

fn with_tags(query: TraceQuery, tags: &[(&str, &str)]) -> TraceQuery {
    let tags: BTreeMap<String, String> = tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    TraceQuery { tags, ..query }
}

fn trace_ids(found: &[crate::api::FoundTraceId]) -> Vec<TraceId> {
    found.iter().map(|f| f.trace_id).collect()
}

async fn write<S: SpanStore + ?Sized>(store: &S, ns: &Namespace, spans: Vec<Span>) {
    store.write(ns, SpanBatch::new(spans)).await.expect("write succeeds");
}

async fn get<S: SpanStore + ?Sized>(store: &S, ns: &Namespace, trace_id: TraceId) -> Option<Trace> {
    eventually(|| store.get_trace(ns, GetTraceRequest::new(trace_id)), Option::is_some).await
}

async fn get_with_span_count<S: SpanStore + ?Sized>(
    store: &S,
    ns: &Namespace,
    trace_id: TraceId,
    count: usize,
) -> Trace {
    let trace = eventually(
        || store.get_trace(ns, GetTraceRequest::new(trace_id)),
        |trace: &Option<Trace>| trace.as_ref().is_some_and(|t| t.spans.len() >= count),
    )
    .await;
    trace.expect("the trace is found")
}

async fn search<S: SpanStore + ?Sized>(store: &S, ns: &Namespace, query: &TraceQuery) -> Vec<crate::api::FoundTraceId> {
    store.find_trace_ids(ns, query).await.expect("search succeeds")
}

async fn search_until<S: SpanStore + ?Sized>(
    store: &S,
    ns: &Namespace,
    query: &TraceQuery,
    done: impl Fn(&Vec<crate::api::FoundTraceId>) -> bool,
) -> Vec<crate::api::FoundTraceId> {
    eventually(|| store.find_trace_ids(ns, query), done).await
}

/// Repeats `read` until `done` accepts its answer or [`VISIBILITY_TIMEOUT`] passes, and returns
/// the last answer. Errors fail the check at once.
async fn eventually<T, E, Fut>(read: impl Fn() -> Fut, done: impl Fn(&T) -> bool) -> T
where
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + VISIBILITY_TIMEOUT;
    loop {
        let answer = read().await.expect("read succeeds");
        if done(&answer) || std::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_same_spans(actual: &[Span], expected: &[Span]) {
    let key = |span: &Span| {
        (span.span_id, span.operation_name.clone(), span.start_time_unix_nano, span.service_name().to_owned())
    };
    let mut actual = actual.to_vec();
    let mut expected = expected.to_vec();
    actual.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(actual, expected, "the trace's spans differ from the written ones");
}
