//! Query bodies for Jaeger's span and service indices, and parsers for their responses. Pure
//! functions of their arguments, so every query shape is unit-tested without a cluster.
//!
//! Differences from Jaeger's reader (spec §4.5), each on purpose:
//! * **Tags match by equality, not by regular expression.** Jaeger puts a tag value into a
//!   Lucene `regexp` query; our contract (`api.rs`) says a tag matches when the value's text
//!   equals the given text. We use `term` queries, so `.`, `*`, `[` and friends in a value are
//!   literal (`version=1.2` does not find `1x2`) and a value is never a costly regexp.
//! * **Filter context everywhere** (`bool.filter`, not `bool.must`): nothing here needs scores.
//! * **Nanosecond bounds.** Our spans keep nanoseconds; documents written by Spoor carry them
//!   ([`START_NANOS`], [`DURATION_NANOS`]), documents written by Jaeger only microseconds. Time
//!   and duration conditions test the nanosecond field where a document has it, and the
//!   microsecond field (rounded so an inclusive bound stays inclusive) where it does not.
//! * **Complete traces.** Span reads sort on `[startTime, spanID]` and page with
//!   `search_after`; because two spans may share both (Zipkin-style shared span ids), the spans
//!   that tie with the last hit of a full page are fetched by an exact query
//!   ([`same_sort_values_body`]) and de-duplicated by `_id`, so no span is skipped at a page
//!   boundary (field notes B2: Jaeger's `search_after` on the timestamp alone drops spans).

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use spoor_model::{SpanKind, TraceId};

use crate::api::{DependencyLink, FoundTraceId, Operation, StorageError, TraceQuery, DEPENDENCY_SOURCE_SPANS};

// Span document fields (spec §4.2).
pub(crate) const TRACE_ID: &str = "traceID";
pub(crate) const SPAN_ID: &str = "spanID";
pub(crate) const OPERATION_NAME: &str = "operationName";
/// Microseconds since the epoch.
pub(crate) const START_TIME: &str = "startTime";
/// Milliseconds since the epoch, mapped as `date`.
pub(crate) const START_TIME_MILLIS: &str = "startTimeMillis";
/// Microseconds.
pub(crate) const DURATION: &str = "duration";
pub(crate) const SERVICE_NAME: &str = "process.serviceName";
/// Spoor's addition: the exact start, nanoseconds since the epoch (absent in Jaeger's documents).
pub(crate) const START_NANOS: &str = "startTimeNanos";
/// Spoor's addition: the exact duration in nanoseconds (absent in Jaeger's documents).
pub(crate) const DURATION_NANOS: &str = "durationNanos";
/// Nested key/value arrays searched by tag conditions (span tags, process tags, log fields).
const NESTED_TAG_PATHS: [&str; 3] = ["tags", "process.tags", "logs.fields"];
/// Nested key/value arrays only Spoor writes (scope attributes, link attributes). Searched with
/// `ignore_unmapped`, so an index whose mapping lacks them (created by an older Jaeger template,
/// or dynamically) answers without them instead of failing the whole search.
const SPOOR_NESTED_TAG_PATHS: [&str; 2] = ["scopeTags", "references.tags"];
/// Object fields of Jaeger's "tags as fields" option (`tag.<key with dots replaced>`), and
/// Spoor's scope attributes stored the same way.
const TAG_OBJECT_PREFIXES: [&str; 3] = ["tag", "process.tag", "scopeTag"];

// Service document fields (spec §4.3, plus Spoor's `spanKind`).
pub(crate) const SERVICE_DOC_SERVICE: &str = "serviceName";
pub(crate) const SERVICE_DOC_OPERATION: &str = "operationName";
pub(crate) const SERVICE_DOC_SPAN_KIND: &str = "spanKind";

// Dependencies document fields (spec §4.5).
pub(crate) const DEPENDENCIES_TIMESTAMP: &str = "timestamp";

/// The sort of every span read: by start, then span id (Jaeger HEAD's order).
pub(crate) fn span_sort() -> Value {
    json!([{ START_TIME: { "order": "asc" } }, { SPAN_ID: { "order": "asc" } }])
}

/// Sort field names of [`span_sort`], in order.
pub(crate) const SPAN_SORT_FIELDS: [&str; 2] = [START_TIME, SPAN_ID];

/// The sort of the dependency scan: trace by trace, spans by id.
pub(crate) fn trace_scan_sort() -> Value {
    json!([{ TRACE_ID: { "order": "asc" } }, { SPAN_ID: { "order": "asc" } }, { START_TIME: { "order": "asc" } }])
}

/// Sort field names of [`trace_scan_sort`], in order.
pub(crate) const TRACE_SCAN_SORT_FIELDS: [&str; 3] = [TRACE_ID, SPAN_ID, START_TIME];

// ---------------------------------------------------------------------------------------------
// Ids and time
// ---------------------------------------------------------------------------------------------

/// Every form a trace id may have in a `traceID` field: 32 hex (Jaeger v2, Spoor), 16 hex for a
/// 64-bit id (Jaeger v1 since 1.16) and without leading zeros (Jaeger before 1.16, spec §4.6).
pub(crate) fn trace_id_forms(trace_id: TraceId) -> Vec<String> {
    let mut forms = vec![trace_id.to_hex32()];
    if trace_id.is_64bit() {
        forms.push(format!("{:016x}", trace_id.low));
    }
    let unpadded = if trace_id.high == 0 {
        format!("{:x}", trace_id.low)
    } else {
        format!("{:x}{:016x}", trace_id.high, trace_id.low)
    };
    if !forms.contains(&unpadded) {
        forms.push(unpadded);
    }
    forms
}

