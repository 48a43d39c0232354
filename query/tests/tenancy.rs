//! Tenancy by header (Jaeger's `multi_tenancy`): over HTTP and gRPC, a request reads only the
//! namespace its `x-tenant` header names, and missing or unknown tenants are refused with Jaeger's
//! statuses and messages. One memory store holds two namespaces with different data.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use spoor_model::jaeger_proto::timestamp_from_nanos;
use spoor_model::proto::jaeger::api_v2;
use spoor_model::proto::jaeger::api_v2::query_service_client::QueryServiceClient as ApiV2Client;
use spoor_model::proto::jaeger::api_v3;
use spoor_model::proto::jaeger::api_v3::query_service_client::QueryServiceClient as ApiV3Client;
use spoor_model::proto::jaeger::storage::v2 as storage_v2;
use spoor_model::proto::jaeger::storage::v2::dependency_reader_client::DependencyReaderClient;
use spoor_model::proto::jaeger::storage::v2::trace_reader_client::TraceReaderClient;
use spoor_model::{Namespace, Span, SpanBatch, TraceId};
use spoor_query::grpc::{serve_grpc_with_namespaces, serve_remote_storage_with_namespaces};
use spoor_query::http::{router_with_namespaces, NamespaceSelector, QueryHttpConfig};
use spoor_query::{namespace_selector, QueryMetrics, QueryService, QueryServiceOptions, TenancyConfig};
use spoor_storage::{MemoryStore, SpanReader, SpanWriter};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tower::ServiceExt;

const TRACE_A: TraceId = TraceId::new(0, 0xa);
const TRACE_B: TraceId = TraceId::new(0, 0xb);
const HOUR_NANOS: u64 = 3600 * SECOND_NANOS;

/// `parent` calls `child`, an hour ago.
fn call(trace_id: TraceId, parent: &str, child: &str) -> Vec<Span> {
    let start = now_unix_nano() - HOUR_NANOS;
    vec![
        span(trace_id, 1, None, "GET /", start, 100, &process(parent, vec![])),
        span(trace_id, 2, Some(1), "get", start + 1, 50, &process(child, vec![])),
    ]
}

/// team-a: `a-frontend` calls `a-cart`; team-b: `b-frontend` calls `b-cart`; team-c (stored,
/// but not an allowed tenant): `c-frontend` calls `c-cart`.
async fn service() -> Arc<QueryService> {
    let store = Arc::new(MemoryStore::new());
    for (namespace, trace_id, prefix) in [("team-a", TRACE_A, "a"), ("team-b", TRACE_B, "b"), ("team-c", TRACE_A, "c")]
    {
        let spans = call(trace_id, &format!("{prefix}-frontend"), &format!("{prefix}-cart"));
        store.write(&Namespace::new(namespace), SpanBatch::new(spans)).await.expect("memory store accepts spans");
    }
    let reader: Arc<dyn SpanReader> = store;
    Arc::new(QueryService::new(reader, QueryServiceOptions::default(), QueryMetrics::unregistered()))
}

