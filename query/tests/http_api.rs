//! Jaeger's `/api/*` endpoints, called in-process on the router over a memory store.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use base64::Engine;
use spoor_model::{KeyValue, Namespace, SpanKind, TraceId};
use spoor_query::http::{router, serve_on, QueryHttpConfig};
use spoor_query::{QueryMetrics, QueryService, QueryServiceOptions};
use spoor_storage::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery,
    SpanReader, StorageError, Trace, TraceQuery,
};
use support::*;

fn recent_trace(trace_id: TraceId, service: &str, operation: &str, duration_nanos: u64) -> Vec<spoor_model::Span> {
    let p = process(service, vec![]);
    let start = now_unix_nano() - 3600 * SECOND_NANOS;
    vec![span(trace_id, 1, None, operation, start, duration_nanos, &p)]
}

#[tokio::test]
async fn services_lists_stored_service_names_with_their_count() {
    let api = Api::new();
    api.write(recent_trace(TraceId::new(0, 1), "frontend", "GET /", 1_000)).await;
    api.write(recent_trace(TraceId::new(0, 2), "backend", "query", 1_000)).await;
    let response = api.get("/api/services").await;
    assert_eq!(response.body, r#"{"data":["backend","frontend"],"total":2,"limit":0,"offset":0,"errors":null}"#);
    assert_eq!(response.content_type(), "application/json");
}

#[tokio::test]
async fn services_are_an_empty_list_when_nothing_is_stored() {
    let api = Api::new();
    assert_eq!(api.get("/api/services").await.body, r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#);
}

#[tokio::test]
async fn service_operations_are_unique_names_across_span_kinds() {
    let api = Api::new();
    let p = process("reviews.bookinfo", vec![]);
    let start = now_unix_nano();
    let trace_id = TraceId::new(0, 7);
    api.write(vec![
        with_tags(
            span(trace_id, 1, None, "GET /reviews", start, 10, &p),
            vec![KeyValue::string("span.kind", "server")],
        ),
        with_tags(
            span(trace_id, 2, Some(1), "GET /reviews", start, 5, &p),
            vec![KeyValue::string("span.kind", "client")],
        ),
        span(trace_id, 3, Some(1), "compute", start, 5, &p),
    ])
    .await;
    let response = api.get("/api/services/reviews.bookinfo/operations").await;
    assert_eq!(response.body, r#"{"data":["GET /reviews","compute"],"total":2,"limit":0,"offset":0,"errors":null}"#);
}

#[tokio::test]
async fn service_operations_path_is_percent_decoded() {
    let api = Api::new();
    api.write(recent_trace(TraceId::new(0, 1), "my service/v2", "op", 1_000)).await;
    let response = api.get("/api/services/my%20service%2Fv2/operations").await;
    assert_eq!(response.ok_json()["data"], serde_json::json!(["op"]));
    let not_utf8 = api.get("/api/services/%FF/operations").await;
    assert_eq!(not_utf8.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_utf8.content_type(), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn operations_of_an_unknown_service_are_an_empty_list() {
    let api = Api::new();
    let response = api.get("/api/services/nobody/operations").await;
    assert_eq!(response.body, r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#);
}

#[tokio::test]
async fn operations_endpoint_requires_the_service_parameter() {
    let api = Api::new();
    api.get("/api/operations").await.assert_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    api.get("/api/operations?service=").await.assert_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
}

#[tokio::test]
async fn operations_endpoint_lists_names_with_span_kinds_and_filters_by_kind() {
    let api = Api::new();
    let p = process("svc", vec![]);
    let trace_id = TraceId::new(0, 9);
    let start = now_unix_nano();
    api.write(vec![
        with_tags(span(trace_id, 1, None, "serve", start, 10, &p), vec![KeyValue::string("span.kind", "server")]),
        with_tags(span(trace_id, 2, Some(1), "call", start, 5, &p), vec![KeyValue::string("span.kind", "client")]),
        span(trace_id, 3, Some(1), "work", start, 5, &p),
    ])
    .await;
    let all = api.get("/api/operations?service=svc").await;
    assert_eq!(
        all.body,
        concat!(
            r#"{"data":[{"name":"call","spanKind":"client"},{"name":"serve","spanKind":"server"},"#,
            r#"{"name":"work","spanKind":""}],"total":3,"limit":0,"offset":0,"errors":null}"#
        )
    );
    let servers = api.get("/api/operations?service=svc&spanKind=server").await;
    assert_eq!(servers.ok_json()["data"], serde_json::json!([{"name": "serve", "spanKind": "server"}]));
    api.get("/api/operations?service=svc&spanKind=upward")
        .await
        .assert_error(StatusCode::BAD_REQUEST, r#"unable to parse param 'spanKind': unsupported span kind "upward""#);
    assert_eq!(SpanKind::parse("server"), SpanKind::Server);
}

#[tokio::test]
async fn trace_by_id_matches_the_golden_envelope_byte_for_byte() {
    let api = Api::new();
    api.write(golden_trace()).await;
    let response = api.get(&format!("/api/traces/{}", golden_trace_id().to_hex())).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.content_type(), "application/json");
    assert_golden("get_trace.json", &response.body);
}

#[tokio::test]
async fn pretty_printed_trace_matches_the_golden_file() {
    let api = Api::new();
    api.write(golden_trace()).await;
    let response = api.get(&format!("/api/traces/{}?prettyPrint=true", golden_trace_id().to_hex())).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_golden("get_trace_pretty.json", &response.body);
}

#[tokio::test]
async fn trace_ids_are_accepted_as_16_or_32_hex_or_base64() {
    let api = Api::new();
    let short_id = TraceId::new(0, 0x00ab_cdef_0123_4567);
    let long_id = TraceId::new(0x1, 0x2);
    api.write(recent_trace(short_id, "svc", "short", 1_000)).await;
    api.write(recent_trace(long_id, "svc", "long", 1_000)).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cases = [
        ("00abcdef01234567".to_owned(), "00abcdef01234567"),
        ("abcdef01234567".to_owned(), "00abcdef01234567"),
        ("0000000000000000".to_owned() + "00abcdef01234567", "00abcdef01234567"),
        (b64.encode(short_id.low.to_be_bytes()), "00abcdef01234567"),
        (b64.encode(short_id.to_bytes()), "00abcdef01234567"),
        ("00000000000000010000000000000002".to_owned(), "00000000000000010000000000000002"),
        (b64.encode(long_id.to_bytes()), "00000000000000010000000000000002"),
    ];
    for (path_id, expected) in cases {
        let encoded = path_id.replace('/', "%2F").replace('+', "%2B");
        let response = api.get(&format!("/api/traces/{encoded}")).await;
        assert_eq!(response.trace_ids(), vec![expected.to_owned()], "{path_id}");
    }
}

#[tokio::test]
async fn unknown_trace_is_a_404_text_plain_envelope() {
    let api = Api::new();
    let response = api.get("/api/traces/00000000000000ff").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    assert_eq!(response.body, "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}\n");
}

#[tokio::test]
async fn malformed_trace_id_is_a_400_naming_the_parameter() {
    let api = Api::new();
    let response = api.get("/api/traces/not-a-trace-id").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let message = response.json()["errors"][0]["msg"].as_str().unwrap().to_owned();
    assert!(message.starts_with("cannot parse traceID param: "), "{message}");
    api.get(&format!("/api/traces/{}", "f".repeat(33))).await.json();
    assert_eq!(api.get(&format!("/api/traces/{}", "f".repeat(33))).await.status, StatusCode::BAD_REQUEST);
    api.get("/api/traces/0").await.assert_error(StatusCode::BAD_REQUEST, "trace id must not be zero");
}

#[tokio::test]
async fn trace_start_and_end_must_be_integer_microseconds() {
    let api = Api::new();
    api.get("/api/traces/00000000000000ff?start=abc").await.assert_error(
        StatusCode::BAD_REQUEST,
        r#"unable to parse param 'start': strconv.ParseInt: parsing "abc": invalid syntax"#,
    );
}

#[tokio::test]
async fn shared_client_server_span_ids_are_split_unless_raw() {
    let api = Api::new();
    api.write(golden_trace()).await;
    let id = golden_trace_id().to_hex();

    let adjusted = api.get(&format!("/api/traces/{id}")).await.ok_json();
    let spans = adjusted["data"][0]["spans"].as_array().unwrap().clone();
    let span_ids: Vec<&str> = spans.iter().map(|s| s["spanID"].as_str().unwrap()).collect();
    assert_eq!(span_ids, vec!["00000000000000a1", "00000000000000b2", "0000000000000001", "00000000000000c3"]);
    let parent_of = |index: usize| spans[index]["references"][0]["spanID"].as_str().unwrap().to_owned();
    assert_eq!(parent_of(2), "00000000000000b2", "the server span is the client span's child");
    assert_eq!(parent_of(3), "0000000000000001", "the server span's child follows its new id");

    let raw = api.get(&format!("/api/traces/{id}?raw=true")).await.ok_json();
    let raw_ids: Vec<&str> =
        raw["data"][0]["spans"].as_array().unwrap().iter().map(|s| s["spanID"].as_str().unwrap()).collect();
    assert_eq!(raw_ids.iter().filter(|id| **id == "00000000000000b2").count(), 2);
    assert!(!raw_ids.contains(&"0000000000000001"));
    let processes = raw["data"][0]["processes"].as_object().unwrap();
    let frontend = processes.values().find(|p| p["serviceName"] == "frontend.shop").unwrap();
    let raw_ip = &frontend["tags"][1];
    assert_eq!(raw_ip["type"], "int64", "raw keeps the packed ip: {raw_ip}");
}

#[tokio::test]
async fn search_filters_by_service_operation_tags_and_duration() {
    let api = Api::new();
    let p = process("checkout", vec![]);
    let start = now_unix_nano() - 600 * SECOND_NANOS;
    for (low, operation, millis, status) in [(1, "pay", 5, "200"), (2, "pay", 50, "500"), (3, "ship", 50, "500")] {
        let trace_id = TraceId::new(0, low);
        let tagged = with_tags(
            span(trace_id, 1, None, operation, start + low * SECOND_NANOS, millis * 1_000_000, &p),
            vec![KeyValue::string("http.status_code", status)],
        );
        api.write(vec![tagged]).await;
    }
    let found = |query: &str| {
        let api = &api;
        let query = query.to_owned();
        async move { api.get(&format!("/api/traces?service=checkout{query}")).await.trace_ids() }
    };
    assert_eq!(found("").await, vec!["0000000000000003", "0000000000000002", "0000000000000001"]);
    assert_eq!(found("&operation=pay").await, vec!["0000000000000002", "0000000000000001"]);
    assert_eq!(found("&tag=http.status_code:500").await, vec!["0000000000000003", "0000000000000002"]);
    assert_eq!(found("&operation=pay&minDuration=10ms").await, vec!["0000000000000002"]);
    assert_eq!(found("&maxDuration=10ms").await, vec!["0000000000000001"]);
    assert_eq!(found("&limit=1").await, vec!["0000000000000003"]);
    assert_eq!(found("&lookback=1h&limit=20").await.len(), 3, "lookback is ignored");
    assert!(api.get("/api/traces?service=nobody").await.trace_ids().is_empty());
}

#[tokio::test]
async fn search_results_use_the_trace_envelope_with_total_zero() {
    let api = Api::new();
    api.write(recent_trace(TraceId::new(0, 1), "svc", "op", 1_000)).await;
    let json = api.get("/api/traces?service=svc").await.ok_json();
    assert_eq!(json["total"], 0);
    assert_eq!(json["errors"], serde_json::Value::Null);
    assert_eq!(json["data"][0]["processes"]["p1"]["serviceName"], "svc");
}

#[tokio::test]
async fn search_defaults_to_the_last_48_hours() {
    let api = Api::new();
    let p = process("svc", vec![]);
    let now = now_unix_nano();
    api.write(vec![span(TraceId::new(0, 1), 1, None, "recent", now - 47 * 3600 * SECOND_NANOS, 1_000, &p)]).await;
    api.write(vec![span(TraceId::new(0, 2), 1, None, "old", now - 49 * 3600 * SECOND_NANOS, 1_000, &p)]).await;
    assert_eq!(api.get("/api/traces?service=svc").await.trace_ids(), vec!["0000000000000001"]);
    let from_the_start = format!("/api/traces?service=svc&start={}", (now - 50 * 3600 * SECOND_NANOS) / 1_000);
    assert_eq!(api.get(&from_the_start).await.trace_ids().len(), 2);
}

#[tokio::test]
async fn search_without_service_or_trace_id_is_a_400() {
    let api = Api::new();
    let response = api.get("/api/traces").await;
    assert_eq!(
        response.body,
        "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":400,\"msg\":\"parameter 'service' is required\"}]}\n"
    );
    response.assert_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
}

#[tokio::test]
async fn search_rejects_bad_parameters_naming_them() {
    let api = Api::new();
    let cases = [
        ("start=x", r#"unable to parse param 'start': strconv.ParseInt: parsing "x": invalid syntax"#),
        ("end=1e6", r#"unable to parse param 'end': strconv.ParseInt: parsing "1e6": invalid syntax"#),
        ("limit=many", r#"unable to parse param 'limit': strconv.ParseInt: parsing "many": invalid syntax"#),
        ("minDuration=fast", r#"unable to parse param 'minDuration': time: invalid duration "fast""#),
        ("maxDuration=1parsec", r#"unable to parse param 'maxDuration': time: invalid duration "1parsec""#),
        ("minDuration=2s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"),
        ("tag=broken", "malformed 'tag' parameter, expecting key:value, received: broken"),
    ];
    for (query, message) in cases {
        api.get(&format!("/api/traces?service=svc&{query}")).await.assert_error(StatusCode::BAD_REQUEST, message);
    }
    let tags = api.get("/api/traces?service=svc&tags=%7Bnot-json").await;
    assert_eq!(tags.status, StatusCode::BAD_REQUEST);
    assert!(tags.json()["errors"][0]["msg"].as_str().unwrap().starts_with("malformed 'tags' parameter"));
    let window = api.get("/api/traces?service=svc&start=2000&end=1000").await;
    assert_eq!(window.status, StatusCode::BAD_REQUEST, "{}", window.body);
}

#[tokio::test]
async fn search_by_trace_ids_lists_missing_ids_in_errors() {
    let api = Api::new();
    api.write(recent_trace(TraceId::new(0, 1), "svc", "op", 1_000)).await;
    let response = api.get("/api/traces?traceID=0000000000000001&traceID=00000000000000ff").await;
    let json = response.ok_json();
    assert_eq!(json["data"].as_array().unwrap().len(), 1);
    assert_eq!(json["errors"], serde_json::json!([{"msg": "trace not found", "traceID": "00000000000000ff"}]));
    let bad = api.get("/api/traces?traceID=zz").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn traces_beyond_the_span_cap_keep_the_earliest_spans_and_warn() {
    let options = QueryServiceOptions { max_spans_per_trace: 3, ..Default::default() };
    let api = Api::with(options, QueryHttpConfig::default());
    let p = process("svc", vec![]);
    let trace_id = TraceId::new(0, 5);
    let start = now_unix_nano() - 60 * SECOND_NANOS;
    let spans = (1..=5u64)
        .rev()
        .map(|id| span(trace_id, id, (id > 1).then_some(1), "op", start + id * 1_000, 100_000, &p))
        .collect();
    api.write(spans).await;
    let json = api.get("/api/traces/0000000000000005").await.ok_json();
    let trace = &json["data"][0];
    let ids: Vec<&str> = trace["spans"].as_array().unwrap().iter().map(|s| s["spanID"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["0000000000000001", "0000000000000002", "0000000000000003"]);
    assert_eq!(
        trace["warnings"],
        serde_json::json!([
            "trace has 5 spans, more than the limit of 3 (max_spans_per_trace); showing the 3 that start first"
        ])
    );
    let searched = api.get("/api/traces?service=svc").await.ok_json();
    assert_eq!(searched["data"][0]["spans"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn base_path_serves_the_api_under_the_prefix_and_at_the_root() {
    let config = QueryHttpConfig { base_path: "/jaeger/".into(), ..Default::default() };
    let api = Api::with(QueryServiceOptions::default(), config);
    api.write(recent_trace(TraceId::new(0, 1), "svc", "op", 1_000)).await;
    assert_eq!(api.get("/jaeger/api/services").await.ok_json()["data"], serde_json::json!(["svc"]));
    assert_eq!(api.get("/jaeger/api/traces/0000000000000001").await.trace_ids().len(), 1);
    assert_eq!(api.get("/api/services").await.ok_json()["total"], 1);
    assert_eq!(api.get("/other/api/services").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pretty_print_indents_with_four_spaces_and_false_does_not() {
    let api = Api::new();
    api.write(recent_trace(TraceId::new(0, 1), "svc", "op", 1_000)).await;
    let pretty = api.get("/api/services?prettyPrint=true").await;
    assert_eq!(pretty.body, "{\n    \"data\": [\n        \"svc\"\n    ],\n    \"total\": 1,\n    \"limit\": 0,\n    \"offset\": 0,\n    \"errors\": null\n}");
    let compact = api.get("/api/services?prettyPrint=false").await;
    assert_eq!(compact.body, r#"{"data":["svc"],"total":1,"limit":0,"offset":0,"errors":null}"#);
}

#[tokio::test]
async fn requests_read_only_the_configured_namespace() {
    let config = QueryHttpConfig { namespace: "team-a".into(), ..Default::default() };
    let api = Api::with(QueryServiceOptions::default(), config);
    api.write_to(&Namespace::new("team-a"), recent_trace(TraceId::new(0, 1), "mine", "op", 1_000)).await;
    api.write(recent_trace(TraceId::new(0, 2), "theirs", "op", 1_000)).await;
    assert_eq!(api.get("/api/services").await.ok_json()["data"], serde_json::json!(["mine"]));
    assert_eq!(api.get("/api/traces/0000000000000002").await.status, StatusCode::NOT_FOUND);
}

/// frontend calls cart twice (in two traces) and cart calls db once, an hour ago.
async fn api_with_dependencies() -> Api {
    let api = Api::new();
    let frontend = process("frontend", vec![]);
    let cart = process("cart", vec![]);
    let db = process("db", vec![]);
    let start = now_unix_nano() - 3600 * SECOND_NANOS;
    for trace in 1..=2 {
        let trace_id = TraceId::new(0, trace);
        let mut spans = vec![
            span(trace_id, 1, None, "GET /", start, 100, &frontend),
            span(trace_id, 2, Some(1), "get", start + 1, 50, &cart),
            span(trace_id, 3, Some(2), "compute", start + 2, 10, &cart),
        ];
        if trace == 1 {
            spans.push(span(trace_id, 4, Some(2), "SELECT", start + 3, 10, &db));
        }
        api.write(spans).await;
    }
    api
}

#[tokio::test]
async fn dependencies_are_links_between_services_with_calls_summed() {
    let api = api_with_dependencies().await;
    let response = api.get("/api/dependencies").await;
    assert_eq!(
        response.body,
        r#"{"data":[{"parent":"cart","child":"db","callCount":1},{"parent":"frontend","child":"cart","callCount":2}],"total":0,"limit":0,"offset":0,"errors":null}"#
    );
    assert_eq!(response.content_type(), "application/json");
}

#[tokio::test]
async fn dependencies_filter_by_service_as_parent_or_child() {
    let api = api_with_dependencies().await;
    let data = |uri: &'static str| {
        let api = &api;
        async move { api.get(uri).await.ok_json()["data"].clone() }
    };
    assert_eq!(
        data("/api/dependencies?service=db").await,
        serde_json::json!([{"parent":"cart","child":"db","callCount":1}])
    );
    assert_eq!(data("/api/dependencies?service=cart").await.as_array().map(Vec::len), Some(2));
    assert_eq!(data("/api/dependencies?service=nobody").await, serde_json::json!([]));
}

#[tokio::test]
async fn dependencies_window_is_end_ts_and_lookback_in_milliseconds() {
    let api = api_with_dependencies().await;
    let now_ms = now_unix_nano() / 1_000_000;
    let recent = api.get(&format!("/api/dependencies?endTs={now_ms}&lookback=1800000")).await;
    assert_eq!(recent.ok_json()["data"], serde_json::json!([]), "the spans started an hour ago");
    let two_hours = api.get(&format!("/api/dependencies?endTs={now_ms}&lookback=7200000")).await;
    assert_eq!(two_hours.ok_json()["data"].as_array().map(Vec::len), Some(2));
    let day_before = api.get(&format!("/api/dependencies?endTs={}", now_ms - 2 * 3600 * 1000)).await;
    assert_eq!(day_before.ok_json()["data"], serde_json::json!([]));
}

#[tokio::test]
async fn dependencies_reject_malformed_times_with_jaegers_message() {
    let api = Api::new();
    api.get("/api/dependencies?endTs=yesterday").await.assert_error(
        StatusCode::BAD_REQUEST,
        r#"unable to parse param 'endTs': strconv.ParseInt: parsing "yesterday": invalid syntax"#,
    );
    api.get("/api/dependencies?lookback=1h").await.assert_error(
        StatusCode::BAD_REQUEST,
        r#"unable to parse param 'lookback': strconv.ParseInt: parsing "1h": invalid syntax"#,
    );
}

/// A backend that fails every read with the given error.
struct FailingReader(fn() -> StorageError);

#[async_trait]
impl SpanReader for FailingReader {
    async fn get_trace(&self, _: &Namespace, _: GetTraceRequest) -> spoor_storage::Result<Option<Trace>> {
        Err((self.0)())
    }
    async fn find_trace_ids(&self, _: &Namespace, _: &TraceQuery) -> spoor_storage::Result<Vec<FoundTraceId>> {
        Err((self.0)())
    }
    async fn services(&self, _: &Namespace) -> spoor_storage::Result<Vec<String>> {
        Err((self.0)())
    }
    async fn operations(&self, _: &Namespace, _: &OperationQuery) -> spoor_storage::Result<Vec<Operation>> {
        Err((self.0)())
    }
    async fn dependencies(&self, _: &Namespace, _: &DependencyQuery) -> spoor_storage::Result<Vec<DependencyLink>> {
        Err((self.0)())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { search_without_service: false, operation_span_kind: false, durable: false }
    }
}

fn failing_router(error: fn() -> StorageError) -> axum::Router {
    let service =
        QueryService::new(Arc::new(FailingReader(error)), QueryServiceOptions::default(), QueryMetrics::unregistered());
    router(Arc::new(service), &QueryHttpConfig::default())
}

#[tokio::test]
async fn storage_failures_map_to_statuses_by_error_kind() {
    let unavailable = failing_router(|| StorageError::Unavailable("elasticsearch is down".into()));
    get(&unavailable, "/api/services")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable: elasticsearch is down");
    get(&unavailable, "/api/traces?service=svc")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable: elasticsearch is down");

    let corrupt = failing_router(|| StorageError::Corrupt("bad document".into()));
    get(&corrupt, "/api/traces/0000000000000001")
        .await
        .assert_error(StatusCode::INTERNAL_SERVER_ERROR, "stored data is corrupt: bad document");
    get(&corrupt, "/api/traces?traceID=0000000000000001")
        .await
        .assert_error(StatusCode::INTERNAL_SERVER_ERROR, "stored data is corrupt: bad document");

    let overloaded = failing_router(|| StorageError::Overloaded("queue full".into()));
    get(&overloaded, "/api/operations?service=x")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "storage overloaded: queue full");
    get(&overloaded, "/api/dependencies")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "storage overloaded: queue full");
}

#[tokio::test]
async fn query_metrics_count_storage_reads_by_operation_and_result() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = QueryMetrics::register(&mut registry);
    let store = Arc::new(spoor_storage::MemoryStore::new());
    let service = Arc::new(QueryService::new(store, QueryServiceOptions::default(), metrics));
    let router = router(service, &QueryHttpConfig::default());
    get(&router, "/api/services").await;
    get(&router, "/api/traces/00000000000000aa").await;
    get(&router, "/api/traces?service=svc").await;
    get(&router, "/api/dependencies").await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for operation in ["get_services", "get_trace", "find_traces", "get_dependencies"] {
        let line = format!("jaeger_query_requests_total{{operation=\"{operation}\",result=\"ok\"}} 1");
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn serve_on_answers_over_tcp_and_stops_on_shutdown() {
    let store = Arc::new(spoor_storage::MemoryStore::new());
    let service = Arc::new(QueryService::new(store, QueryServiceOptions::default(), QueryMetrics::unregistered()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_on(listener, service, &QueryHttpConfig::default(), async {
            let _ = stopped.await;
        })
        .await
    });

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET /api/services HTTP/1.1\r\nHost: spoor\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#), "{response}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
