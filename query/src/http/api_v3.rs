//! Jaeger's api_v3 HTTP gateway on the query HTTP port (spec §5.4; Jaeger's hand-written
//! `internal/apiv3/http_gateway.go` and `query_parser.go`): `GET /api/v3/traces/{trace_id}`,
//! `/api/v3/traces`, `/api/v3/trace-summaries`, `/api/v3/services` and `/api/v3/operations`,
//! under the base path like every other route.
//!
//! Answers are what Jaeger's gateway writes: traces as `{"result":<OTLP/JSON TracesData>}` (every
//! trace merged into one `TracesData`; [`super::otlp_json`] writes it as the Collector's pdata
//! does), the other answers in gogo-jsonpb form (`{"services":[..]}`; zero fields left out,
//! 64-bit integers as strings), and failures as Go's `http.Error` with
//! `{"error":{"httpCode":<status>,"message":"..."}}`. An empty trace result is
//! `404 No traces found`. The traces come from the api_v3 gRPC conversion
//! ([`spoor_model::otlp::spans_to_otlp`] after [`spans_with_trace_warnings`]).

use spoor_model::civil_date::days_from_civil;
use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spoor_model::duration::parse_go_duration;
use spoor_model::otlp::spans_to_resource_spans;
use spoor_storage::{GetTraceRequest, OperationQuery, TraceQuery};

use crate::error::QueryError;
use crate::grpc::convert::{span_kind_filter, spans_with_trace_warnings};
use crate::grpc::summary::{summarize, TraceSummary};
use crate::http::envelope::{status_for, ApiError};
use crate::http::handlers::ApiState;
use crate::http::json::to_go_json;
use crate::http::otlp_json::write_traces_data;
use crate::http::params::{parse_go_bool, parse_trace_id, QueryParams};
use crate::service::QueryTrace;

/// The search depth when the request names none (Jaeger's gateway default).
const DEFAULT_SEARCH_DEPTH: usize = 100;

/// Go's `time.RFC3339Nano` layout, as Go names it in its parse errors.
const RFC3339_NANO_LAYOUT: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// A gateway failure, written as Jaeger's `GRPCGatewayError`.
#[derive(Debug)]
pub(crate) enum GatewayError {
    /// HTTP status and message.
    Status(StatusCode, String),
    /// A tenancy refusal: the bare message, as Jaeger's tenancy middleware writes it.
    Tenancy(QueryError),
}

impl From<QueryError> for GatewayError {
    fn from(error: QueryError) -> Self {
        if error.is_tenancy_refusal() {
            return Self::Tenancy(error);
        }
        let status = status_for(error.kind());
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %error, "query api_v3 gateway request failed");
        }
        Self::Status(status, error.to_string())
    }
}

impl GatewayError {
    fn bad_request(message: String) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, message)
    }

    fn malformed(parameter: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("malformed parameter {parameter}: {reason}"))
    }

    fn no_traces_found() -> Self {
        Self::Status(StatusCode::NOT_FOUND, "No traces found".to_owned())
    }
}

#[derive(Serialize)]
struct GatewayErrorBody<'a> {
    error: GatewayErrorDetails<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayErrorDetails<'a> {
    http_code: u16,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Tenancy(error) => return ApiError(error).into_response(),
            Self::Status(status, message) => (status, message),
        };
        let body = GatewayErrorBody { error: GatewayErrorDetails { http_code: status.as_u16(), message: &message } };
        let mut bytes = to_go_json(&body, false).unwrap_or_default();
        bytes.push(b'\n');
        let headers = [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ];
        (status, headers, bytes).into_response()
    }
}

type GatewayResult = Result<Response, GatewayError>;