/// Microseconds of `nanos`, rounded down: the lowest microsecond a span starting at or after
/// `nanos` may have is `ceil`, the highest one starting at or before is `floor`.
fn micros_floor(nanos: u64) -> u64 {
    nanos / 1_000
}

fn micros_ceil(nanos: u64) -> u64 {
    nanos.div_ceil(1_000)
}

/// A number that fits ES's signed `long`.
fn long(value: u64) -> Value {
    json!(value.min(i64::MAX as u64))
}

/// An inclusive nanosecond range on a value kept in nanoseconds by Spoor's documents and in
/// microseconds by Jaeger's. A Jaeger document's value is a whole number of microseconds, so it
/// is in `[min, max]` nanoseconds when its microseconds are in `[ceil(min), floor(max)]`.
fn exact_range(nanos_field: &str, micros_field: &str, min: Option<u64>, max: Option<u64>) -> Value {
    let mut nanos_bounds = Map::new();
    let mut micros_bounds = Map::new();
    if let Some(min) = min {
        nanos_bounds.insert("gte".into(), long(min));
        micros_bounds.insert("gte".into(), long(micros_ceil(min)));
    }
    if let Some(max) = max {
        nanos_bounds.insert("lte".into(), long(max));
        micros_bounds.insert("lte".into(), long(micros_floor(max)));
    }
    json!({ "bool": {
        "minimum_should_match": 1,
        "should": [
            { "range": { nanos_field: nanos_bounds } },
            { "bool": {
                "must_not": [{ "exists": { "field": nanos_field } }],
                "filter": [{ "range": { micros_field: micros_bounds } }],
            } },
        ],
    } })
}

/// A coarse, inclusive start-time filter on `startTimeMillis` (a `date`, so ES can skip whole
/// shards in its can-match phase) that every span starting in `[min, max]` nanoseconds passes.
fn start_millis_superset(min: u64, max: u64) -> Value {
    json!({ "range": { START_TIME_MILLIS: {
        "gte": long(min / 1_000_000),
        "lte": long(max / 1_000_000),
        "format": "epoch_millis",
    } } })
}

/// Exact, inclusive span start-time filters for `[min, max]` nanoseconds.
pub(crate) fn start_time_filters(min: u64, max: u64) -> Vec<Value> {
    vec![start_millis_superset(min, max), exact_range(START_NANOS, START_TIME, Some(min), Some(max))]
}

/// A span start-time filter on microseconds only, a superset of `[min, max]` nanoseconds (for
/// reads whose window is a hint, not a condition).
pub(crate) fn start_time_superset(min: u64, max: u64) -> Value {
    json!({ "range": { START_TIME: { "gte": long(micros_floor(min)), "lte": long(micros_ceil(max)) } } })
}

// ---------------------------------------------------------------------------------------------
// Phase 1: trace ids
// ---------------------------------------------------------------------------------------------

/// The name of the trace-id aggregation (Jaeger's).
const TRACE_IDS_AGG: &str = "traceIDs";

/// One tag condition: `key` has the text `value` in a span tag, a process tag, a log field, a
/// scope attribute or a link attribute, as a nested key/value pair or as a "tags as fields"
/// object field.
pub(crate) fn tag_condition(key: &str, value: &str, dot_replacement: &str) -> Value {
    let mut should: Vec<Value> = TAG_OBJECT_PREFIXES
        .iter()
        .map(|prefix| {
            let field = format!("{prefix}.{}", key.replace('.', dot_replacement));
            json!({ "term": { field: value } })
        })
        .collect();
    let nested_key_value = |path: &str| {
        json!({ "nested": {
            "path": path,
            "query": { "bool": { "filter": [
                { "term": { format!("{path}.key"): key } },
                { "term": { format!("{path}.value"): value } },
            ] } },
        } })
    };
    should.extend(NESTED_TAG_PATHS.iter().map(|path| nested_key_value(path)));
    should.extend(SPOOR_NESTED_TAG_PATHS.iter().map(|path| {
        let mut clause = nested_key_value(path);
        clause["nested"]["ignore_unmapped"] = json!(true);
        clause
    }));
    json!({ "bool": { "should": should, "minimum_should_match": 1 } })
}

/// Every condition of a search, on one span (a `bool.filter` of them is Jaeger's "one span
/// matches everything"). `scope` is added as is (e.g. a namespace filter).
pub(crate) fn trace_query_filters(query: &TraceQuery, scope: &[Value], dot_replacement: &str) -> Vec<Value> {
    let mut filters: Vec<Value> = scope.to_vec();
    if query.start_time_min_unix_nano != 0 || query.start_time_max_unix_nano != 0 {
        filters.extend(start_time_filters(query.start_time_min_unix_nano, query.start_time_max_unix_nano));
    }
    if query.duration_min_nanos.is_some() || query.duration_max_nanos.is_some() {
        filters.push(exact_range(DURATION_NANOS, DURATION, query.duration_min_nanos, query.duration_max_nanos));
    }
    if let Some(service) = &query.service_name {
        filters.push(json!({ "term": { SERVICE_NAME: service } }));
    }
    if let Some(operation) = &query.operation_name {
        filters.push(json!({ "term": { OPERATION_NAME: operation } }));
    }
    filters.extend(query.tags.iter().map(|(key, value)| tag_condition(key, value, dot_replacement)));
    filters
}

