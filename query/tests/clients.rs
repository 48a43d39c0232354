//! The requests Kiali (1.24 over HTTP, and later over gRPC) and Grafana's Jaeger data source
//! (HTTP API, and its experimental api_v3 HTTP gateway path) send, as
//! `shared/spec/integrations.md` §2-3 records them.

mod support;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use futures::StreamExt;
use spoor_model::jaeger_proto::timestamp_from_nanos;
use spoor_model::proto::jaeger::api_v2;
use spoor_model::proto::jaeger::api_v2::query_service_client::QueryServiceClient as ApiV2Client;
use spoor_model::{KeyValue, Namespace, TraceId};
use spoor_query::grpc::serve_grpc;
use spoor_query::http::QueryHttpConfig;
use spoor_query::QueryServiceOptions;
use support::*;
use tokio::net::TcpListener;

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

/// Kiali ≥ 1.38 (`use_grpc: true`): `GetServices` for its status check, `FindTraces` with
/// service, window, tags, minimum duration and search depth (a stream of 10-span chunks it
/// regroups by trace id), then `GetTrace` with a 16-byte id.
#[tokio::test]
async fn kiali_grpc_sequence_status_search_regroup_and_trace_detail() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_grpc(listener, api.service.clone(), Namespace::default_namespace(), async {
        let _ = stopped.await;
    }));
    let mut client = ApiV2Client::connect(format!("http://{address}")).await.unwrap();

    let services = client.get_services(api_v2::GetServicesRequest {}).await.unwrap().into_inner().services;
    assert_eq!(services, vec!["productpage.bookinfo", "reviews.bookinfo"]);

    let query = api_v2::TraceQueryParameters {
        service_name: "reviews.bookinfo".into(),
        start_time_min: Some(timestamp_from_nanos((now_micros - 600_000_000) * 1_000)),
        start_time_max: Some(timestamp_from_nanos(now_micros * 1_000)),
        tags: [("error".to_owned(), "true".to_owned())].into_iter().collect(),
        duration_min: Some(prost_types::Duration { seconds: 0, nanos: 50_000_000 }),
        search_depth: 200,
        ..Default::default()
    };
    let request = api_v2::FindTracesRequest { query: Some(query) };
    let mut chunks = client.find_traces(request).await.unwrap().into_inner();
    let mut traces: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    while let Some(chunk) = chunks.next().await {
        for span in chunk.unwrap().spans {
            assert!(span.process.is_some(), "each span carries its process");
            *traces.entry(span.trace_id).or_default() += 1;
        }
    }
    let expected: BTreeMap<Vec<u8>, usize> = [(TraceId::new(0, 2).to_bytes().to_vec(), 2)].into_iter().collect();
    assert_eq!(traces, expected);

    let request = api_v2::GetTraceRequest { trace_id: TraceId::new(0, 3).to_bytes().to_vec(), ..Default::default() };
    let mut chunks = client.get_trace(request).await.unwrap().into_inner();
    let spans: Vec<api_v2::Span> = chunks.next().await.unwrap().unwrap().spans;
    let server_span = spans.iter().find(|span| span.tags.iter().any(|tag| tag.v_str == "server")).unwrap();
    assert!(server_span.tags.iter().any(|tag| tag.key == "node_id"), "Kiali's workload filter reads node_id");

    drop(client);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Grafana's experimental api_v3 path: `/api/v3/services`, `/api/v3/operations?service=`, a
/// search with the snake_case `query.*` parameters and RFC 3339 times, then the trace by id.
#[tokio::test]
async fn grafana_api_v3_sequence_services_operations_search_and_trace() {
    let api = Api::new();
    let now_micros = bookinfo(&api).await;
    let services = api.get("/api/v3/services").await.ok_json();
    assert_eq!(services, serde_json::json!({"services": ["productpage.bookinfo", "reviews.bookinfo"]}));
    let operations = api.get("/api/v3/operations?service=reviews.bookinfo").await.ok_json();
    assert_eq!(operations["operations"][0]["name"], "reviews.bookinfo.svc.cluster.local:9080/*");

    let rfc3339 = |micros: u64| {
        let seconds = micros / 1_000_000;
        // Days and time of day from Unix seconds (UTC), enough for a query window.
        let (days, rest) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            micros % 1_000_000
        )
    };
    let uri = format!(
        "/api/v3/traces?query.service_name=reviews.bookinfo&query.operation_name=reviews.bookinfo.svc.cluster.local%3A9080%2F*\
         &query.duration_min=100ms&query.duration_max=1s&query.start_time_min={}&query.start_time_max={}",
        rfc3339(now_micros - 600_000_000),
        rfc3339(now_micros)
    );
    let search = api.get(&uri).await.ok_json();
    let spans: Vec<&serde_json::Value> = search["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|resource| resource["scopeSpans"].as_array().unwrap())
        .flat_map(|scope| scope["spans"].as_array().unwrap())
        .collect();
    assert!(!spans.is_empty());
    assert!(spans.iter().all(|span| span["traceId"] == "00000000000000000000000000000003"), "{spans:?}");

    let trace = api.get("/api/v3/traces/00000000000000000000000000000001").await.ok_json();
    assert!(trace["result"]["resourceSpans"].as_array().is_some_and(|resources| resources.len() == 2));
    let missing = api.get("/api/v3/traces/00000000000000000000000000000bad").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["message"], "No traces found");
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}
