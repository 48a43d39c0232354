//! `POST /api/archive/{traceID}?start=&end=` (Jaeger's `archiveTrace`): copies a trace into
//! archive storage. Success is `{"data":[],"total":0,"limit":0,"offset":0,"errors":[]}` (empty
//! lists, not null, as Jaeger writes them); a trace neither storage has is 404
//! `trace not found`; without archive storage, 500 `archive span storage was not configured`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use spoor_storage::GetTraceRequest;

use crate::error::QueryError;
use crate::http::envelope::{json_response, ApiError, Envelope};
use crate::http::handlers::ApiState;
use crate::http::params::{parse_trace_id, QueryParams};

pub(crate) async fn archive_trace(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    trace_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
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
    state.service.archive_trace(&namespace, request).await?;
    let envelope: Envelope<[(); 0]> =
        Envelope { data: Some([]), total: 0, limit: 0, offset: 0, errors: Some(Vec::new()) };
    Ok(json_response(&envelope, params.pretty_print()))
}