/// Phase 1 of a search (spec §4.5): the ids of the `limit` traces whose latest matching span is
/// the most recent. Each bucket also carries its latest and earliest matching span's exact
/// start (`top_hits` sort values, because a `max` aggregation is a double and would round
/// nanoseconds).
pub(crate) fn trace_ids_body(query: &TraceQuery, scope: &[Value], dot_replacement: &str) -> Value {
    let limit = query.effective_limit();
    let exact_start = |order: &str| {
        json!({ "top_hits": {
            "size": 1,
            "_source": false,
            "sort": [
                { START_TIME: { "order": order } },
                { START_NANOS: { "order": order, "missing": if order == "desc" { "_last" } else { "_first" },
                                 "unmapped_type": "long" } },
            ],
        } })
    };
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": { "bool": { "filter": trace_query_filters(query, scope, dot_replacement) } },
        "aggs": { TRACE_IDS_AGG: {
            "terms": {
                "field": TRACE_ID,
                "size": limit,
                // Ordering by a max in descending order is what Jaeger does; more candidates
                // per shard make the cross-shard cut more exact.
                "shard_size": limit.saturating_mul(2).saturating_add(10),
                "order": [{ START_TIME: "desc" }, { "_key": "desc" }],
            },
            "aggs": {
                START_TIME: { "max": { "field": START_TIME } },
                "latest": exact_start("desc"),
                "earliest": exact_start("asc"),
            },
        } },
    })
}

/// The exact start in nanoseconds from a hit's `[startTime µs, startTimeNanos]` sort values;
/// microseconds alone when the document has no nanoseconds (the missing value is a sentinel).
fn exact_start_from_sort(sort: &Value) -> Option<u64> {
    let values = sort.as_array()?;
    let micros = values.first().and_then(Value::as_u64)?;
    let nanos = values.get(1).and_then(Value::as_u64).filter(|nanos| nanos / 1_000 == micros);
    Some(nanos.unwrap_or_else(|| micros.saturating_mul(1_000)))
}

fn bucket_exact_start(bucket: &Value, agg: &str) -> Option<u64> {
    let hit = bucket.get(agg)?.get("hits")?.get("hits")?.as_array()?.first()?;
    exact_start_from_sort(hit.get("sort")?)
}

/// Parses phase 1's answer: trace ids most recent first (ties by id, descending), the forms of
/// one id merged, at most `limit`.
pub(crate) fn parse_trace_ids(response: &Value, limit: usize) -> Result<Vec<FoundTraceId>, StorageError> {
    let buckets = response
        .pointer(&format!("/aggregations/{TRACE_IDS_AGG}/buckets"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut by_id: HashMap<TraceId, FoundTraceId> = HashMap::with_capacity(buckets.len());
    for bucket in buckets {
        let key = bucket.get("key").and_then(Value::as_str).ok_or_else(|| corrupt("trace id bucket without key"))?;
        let trace_id = TraceId::from_hex(key).map_err(|e| corrupt(format!("trace id {key:?}: {e}")))?;
        let max_micros = bucket.pointer(&format!("/{START_TIME}/value")).and_then(Value::as_f64).unwrap_or(0.0);
        let fallback = (max_micros.max(0.0) as u64).saturating_mul(1_000);
        let latest = bucket_exact_start(bucket, "latest").unwrap_or(fallback);
        let earliest = bucket_exact_start(bucket, "earliest").unwrap_or(latest).min(latest);
        let entry = by_id.entry(trace_id).or_insert(FoundTraceId {
            trace_id,
            start_time_min_unix_nano: earliest,
            start_time_max_unix_nano: latest,
        });
        entry.start_time_min_unix_nano = entry.start_time_min_unix_nano.min(earliest);
        entry.start_time_max_unix_nano = entry.start_time_max_unix_nano.max(latest);
    }
    let mut found: Vec<FoundTraceId> = by_id.into_values().collect();
    found.sort_unstable_by(|a, b| {
        b.start_time_max_unix_nano.cmp(&a.start_time_max_unix_nano).then_with(|| b.trace_id.cmp(&a.trace_id))
    });
    found.truncate(limit);
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// Phase 2 and get-trace: the spans of a trace, paged
// ---------------------------------------------------------------------------------------------

/// The filters selecting the spans of one trace (every id form), optionally within a start-time
/// superset window.
pub(crate) fn trace_spans_filters(trace_id: TraceId, window: Option<(u64, u64)>, scope: &[Value]) -> Vec<Value> {
    let mut filters: Vec<Value> = scope.to_vec();
    filters.push(json!({ "terms": { TRACE_ID: trace_id_forms(trace_id) } }));
    if let Some((min, max)) = window {
        filters.push(start_time_superset(min, max));
    }
    filters
}

/// One page of a sorted read: `filters`, `sort`, at most `size` hits after `search_after`. No
/// total is counted: a reader knows there may be more when the page is full.
pub(crate) fn page_body(filters: &[Value], sort: &Value, size: usize, search_after: Option<&Value>) -> Value {
    let mut body = json!({
        "size": size,
        "track_total_hits": false,
        "query": { "bool": { "filter": filters } },
        "sort": sort,
    });
    if let Some(after) = search_after {
        body["search_after"] = after.clone();
    }
    body
}

/// Like [`page_body`] with a `_source` filter (only the listed fields are returned).
pub(crate) fn page_body_with_source(
    filters: &[Value],
    sort: &Value,
    size: usize,
    search_after: Option<&Value>,
    source_includes: &[&str],
) -> Value {
    let mut body = page_body(filters, sort, size, search_after);
    body["_source"] = json!({ "includes": source_includes });
    body
}

/// The hits whose sort values equal `last_sort` exactly: those a `search_after` from that hit
/// would skip. `sort_fields` names the fields of `last_sort`, in order.
pub(crate) fn same_sort_values_body(
    filters: &[Value],
    sort: &Value,
    sort_fields: &[&str],
    last_sort: &Value,
    size: usize,
) -> Value {
    let mut all_filters = filters.to_vec();
    let values = last_sort.as_array().map(Vec::as_slice).unwrap_or_default();
    for (field, value) in sort_fields.iter().zip(values) {
        all_filters.push(json!({ "term": { *field: value } }));
    }
    page_body(&all_filters, sort, size, None)
}

/// An `_msearch` request: one header line and one body line per search, each newline-terminated.
pub(crate) fn msearch_ndjson<'a>(searches: impl IntoIterator<Item = (&'a [String], &'a Value)>) -> String {
    let mut ndjson = String::new();
    for (indices, body) in searches {
        let header = json!({ "index": indices.join(","), "ignore_unavailable": true, "allow_no_indices": true });
        ndjson.push_str(&header.to_string());
        ndjson.push('\n');
        ndjson.push_str(&body.to_string());
        ndjson.push('\n');
    }
    ndjson
}

/// One hit of a search.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hit {
    pub id: String,
    pub source: Value,
    pub sort: Value,
}

/// The hits of one search, and its total when it was tracked.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Page {
    pub hits: Vec<Hit>,
    pub total: Option<u64>,
}

