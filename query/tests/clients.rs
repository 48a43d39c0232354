//! The requests Kiali (1.24 over HTTP, and later) and Grafana's Jaeger data source send, as
//! `shared/spec/integrations.md` §2-3 records them.

mod support;

use axum::http::StatusCode;
use spoor_model::{KeyValue, TraceId};
use spoor_query::http::QueryHttpConfig;
use spoor_query::QueryServiceOptions;
use support::*;

/// Bookinfo through Envoy: `productpage` calls `reviews`; Envoy sends string tags only.
async fn bookinfo(api: &Api) -> u64 {
    let now = now_unix_nano();
    let start = now - 120 * SECOND_NANOS;
    let productpage = process("productpage.bookinfo", vec![KeyValue::int64("ip", 0x0a01_0203)]);
    let reviews = process("reviews.bookinfo", vec![KeyValue::string("ip", "10.1.2.4")]);
    for (low, error, duration_micros) in [(1u64, "false", 20_000u64), (2, "true", 80_000), (3, "", 150_000)] {
        let trace_id = TraceId::new(0, low);
        let mut server_tags = vec![
            KeyValue::string("span.kind", "server"),
            KeyValue::string("component", "proxy"),
            KeyValue::string("node_id", "sidecar~10.1.2.4~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local"),
            KeyValue::string("http.status_code", if error == "true" { "503" } else { "200" }),
            KeyValue::string("response_flags", "-"),
        ];
        if !error.is_empty() {
            server_tags.push(KeyValue::string("error", error));
        }
        let base = start + low * SECOND_NANOS;
        api.write(vec![
            with_tags(
                span(
                    trace_id,
                    0x10,
                    None,
                    "reviews.bookinfo.svc.cluster.local:9080/*",
                    base,
                    duration_micros * 1_000 + 4_000_000,
                    &productpage,
                ),
                vec![
                    KeyValue::string("span.kind", "client"),
                    KeyValue::string("upstream_cluster", "outbound|9080||reviews.bookinfo.svc.cluster.local"),
                ],
            ),
            with_tags(
                span(
                    trace_id,
                    0x10,
                    None,
                    "reviews.bookinfo.svc.cluster.local:9080/*",
                    base + 1_000_000,
                    duration_micros * 1_000,
                    &reviews,
                ),
                server_tags,
            ),
        ])
        .await;
    }
    now / 1_000
}

#[tokio::test]
async fn kiali_trace_list_with_app_dot_namespace_service_finds_envoy_traces() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let start = now_micros - 600 * 1_000_000;
    let response =
        api.get(&format!("/api/traces?service=reviews.bookinfo&start={start}&end={now_micros}&limit=100")).await;
    assert_eq!(response.trace_ids(), vec!["0000000000000003", "0000000000000002", "0000000000000001"]);
    let json = response.json();
    let spans = json["data"][0]["spans"].as_array().unwrap();
    let server = spans.iter().find(|s| s["tags"].as_array().unwrap().iter().any(|t| t["value"] == "server")).unwrap();
    let tag = |key: &str| server["tags"].as_array().unwrap().iter().find(|t| t["key"] == key).cloned();
    assert_eq!(tag("span.kind").unwrap()["value"], "server", "Kiali reads direction from span.kind");
    assert_eq!(tag("node_id").unwrap()["value"], "sidecar~10.1.2.4~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local");
    assert_eq!(tag("component").unwrap()["value"], "proxy");
    assert_ne!(server["spanID"], spans[0]["spanID"], "shared Envoy span ids are split for the UI");
    let processes = &json["data"][0]["processes"];
    assert_eq!(processes["p1"]["tags"][0], serde_json::json!({"key": "ip", "type": "string", "value": "10.1.2.3"}));
}

