//! Jaeger's bearer-token propagation (`--es.bearer-token-propagation`): the caller's token is
//! handed to the storage reads made while serving its request
//! ([`spoor_storage::request_context`]), so Elasticsearch checks the caller's rights instead of the
//! query service's. Only targets that set `bearer_token_propagation` use it. The token is never
//! logged. Which header holds the token is `crate::bearer`'s rule, shared with gRPC.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use spoor_storage::request_context::with_bearer_token;

use crate::bearer::http_bearer_token;

/// axum middleware: runs the rest of the request with its bearer token (if any) as the current
/// request's token.
pub(crate) async fn propagate_bearer_token(request: Request, next: Next) -> Response {
    let token = http_bearer_token(request.headers());
    with_bearer_token(token, next.run(request)).await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::header::AUTHORIZATION;
    use axum::http::{HeaderValue, Request, StatusCode};
    use spoor_model::Namespace;
    use spoor_storage::request_context::current_bearer_token;
    use spoor_storage::{
        Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery,
        SpanReader, Trace, TraceQuery,
    };
    use tower::ServiceExt;

    use crate::http::{router, QueryHttpConfig};
    use crate::{QueryMetrics, QueryService, QueryServiceOptions};

    /// Records the bearer token visible to each `services` call.
    #[derive(Default)]
    struct TokenRecordingReader {
        seen: Mutex<Vec<Option<String>>>,
    }

    #[async_trait]
    impl SpanReader for TokenRecordingReader {
        async fn get_trace(&self, _: &Namespace, _: GetTraceRequest) -> spoor_storage::Result<Option<Trace>> {
            Ok(None)
        }
        async fn find_trace_ids(&self, _: &Namespace, _: &TraceQuery) -> spoor_storage::Result<Vec<FoundTraceId>> {
            Ok(Vec::new())
        }
        async fn services(&self, _: &Namespace) -> spoor_storage::Result<Vec<String>> {
            self.seen.lock().unwrap().push(current_bearer_token().map(|token| token.to_string()));
            Ok(Vec::new())
        }
        async fn operations(&self, _: &Namespace, _: &OperationQuery) -> spoor_storage::Result<Vec<Operation>> {
            Ok(Vec::new())
        }
        async fn dependencies(&self, _: &Namespace, _: &DependencyQuery) -> spoor_storage::Result<Vec<DependencyLink>> {
            Ok(Vec::new())
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities { search_without_service: false, operation_span_kind: false, durable: false }
        }
    }

    async fn tokens_seen(propagation: bool, requests: &[Option<&'static str>]) -> Vec<Option<String>> {
        let reader = Arc::new(TokenRecordingReader::default());
        let service = QueryService::new(reader.clone(), QueryServiceOptions::default(), QueryMetrics::unregistered());
        let config = QueryHttpConfig { bearer_token_propagation: propagation, ..Default::default() };
        let app = router(Arc::new(service), &config);
        for authorization in requests {
            let mut request = Request::get("/api/services").body(Body::empty()).unwrap();
            if let Some(value) = authorization {
                request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_static(value));
            }
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        let seen = reader.seen.lock().unwrap().clone();
        seen
    }

    #[tokio::test]
    async fn the_requests_bearer_token_reaches_the_reader_when_propagation_is_on() {
        let seen = tokens_seen(true, &[Some("Bearer token-1"), None, Some("Basic dXNlcjpwYXNz")]).await;
        assert_eq!(seen, vec![Some("token-1".to_owned()), None, None]);
    }

    #[tokio::test]
    async fn no_token_reaches_the_reader_when_propagation_is_off() {
        let seen = tokens_seen(false, &[Some("Bearer token-1")]).await;
        assert_eq!(seen, vec![None]);
    }
}