fn json_ok(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn jsonpb_response<T: Serialize>(value: &T) -> GatewayResult {
    let body = to_go_json(value, false).map_err(|error| {
        GatewayError::Status(StatusCode::INTERNAL_SERVER_ERROR, format!("failed writing HTTP response: {error}"))
    })?;
    Ok(json_ok(body))
}

/// `{"result":{"resourceSpans":[..]}}` with every trace's resources, in order; 404
/// `No traces found` when there are none.
fn traces_response(traces: Vec<QueryTrace>) -> GatewayResult {
    if traces.is_empty() {
        return Err(GatewayError::no_traces_found());
    }
    let resource_spans =
        traces.into_iter().flat_map(|trace| spans_to_resource_spans(spans_with_trace_warnings(trace))).collect();
    let traces_data = opentelemetry_proto::tonic::trace::v1::TracesData { resource_spans };
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(b"{\"result\":");
    write_traces_data(&mut body, &traces_data);
    body.push(b'}');
    Ok(json_ok(body))
}

/// The first non-empty of the canonical (camelCase) parameter and its deprecated snake_case
/// alias, with the name it came under (for error messages).
fn param<'a>(params: &'a QueryParams, canonical: &'a str, deprecated: &'a str) -> Option<(&'a str, &'a str)> {
    params
        .first(canonical)
        .map(|value| (value, canonical))
        .or_else(|| params.first(deprecated).map(|value| (value, deprecated)))
}

/// `GET /api/v3/traces/{trace_id}?startTime=&endTime=&rawTraces=` (or `start_time`, `end_time`,
/// `raw_traces`).
pub(crate) async fn get_trace(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    trace_id: Result<Path<String>, PathRejection>,
) -> GatewayResult {
    let namespace = state.namespaces.select(&headers)?;
    let Path(trace_id) = trace_id.map_err(|rejection| GatewayError::malformed("trace_id", rejection.body_text()))?;
    let trace_id = parse_trace_id(&trace_id).map_err(|error| GatewayError::malformed("trace_id", error))?;
    let params = QueryParams::from_uri(&uri)?;
    let mut request = GetTraceRequest::new(trace_id);
    if let Some((text, name)) = param(&params, "startTime", "start_time") {
        request.start_time_min_unix_nano = Some(parse_time(text, name)?);
    }
    if let Some((text, name)) = param(&params, "endTime", "end_time") {
        request.start_time_max_unix_nano = Some(parse_time(text, name)?);
    }
    let raw = match param(&params, "rawTraces", "raw_traces") {
        Some((text, name)) => parse_bool(text, name)?,
        None => false,
    };
    match state.service.get_trace(&namespace, request, raw).await {
        Ok(trace) => traces_response(vec![trace]),
        Err(QueryError::TraceNotFound) => Err(GatewayError::no_traces_found()),
        Err(error) => Err(error.into()),
    }
}

/// `GET /api/v3/traces?query.serviceName=&query.startTimeMin=&query.startTimeMax=...`.
pub(crate) async fn find_traces(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> GatewayResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let search = parse_find_traces(&params)?;
    let traces = state.service.find_traces(&namespace, &search.query, search.raw).await?;
    traces_response(traces)
}

/// `GET /api/v3/trace-summaries` with the parameters of [`find_traces`]; the traces are always
/// adjusted first (`rawTraces` has no effect), as Jaeger's gateway does. No match is
/// `{"summaries":[]}`, not an error.
pub(crate) async fn find_trace_summaries(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> GatewayResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let search = parse_find_traces(&params)?;
    let traces = state.service.find_traces(&namespace, &search.query, false).await?;
    let summaries: Vec<JsonTraceSummary> =
        traces.iter().filter_map(|trace| summarize(&trace.spans)).map(JsonTraceSummary::from).collect();
    jsonpb_response(&SummariesBody { summaries })
}

/// `GET /api/v3/services`: `{"services":[..]}` (an empty list is `[]`).
pub(crate) async fn services(State(state): State<ApiState>, headers: HeaderMap) -> GatewayResult {
    let namespace = state.namespaces.select(&headers)?;
    let services = state.service.services(&namespace).await?;
    jsonpb_response(&ServicesBody { services })
}

