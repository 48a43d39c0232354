//! The testing-only purge endpoint (`POST /purge`, Jaeger's `storagecleaner`), called in-process
//! and over TCP.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use spoor_model::{Namespace, TraceId};
use spoor_query::purge::PURGE_SUCCESS_BODY;
use spoor_query::{purge_router, serve_purge};
use spoor_storage::{GetTraceRequest, MemoryStore, Purger, SpanReader, StorageError};
use support::*;
use tower::ServiceExt;

async fn call(router: &axum::Router, method: Method, uri: &str) -> TestResponse {
    let request = Request::builder().method(method).uri(uri).body(Body::empty()).expect("valid request");
    let response = router.clone().oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    TestResponse { status, headers, body: String::from_utf8(bytes.to_vec()).expect("utf-8 body") }
}

fn one_span_trace(trace_id: TraceId) -> Vec<spoor_model::Span> {
    vec![span(trace_id, 1, None, "GET /", now_unix_nano(), 10, &process("frontend", vec![]))]
}

#[tokio::test]
async fn post_purge_deletes_every_namespace_and_answers_like_jaeger() {
    let api = Api::new();
    api.write(one_span_trace(TraceId::new(0, 1))).await;
    api.write_to(&Namespace::new("team-b"), one_span_trace(TraceId::new(0, 2))).await;
    let router = purge_router(api.store.clone());

    let response = call(&router, Method::POST, "/purge").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, PURGE_SUCCESS_BODY);
    assert_eq!(response.body, "Purge request processed successfully");
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");

    let get = |ns: &'static str, id| {
        let store = api.store.clone();
        async move { store.get_trace(&Namespace::new(ns), GetTraceRequest::new(TraceId::new(0, id))).await }
    };
    assert!(get("default", 1).await.unwrap().is_none());
    assert!(get("team-b", 2).await.unwrap().is_none());
    assert_eq!(api.get("/api/services").await.ok_json()["data"], serde_json::json!([]));
}

#[tokio::test]
async fn purge_takes_post_only() {
    let router = purge_router(Arc::new(MemoryStore::new()));
    assert_eq!(call(&router, Method::GET, "/purge").await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(call(&router, Method::POST, "/other").await.status, StatusCode::NOT_FOUND);
}

struct FailingPurger;

#[async_trait]
impl Purger for FailingPurger {
    async fn purge(&self) -> spoor_storage::Result<()> {
        Err(StorageError::Unavailable("embedded store is closed".into()))
    }
}

#[tokio::test]
async fn a_failed_purge_is_a_500_with_the_reason() {
    let response = call(&purge_router(Arc::new(FailingPurger)), Method::POST, "/purge").await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    assert_eq!(response.body, "error purging storage: storage unavailable: embedded store is closed\n");
}

#[tokio::test]
async fn serve_purge_answers_over_tcp_and_stops_on_shutdown() {
    let store = Arc::new(MemoryStore::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_purge(listener, store, async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"POST /purge HTTP/1.1\r\nHost: spoor\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("Purge request processed successfully"), "{response}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
