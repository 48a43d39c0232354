//! Zipkin v2 JSON (`POST /api/v2/spans`, an array of spans), read tolerantly: ids of any length
//! up to 16/32 hex characters, times as integers, exponent floats or numeric strings, tag values
//! that are numbers or booleans kept as text, unknown fields ignored.

use serde::Deserialize;

use super::common::{parse_span_id, parse_trace_id};
use super::json::{parse_array, Micros, OrderedTags, RawEndpoint};
use super::v2::{parse_kind, V2Span};
use super::{ZipkinError, ZipkinFormat};
use crate::SpanKind;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpan {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<Micros>,
    duration: Option<Micros>,
    local_endpoint: Option<RawEndpoint>,
    remote_endpoint: Option<RawEndpoint>,
    annotations: Option<Vec<RawAnnotation>>,
    tags: Option<OrderedTags>,
    debug: Option<bool>,
    shared: Option<bool>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    timestamp: Option<Micros>,
    value: Option<String>,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<V2Span>, ZipkinError> {
    let raw: Vec<RawSpan> = parse_array(bytes, ZipkinFormat::V2Json)?;
    raw.into_iter()
        .enumerate()
        .map(|(index, span)| from_raw(span).map_err(|problem| ZipkinError::InvalidSpan { index, problem }))
        .collect()
}

fn from_raw(raw: RawSpan) -> Result<V2Span, String> {
    let trace_id = parse_trace_id("traceId", raw.trace_id.as_deref().ok_or("traceId is missing")?)?;
    let id = parse_span_id("id", raw.id.as_deref().ok_or("id is missing")?)?;
    let parent_id = match raw.parent_id.as_deref().filter(|text| !text.is_empty()) {
        Some(text) => Some(parse_span_id("parentId", text)?),
        None => None,
    };
    let mut warnings = Vec::new();
    let kind = match raw.kind.as_deref() {
        None | Some("") => SpanKind::Unspecified,
        Some(text) => parse_kind(text).unwrap_or_else(|| {
            warnings.push(format!("unknown kind {}; ignored", super::common::quoted(text)));
            SpanKind::Unspecified
        }),
    };
    let local_endpoint = raw.local_endpoint.map(|endpoint| endpoint.parse("localEndpoint")).transpose()?;
    let remote_endpoint = raw.remote_endpoint.map(|endpoint| endpoint.parse("remoteEndpoint")).transpose()?;
    let annotations = raw
        .annotations
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, annotation)| {
            let timestamp = annotation.timestamp.ok_or_else(|| format!("annotations[{index}].timestamp is missing"))?;
            Ok((timestamp.0, annotation.value.unwrap_or_default()))
        })
        .collect::<Result<_, String>>()?;
    Ok(V2Span {
        trace_id,
        id,
        parent_id,
        name: raw.name.unwrap_or_default(),
        kind,
        timestamp_micros: raw.timestamp.map(|micros| micros.0),
        duration_micros: raw.duration.map(|micros| micros.0),
        local_endpoint,
        remote_endpoint,
        annotations,
        tags: raw.tags.unwrap_or_default().0,
        debug: raw.debug.unwrap_or_default(),
        shared: raw.shared.unwrap_or_default(),
        warnings,
    })
}
