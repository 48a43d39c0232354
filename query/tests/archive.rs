//! Archive storage (Jaeger §5.2): `POST /api/archive/{traceID}` and api_v2 `ArchiveTrace` copy a
//! trace into the archive, and trace lookups (`/api/traces/{id}`, `/api/traces?traceID=`,
//! `/api/v3/traces/{id}`, api_v2/api_v3 `GetTrace`) fall back to it. The archive here is the same
//! memory store under `<namespace>-archive`.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use futures::StreamExt;
use spoor_model::proto::jaeger::api_v2;
use spoor_model::proto::jaeger::api_v2::query_service_client::QueryServiceClient as ApiV2Client;
use spoor_model::{Namespace, TraceId};
use spoor_query::grpc::serve_grpc;
use spoor_query::http::QueryHttpConfig;
use spoor_query::{ArchiveStorage, QueryMetrics, QueryService, QueryServiceOptions};
use spoor_storage::{GetTraceRequest, MemoryStore, SpanReader, SpanWriter};
use support::*;
use tokio::net::TcpListener;

const ARCHIVED_OK: &str = r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":[]}"#;

async fn stored_in(store: &MemoryStore, namespace: &Namespace, trace_id: TraceId) -> usize {
    let trace = store.get_trace(namespace, GetTraceRequest::new(trace_id)).await.expect("memory store reads");
    trace.map(|trace| trace.spans.len()).unwrap_or(0)
}

#[tokio::test]
async fn archiving_copies_every_stored_span_into_the_archive_namespace() {
    let api = Api::with_archive(QueryHttpConfig::default());
    api.write(golden_trace()).await;
    let response = api.post(&format!("/api/archive/{}", golden_trace_id().to_hex()), "").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.content_type(), "application/json");
    assert_eq!(response.body, ARCHIVED_OK);
    let archive = archive_namespace(&Namespace::default_namespace());
    assert_eq!(stored_in(&api.store, &archive, golden_trace_id()).await, 4, "raw spans, duplicates of ids kept");

    let again =
        api.post(&format!("/api/archive/{}?start=0&end=9999999999999999", golden_trace_id().to_hex()), "").await;
    assert_eq!(again.body, ARCHIVED_OK, "archiving twice is fine");
    assert_eq!(stored_in(&api.store, &archive, golden_trace_id()).await, 4, "and keeps one copy");
}

#[tokio::test]
async fn trace_lookups_fall_back_to_the_archive() {
    let api = Api::with_archive(QueryHttpConfig::default());
    let archive = archive_namespace(&Namespace::default_namespace());
    api.write_to(&archive, golden_trace()).await;
    let id = golden_trace_id().to_hex();

    let trace = api.get(&format!("/api/traces/{id}")).await.ok_json();
    assert_eq!(trace["data"][0]["traceID"], id.as_str());
    assert_eq!(trace["data"][0]["spans"].as_array().unwrap().len(), 4);

    let search = api.get(&format!("/api/traces?traceID={id}&traceID=00000000000000ff")).await.ok_json();
    assert_eq!(search["data"].as_array().unwrap().len(), 1);
    assert_eq!(search["errors"][0]["traceID"], "00000000000000ff");

    let v3 = api.get(&format!("/api/v3/traces/{id}")).await;
    assert_eq!(v3.status, StatusCode::OK, "{}", v3.body);
    assert!(v3.body.starts_with(r#"{"result":{"resourceSpans":["#), "{}", v3.body);

    // Archiving an archived trace re-reads it from the archive and succeeds.
    assert_eq!(api.post(&format!("/api/archive/{id}"), "").await.body, ARCHIVED_OK);
}

#[tokio::test]
async fn archiving_a_trace_neither_storage_has_is_not_found() {
    let api = Api::with_archive(QueryHttpConfig::default());
    api.post("/api/archive/00000000000000ab", "").await.assert_error(StatusCode::NOT_FOUND, "trace not found");
    api.get("/api/traces/00000000000000ab").await.assert_error(StatusCode::NOT_FOUND, "trace not found");
}

#[tokio::test]
async fn archiving_without_archive_storage_is_jaegers_500() {
    let api = Api::new();
    api.write(golden_trace()).await;
    let response = api.post(&format!("/api/archive/{}", golden_trace_id().to_hex()), "").await;
    response.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "archive span storage was not configured");
}

#[tokio::test]
async fn archiving_checks_the_trace_id_and_answers_only_post() {
    let api = Api::with_archive(QueryHttpConfig::default());
    let response = api.post("/api/archive/not-a-trace-id", "").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.json()["errors"][0]["msg"].as_str().unwrap().starts_with("cannot parse traceID param: "));
    assert_eq!(api.get("/api/archive/00000000000000ab").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn archive_route_is_served_under_the_base_path() {
    let api = Api::with_archive(QueryHttpConfig { base_path: "/jaeger".into(), ..Default::default() });
    api.write(golden_trace()).await;
    let response = api.post(&format!("/jaeger/api/archive/{}", golden_trace_id().to_hex()), "").await;
    assert_eq!(response.body, ARCHIVED_OK);
}

#[tokio::test]
async fn api_v2_archive_trace_round_trip_over_grpc() {
    let primary = Arc::new(MemoryStore::new());
    let archive_store = Arc::new(MemoryStore::new());
    let namespace = Namespace::default_namespace();
    primary.write(&namespace, golden_trace().into()).await.unwrap();
    let reader: Arc<dyn SpanReader> = primary.clone();
    let archive_reader: Arc<dyn SpanReader> = archive_store.clone();
    let archive_writer: Arc<dyn SpanWriter> = archive_store.clone();
    let service = QueryService::new(reader, QueryServiceOptions::default(), QueryMetrics::unregistered())
        .with_archive(archive_reader, archive_writer);
    assert!(service.has_archive());
    let service = Arc::new(service);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_grpc(listener, service, namespace.clone(), async {
        let _ = stopped.await;
    }));
    let mut client = ApiV2Client::connect(format!("http://{address}")).await.unwrap();

    let id = golden_trace_id().to_bytes().to_vec();
    client.archive_trace(api_v2::ArchiveTraceRequest { trace_id: id.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(stored_in(&archive_store, &namespace, golden_trace_id()).await, 4);

    let missing = TraceId::new(0, 0xdead).to_bytes().to_vec();
    let status = client
        .archive_trace(api_v2::ArchiveTraceRequest { trace_id: missing, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::NotFound, "trace not found"));
    let zero = client
        .archive_trace(api_v2::ArchiveTraceRequest { trace_id: vec![0; 16], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(zero.code(), tonic::Code::InvalidArgument);

    // Gone from the primary store (retention), still found through the archive.
    let only_archived = TraceId::new(7, 7);
    let mut spans = golden_trace();
    spans.iter_mut().for_each(|span| span.trace_id = only_archived);
    archive_store.write(&namespace, spans.into()).await.unwrap();
    let request = api_v2::GetTraceRequest { trace_id: only_archived.to_bytes().to_vec(), ..Default::default() };
    let mut chunks = client.get_trace(request).await.unwrap().into_inner();
    let mut span_count = 0;
    while let Some(chunk) = chunks.next().await {
        span_count += chunk.unwrap().spans.len();
    }
    assert_eq!(span_count, 4);

    drop(client);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[test]
fn archive_namespace_mapping_is_applied() {
    let store = Arc::new(MemoryStore::new());
    let archive = ArchiveStorage::new(store.clone(), store).with_namespaces(archive_namespace);
    assert_eq!(archive.namespace_for(&Namespace::new("shop")).as_str(), "shop-archive");
}
