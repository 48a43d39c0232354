//! Jaeger's api_v3 HTTP gateway on the query HTTP port (spec §5.4): golden bodies for every route,
//! the error form, both parameter spellings, and the base path.
//!
//! `tests/golden/api_v3_*.json` hold the exact bytes. The `result` of the trace files was checked
//! against the OpenTelemetry Collector's own `ptrace.JSONMarshaler` (pdata v1.61, what Jaeger
//! v2.20 links): unmarshalled and marshalled again by pdata, it comes back byte for byte.

mod support;

use axum::http::StatusCode;
use spoor_model::TraceId;
use spoor_query::http::QueryHttpConfig;
use spoor_query::QueryServiceOptions;
use support::*;

/// The hour around the golden trace (2023-11-14T22:13:20Z).
const WINDOW: &str = "query.startTimeMin=2023-11-14T21:30:00Z&query.startTimeMax=2023-11-14T23:00:00.000000001Z";

async fn api_with_golden_trace() -> Api {
    let api = Api::new();
    api.write(golden_trace()).await;
    api
}

fn assert_gateway_error(response: &TestResponse, status: StatusCode, message: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    let expected = serde_json::json!({"error": {"httpCode": status.as_u16(), "message": message}});
    assert_eq!(response.json(), expected);
    assert!(response.body.ends_with("}\n"), "http.Error appends a newline");
}

#[tokio::test]
async fn get_trace_answers_otlp_json_under_result() {
    let api = api_with_golden_trace().await;
    let response = api.get(&format!("/api/v3/traces/{}", golden_trace_id().to_hex())).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.content_type(), "application/json");
    assert_golden("api_v3_get_trace.json", &response.body);
}

#[tokio::test]
async fn get_trace_raw_skips_the_adjusters_and_accepts_both_spellings() {
    let api = api_with_golden_trace().await;
    let id = golden_trace_id().to_hex();
    let raw = api.get(&format!("/api/v3/traces/{id}?rawTraces=true&startTime=2023-11-14T22:00:00Z")).await;
    assert_golden("api_v3_get_trace_raw.json", &raw.body);
    let snake = api.get(&format!("/api/v3/traces/{id}?raw_traces=true&start_time=2023-11-14T22:00:00Z")).await;
    assert_eq!(snake.body, raw.body);
    let adjusted = api.get(&format!("/api/v3/traces/{id}")).await;
    assert_ne!(adjusted.body, raw.body, "the adjusters split the shared Envoy span id");
}

#[tokio::test]
async fn get_trace_errors_are_grpc_gateway_errors() {
    let api = api_with_golden_trace().await;
    assert_gateway_error(&api.get("/api/v3/traces/00000000000000ff").await, StatusCode::NOT_FOUND, "No traces found");
    let malformed = api.get("/api/v3/traces/xyz!").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.json()["error"]["message"].as_str().unwrap().starts_with("malformed parameter trace_id: "));
    let bad_time = api.get(&format!("/api/v3/traces/{}?startTime=yesterday", golden_trace_id().to_hex())).await;
    assert_eq!(bad_time.status, StatusCode::BAD_REQUEST);
    assert!(bad_time.json()["error"]["message"].as_str().unwrap().starts_with("malformed parameter startTime: "));
}

