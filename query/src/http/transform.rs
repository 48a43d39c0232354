//! `POST /api/transform` (Jaeger's `transformOTLP`): OTLP/JSON traces in, Jaeger UI traces out,
//! so the UI can show a trace file without storing it. The spans are grouped by trace in order
//! of first appearance and shown as given: no adjusters, nothing stored. A body that is not
//! OTLP/JSON `TracesData` (or holds spans without valid ids) is 400
//! `cannot unmarshal OTLP : <reason>`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use spoor_model::otlp::spans_from_otlp;
use spoor_model::{Span, TraceId};

use crate::error::QueryError;
use crate::http::envelope::{json_response, ApiError, Envelope};
use crate::http::handlers::ApiState;
use crate::http::params::QueryParams;
use crate::http::ui_model::ui_trace;
use crate::service::QueryTrace;

pub(crate) async fn transform(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Tenancy applies to every API route, as Jaeger's middleware does, though nothing is read.
    state.namespaces.select(&headers)?;
    let params = QueryParams::from_uri(&uri)?;
    let traces = traces_from_otlp_json(&body)?;
    let data: Vec<_> = traces.iter().map(ui_trace).collect();
    Ok(json_response(&Envelope::data(data), params.pretty_print()))
}

/// Decodes OTLP/JSON `TracesData` into traces, each holding its spans in the order given.
pub(crate) fn traces_from_otlp_json(body: &[u8]) -> Result<Vec<QueryTrace>, QueryError> {
    let unmarshal_error = |reason: String| QueryError::invalid_argument(format!("cannot unmarshal OTLP : {reason}"));
    let traces_data: TracesData = serde_json::from_slice(body).map_err(|error| unmarshal_error(error.to_string()))?;
    let conversion = spans_from_otlp(traces_data.resource_spans);
    if conversion.rejected > 0 {
        return Err(unmarshal_error(conversion.error_message()));
    }
    Ok(group_by_trace(conversion.spans))
}

fn group_by_trace(spans: Vec<Span>) -> Vec<QueryTrace> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut traces: std::collections::HashMap<TraceId, Vec<Span>> = std::collections::HashMap::new();
    for span in spans {
        let trace_spans = traces.entry(span.trace_id).or_insert_with(|| {
            order.push(span.trace_id);
            Vec::new()
        });
        trace_spans.push(span);
    }
    order
        .into_iter()
        .filter_map(|trace_id| traces.remove(&trace_id))
        .map(|spans| QueryTrace { spans, warnings: Vec::new() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_TRACES: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
        "scopeSpans":[{"scope":{"name":"cart-lib"},"spans":[
          {"traceId":"000000000000000000000000000000aa","spanId":"0000000000000001","name":"a","kind":2,
           "startTimeUnixNano":"1000","endTimeUnixNano":"3000","status":{}},
          {"traceId":"000000000000000000000000000000bb","spanId":"0000000000000002","name":"b",
           "startTimeUnixNano":"1000","endTimeUnixNano":"2000"},
          {"traceId":"000000000000000000000000000000aa","spanId":"0000000000000001","name":"a","kind":2,
           "startTimeUnixNano":"1000","endTimeUnixNano":"3000","status":{}}]}]}]}"#;

    #[test]
    fn spans_are_grouped_by_trace_in_order_of_first_appearance_and_kept_as_given() {
        let traces = traces_from_otlp_json(TWO_TRACES.as_bytes()).unwrap();
        assert_eq!(traces.len(), 2);
        assert_eq!(traces[0].spans.len(), 2, "duplicates stay: transform runs no adjusters");
        assert_eq!(traces[0].spans[0].trace_id, TraceId::new(0, 0xaa));
        assert_eq!(traces[1].spans[0].operation_name, "b");
        assert_eq!(traces[0].spans[0].process.service_name, "cart");
    }

    #[test]
    fn malformed_bodies_are_invalid_arguments_with_jaegers_prefix() {
        for body in ["not json", r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"01"}]}]}]}"#] {
            let error = traces_from_otlp_json(body.as_bytes()).unwrap_err();
            assert!(matches!(error, QueryError::InvalidArgument(_)), "{error:?}");
            assert!(error.to_string().starts_with("cannot unmarshal OTLP : "), "{error}");
        }
    }
}
