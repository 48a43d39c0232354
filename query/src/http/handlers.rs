//! The `/api/*` handlers: select the namespace, parse parameters, call the [`QueryService`], wrap
//! the answer in Jaeger's envelope. No query logic lives here. The namespace comes first, as
//! Jaeger's tenancy middleware refuses a request before any parameter is parsed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use spoor_storage::{GetTraceRequest, OperationQuery};

use crate::error::QueryError;
use crate::http::envelope::{json_response, ApiError, Envelope, StructuredError};
use crate::http::params::{parse_dependencies, parse_search, parse_trace_id, QueryParams};
use crate::http::ui_model::{ui_dependency_links, ui_trace, UiOperation};
use crate::http::NamespaceSelector;
use crate::service::{QueryService, QueryTrace};

#[derive(Clone)]
pub(crate) struct ApiState {
    pub service: Arc<QueryService>,
    pub namespaces: Arc<dyn NamespaceSelector>,
}

type ApiResult = Result<Response, ApiError>;

/// `GET /api/services`: `["svc", ...]`, `total` = count.
pub(crate) async fn services(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let services = state.service.services(&namespace).await?;
    let total = services.len();
    Ok(json_response(&Envelope::data(services).with_total(total), params.pretty_print()))
}

/// `GET /api/services/{service}/operations`: unique operation names of every span kind.
pub(crate) async fn service_operations(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    service: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let Path(service_name) = service.map_err(|rejection| QueryError::invalid_argument(rejection.body_text()))?;
    let operations = state.service.operations(&namespace, &OperationQuery { service_name, span_kind: None }).await?;
    let mut names: Vec<String> = operations.into_iter().map(|operation| operation.name).collect();
    names.sort_unstable();
    names.dedup();
    let total = names.len();
    Ok(json_response(&Envelope::data(names).with_total(total), params.pretty_print()))
}

/// `GET /api/operations?service=&spanKind=`: `[{"name", "spanKind"}]`.
pub(crate) async fn operations(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let Some(service_name) = params.first("service") else {
        return Err(QueryError::invalid_argument("parameter 'service' is required").into());
    };
    let query = OperationQuery { service_name: service_name.to_owned(), span_kind: params.span_kind()? };
    let operations = state.service.operations(&namespace, &query).await?;
    let data: Vec<UiOperation<'_>> = operations
        .iter()
        .map(|operation| UiOperation { name: &operation.name, span_kind: operation.span_kind.as_str() })
        .collect();
    let total = data.len();
    Ok(json_response(&Envelope::data(data).with_total(total), params.pretty_print()))
}

/// `GET /api/traces/{traceID}?start=&end=&raw=`: `[trace]`, or 404 `trace not found`.
pub(crate) async fn trace(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    trace_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let Path(trace_id) = trace_id.map_err(|rejection| QueryError::invalid_argument(rejection.body_text()))?;
    let trace_id = parse_trace_id(&trace_id)
        .map_err(|error| QueryError::invalid_argument(format!("cannot parse traceID param: {error}")))?;
    let request = GetTraceRequest {
        trace_id,
        start_time_min_unix_nano: params.micros_as_unix_nanos("start")?,
        start_time_max_unix_nano: params.micros_as_unix_nanos("end")?,
    };
    let trace = state.service.get_trace(&namespace, request, params.raw()).await?;
    Ok(traces_response(&[trace], Vec::new(), params.pretty_print()))
}

/// `GET /api/traces`: a search, or with `traceID` a lookup whose missing ids are listed in
/// `errors`.
pub(crate) async fn search(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let request = parse_search(&params, now_unix_nano())?;
    let raw = params.raw();
    if request.trace_ids.is_empty() {
        let traces = state.service.find_traces(&namespace, &request.query, raw).await?;
        return Ok(traces_response(&traces, Vec::new(), params.pretty_print()));
    }
    let mut traces = Vec::with_capacity(request.trace_ids.len());
    let mut not_found = Vec::new();
    for trace_id in request.trace_ids {
        let lookup = GetTraceRequest {
            trace_id,
            start_time_min_unix_nano: request.start_unix_nano,
            start_time_max_unix_nano: request.end_unix_nano,
        };
        match state.service.get_trace(&namespace, lookup, raw).await {
            Ok(trace) => traces.push(trace),
            Err(QueryError::TraceNotFound) => not_found.push(StructuredError {
                code: 0,
                msg: QueryError::TraceNotFound.to_string(),
                trace_id: trace_id.to_hex(),
            }),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(traces_response(&traces, not_found, params.pretty_print()))
}

/// `GET /api/dependencies?endTs=&lookback=&service=`: `[{"parent", "child", "callCount"}]`, one
/// per (parent, child) with the calls summed; with `service`, only the links it is part of.
/// `total` is 0, as Jaeger's.
pub(crate) async fn dependencies(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> ApiResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let request = parse_dependencies(&params, now_unix_nano())?;
    let mut links = state.service.dependencies(&namespace, &request.query).await?;
    if let Some(service) = &request.service {
        links.retain(|link| &link.parent == service || &link.child == service);
    }
    Ok(json_response(&Envelope::data(ui_dependency_links(links)), params.pretty_print()))
}

/// Trace lists carry `total` 0, as Jaeger's do.
fn traces_response(traces: &[QueryTrace], errors: Vec<StructuredError>, pretty: bool) -> Response {
    let data: Vec<_> = traces.iter().map(ui_trace).collect();
    json_response(&Envelope::data(data).with_errors(errors), pretty)
}

fn now_unix_nano() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}