#[tokio::test]
async fn find_traces_merges_every_trace_into_one_result() {
    let api = api_with_golden_trace().await;
    let other = process("cart", vec![]);
    api.write(vec![span(TraceId::new(0, 0x77), 1, None, "add", 1_700_000_100_000_000_000, 1_000, &other)]).await;
    let response = api.get(&format!("/api/v3/traces?{WINDOW}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let json = response.json();
    let resources = json["result"]["resourceSpans"].as_array().unwrap();
    // The golden trace has two processes (two resources); the cart trace, more recent, comes first.
    assert_eq!(resources.len(), 3);
    assert_eq!(resources[0]["resource"]["attributes"][0]["value"]["stringValue"], "cart");

    let one = api.get(&format!("/api/v3/traces?{WINDOW}&query.serviceName=cart&query.searchDepth=5")).await.json();
    assert_eq!(one["result"]["resourceSpans"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn find_traces_filters_by_attributes_operation_and_duration() {
    let api = api_with_golden_trace().await;
    let base = format!("/api/v3/traces?{WINDOW}&query.serviceName=frontend.shop");
    let found = |query: &str| {
        let uri = format!("{base}&{query}");
        let api = &api;
        async move { api.get(&uri).await.status }
    };
    assert_eq!(found("query.attributes=%7B%22http.status_code%22%3A%22200%22%7D").await, StatusCode::OK);
    assert_eq!(found("query.attributes=%7B%22http.status_code%22%3A%22500%22%7D").await, StatusCode::NOT_FOUND);
    assert_eq!(found("query.operationName=GET%20%2Fcheckout&query.durationMin=100ms").await, StatusCode::OK);
    assert_eq!(found("query.operation_name=GET%20%2Fcheckout&query.duration_min=1s").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn find_traces_without_matches_or_window_fails_like_jaeger() {
    let api = api_with_golden_trace().await;
    let nothing = api.get(&format!("/api/v3/traces?{WINDOW}&query.serviceName=nobody")).await;
    assert_gateway_error(&nothing, StatusCode::NOT_FOUND, "No traces found");
    let no_window = api.get("/api/v3/traces?query.serviceName=frontend.shop").await;
    assert_gateway_error(&no_window, StatusCode::BAD_REQUEST, "query.startTimeMin and query.startTimeMax are required");
}

#[tokio::test]
async fn trace_summaries_are_jsonpb_with_times_as_strings() {
    let api = api_with_golden_trace().await;
    let response = api.get(&format!("/api/v3/trace-summaries?{WINDOW}&query.rawTraces=true")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.content_type(), "application/json");
    assert_golden("api_v3_trace_summaries.json", &response.body);
    let none = api.get(&format!("/api/v3/trace-summaries?{WINDOW}&query.serviceName=nobody")).await;
    assert_eq!(none.body, r#"{"summaries":[]}"#);
}

#[tokio::test]
async fn services_and_operations_are_jsonpb_lists() {
    let api = api_with_golden_trace().await;
    let services = api.get("/api/v3/services").await;
    assert_eq!(services.content_type(), "application/json");
    assert_eq!(services.body, r#"{"services":["backend.shop","frontend.shop"]}"#);
    let operations = api.get("/api/v3/operations?service=backend.shop").await;
    assert_golden("api_v3_operations.json", &operations.body);
    let servers = api.get("/api/v3/operations?service=backend.shop&spanKind=server").await;
    assert_eq!(
        servers.body,
        r#"{"operations":[{"name":"backend.shop.svc.cluster.local:8080/*","spanKind":"server"}]}"#
    );
    let snake = api.get("/api/v3/operations?service=backend.shop&span_kind=server").await;
    assert_eq!(snake.body, servers.body);
    assert_eq!(Api::new().get("/api/v3/services").await.body, r#"{"services":[]}"#);
}

#[tokio::test]
async fn gateway_is_served_under_the_base_path() {
    let config = QueryHttpConfig { base_path: "/jaeger".into(), ..Default::default() };
    let api = Api::with(QueryServiceOptions::default(), config);
    api.write(golden_trace()).await;
    assert_eq!(api.get("/jaeger/api/v3/services").await.body, r#"{"services":["backend.shop","frontend.shop"]}"#);
    let trace = api.get(&format!("/jaeger/api/v3/traces/{}", golden_trace_id().to_hex())).await;
    assert_eq!(trace.status, StatusCode::OK);
}

#[tokio::test]
async fn transform_turns_otlp_json_into_ui_traces() {
    let api = Api::new();
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},
        {"key":"host.name","value":{"stringValue":"cart-1"}}]},"scopeSpans":[{"scope":{"name":"cart-lib"},"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
         "name":"checkout","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000123000",
         "attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],"status":{}}]}]}]}"#;
    let response = api.post("/api/transform", body).await;
    let json = response.ok_json();
    let trace = &json["data"][0];
    assert_eq!(trace["traceID"], "5b8efff798038103d269b633813fc60c");
    let span = &trace["spans"][0];
    assert_eq!(span["operationName"], "checkout");
    assert_eq!(span["duration"], 123);
    assert_eq!(span["references"][0]["refType"], "CHILD_OF");
    let tags = span["tags"].as_array().unwrap();
    assert!(tags.contains(&serde_json::json!({"key": "span.kind", "type": "string", "value": "server"})), "{tags:?}");
    assert!(tags.contains(&serde_json::json!({"key": "http.status_code", "type": "int64", "value": 200})));
    assert_eq!(trace["processes"]["p1"]["serviceName"], "cart");
    assert_eq!(json["errors"], serde_json::Value::Null);
    assert!(
        api.service.services(&spoor_model::Namespace::default_namespace()).await.unwrap().is_empty(),
        "nothing stored"
    );

    let bad = api.post("/api/transform", "{not json").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["errors"][0]["msg"].as_str().unwrap().starts_with("cannot unmarshal OTLP : "));
}

#[tokio::test]
async fn trace_attributes_keep_their_types() {
    let api = api_with_golden_trace().await;
    let json = api.get(&format!("/api/v3/traces/{}", golden_trace_id().to_hex())).await.json();
    let attributes = &json["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    let value_of =
        |key: &str| attributes.as_array().unwrap().iter().find(|kv| kv["key"] == key).map(|kv| kv["value"].clone());
    assert_eq!(value_of("http.status_code"), Some(serde_json::json!({"intValue": "200"})));
    assert_eq!(value_of("big"), Some(serde_json::json!({"intValue": (1_i64 << 60).to_string()})));
    assert_eq!(value_of("ratio"), Some(serde_json::json!({"doubleValue": 0.25})));
    assert_eq!(value_of("payload"), Some(serde_json::json!({"bytesValue": "3q2+7w=="})));
}