#[tokio::test]
async fn kiali_error_trace_count_matches_string_error_tags() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let start = now_micros - 600 * 1_000_000;
    // q.Set("tags", `{"error":"true"}`), URL-encoded by Go.
    let uri = format!(
        "/api/traces?end={now_micros}&service=reviews.bookinfo&start={start}&tags=%7B%22error%22%3A%22true%22%7D"
    );
    assert_eq!(api.get(&uri).await.trace_ids(), vec!["0000000000000002"]);
}

#[tokio::test]
async fn kiali_min_duration_works_with_and_without_a_unit() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let start = now_micros - 600 * 1_000_000;
    let base = format!("/api/traces?service=reviews.bookinfo&start={start}&end={now_micros}");
    let expected = vec!["0000000000000003".to_owned(), "0000000000000002".to_owned()];
    assert_eq!(api.get(&format!("{base}&minDuration=50000us")).await.trace_ids(), expected, "later Kiali appends us");
    assert_eq!(api.get(&format!("{base}&minDuration=50000")).await.trace_ids(), expected, "older Kiali sends bare µs");
    assert_eq!(api.get(&format!("{base}&minDuration=50ms")).await.trace_ids(), expected);
}

#[tokio::test]
async fn kiali_trace_detail_of_a_missing_trace_has_null_data() {
    let api = Api::new();
    let response = api.get("/api/traces/0000000000000bad").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    // Kiali ignores the status and decodes the body: empty `data` means not found.
    assert_eq!(response.json()["data"], serde_json::Value::Null);
}

#[tokio::test]
async fn kiali_tracing_check_without_parameters_gets_the_documented_error_body() {
    let api = Api::new();
    let response = api.get("/api/traces").await;
    assert_eq!(
        response.body.trim_end(),
        r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}"#
    );
}

#[tokio::test]
async fn kiali_discovery_finds_services_under_a_jaeger_base_path() {
    let config = QueryHttpConfig { base_path: "/jaeger".into(), ..Default::default() };
    let api = Api::with(QueryServiceOptions::default(), config);
    bookinfo(&api).await;
    let expected = serde_json::json!(["productpage.bookinfo", "reviews.bookinfo"]);
    assert_eq!(api.get("/jaeger/api/services").await.ok_json()["data"], expected);
    assert_eq!(api.get("/api/services").await.ok_json()["data"], expected);
}

#[tokio::test]
async fn grafana_health_check_and_operation_dropdown_read_string_lists() {
    let api = Api::new();
    bookinfo(&api).await;
    let services = api.get("/api/services").await.ok_json();
    assert!(!services["data"].as_array().unwrap().is_empty());
    let operations = api.get("/api/services/reviews.bookinfo/operations").await.ok_json();
    assert_eq!(operations["data"], serde_json::json!(["reviews.bookinfo.svc.cluster.local:9080/*"]));
}

#[tokio::test]
async fn grafana_search_with_typed_durations_tags_and_lookback_custom() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let start = now_micros - 600 * 1_000_000;
    let uri = format!(
        "/api/traces?service=reviews.bookinfo&operation=reviews.bookinfo.svc.cluster.local%3A9080%2F*\
         &tags=%7B%22http.status_code%22%3A%22200%22%7D&minDuration=1.2ms&maxDuration=1s&limit=20\
         &start={start}&end={now_micros}&lookback=custom"
    );
    assert_eq!(api.get(&uri).await.trace_ids(), vec!["0000000000000003", "0000000000000001"]);
    let bounded = uri.replace("maxDuration=1s", "maxDuration=100ms");
    assert_eq!(api.get(&bounded).await.trace_ids(), vec!["0000000000000001"]);
}

#[tokio::test]
async fn grafana_trace_by_id_with_time_params_reads_the_first_trace() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let start = now_micros - 600 * 1_000_000;
    let response = api.get(&format!("/api/traces/0000000000000002?start={start}&end={now_micros}")).await;
    let json = response.ok_json();
    let trace = &json["data"][0];
    assert_eq!(trace["traceID"], "0000000000000002");
    let references = &trace["spans"][1]["references"];
    assert_eq!(references[0]["refType"], "CHILD_OF", "Grafana takes the parent from the first CHILD_OF");
}