/// `GET /api/v3/operations?service=&spanKind=` (or `span_kind`): `{"operations":[{"name",
/// "spanKind"}]}`, an operation without a span kind shown as `internal` (as Jaeger's gateway
/// does; its gRPC API leaves it empty).
pub(crate) async fn operations(State(state): State<ApiState>, headers: HeaderMap, uri: Uri) -> GatewayResult {
    let namespace = state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let span_kind = match param(&params, "spanKind", "span_kind") {
        Some((text, _)) => span_kind_filter(text)?,
        None => None,
    };
    let query = OperationQuery { service_name: params.first("service").unwrap_or_default().to_owned(), span_kind };
    let operations = state.service.operations(&namespace, &query).await?;
    let operations = operations
        .iter()
        .map(|operation| JsonOperation {
            name: &operation.name,
            span_kind: match operation.span_kind.as_str() {
                "" => "internal",
                kind => kind,
            },
        })
        .collect();
    jsonpb_response(&OperationsBody { operations })
}

#[derive(Serialize)]
struct ServicesBody {
    services: Vec<String>,
}

#[derive(Serialize)]
struct OperationsBody<'a> {
    operations: Vec<JsonOperation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOperation<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    span_kind: &'a str,
}

#[derive(Serialize)]
struct SummariesBody {
    summaries: Vec<JsonTraceSummary>,
}

/// api_v3 `TraceSummary` in gogo-jsonpb form: proto field order, zero fields left out, fixed64
/// times as strings, `services` always present.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonTraceSummary {
    trace_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_operation_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_start_time_unix_nano: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_end_time_unix_nano: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    orphan_span_count: i32,
    services: Vec<JsonServiceSummary>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonServiceSummary {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: i32,
}

fn is_zero(count: &i32) -> bool {
    *count == 0
}

fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn nonzero_text(value: u64) -> Option<String> {
    (value != 0).then(|| value.to_string())
}

impl From<TraceSummary> for JsonTraceSummary {
    fn from(summary: TraceSummary) -> Self {
        Self {
            trace_id: summary.trace_id.to_hex32(),
            root_service_name: summary.root_service_name,
            root_operation_name: summary.root_operation_name,
            min_start_time_unix_nano: nonzero_text(summary.min_start_time_unix_nano),
            max_end_time_unix_nano: nonzero_text(summary.max_end_time_unix_nano),
            span_count: count(summary.span_count),
            error_span_count: count(summary.error_span_count),
            orphan_span_count: count(summary.orphan_span_count),
            services: summary
                .services
                .into_iter()
                .map(|service| JsonServiceSummary {
                    name: service.name,
                    span_count: count(service.span_count),
                    error_span_count: count(service.error_span_count),
                })
                .collect(),
        }
    }
}

/// A parsed `FindTraces` / `FindTraceSummaries` request.
#[derive(Debug, PartialEq)]
pub(crate) struct GatewaySearch {
    pub query: TraceQuery,
    pub raw: bool,
}

/// Jaeger's `parseFindTracesQuery`, in its order so the same request gets the same error.
pub(crate) fn parse_find_traces(params: &QueryParams) -> Result<GatewaySearch, GatewayError> {
    let service_name = param(params, "query.serviceName", "query.service_name").map(|(text, _)| text.to_owned());
    let operation_name = param(params, "query.operationName", "query.operation_name").map(|(text, _)| text.to_owned());
    let tags = match params.first("query.attributes") {
        Some(json) => serde_json::from_str::<BTreeMap<String, String>>(json)
            .map_err(|error| GatewayError::malformed("query.attributes", error))?,
        None => BTreeMap::new(),
    };
    let (Some((min_text, min_name)), Some((max_text, max_name))) = (
        param(params, "query.startTimeMin", "query.start_time_min"),
        param(params, "query.startTimeMax", "query.start_time_max"),
    ) else {
        return Err(GatewayError::bad_request("query.startTimeMin and query.startTimeMax are required".to_owned()));
    };
    let start_time_min = parse_time(min_text, min_name)?;
    let start_time_max = parse_time(max_text, max_name)?;
    if start_time_min >= start_time_max {
        return Err(GatewayError::bad_request("query.startTimeMin must be before query.startTimeMax".to_owned()));
    }
    let depth = param(params, "query.searchDepth", "query.search_depth")
        .or_else(|| params.first("query.num_traces").map(|text| (text, "query.num_traces")));
    let limit = match depth {
        Some((text, name)) => {
            let depth: i64 = text.parse().map_err(|_| {
                GatewayError::malformed(name, format!("strconv.Atoi: parsing {text:?}: invalid syntax"))
            })?;
            // 0 or less: TraceQuery's default, 100.
            usize::try_from(depth).unwrap_or(0)
        }
        None => DEFAULT_SEARCH_DEPTH,
    };
    let duration_min_nanos = parse_duration(param(params, "query.durationMin", "query.duration_min"))?;
    let duration_max_nanos = parse_duration(param(params, "query.durationMax", "query.duration_max"))?;
    let raw = match param(params, "query.rawTraces", "query.raw_traces") {
        Some((text, name)) => parse_bool(text, name)?,
        None => false,
    };
    let query = TraceQuery {
        service_name,
        operation_name,
        tags,
        start_time_min_unix_nano: start_time_min,
        start_time_max_unix_nano: start_time_max,
        duration_min_nanos,
        duration_max_nanos,
        limit,
    };
    Ok(GatewaySearch { query, raw })
}