/// Parses one search answer (or one `_msearch` item).
pub(crate) fn parse_page(response: &Value) -> Result<Page, StorageError> {
    if let Some(error) = response.get("error") {
        return Err(error_of_item(response.get("status").and_then(Value::as_u64), error));
    }
    let hits = response.get("hits").ok_or_else(|| corrupt("search answer without hits"))?;
    // `rest_total_hits_as_int=true` gives a number; without it, `{value, relation}`.
    let total = match hits.get("total") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(total @ Value::Object(_)) if total.get("relation").and_then(Value::as_str) == Some("eq") => {
            total.get("value").and_then(Value::as_u64)
        }
        _ => None,
    };
    let mut parsed = Vec::new();
    for hit in hits.get("hits").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let id = hit.get("_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let source = hit.get("_source").cloned().unwrap_or(Value::Null);
        let sort = hit.get("sort").cloned().unwrap_or(Value::Null);
        parsed.push(Hit { id, source, sort });
    }
    Ok(Page { hits: parsed, total })
}

/// Parses an `_msearch` answer into one page (or error) per search, in request order.
pub(crate) fn parse_msearch(
    response: &Value,
    expected: usize,
) -> Result<Vec<Result<Page, StorageError>>, StorageError> {
    let items = response
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| corrupt("multi-search answer without responses"))?;
    if items.len() != expected {
        return Err(corrupt(format!("multi-search answered {} of {expected} searches", items.len())));
    }
    Ok(items.iter().map(parse_page).collect())
}

/// A failed search item: overload and server errors are retryable, the rest are not.
fn error_of_item(status: Option<u64>, error: &Value) -> StorageError {
    let reason = error
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| error.as_str().map(str::to_owned))
        .unwrap_or_else(|| error.to_string());
    match status {
        Some(429) => StorageError::Overloaded(format!("search rejected: {reason}")),
        Some(status) if status >= 500 => StorageError::Unavailable(format!("search failed ({status}): {reason}")),
        Some(status) => StorageError::Backend(format!("search failed ({status}): {reason}")),
        None => StorageError::Backend(format!("search failed: {reason}")),
    }
}

fn corrupt(message: impl Into<String>) -> StorageError {
    StorageError::Corrupt(message.into())
}

// ---------------------------------------------------------------------------------------------
// Services and operations
// ---------------------------------------------------------------------------------------------

/// Distinct services of the service indices (Jaeger's `distinct_services`).
pub(crate) fn services_body(scope: &[Value], size: usize) -> Value {
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": { "bool": { "filter": scope } },
        "aggs": { "distinct_services": { "terms": { "field": SERVICE_DOC_SERVICE, "size": size } } },
    })
}

/// The service names of [`services_body`]'s answer, sorted.
pub(crate) fn parse_services(response: &Value) -> Result<Vec<String>, StorageError> {
    let mut services = bucket_keys(response, "/aggregations/distinct_services/buckets")?;
    services.sort_unstable();
    services.dedup();
    Ok(services)
}

/// Distinct (operation, span kind) pairs of a service. Jaeger's documents have no `spanKind`:
/// they count as an empty kind (the conformance capability `getOperationsMissingSpanKind`).
pub(crate) fn operations_body(service: &str, kind: Option<SpanKind>, scope: &[Value], size: usize) -> Value {
    let mut filters: Vec<Value> = scope.to_vec();
    filters.push(json!({ "term": { SERVICE_DOC_SERVICE: service } }));
    match kind {
        None => {}
        Some(SpanKind::Unspecified) => filters.push(json!({ "bool": {
            "minimum_should_match": 1,
            "should": [
                { "term": { SERVICE_DOC_SPAN_KIND: "" } },
                { "bool": { "must_not": [{ "exists": { "field": SERVICE_DOC_SPAN_KIND } }] } },
            ],
        } })),
        Some(kind) => filters.push(json!({ "term": { SERVICE_DOC_SPAN_KIND: kind.as_str() } })),
    }
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": { "bool": { "filter": filters } },
        "aggs": { "distinct_operations": {
            "terms": { "field": SERVICE_DOC_OPERATION, "size": size },
            "aggs": { "span_kinds": { "terms": { "field": SERVICE_DOC_SPAN_KIND, "size": 8, "missing": "" } } },
        } },
    })
}

