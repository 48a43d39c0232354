//! Zipkin to model spans (spec §1.8, integrations.md §1): v2 JSON and protobuf (what Envoy and
//! Istio sidecars send), v1 JSON and v1 Thrift (older tracers, Istio Mixer), the last two through
//! one shared v1 path with Jaeger's own Zipkin rules.
//!
//! | body | function |
//! |---|---|
//! | `/api/v2/spans`, JSON | [`spans_from_v2_json`] |
//! | `/api/v2/spans`, `application/x-protobuf` | [`spans_from_v2_proto`] |
//! | `/api/v1/spans`, JSON | [`spans_from_v1_json`] |
//! | `/api/v1/spans`, `application/x-thrift` | [`spans_from_v1_thrift`] |
//! | agent `emitZipkinBatch` | [`spans_from_v1_thrift_spans`] |
//!
//! The mapping rules are documented at the top of `v2.rs` and `v1.rs`. In short: ids are 64 or
//! 128 bits, times are microseconds and may arrive as integers, exponent floats or
//! numeric strings; `kind` (v2) or the core annotations (v1) become the `span.kind` tag in lower
//! case; tags keep the text (v2) or type (v1) they arrived with; the local endpoint is the process
//! (service name, `ip` tag) and the remote endpoint the `peer.*` tags; annotations are logs.
//!
//! A batch with one unusable span (bad id, malformed JSON) is refused whole, as Jaeger does, and
//! the error names the span: `span 3: id must be 16 hex characters or fewer, got "xyz"`.
//! Smaller problems keep the span and are recorded in its warnings. The HTTP `X-B3-Flags: 1`
//! header of protobuf requests is the caller's to apply (set [`crate::FLAG_DEBUG`]).

mod common;
mod json;
mod thrift_v1;
mod v1;
mod v1_json;
mod v2;
mod v2_json;
mod v2_proto;

pub use common::{
    FIELD_EVENT, TAG_COMPONENT, TAG_IP, TAG_IPV6, TAG_PEER_IPV4, TAG_PEER_IPV6, TAG_PEER_PORT, TAG_PEER_SERVICE,
    TAG_PORT, TAG_SHARED, UNKNOWN_SERVICE_NAME,
};
pub use thrift_v1::{
    decode_span_list as decode_v1_thrift, encode_span_list as encode_v1_thrift, AnnotationType, ZipkinThriftAnnotation,
    ZipkinThriftBinaryAnnotation, ZipkinThriftEndpoint, ZipkinThriftSpan,
};
pub use v2_proto::proto3;

pub(crate) use thrift_v1::{read_span as read_thrift_span, write_span as write_thrift_span};

use crate::thrift::ThriftError;
use crate::Span;

/// A Zipkin wire format, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZipkinFormat {
    V2Json,
    V2Proto,
    V1Json,
    V1Thrift,
}

impl std::fmt::Display for ZipkinFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V2Json => "v2 JSON",
            Self::V2Proto => "v2 protobuf",
            Self::V1Json => "v1 JSON",
            Self::V1Thrift => "v1 Thrift",
        })
    }
}

/// Why a Zipkin body could not become model spans. Both are the sender's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipkinError {
    /// The body is not well-formed (JSON syntax, protobuf or Thrift encoding, not an array).
    #[error("not a valid Zipkin {format} body: {message}")]
    Malformed { format: ZipkinFormat, message: String },
    /// The body is well-formed but one span cannot be used; `index` counts from 0.
    #[error("span {index}: {problem}")]
    InvalidSpan { index: usize, problem: String },
}

impl ZipkinError {
    /// The index of the span at fault, if one is.
    pub fn span_index(&self) -> Option<usize> {
        match self {
            Self::InvalidSpan { index, .. } => Some(*index),
            Self::Malformed { .. } => None,
        }
    }

    /// A Thrift decoding error, attributed to a span when its path starts with a list index.
    fn from_thrift(error: &ThriftError) -> Self {
        let path = error.path();
        let index = path.strip_prefix('[').and_then(|rest| rest.split_once(']'));
        if let Some((Ok(index), rest)) = index.map(|(number, rest)| (number.parse::<usize>(), rest)) {
            let rest = rest.trim_start_matches('.');
            let problem =
                if rest.is_empty() { error.problem().to_string() } else { format!("{rest}: {}", error.problem()) };
            return Self::InvalidSpan { index, problem };
        }
        Self::Malformed { format: ZipkinFormat::V1Thrift, message: error.to_string() }
    }
}

/// Decodes a Zipkin v2 JSON array (`POST /api/v2/spans`).
pub fn spans_from_v2_json(bytes: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    Ok(v2::spans_from_v2(v2_json::parse(bytes)?))
}

/// Decodes a Zipkin v2 protobuf `ListOfSpans` (`POST /api/v2/spans`, `application/x-protobuf`).
pub fn spans_from_v2_proto(bytes: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    Ok(v2::spans_from_v2(v2_proto::parse(bytes)?))
}

/// Decodes a Zipkin v1 JSON array (`POST /api/v1/spans`). One Zipkin span with both client and
/// server annotations becomes two model spans.
pub fn spans_from_v1_json(bytes: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    Ok(v1::spans_from_v1(v1_json::parse(bytes)?))
}

/// Decodes a Zipkin v1 Thrift body: a TBinaryProtocol `list<Span>` (`POST /api/v1/spans`,
/// `application/x-thrift`).
pub fn spans_from_v1_thrift(bytes: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let spans = thrift_v1::decode_span_list(bytes).map_err(|error| ZipkinError::from_thrift(&error))?;
    spans_from_v1_thrift_spans(spans)
}

/// Converts decoded Zipkin v1 Thrift spans (an agent's `emitZipkinBatch`).
pub fn spans_from_v1_thrift_spans(spans: Vec<ZipkinThriftSpan>) -> Result<Vec<Span>, ZipkinError> {
    let spans = spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| thrift_v1::to_v1(span).map_err(|problem| ZipkinError::InvalidSpan { index, problem }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v1::spans_from_v1(spans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::ThriftProblem;

    #[test]
    fn thrift_errors_inside_a_span_name_the_span() {
        let error = ThriftError::missing("x").within("annotations").within("[2]");
        assert_eq!(ZipkinError::from_thrift(&error).to_string(), "span 2: annotations: required field x is missing");
        let top = ThriftError::new(ThriftProblem::Malformed("truncated".into()));
        assert_eq!(ZipkinError::from_thrift(&top).to_string(), "not a valid Zipkin v1 Thrift body: truncated");
    }
}
