//! Bearer-token propagation for the gRPC servers (Jaeger's `--es.bearer-token-propagation`, which
//! Jaeger applies to its gRPC query and remote-storage servers too): [`BearerTokenLayer`] runs
//! each call with its caller's token ([`crate::bearer::grpc_bearer_token`]) as the current
//! request's token ([`spoor_storage::request_context`]), so the Elasticsearch reads it makes carry
//! it.
//!
//! The layer scopes the call up to its response headers. A streaming response whose stream reads
//! storage while it is sent (after the handler returned) must be wrapped in [`keep_bearer_token`],
//! which carries the token into every poll of the stream. The token is never logged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use spoor_storage::request_context::{current_bearer_token, with_bearer_token, BEARER_TOKEN};
use tower::{Layer, Service};

use crate::bearer::grpc_bearer_token;

/// Runs each call with its bearer token as the current request's token. A call with two
/// `bearer.token` values is refused (INVALID_ARGUMENT, Jaeger's message) before any handler runs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BearerTokenLayer;

impl<S> Layer<S> for BearerTokenLayer {
    type Service = BearerToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerToken { inner }
    }
}

/// The service [`BearerTokenLayer`] makes.
#[derive(Clone, Debug)]
pub(crate) struct BearerToken<S> {
    inner: S,
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for BearerToken<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        match grpc_bearer_token(request.headers()) {
            Ok(token) => Box::pin(with_bearer_token(token, self.inner.call(request))),
            Err(error) => {
                let refusal = tonic::Status::from(error).into_http();
                Box::pin(std::future::ready(Ok(refusal)))
            }
        }
    }
}

/// `stream` polled with the bearer token current where this is called (the call's), however
/// late the transport polls it.
pub(crate) fn keep_bearer_token<S: Stream + Unpin>(stream: S) -> KeepBearerToken<S> {
    KeepBearerToken { token: current_bearer_token(), stream }
}

/// See [`keep_bearer_token`].
pub(crate) struct KeepBearerToken<S> {
    token: Option<std::sync::Arc<str>>,
    stream: S,
}

