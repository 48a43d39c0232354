//! Zipkin v2 protobuf (`zipkin.proto3.ListOfSpans`, `model/proto/zipkin/zipkin.proto`).

use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message as _;

use super::common::Endpoint;
use super::v2::{put_tag, V2Span};
use super::{ZipkinError, ZipkinFormat};
use crate::{SpanId, SpanKind, TraceId};

/// The generated `zipkin.proto3` messages (prost), for encoding test and tool payloads.
pub mod proto3 {
    #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
    tonic::include_proto!("zipkin.proto3");
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<V2Span>, ZipkinError> {
    let list = proto3::ListOfSpans::decode(bytes)
        .map_err(|error| ZipkinError::Malformed { format: ZipkinFormat::V2Proto, message: error.to_string() })?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| from_proto(span).map_err(|problem| ZipkinError::InvalidSpan { index, problem }))
        .collect()
}

fn from_proto(span: proto3::Span) -> Result<V2Span, String> {
    let trace_id = match TraceId::from_bytes(&span.trace_id) {
        Ok(id) if !id.is_zero() => id,
        Ok(_) => return Err("trace_id must not be all zeros".to_owned()),
        Err(_) => return Err(format!("trace_id must be 8 or 16 bytes, got {}", span.trace_id.len())),
    };
    let id = SpanId::from_bytes(&span.id).map_err(|_| format!("id must be 8 bytes, got {}", span.id.len()))?;
    let parent_id = match span.parent_id.len() {
        0 => None,
        _ => Some(
            SpanId::from_bytes(&span.parent_id)
                .map_err(|_| format!("parent_id must be empty or 8 bytes, got {}", span.parent_id.len()))?,
        ),
    };
    let mut warnings = Vec::new();
    let kind = match proto3::span::Kind::try_from(span.kind) {
        Ok(proto3::span::Kind::SpanKindUnspecified) => SpanKind::Unspecified,
        Ok(proto3::span::Kind::Client) => SpanKind::Client,
        Ok(proto3::span::Kind::Server) => SpanKind::Server,
        Ok(proto3::span::Kind::Producer) => SpanKind::Producer,
        Ok(proto3::span::Kind::Consumer) => SpanKind::Consumer,
        Err(_) => {
            warnings.push(format!("unknown kind {}; ignored", span.kind));
            SpanKind::Unspecified
        }
    };
    let local_endpoint =
        span.local_endpoint.map(|endpoint| endpoint_from_proto("local_endpoint", endpoint)).transpose()?;
    let remote_endpoint =
        span.remote_endpoint.map(|endpoint| endpoint_from_proto("remote_endpoint", endpoint)).transpose()?;
    let mut tags = Vec::with_capacity(span.tags.len());
    for tag in span.tags {
        put_tag(&mut tags, tag.key, tag.value);
    }
    Ok(V2Span {
        trace_id,
        id,
        parent_id,
        name: span.name,
        kind,
        // proto3 cannot tell 0 from absent; 0 is "not set" in Zipkin's proto.
        timestamp_micros: Some(span.timestamp).filter(|&micros| micros != 0),
        duration_micros: Some(span.duration),
        local_endpoint,
        remote_endpoint,
        annotations: span.annotations.into_iter().map(|annotation| (annotation.timestamp, annotation.value)).collect(),
        tags,
        debug: span.debug,
        shared: span.shared,
        warnings,
    })
}

fn endpoint_from_proto(field: &str, endpoint: proto3::Endpoint) -> Result<Endpoint, String> {
    let ipv4 = match endpoint.ipv4.len() {
        0 => None,
        4 => Some(Ipv4Addr::new(endpoint.ipv4[0], endpoint.ipv4[1], endpoint.ipv4[2], endpoint.ipv4[3])),
        n => return Err(format!("{field}.ipv4 must be 4 bytes, got {n}")),
    };
    let ipv6 = match <[u8; 16]>::try_from(endpoint.ipv6.as_slice()) {
        Ok(octets) => Some(Ipv6Addr::from(octets)),
        Err(_) if endpoint.ipv6.is_empty() => None,
        Err(_) => return Err(format!("{field}.ipv6 must be 16 bytes, got {}", endpoint.ipv6.len())),
    };
    let port =
        u16::try_from(endpoint.port).map_err(|_| format!("{field}.port must be 0 to 65535, got {}", endpoint.port))?;
    Ok(Endpoint::new(endpoint.service_name, ipv4, ipv6, Some(port)))
}