fn parse_bool(text: &str, name: &str) -> Result<bool, GatewayError> {
    parse_go_bool(text)
        .ok_or_else(|| GatewayError::malformed(name, format!("strconv.ParseBool: parsing {text:?}: invalid syntax")))
}

/// A Go duration; zero means no bound.
fn parse_duration(param: Option<(&str, &str)>) -> Result<Option<u64>, GatewayError> {
    let Some((text, name)) = param else { return Ok(None) };
    let duration = parse_go_duration(text)
        .map_err(|_| GatewayError::malformed(name, format!("time: invalid duration {text:?}")))?;
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Ok((nanos > 0).then_some(nanos))
}

/// An RFC 3339 time with optional fraction (Go's `time.RFC3339Nano` layout), as nanoseconds
/// since the epoch (times before 1970 are 0).
fn parse_time(text: &str, name: &str) -> Result<u64, GatewayError> {
    parse_rfc3339_nanos(text).ok_or_else(|| {
        GatewayError::malformed(
            name,
            format!("parsing time {text:?} as {RFC3339_NANO_LAYOUT:?}: cannot parse {text:?} as RFC 3339"),
        )
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `None` when malformed or out of range.
pub(crate) fn parse_rfc3339_nanos(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let separator = |at: usize, expected: u8| bytes.get(at) == Some(&expected);
    if !(separator(4, b'-') && separator(7, b'-') && separator(10, b'T') && separator(13, b':') && separator(16, b':'))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    let mut fraction_nanos: i64 = 0;
    if separator(at, b'.') {
        let digits_start = at + 1;
        let digits_end = bytes[digits_start..].iter().position(|b| !b.is_ascii_digit()).map(|n| digits_start + n)?;
        let digits = &bytes[digits_start..digits_end];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let value: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        fraction_nanos = value * 10_i64.pow(u32::try_from(9 - digits.len()).ok()?);
        at = digits_end;
    }
    let offset_seconds = match bytes.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), ..] if bytes.len() == at + 6 && separator(at + 3, b':') => {
            let (hours, minutes) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let nanos = i128::from(seconds) * 1_000_000_000 + i128::from(fraction_nanos);
    Some(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> QueryParams {
        QueryParams::from_uri(&format!("/api/v3/traces?{query}").parse::<Uri>().unwrap()).unwrap()
    }

    fn message(result: Result<GatewaySearch, GatewayError>) -> String {
        match result {
            Err(GatewayError::Status(StatusCode::BAD_REQUEST, message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    const WINDOW: &str = "query.startTimeMin=2023-11-14T22:00:00Z&query.startTimeMax=2023-11-14T23:00:00.5%2B01:00";

    #[test]
    fn rfc3339_times_with_fractions_and_offsets_parse_to_unix_nanos() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_nanos("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_rfc3339_nanos("2023-11-14T22:13:20.000000001Z"), Some(1_700_000_000_000_000_001));
        assert_eq!(parse_rfc3339_nanos("2023-11-14T23:13:20.5+01:00"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_rfc3339_nanos("2024-02-29T00:00:00-00:30"), Some(1_709_166_600_000_000_000));
        assert_eq!(parse_rfc3339_nanos("1969-12-31T23:59:59Z"), Some(0), "before 1970 clamps to 0");
        for bad in ["", "2023-11-14", "2023-11-14T22:13:20", "2023-02-30T00:00:00Z", "2023-11-14T22:13:20.Z", "x"] {
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn find_traces_reads_camel_case_and_snake_case_parameters() {
        let camel = parse_find_traces(&params(&format!(
            "query.serviceName=cart&query.operationName=pay&{WINDOW}&query.searchDepth=7&query.durationMin=1ms\
             &query.durationMax=2s&query.rawTraces=true&query.attributes=%7B%22http.status_code%22%3A%22500%22%7D"
        )))
        .unwrap();
        assert_eq!(camel.query.service_name.as_deref(), Some("cart"));
        assert_eq!(camel.query.operation_name.as_deref(), Some("pay"));
        assert_eq!(camel.query.start_time_min_unix_nano, 1_699_999_200_000_000_000);
        assert_eq!(camel.query.start_time_max_unix_nano, 1_699_999_200_500_000_000);
        assert_eq!(camel.query.limit, 7);
        assert_eq!(
            (camel.query.duration_min_nanos, camel.query.duration_max_nanos),
            (Some(1_000_000), Some(2_000_000_000))
        );
        assert!(camel.raw);
        assert_eq!(camel.query.tags.get("http.status_code").map(String::as_str), Some("500"));

        let snake = parse_find_traces(&params(
            "query.service_name=cart&query.start_time_min=2023-11-14T22:00:00Z&query.start_time_max=2023-11-14T22:00:01Z\
             &query.num_traces=3&query.duration_min=5us&query.raw_traces=1",
        ))
        .unwrap();
        assert_eq!(snake.query.service_name.as_deref(), Some("cart"));
        assert_eq!(snake.query.limit, 3);
        assert_eq!(snake.query.duration_min_nanos, Some(5_000));
        assert!(snake.raw);
    }

    #[test]
    fn find_traces_defaults_search_depth_to_100_and_needs_an_ordered_window() {
        let search = parse_find_traces(&params(WINDOW)).unwrap();
        assert_eq!(search.query.limit, 100);
        assert_eq!(search.query.service_name, None);
        assert_eq!(
            message(parse_find_traces(&params("query.startTimeMin=2023-11-14T22:00:00Z"))),
            "query.startTimeMin and query.startTimeMax are required"
        );
        assert_eq!(
            message(parse_find_traces(&params(
                "query.startTimeMin=2023-11-14T22:00:00Z&query.startTimeMax=2023-11-14T22:00:00Z"
            ))),
            "query.startTimeMin must be before query.startTimeMax"
        );
    }

    #[test]
    fn malformed_parameters_are_named_in_the_error() {
        let bad_time = message(parse_find_traces(&params(
            "query.start_time_min=yesterday&query.startTimeMax=2023-11-14T22:00:00Z",
        )));
        assert!(
            bad_time.starts_with("malformed parameter query.start_time_min: parsing time \"yesterday\""),
            "{bad_time}"
        );
        assert_eq!(
            message(parse_find_traces(&params(&format!("{WINDOW}&query.searchDepth=many")))),
            "malformed parameter query.searchDepth: strconv.Atoi: parsing \"many\": invalid syntax"
        );
        assert_eq!(
            message(parse_find_traces(&params(&format!("{WINDOW}&query.duration_max=soon")))),
            "malformed parameter query.duration_max: time: invalid duration \"soon\""
        );
        assert_eq!(
            message(parse_find_traces(&params(&format!("{WINDOW}&query.rawTraces=yes")))),
            "malformed parameter query.rawTraces: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        let attributes = message(parse_find_traces(&params(&format!("{WINDOW}&query.attributes=%7Bx"))));
        assert!(attributes.starts_with("malformed parameter query.attributes: "), "{attributes}");
    }

    #[test]
    fn errors_are_written_as_jaegers_grpc_gateway_error() {
        let response = GatewayError::no_traces_found().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