impl<S: Stream + Unpin> Stream for KeepBearerToken<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        BEARER_TOKEN.sync_scope(this.token.clone(), || this.stream.poll_next_unpin(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use futures::StreamExt;
    use spoor_model::proto::jaeger::api_v2;
    use spoor_model::proto::jaeger::api_v2::query_service_client::QueryServiceClient as ApiV2Client;
    use spoor_model::proto::jaeger::api_v3;
    use spoor_model::proto::jaeger::api_v3::query_service_client::QueryServiceClient as ApiV3Client;
    use spoor_model::proto::jaeger::storage::v2 as storage_v2;
    use spoor_model::proto::jaeger::storage::v2::trace_reader_client::TraceReaderClient;
    use spoor_model::{Namespace, TraceId};
    use spoor_storage::{
        Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery,
        SpanReader, Trace, TraceQuery,
    };
    use std::future::pending;

    use tokio::net::TcpListener;
    use tonic::metadata::MetadataValue;
    use tonic::transport::Channel;

    use super::*;
    use crate::grpc::{
        serve_grpc_with_config, serve_remote_storage_with_config, QueryGrpcConfig, RemoteStorageGrpcConfig,
    };
    use crate::http::{FixedNamespace, NamespaceSelector};
    use crate::{QueryMetrics, QueryService, QueryServiceOptions};

    /// Records the bearer token each read sees; stores nothing.
    #[derive(Default)]
    struct TokenRecordingReader {
        seen: Mutex<Vec<(&'static str, Option<String>)>>,
    }

    impl TokenRecordingReader {
        fn record(&self, read: &'static str) {
            self.seen.lock().unwrap().push((read, current_bearer_token().map(|token| token.to_string())));
        }

        fn take(&self) -> Vec<(&'static str, Option<String>)> {
            std::mem::take(&mut *self.seen.lock().unwrap())
        }
    }

    #[async_trait]
    impl SpanReader for TokenRecordingReader {
        async fn get_trace(&self, _: &Namespace, _: GetTraceRequest) -> spoor_storage::Result<Option<Trace>> {
            // Yield first, so a read resumed outside the call's scope would show.
            tokio::task::yield_now().await;
            self.record("get_trace");
            Ok(None)
        }
        async fn find_trace_ids(&self, _: &Namespace, _: &TraceQuery) -> spoor_storage::Result<Vec<FoundTraceId>> {
            self.record("find_trace_ids");
            Ok(Vec::new())
        }
        async fn services(&self, _: &Namespace) -> spoor_storage::Result<Vec<String>> {
            self.record("services");
            Ok(Vec::new())
        }
        async fn operations(&self, _: &Namespace, _: &OperationQuery) -> spoor_storage::Result<Vec<Operation>> {
            self.record("operations");
            Ok(Vec::new())
        }
        async fn dependencies(&self, _: &Namespace, _: &DependencyQuery) -> spoor_storage::Result<Vec<DependencyLink>> {
            self.record("dependencies");
            Ok(Vec::new())
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities { search_without_service: true, operation_span_kind: false, durable: false }
        }
    }

    /// The query and remote-storage servers over one recording reader, on 127.0.0.1:0; they
    /// stop with the test's runtime.
    struct Servers {
        reader: Arc<TokenRecordingReader>,
        query: Channel,
        remote_storage: Channel,
    }

    async fn servers(bearer_token_propagation: bool) -> Servers {
        let reader = Arc::new(TokenRecordingReader::default());
        let service =
            Arc::new(QueryService::new(reader.clone(), QueryServiceOptions::default(), QueryMetrics::unregistered()));
        let namespaces: Arc<dyn NamespaceSelector> = Arc::new(FixedNamespace(Namespace::default_namespace()));
        let query_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let query_address = query_listener.local_addr().unwrap();
        let query_config = QueryGrpcConfig { bearer_token_propagation, ..Default::default() };
        let (query_service, query_namespaces) = (service.clone(), namespaces.clone());
        tokio::spawn(async move {
            serve_grpc_with_config(query_listener, query_service, &query_config, query_namespaces, pending()).await
        });
        let remote_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let remote_address = remote_listener.local_addr().unwrap();
        let remote_config = RemoteStorageGrpcConfig { bearer_token_propagation, ..Default::default() };
        tokio::spawn(async move {
            serve_remote_storage_with_config(remote_listener, service, &remote_config, namespaces, pending()).await
        });
        let connect = |address: std::net::SocketAddr| async move {
            tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap()
        };
        Servers { reader, query: connect(query_address).await, remote_storage: connect(remote_address).await }
    }

    fn with_metadata<T>(message: T, metadata: &[(&'static str, &'static str)]) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        for (key, value) in metadata {
            request.metadata_mut().append(*key, MetadataValue::from_static(value));
        }
        request
    }

    fn seen(read: &'static str, token: Option<&str>) -> (&'static str, Option<String>) {
        (read, token.map(str::to_owned))
    }

    #[tokio::test]
    async fn a_unary_calls_token_reaches_the_reader_and_a_call_without_one_sees_none() {
        let servers = servers(true).await;
        let mut api_v2 = ApiV2Client::new(servers.query.clone());
        let bearer = [("authorization", "Bearer token-v2")];
        api_v2.get_services(with_metadata(api_v2::GetServicesRequest {}, &bearer)).await.unwrap();
        api_v2.get_services(with_metadata(api_v2::GetServicesRequest {}, &[])).await.unwrap();
        let jaegers_key = [("bearer.token", "token-from-jaeger")];
        let mut trace_reader = TraceReaderClient::new(servers.remote_storage.clone());
        trace_reader.get_services(with_metadata(storage_v2::GetServicesRequest {}, &jaegers_key)).await.unwrap();
        assert_eq!(
            servers.reader.take(),
            vec![
                seen("services", Some("token-v2")),
                seen("services", None),
                seen("services", Some("token-from-jaeger"))
            ]
        );
    }

    #[tokio::test]
    async fn streaming_calls_read_with_the_calls_token() {
        let servers = servers(true).await;
        let bearer = [("authorization", "Bearer token-v3")];
        let mut api_v3 = ApiV3Client::new(servers.query.clone());
        let trace_id = TraceId::new(0, 1).to_hex32();
        let request = api_v3::GetTraceRequest { trace_id, ..Default::default() };
        // No stored trace: NOT_FOUND, after the read.
        api_v3.get_trace(with_metadata(request, &bearer)).await.unwrap_err();
        let query = api_v3::TraceQueryParameters {
            service_name: "svc".into(),
            start_time_min: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            start_time_max: Some(prost_types::Timestamp { seconds: 1_700_003_600, nanos: 0 }),
            search_depth: 20,
            ..Default::default()
        };
        let request = api_v3::FindTracesRequest { query: Some(query) };
        let stream = api_v3.find_traces(with_metadata(request, &bearer)).await.unwrap().into_inner();
        assert_eq!(stream.count().await, 0);
        assert_eq!(
            servers.reader.take(),
            vec![seen("get_trace", Some("token-v3")), seen("find_trace_ids", Some("token-v3"))]
        );
    }

    /// storage.v2 `GetTraces` reads each trace while the response streams, after its handler
    /// returned: the token must still be there.
    #[tokio::test]
    async fn a_stream_that_reads_storage_while_it_is_sent_keeps_the_calls_token() {
        let servers = servers(true).await;
        let mut trace_reader = TraceReaderClient::new(servers.remote_storage.clone());
        let query = [1, 2, 3]
            .map(|low| storage_v2::GetTraceParams {
                trace_id: TraceId::new(0, low).to_bytes().to_vec(),
                ..Default::default()
            })
            .to_vec();
        let request = storage_v2::GetTracesRequest { query };
        let metadata = [("bearer.token", "token-lazy")];
        let stream = trace_reader.get_traces(with_metadata(request.clone(), &metadata)).await.unwrap().into_inner();
        assert_eq!(stream.count().await, 0);
        let stream = trace_reader.get_traces(with_metadata(request, &[])).await.unwrap().into_inner();
        assert_eq!(stream.count().await, 0);
        let with_token = seen("get_trace", Some("token-lazy"));
        let without = seen("get_trace", None);
        assert_eq!(
            servers.reader.take(),
            vec![with_token.clone(), with_token.clone(), with_token, without.clone(), without.clone(), without]
        );
    }

    #[tokio::test]
    async fn no_token_reaches_the_reader_when_propagation_is_off() {
        let servers = servers(false).await;
        let mut api_v2 = ApiV2Client::new(servers.query.clone());
        api_v2
            .get_services(with_metadata(api_v2::GetServicesRequest {}, &[("authorization", "Bearer t")]))
            .await
            .unwrap();
        let mut trace_reader = TraceReaderClient::new(servers.remote_storage.clone());
        trace_reader
            .get_services(with_metadata(storage_v2::GetServicesRequest {}, &[("bearer.token", "t")]))
            .await
            .unwrap();
        assert_eq!(servers.reader.take(), vec![seen("services", None), seen("services", None)]);
    }

    #[tokio::test]
    async fn a_call_with_two_tokens_is_refused_before_any_read() {
        let servers = servers(true).await;
        let mut api_v2 = ApiV2Client::new(servers.query.clone());
        let two = [("bearer.token", "secret-a"), ("bearer.token", "secret-b")];
        let status = api_v2.get_services(with_metadata(api_v2::GetServicesRequest {}, &two)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "malformed token: multiple tokens found");
        assert!(servers.reader.take().is_empty());
    }
}