fn tenancy() -> Arc<dyn NamespaceSelector> {
    let config =
        TenancyConfig { enabled: true, tenants: vec!["team-a".into(), "team-b".into()], ..TenancyConfig::default() };
    config.validate().expect("valid tenancy config");
    namespace_selector(&config, Namespace::default_namespace())
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn http_get(router: &axum::Router, uri: &str, tenant: Option<&str>) -> TestResponse {
    let mut request = Request::get(uri);
    if let Some(tenant) = tenant {
        request = request.header("x-tenant", tenant);
    }
    let response =
        router.clone().oneshot(request.body(Body::empty()).expect("valid request")).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    TestResponse { status, headers, body: String::from_utf8(bytes.to_vec()).expect("utf-8 body") }
}

async fn http_router() -> axum::Router {
    router_with_namespaces(service().await, &QueryHttpConfig::default(), tenancy())
}

#[tokio::test]
async fn http_requests_read_only_their_tenants_namespace() {
    let router = http_router().await;
    for (tenant, own, other) in [("team-a", TRACE_A, TRACE_B), ("team-b", TRACE_B, TRACE_A)] {
        let prefix = &tenant[5..];
        let services = http_get(&router, "/api/services", Some(tenant)).await.ok_json();
        assert_eq!(services["data"], serde_json::json!([format!("{prefix}-cart"), format!("{prefix}-frontend")]));

        let own_trace = http_get(&router, &format!("/api/traces/{}", own.to_hex()), Some(tenant)).await;
        assert_eq!(own_trace.trace_ids(), vec![own.to_hex()]);
        if own != other {
            let other_trace = http_get(&router, &format!("/api/traces/{}", other.to_hex()), Some(tenant)).await;
            assert_eq!(other_trace.status, StatusCode::NOT_FOUND, "{tenant} read another tenant's trace");
        }

        let other_prefix = if prefix == "a" { "b" } else { "a" };
        let search = http_get(&router, &format!("/api/traces?service={other_prefix}-frontend"), Some(tenant)).await;
        assert_eq!(search.ok_json()["data"], serde_json::json!([]));
        let operations = http_get(&router, &format!("/api/operations?service={other_prefix}-cart"), Some(tenant)).await;
        assert_eq!(operations.ok_json()["data"], serde_json::json!([]));

        let dependencies = http_get(&router, "/api/dependencies", Some(tenant)).await.ok_json();
        let expected = serde_json::json!([{"parent": format!("{prefix}-frontend"), "child": format!("{prefix}-cart"), "callCount": 1}]);
        assert_eq!(dependencies["data"], expected);
    }
}

#[tokio::test]
async fn http_without_tenant_header_is_401_missing_tenant_header() {
    let router = http_router().await;
    for uri in ["/api/services", "/api/traces/000000000000000a", "/api/dependencies", "/api/traces?service=a-cart"] {
        let response = http_get(&router, uri, None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(response.body, "missing tenant header", "{uri}");
        assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    }
    assert_eq!(http_get(&router, "/api/services", Some("")).await.body, "missing tenant header");
}

#[tokio::test]
async fn http_with_a_tenant_outside_the_list_is_401_unknown_tenant() {
    let router = http_router().await;
    // team-c has data, but is not an allowed tenant.
    let response = http_get(&router, "/api/services", Some("team-c")).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.body, "unknown tenant");
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn http_checks_the_tenant_before_the_parameters_as_jaeger() {
    let router = http_router().await;
    let response = http_get(&router, "/api/dependencies?endTs=x", None).await;
    assert_eq!((response.status, response.body.as_str()), (StatusCode::UNAUTHORIZED, "missing tenant header"));
    let response = http_get(&router, "/api/operations", Some("team-x")).await;
    assert_eq!((response.status, response.body.as_str()), (StatusCode::UNAUTHORIZED, "unknown tenant"));
}

// ---------------------------------------------------------------------------------------------
// gRPC

struct GrpcServer {
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn grpc_server(remote_storage: bool) -> GrpcServer {
    let service = service().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    let address = listener.local_addr().expect("bound address");
    let (shutdown, signal) = oneshot::channel::<()>();
    let stopped = async {
        let _ = signal.await;
    };
    if remote_storage {
        tokio::spawn(serve_remote_storage_with_namespaces(listener, service, tenancy(), stopped));
    } else {
        tokio::spawn(serve_grpc_with_namespaces(listener, service, tenancy(), stopped));
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("valid endpoint")
        .connect()
        .await
        .expect("server accepts connections");
    GrpcServer { channel, shutdown: Some(shutdown) }
}

fn with_tenant<T>(message: T, tenant: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(tenant) = tenant {
        request.metadata_mut().insert("x-tenant", tenant.parse().expect("ascii metadata"));
    }
    request
}

fn window() -> (Option<prost_types::Timestamp>, Option<prost_types::Timestamp>) {
    let now = now_unix_nano();
    (Some(timestamp_from_nanos(now - 2 * HOUR_NANOS)), Some(timestamp_from_nanos(now)))
}

#[tokio::test]
async fn grpc_api_v2_and_api_v3_read_only_their_tenants_namespace() {
    let server = grpc_server(false).await;
    let mut v2 = ApiV2Client::new(server.channel.clone());
    let mut v3 = ApiV3Client::new(server.channel.clone());

    let services = v2.get_services(with_tenant(api_v2::GetServicesRequest {}, Some("team-a"))).await.unwrap();
    assert_eq!(services.into_inner().services, vec!["a-cart", "a-frontend"]);
    let services = v3.get_services(with_tenant(api_v3::GetServicesRequest {}, Some("team-b"))).await.unwrap();
    assert_eq!(services.into_inner().services, vec!["b-cart", "b-frontend"]);

    let own = api_v3::GetTraceRequest { trace_id: TRACE_A.to_hex(), ..Default::default() };
    let stream = v3.get_trace(with_tenant(own, Some("team-a"))).await.unwrap().into_inner();
    assert_eq!(stream.collect::<Vec<_>>().await.len(), 1);
    let foreign = api_v2::GetTraceRequest { trace_id: TRACE_A.to_bytes().to_vec(), ..Default::default() };
    let status = match v2.get_trace(with_tenant(foreign, Some("team-b"))).await {
        Ok(response) => response.into_inner().next().await.expect("one item").unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(status.code(), tonic::Code::NotFound, "team-b read team-a's trace");

    let (start_time, end_time) = window();
    let request = api_v2::GetDependenciesRequest { start_time, end_time };
    let links = v2.get_dependencies(with_tenant(request, Some("team-b"))).await.unwrap().into_inner().dependencies;
    let pairs: Vec<(&str, &str)> = links.iter().map(|link| (link.parent.as_str(), link.child.as_str())).collect();
    assert_eq!(pairs, vec![("b-frontend", "b-cart")]);
}

#[tokio::test]
async fn grpc_without_tenant_is_unauthenticated_and_an_unknown_tenant_permission_denied() {
    let server = grpc_server(false).await;
    let mut v2 = ApiV2Client::new(server.channel.clone());
    let mut v3 = ApiV3Client::new(server.channel.clone());

    let status = v2.get_services(with_tenant(api_v2::GetServicesRequest {}, None)).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::Unauthenticated, "missing tenant header"));
    let status = v3.get_services(with_tenant(api_v3::GetServicesRequest {}, None)).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::Unauthenticated, "missing tenant header"));

    let status = v3.get_services(with_tenant(api_v3::GetServicesRequest {}, Some("team-c"))).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::PermissionDenied, "unknown tenant"));
    let (start_time, end_time) = window();
    let request = api_v3::GetDependenciesRequest { start_time, end_time };
    let status = v3.get_dependencies(with_tenant(request, Some("team-c"))).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::PermissionDenied, "unknown tenant"));
}

#[tokio::test]
async fn remote_storage_reads_only_the_tenants_namespace() {
    let server = grpc_server(true).await;
    let mut traces = TraceReaderClient::new(server.channel.clone());
    let mut dependencies = DependencyReaderClient::new(server.channel.clone());

    let services = traces.get_services(with_tenant(storage_v2::GetServicesRequest {}, Some("team-a"))).await.unwrap();
    assert_eq!(services.into_inner().services, vec!["a-cart", "a-frontend"]);
    let (start_time, end_time) = window();
    let request = storage_v2::GetDependenciesRequest { start_time, end_time };
    let links = dependencies.get_dependencies(with_tenant(request, Some("team-a"))).await.unwrap().into_inner();
    assert_eq!(links.dependencies.len(), 1);
    assert_eq!(links.dependencies[0].parent, "a-frontend");

    let status = traces.get_services(with_tenant(storage_v2::GetServicesRequest {}, None)).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::Unauthenticated, "missing tenant header"));
    let request = storage_v2::GetDependenciesRequest { start_time, end_time };
    let status = dependencies.get_dependencies(with_tenant(request, Some("team-z"))).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::PermissionDenied, "unknown tenant"));
}