/// The operations of [`operations_body`]'s answer, sorted by name then kind.
pub(crate) fn parse_operations(response: &Value) -> Result<Vec<Operation>, StorageError> {
    let buckets = response
        .pointer("/aggregations/distinct_operations/buckets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut operations = Vec::new();
    for bucket in buckets {
        let name = bucket.get("key").and_then(Value::as_str).ok_or_else(|| corrupt("operation bucket without key"))?;
        let kinds = bucket.pointer("/span_kinds/buckets").and_then(Value::as_array).map(Vec::as_slice);
        let kinds = kinds.unwrap_or_default();
        if kinds.is_empty() {
            operations.push(Operation { name: name.to_owned(), span_kind: SpanKind::Unspecified });
        }
        for kind in kinds {
            let kind = kind.get("key").and_then(Value::as_str).unwrap_or_default();
            operations.push(Operation { name: name.to_owned(), span_kind: SpanKind::parse(kind) });
        }
    }
    operations.sort_unstable();
    operations.dedup();
    Ok(operations)
}

fn bucket_keys(response: &Value, pointer: &str) -> Result<Vec<String>, StorageError> {
    let buckets = response.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    buckets
        .iter()
        .map(|bucket| {
            bucket.get("key").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| corrupt("bucket without key"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dependencies
// ---------------------------------------------------------------------------------------------

/// Jaeger's dependencies read: the documents whose `timestamp` is in `[start, end]` nanoseconds.
pub(crate) fn dependencies_body(start: u64, end: u64, size: usize) -> Value {
    json!({
        "size": size,
        "query": { "bool": { "filter": [{ "range": { DEPENDENCIES_TIMESTAMP: {
            "gte": long(start / 1_000_000),
            "lte": long(end / 1_000_000),
            "format": "epoch_millis",
        } } }] } },
    })
}

/// The links of dependencies documents `{timestamp, dependencies: [{parent, child, callCount}]}`,
/// one per (parent, child) with calls summed, sorted. `None` when there is no document at all
/// (links must then be computed from spans); an empty list when documents say "no calls".
pub(crate) fn parse_dependencies(page: &Page) -> Result<Option<Vec<DependencyLink>>, StorageError> {
    if page.hits.is_empty() {
        return Ok(None);
    }
    let mut calls: HashMap<(String, String), u64> = HashMap::new();
    for hit in &page.hits {
        let links = hit.source.get("dependencies").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for link in links {
            let parent = link.get("parent").and_then(Value::as_str);
            let child = link.get("child").and_then(Value::as_str);
            let (Some(parent), Some(child)) = (parent, child) else {
                return Err(corrupt(format!("dependency link without parent or child: {link}")));
            };
            let count = link.get("callCount").and_then(Value::as_u64).unwrap_or(0);
            *calls.entry((parent.to_owned(), child.to_owned())).or_insert(0) += count;
        }
    }
    let mut links: Vec<DependencyLink> = calls
        .into_iter()
        .map(|((parent, child), call_count)| DependencyLink {
            parent,
            child,
            call_count,
            source: DEPENDENCY_SOURCE_SPANS.to_owned(),
        })
        .collect();
    links.sort_unstable();
    Ok(Some(links))
}

/// A dependencies document as Jaeger's Spark job writes it.
pub(crate) fn dependencies_document(timestamp_unix_nano: u64, links: &[DependencyLink]) -> Value {
    let dependencies: Vec<Value> = links
        .iter()
        .map(|link| json!({ "parent": link.parent, "child": link.child, "callCount": link.call_count }))
        .collect();
    json!({ DEPENDENCIES_TIMESTAMP: rfc3339_nano(timestamp_unix_nano), "dependencies": dependencies })
}

/// Go's `time.RFC3339Nano` in UTC: `2024-05-31T12:34:56.789Z`, trailing zeros of the fraction
/// (and an all-zero fraction) dropped.
pub(crate) fn rfc3339_nano(unix_nano: u64) -> String {
    let seconds = unix_nano / 1_000_000_000;
    let fraction = unix_nano % 1_000_000_000;
    let (year, month, day) = spoor_model::civil_date::civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// The span fields the dependency scan needs: ids, references, start, service and the tags that
/// carry the span kind (logs and process tags are left out).
pub(crate) const DEPENDENCY_SCAN_SOURCE: [&str; 12] = [
    TRACE_ID,
    SPAN_ID,
    "parentSpanID",
    "references",
    "flags",
    OPERATION_NAME,
    START_TIME,
    START_NANOS,
    DURATION,
    DURATION_NANOS,
    "process.serviceName",
    "tags",
];

/// The dependency scan's filters: spans starting in `[min, max]` nanoseconds (a superset).
pub(crate) fn dependency_scan_filters(min: u64, max: u64, scope: &[Value]) -> Vec<Value> {
    let mut filters: Vec<Value> = scope.to_vec();
    filters.push(start_millis_superset(min, max));
    filters
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn query() -> TraceQuery {
        TraceQuery {
            service_name: Some("frontend".into()),
            start_time_min_unix_nano: 1_700_000_000_123_456_789,
            start_time_max_unix_nano: 1_700_000_100_000_000_999,
            ..TraceQuery::default()
        }
    }

    #[test]
    fn a_64_bit_id_is_looked_up_in_its_32_16_and_unpadded_forms() {
        let forms = trace_id_forms(TraceId::new(0, 0x00ab_cdef_0123_4567));
        assert_eq!(forms, vec!["000000000000000000abcdef01234567", "00abcdef01234567", "abcdef01234567"]);
        assert_eq!(trace_id_forms(TraceId::new(0, 0x8000_0000_0000_0001)).len(), 2);
    }

    #[test]
    fn a_128_bit_id_is_looked_up_in_its_32_hex_form_and_unpadded_when_the_high_half_has_leading_zeros() {
        assert_eq!(trace_id_forms(TraceId::new(0x1122_3344_5566_7788, 1)), vec!["11223344556677880000000000000001"]);
        assert_eq!(trace_id_forms(TraceId::new(0x1, 2)), vec!["00000000000000010000000000000002", "10000000000000002"]);
    }

    #[test]
    fn exact_range_keeps_inclusive_nanosecond_bounds_inclusive_for_microsecond_documents() {
        let range = exact_range(START_NANOS, START_TIME, Some(1_001), Some(2_999));
        assert_eq!(range.pointer("/bool/should/0/range/startTimeNanos"), Some(&json!({ "gte": 1_001, "lte": 2_999 })));
        // 1,001 ns rounds up to 2 µs and 2,999 ns down to 2 µs: only a span at exactly 2,000 ns.
        assert_eq!(range.pointer("/bool/should/1/bool/filter/0/range/startTime"), Some(&json!({ "gte": 2, "lte": 2 })));
        assert_eq!(
            range.pointer("/bool/should/1/bool/must_not/0/exists/field"),
            Some(&json!(START_NANOS)),
            "the microsecond branch applies only to documents without nanoseconds"
        );
    }

    #[test]
    fn open_duration_range_has_only_the_given_bound() {
        let range = exact_range(DURATION_NANOS, DURATION, Some(5_000), None);
        assert_eq!(range.pointer("/bool/should/0/range/durationNanos"), Some(&json!({ "gte": 5_000 })));
        assert_eq!(range.pointer("/bool/should/1/bool/filter/0/range/duration"), Some(&json!({ "gte": 5 })));
    }

    #[test]
    fn tag_condition_matches_nested_tags_process_tags_log_fields_and_tag_objects_by_term() {
        let condition = tag_condition("http.method", "GET.*", "@");
        let should = condition.pointer("/bool/should").and_then(Value::as_array).unwrap();
        assert_eq!(should.len(), 8);
        assert_eq!(should[0], json!({ "term": { "tag.http@method": "GET.*" } }));
        assert_eq!(should[1], json!({ "term": { "process.tag.http@method": "GET.*" } }));
        assert_eq!(should[2], json!({ "term": { "scopeTag.http@method": "GET.*" } }));
        let paths: Vec<&str> =
            should[3..].iter().map(|s| s.pointer("/nested/path").unwrap().as_str().unwrap()).collect();
        assert_eq!(paths, vec!["tags", "process.tags", "logs.fields", "scopeTags", "references.tags"]);
        assert_eq!(
            should[5].pointer("/nested/query/bool/filter"),
            Some(
                &json!([{ "term": { "logs.fields.key": "http.method" } }, { "term": { "logs.fields.value": "GET.*" } }])
            )
        );
        assert_eq!(
            should[7].pointer("/nested/query/bool/filter"),
            Some(&json!([
                { "term": { "references.tags.key": "http.method" } },
                { "term": { "references.tags.value": "GET.*" } }
            ]))
        );
        let ignores_unmapped: Vec<bool> =
            should[3..].iter().map(|s| s.pointer("/nested/ignore_unmapped").is_some_and(|v| v == true)).collect();
        assert_eq!(
            ignores_unmapped,
            [false, false, false, true, true],
            "only the paths Jaeger never writes may be missing from a mapping"
        );
        assert!(!condition.to_string().contains("regexp"), "values are literal text, never regular expressions");
        assert_eq!(condition.pointer("/bool/minimum_should_match"), Some(&json!(1)));
    }

    #[test]
    fn search_puts_every_condition_in_one_bool_filter() {
        let mut tags = BTreeMap::new();
        tags.insert("error".to_owned(), "true".to_owned());
        tags.insert("http.status_code".to_owned(), "500".to_owned());
        let query = TraceQuery {
            operation_name: Some("GET /".into()),
            tags,
            duration_min_nanos: Some(1_500),
            duration_max_nanos: Some(9_000),
            limit: 20,
            ..query()
        };
        let scope = [json!({ "term": { "namespace": "shop" } })];
        let body = trace_ids_body(&query, &scope, "@");
        let filters = body.pointer("/query/bool/filter").and_then(Value::as_array).unwrap();
        assert_eq!(filters[0], scope[0]);
        assert_eq!(
            filters[1],
            json!({ "range": { "startTimeMillis": {
                "gte": 1_700_000_000_123u64, "lte": 1_700_000_100_000u64, "format": "epoch_millis" } } })
        );
        assert_eq!(
            filters[2].pointer("/bool/should/0/range/startTimeNanos"),
            Some(&json!({ "gte": 1_700_000_000_123_456_789u64, "lte": 1_700_000_100_000_000_999u64 }))
        );
        assert_eq!(
            filters[3].pointer("/bool/should/1/bool/filter/0/range/duration"),
            Some(&json!({ "gte": 2, "lte": 9 }))
        );
        assert_eq!(filters[4], json!({ "term": { "process.serviceName": "frontend" } }));
        assert_eq!(filters[5], json!({ "term": { "operationName": "GET /" } }));
        assert_eq!(filters.len(), 8, "one condition per tag");
        assert_eq!(body["size"], json!(0));
        let terms = body.pointer("/aggs/traceIDs/terms").unwrap();
        assert_eq!(terms["field"], json!("traceID"));
        assert_eq!(terms["size"], json!(20));
        assert_eq!(terms["order"], json!([{ "startTime": "desc" }, { "_key": "desc" }]));
        assert_eq!(body.pointer("/aggs/traceIDs/aggs/startTime"), Some(&json!({ "max": { "field": "startTime" } })));
    }

    #[test]
    fn search_without_service_or_time_bounds_has_no_such_filters_and_default_limit() {
        let body = trace_ids_body(&TraceQuery::default(), &[], "@");
        assert_eq!(body.pointer("/query/bool/filter"), Some(&json!([])));
        assert_eq!(body.pointer("/aggs/traceIDs/terms/size"), Some(&json!(100)));
    }

    fn bucket(key: &str, max_micros: f64, latest: Value, earliest: Value) -> Value {
        json!({
            "key": key, "doc_count": 1,
            "startTime": { "value": max_micros },
            "latest": { "hits": { "hits": [{ "sort": latest }] } },
            "earliest": { "hits": { "hits": [{ "sort": earliest }] } },
        })
    }

    #[test]
    fn parses_trace_ids_with_exact_nanoseconds_most_recent_first() {
        let response = json!({ "aggregations": { "traceIDs": { "buckets": [
            bucket("0000000000000001", 2_000.0, json!([2_000, 2_000_123]), json!([1_000, 1_000_999])),
            // A Jaeger document: no nanoseconds, the sort's missing value is a sentinel.
            bucket("00000000000000020000000000000003", 3_000.0, json!([3_000, i64::MIN]), json!([3_000, i64::MAX])),
        ] } } });
        let found = parse_trace_ids(&response, 10).unwrap();
        assert_eq!(
            found,
            vec![
                FoundTraceId {
                    trace_id: TraceId::new(2, 3),
                    start_time_min_unix_nano: 3_000_000,
                    start_time_max_unix_nano: 3_000_000
                },
                FoundTraceId {
                    trace_id: TraceId::new(0, 1),
                    start_time_min_unix_nano: 1_000_999,
                    start_time_max_unix_nano: 2_000_123
                },
            ]
        );
    }

    #[test]
    fn merges_the_16_and_32_hex_forms_of_one_trace_and_applies_the_limit() {
        let response = json!({ "aggregations": { "traceIDs": { "buckets": [
            bucket("00000000000000000000000000000005", 9.0, json!([9, 9_000]), json!([9, 9_000])),
            bucket("0000000000000005", 4.0, json!([4, 4_000]), json!([1, 1_000])),
            bucket("5", 2.0, json!([2, 2_000]), json!([2, 2_000])),
            bucket("0000000000000007", 8.0, json!([8, 8_000]), json!([8, 8_000])),
            bucket("0000000000000006", 7.0, json!([7, 7_000]), json!([7, 7_000])),
        ] } } });
        let found = parse_trace_ids(&response, 2).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            FoundTraceId {
                trace_id: TraceId::new(0, 5),
                start_time_min_unix_nano: 1_000,
                start_time_max_unix_nano: 9_000
            }
        );
        assert_eq!(found[1].trace_id, TraceId::new(0, 7));
    }

    #[test]
    fn no_aggregation_is_no_trace_and_a_bad_key_is_corrupt_data() {
        assert!(parse_trace_ids(&json!({ "hits": {} }), 10).unwrap().is_empty());
        let response = json!({ "aggregations": { "traceIDs": { "buckets": [{ "key": "xyz" }] } } });
        assert_eq!(parse_trace_ids(&response, 10).unwrap_err().kind(), crate::api::ErrorKind::Internal);
    }

    #[test]
    fn trace_read_pages_by_start_and_span_id_without_counting_totals() {
        let filters = trace_spans_filters(TraceId::new(0, 1), Some((1_500, 2_000_500)), &[]);
        assert_eq!(
            filters[0],
            json!({ "terms": { "traceID": ["00000000000000000000000000000001", "0000000000000001", "1"] } })
        );
        assert_eq!(filters[1], json!({ "range": { "startTime": { "gte": 1, "lte": 2_001 } } }));
        let first = page_body(&filters, &span_sort(), 10_000, None);
        assert_eq!(first["sort"], json!([{ "startTime": { "order": "asc" } }, { "spanID": { "order": "asc" } }]));
        assert_eq!(first["track_total_hits"], json!(false));
        assert_eq!(first["size"], json!(10_000));
        assert!(first.get("search_after").is_none());
        let next = page_body(&filters, &span_sort(), 10_000, Some(&json!([5, "00000000000000aa"])));
        assert_eq!(next["search_after"], json!([5, "00000000000000aa"]));
    }

    #[test]
    fn ties_with_the_last_hit_are_fetched_by_exact_sort_values() {
        let filters = vec![json!({ "term": { "traceID": "x" } })];
        let body = same_sort_values_body(&filters, &span_sort(), &SPAN_SORT_FIELDS, &json!([5, "aa"]), 100);
        assert_eq!(
            body.pointer("/query/bool/filter"),
            Some(&json!([
                { "term": { "traceID": "x" } },
                { "term": { "startTime": 5 } },
                { "term": { "spanID": "aa" } },
            ]))
        );
        assert!(body.get("search_after").is_none());
    }

    #[test]
    fn msearch_is_one_header_and_one_body_line_per_search() {
        let indices = vec!["a-2024-01-01".to_owned(), "a-2024-01-02".to_owned()];
        let body = json!({ "size": 1 });
        let ndjson = msearch_ndjson([(indices.as_slice(), &body), (indices.as_slice(), &body)]);
        let lines: Vec<&str> = ndjson.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(ndjson.ends_with('\n'));
        let header: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(header["index"], json!("a-2024-01-01,a-2024-01-02"));
        assert_eq!(header["ignore_unavailable"], json!(true));
        assert_eq!(serde_json::from_str::<Value>(lines[1]).unwrap(), body);
    }

    #[test]
    fn parses_pages_with_either_total_form_and_item_errors() {
        let page = parse_page(&json!({ "hits": { "total": 3, "hits": [
            { "_id": "a", "_source": { "spanID": "1" }, "sort": [1, "1"] },
        ] } }))
        .unwrap();
        assert_eq!(page.total, Some(3));
        assert_eq!(page.hits[0].id, "a");
        assert_eq!(page.hits[0].sort, json!([1, "1"]));
        let page = parse_page(&json!({ "hits": { "total": { "value": 10000, "relation": "gte" }, "hits": [] } }));
        assert_eq!(page.unwrap().total, None, "a lower bound is not a total");
        let page = parse_page(&json!({ "hits": { "total": { "value": 7, "relation": "eq" }, "hits": [] } }));
        assert_eq!(page.unwrap().total, Some(7));

        let answer = json!({ "responses": [
            { "hits": { "total": 0, "hits": [] } },
            { "status": 429, "error": { "reason": "too many" } },
            { "status": 503, "error": { "reason": "no shards" } },
            { "status": 400, "error": { "reason": "bad query" } },
        ] });
        let items = parse_msearch(&answer, 4).unwrap();
        assert!(items[0].is_ok());
        let kinds: Vec<_> = items[1..].iter().map(|item| item.as_ref().unwrap_err().kind()).collect();
        use crate::api::ErrorKind;
        assert_eq!(kinds, vec![ErrorKind::ResourceExhausted, ErrorKind::Unavailable, ErrorKind::Internal]);
        assert!(parse_msearch(&answer, 3).is_err(), "a missing answer is an error");
    }

    #[test]
    fn services_are_a_terms_aggregation_parsed_sorted() {
        let body = services_body(&[], 10_000);
        assert_eq!(
            body.pointer("/aggs/distinct_services/terms"),
            Some(&json!({ "field": "serviceName", "size": 10_000 }))
        );
        let answer =
            json!({ "aggregations": { "distinct_services": { "buckets": [{ "key": "zeta" }, { "key": "alpha" }] } } });
        assert_eq!(parse_services(&answer).unwrap(), vec!["alpha", "zeta"]);
        assert!(parse_services(&json!({})).unwrap().is_empty(), "no index is no service");
    }

    #[test]
    fn operations_filter_by_service_and_kind_and_missing_kind_is_unspecified() {
        let all = operations_body("cart", None, &[], 100);
        assert_eq!(all.pointer("/query/bool/filter"), Some(&json!([{ "term": { "serviceName": "cart" } }])));
        assert_eq!(all.pointer("/aggs/distinct_operations/aggs/span_kinds/terms/missing"), Some(&json!("")));
        let servers = operations_body("cart", Some(SpanKind::Server), &[], 100);
        assert_eq!(servers.pointer("/query/bool/filter/1"), Some(&json!({ "term": { "spanKind": "server" } })));
        let unspecified = operations_body("cart", Some(SpanKind::Unspecified), &[], 100);
        let clause = unspecified.pointer("/query/bool/filter/1/bool/should").unwrap();
        assert_eq!(clause[0], json!({ "term": { "spanKind": "" } }));
        assert_eq!(clause[1], json!({ "bool": { "must_not": [{ "exists": { "field": "spanKind" } }] } }));

        let answer = json!({ "aggregations": { "distinct_operations": { "buckets": [
            { "key": "get", "span_kinds": { "buckets": [{ "key": "server" }, { "key": "client" }] } },
            { "key": "cache", "span_kinds": { "buckets": [{ "key": "" }] } },
            { "key": "add", "span_kinds": { "buckets": [{ "key": "server" }] } },
        ] } } });
        assert_eq!(
            parse_operations(&answer).unwrap(),
            vec![
                Operation { name: "add".into(), span_kind: SpanKind::Server },
                Operation { name: "cache".into(), span_kind: SpanKind::Unspecified },
                Operation { name: "get".into(), span_kind: SpanKind::Server },
                Operation { name: "get".into(), span_kind: SpanKind::Client },
            ]
        );
    }

    #[test]
    fn dependencies_read_the_window_and_sum_links_over_documents() {
        let body = dependencies_body(86_400_000_000_000, 2 * 86_400_000_000_000, 10_000);
        assert_eq!(
            body.pointer("/query/bool/filter/0/range/timestamp"),
            Some(&json!({ "gte": 86_400_000u64, "lte": 172_800_000u64, "format": "epoch_millis" }))
        );
        let docs = Page {
            hits: vec![
                Hit {
                    id: "1".into(),
                    source: json!({ "timestamp": "2024-01-01T00:00:00Z", "dependencies": [
                        { "parent": "frontend", "child": "cart", "callCount": 2 },
                        { "parent": "cart", "child": "db", "callCount": 1 },
                    ] }),
                    sort: Value::Null,
                },
                Hit {
                    id: "2".into(),
                    source: json!({ "timestamp": "2024-01-02T00:00:00Z", "dependencies": [
                        { "parent": "frontend", "child": "cart", "callCount": 3 },
                    ] }),
                    sort: Value::Null,
                },
            ],
            total: None,
        };
        let links = parse_dependencies(&docs).unwrap().unwrap();
        let summary: Vec<_> = links.iter().map(|l| (l.parent.as_str(), l.child.as_str(), l.call_count)).collect();
        assert_eq!(summary, vec![("cart", "db", 1), ("frontend", "cart", 5)]);
        assert!(links.iter().all(|l| l.source == "jaeger"));
        assert_eq!(parse_dependencies(&Page::default()).unwrap(), None, "no document means compute from spans");
    }

    #[test]
    fn dependencies_document_has_jaegers_shape() {
        let links = vec![DependencyLink {
            parent: "a".into(),
            child: "b".into(),
            call_count: 4,
            source: DEPENDENCY_SOURCE_SPANS.into(),
        }];
        assert_eq!(
            dependencies_document(1_717_156_800_000_000_000, &links),
            json!({ "timestamp": "2024-05-31T12:00:00Z",
                    "dependencies": [{ "parent": "a", "child": "b", "callCount": 4 }] })
        );
    }

    #[test]
    fn rfc3339_nano_matches_go() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(951_782_400_123_456_000), "2000-02-29T00:00:00.123456Z");
        assert_eq!(rfc3339_nano(1_735_689_599_000_000_001), "2024-12-31T23:59:59.000000001Z");
    }
}
