//! `zipkincore.thrift` (spec §1.8): the Zipkin v1 Thrift structs, read and written with the
//! `thrift` crate's protocol API. `POST /api/v1/spans` with `application/x-thrift` carries a
//! TBinaryProtocol `list<Span>`; a Jaeger v1 agent's `emitZipkinBatch` carries the same list.
//!
//! Binary annotation values are decoded as Jaeger does (`transformBinaryAnnotation`): `BOOL` is
//! true only for the single byte 1; numbers are big-endian and read from the first 2, 4 or 8
//! bytes; a value too short for its type, or an unknown type, becomes a string tag
//! `Cannot parse Zipkin value <base64>: <reason>`.

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use thrift::protocol::TType;

use super::common::Endpoint;
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Span};
use crate::thrift::wire::{Reader, Result, ThriftError, Writer};
use crate::{AttributeValue, SpanId, TraceId};

/// `AnnotationType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnotationType {
    Bool,
    Bytes,
    I16,
    I32,
    I64,
    Double,
    String,
    Unknown(i32),
}

impl AnnotationType {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::Bool,
            1 => Self::Bytes,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::I64,
            5 => Self::Double,
            6 => Self::String,
            other => Self::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            Self::Bool => 0,
            Self::Bytes => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::I64 => 4,
            Self::Double => 5,
            Self::String => 6,
            Self::Unknown(other) => other,
        }
    }
}

/// `Endpoint`: `ipv4` packed big-endian into an `i32`, `port` an `i16` read as unsigned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZipkinThriftEndpoint {
    pub ipv4: i32,
    pub port: i16,
    pub service_name: String,
    pub ipv6: Option<Vec<u8>>,
}

/// `Annotation`: a timestamped event; `cs`, `cr`, `sr`, `ss` are the core ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZipkinThriftAnnotation {
    pub timestamp: i64,
    pub value: String,
    pub host: Option<ZipkinThriftEndpoint>,
}

/// `BinaryAnnotation`: a tag whose value bytes `annotation_type` describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipkinThriftBinaryAnnotation {
    pub key: String,
    pub value: Vec<u8>,
    pub annotation_type: AnnotationType,
    pub host: Option<ZipkinThriftEndpoint>,
}

/// `Span`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZipkinThriftSpan {
    pub trace_id: i64,
    pub name: String,
    pub id: i64,
    pub parent_id: Option<i64>,
    pub annotations: Vec<ZipkinThriftAnnotation>,
    pub binary_annotations: Vec<ZipkinThriftBinaryAnnotation>,
    pub debug: bool,
    pub timestamp: Option<i64>,
    pub duration: Option<i64>,
    pub trace_id_high: Option<i64>,
}

fn field<T>(name: &str, value: Result<T>) -> Result<T> {
    value.map_err(|error| error.within(name))
}

// ---------------------------------------------------------------------------------------------
// Reading

fn read_endpoint(reader: &mut Reader<'_>) -> Result<ZipkinThriftEndpoint> {
    let mut endpoint = ZipkinThriftEndpoint::default();
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I32) => endpoint.ipv4 = field("ipv4", reader.read_i32())?,
            (2, TType::I16) => endpoint.port = field("port", reader.read_i16())?,
            (3, TType::String) => endpoint.service_name = field("service_name", reader.read_string())?,
            (4, TType::String) => endpoint.ipv6 = Some(field("ipv6", reader.read_bytes())?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(endpoint)
}

fn read_annotation(reader: &mut Reader<'_>) -> Result<ZipkinThriftAnnotation> {
    let mut annotation = ZipkinThriftAnnotation::default();
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I64) => annotation.timestamp = field("timestamp", reader.read_i64())?,
            (2, TType::String) => annotation.value = field("value", reader.read_string())?,
            (3, TType::Struct) => annotation.host = Some(field("host", read_endpoint(reader))?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(annotation)
}

fn read_binary_annotation(reader: &mut Reader<'_>) -> Result<ZipkinThriftBinaryAnnotation> {
    let mut annotation = ZipkinThriftBinaryAnnotation {
        key: String::new(),
        value: Vec::new(),
        annotation_type: AnnotationType::Bool,
        host: None,
    };
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::String) => annotation.key = field("key", reader.read_string())?,
            (2, TType::String) => annotation.value = field("value", reader.read_bytes())?,
            (3, TType::I32) => {
                annotation.annotation_type = AnnotationType::from_i32(field("annotation_type", reader.read_i32())?);
            }
            (4, TType::Struct) => annotation.host = Some(field("host", read_endpoint(reader))?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(annotation)
}

pub(crate) fn read_span(reader: &mut Reader<'_>) -> Result<ZipkinThriftSpan> {
    let mut span = ZipkinThriftSpan::default();
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I64) => span.trace_id = field("trace_id", reader.read_i64())?,
            (3, TType::String) => span.name = field("name", reader.read_string())?,
            (4, TType::I64) => span.id = field("id", reader.read_i64())?,
            (5, TType::I64) => span.parent_id = Some(field("parent_id", reader.read_i64())?),
            (6, TType::List) => {
                span.annotations = field("annotations", reader.read_list(TType::Struct, read_annotation))?;
            }
            (8, TType::List) => {
                let list = reader.read_list(TType::Struct, read_binary_annotation);
                span.binary_annotations = field("binary_annotations", list)?;
            }
            (9, TType::Bool) => span.debug = field("debug", reader.read_bool())?,
            (10, TType::I64) => span.timestamp = Some(field("timestamp", reader.read_i64())?),
            (11, TType::I64) => span.duration = Some(field("duration", reader.read_i64())?),
            (12, TType::I64) => span.trace_id_high = Some(field("trace_id_high", reader.read_i64())?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(span)
}

/// Decodes a TBinaryProtocol `list<Span>` (the Zipkin v1 Thrift HTTP body).
pub fn decode_span_list(bytes: &[u8]) -> Result<Vec<ZipkinThriftSpan>, ThriftError> {
    let mut reader = Reader::new(bytes, crate::thrift::Protocol::Binary);
    reader.read_list(TType::Struct, read_span)
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_endpoint(writer: &mut Writer, name: &str, id: i16, endpoint: &ZipkinThriftEndpoint) -> Result<()> {
    writer.field(name, TType::Struct, id)?;
    writer.struct_begin("Endpoint")?;
    writer.i32_field("ipv4", 1, endpoint.ipv4)?;
    writer.i16_field("port", 2, endpoint.port)?;
    writer.string_field("service_name", 3, &endpoint.service_name)?;
    if let Some(ipv6) = &endpoint.ipv6 {
        writer.bytes_field("ipv6", 4, ipv6)?;
    }
    writer.struct_end()?;
    writer.field_end()
}

fn write_annotation(writer: &mut Writer, annotation: &ZipkinThriftAnnotation) -> Result<()> {
    writer.struct_begin("Annotation")?;
    writer.i64_field("timestamp", 1, annotation.timestamp)?;
    writer.string_field("value", 2, &annotation.value)?;
    if let Some(host) = &annotation.host {
        write_endpoint(writer, "host", 3, host)?;
    }
    writer.struct_end()
}

fn write_binary_annotation(writer: &mut Writer, annotation: &ZipkinThriftBinaryAnnotation) -> Result<()> {
    writer.struct_begin("BinaryAnnotation")?;
    writer.string_field("key", 1, &annotation.key)?;
    writer.bytes_field("value", 2, &annotation.value)?;
    writer.i32_field("annotation_type", 3, annotation.annotation_type.to_i32())?;
    if let Some(host) = &annotation.host {
        write_endpoint(writer, "host", 4, host)?;
    }
    writer.struct_end()
}

pub(crate) fn write_span(writer: &mut Writer, span: &ZipkinThriftSpan) -> Result<()> {
    writer.struct_begin("Span")?;
    writer.i64_field("trace_id", 1, span.trace_id)?;
    writer.string_field("name", 3, &span.name)?;
    writer.i64_field("id", 4, span.id)?;
    if let Some(parent_id) = span.parent_id {
        writer.i64_field("parent_id", 5, parent_id)?;
    }
    writer.list_field("annotations", 6, TType::Struct, &span.annotations, write_annotation)?;
    writer.list_field("binary_annotations", 8, TType::Struct, &span.binary_annotations, write_binary_annotation)?;
    writer.bool_field("debug", 9, span.debug)?;
    if let Some(timestamp) = span.timestamp {
        writer.i64_field("timestamp", 10, timestamp)?;
    }
    if let Some(duration) = span.duration {
        writer.i64_field("duration", 11, duration)?;
    }
    if let Some(trace_id_high) = span.trace_id_high {
        writer.i64_field("trace_id_high", 12, trace_id_high)?;
    }
    writer.struct_end()
}

/// Encodes a TBinaryProtocol `list<Span>` (a Zipkin v1 Thrift HTTP body).
pub fn encode_span_list(spans: &[ZipkinThriftSpan]) -> Result<Vec<u8>, ThriftError> {
    let mut writer = Writer::new(crate::thrift::Protocol::Binary);
    writer.list(TType::Struct, spans, write_span)?;
    writer.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// To the shared v1 form

fn endpoint(endpoint: ZipkinThriftEndpoint, warnings: &mut Vec<String>) -> Endpoint {
    let ipv6 = match endpoint.ipv6 {
        None => None,
        Some(bytes) => match <[u8; 16]>::try_from(bytes.as_slice()) {
            Ok(octets) => Some(Ipv6Addr::from(octets)),
            Err(_) => {
                warnings.push(format!("endpoint ipv6 must be 16 bytes, got {}; dropped", bytes.len()));
                None
            }
        },
    };
    Endpoint::new(endpoint.service_name, Some(Ipv4Addr::from(endpoint.ipv4 as u32)), ipv6, Some(endpoint.port as u16))
}

/// A binary annotation's value by its declared type, as Jaeger decodes it.
pub(crate) fn annotation_value(annotation_type: AnnotationType, bytes: Vec<u8>) -> AttributeValue {
    fn first<const N: usize>(bytes: &[u8]) -> std::result::Result<[u8; N], &'static str> {
        match bytes.get(..N) {
            Some(prefix) => prefix.try_into().map_err(|_| "unexpected EOF"),
            None if bytes.is_empty() => Err("EOF"),
            None => Err("unexpected EOF"),
        }
    }
    let decoded = match annotation_type {
        AnnotationType::Bool => Ok(AttributeValue::Bool(bytes == [1])),
        AnnotationType::Bytes => return AttributeValue::Binary(bytes),
        AnnotationType::String => return AttributeValue::String(String::from_utf8_lossy(&bytes).into_owned()),
        AnnotationType::I16 => first::<2>(&bytes).map(|b| AttributeValue::Int64(i64::from(i16::from_be_bytes(b)))),
        AnnotationType::I32 => first::<4>(&bytes).map(|b| AttributeValue::Int64(i64::from(i32::from_be_bytes(b)))),
        AnnotationType::I64 => first::<8>(&bytes).map(|b| AttributeValue::Int64(i64::from_be_bytes(b))),
        AnnotationType::Double => first::<8>(&bytes).map(|b| AttributeValue::Float64(f64::from_be_bytes(b))),
        AnnotationType::Unknown(number) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            return AttributeValue::String(format!(
                "Cannot parse Zipkin value {encoded}: unknown zipkin annotation type: {number}"
            ));
        }
    };
    decoded.unwrap_or_else(|reason| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        AttributeValue::String(format!("Cannot parse Zipkin value {encoded}: {reason}"))
    })
}

/// Converts a decoded Thrift span to the shared v1 form; `Err` names what makes it unusable.
pub(crate) fn to_v1(span: ZipkinThriftSpan) -> std::result::Result<V1Span, String> {
    let trace_id = TraceId::new(span.trace_id_high.unwrap_or_default() as u64, span.trace_id as u64);
    if trace_id.is_zero() {
        return Err("trace_id must not be zero".to_owned());
    }
    let mut warnings = Vec::new();
    let annotations = span
        .annotations
        .into_iter()
        .map(|annotation| V1Annotation {
            timestamp: annotation.timestamp,
            value: annotation.value,
            host: annotation.host.map(|host| endpoint(host, &mut warnings)),
        })
        .collect();
    let binary_annotations = span
        .binary_annotations
        .into_iter()
        .map(|annotation| V1BinaryAnnotation {
            value: annotation_value(annotation.annotation_type, annotation.value),
            key: annotation.key,
            host: annotation.host.map(|host| endpoint(host, &mut warnings)),
        })
        .collect();
    Ok(V1Span {
        trace_id,
        id: SpanId(span.id as u64),
        parent_id: span.parent_id.map(|parent| SpanId(parent as u64)),
        name: span.name,
        annotations,
        binary_annotations,
        debug: span.debug,
        timestamp: span.timestamp,
        duration: span.duration,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_big_endian_and_read_from_the_first_bytes() {
        assert_eq!(annotation_value(AnnotationType::I16, vec![0x01, 0x00]), AttributeValue::Int64(256));
        assert_eq!(annotation_value(AnnotationType::I32, vec![0, 0, 0, 7, 9]), AttributeValue::Int64(7));
        assert_eq!(annotation_value(AnnotationType::I64, (-2i64).to_be_bytes().to_vec()), AttributeValue::Int64(-2));
        assert_eq!(
            annotation_value(AnnotationType::Double, 0.5f64.to_be_bytes().to_vec()),
            AttributeValue::Float64(0.5)
        );
        assert_eq!(annotation_value(AnnotationType::Bool, vec![1]), AttributeValue::Bool(true));
        assert_eq!(annotation_value(AnnotationType::Bool, vec![2]), AttributeValue::Bool(false));
    }

    #[test]
    fn undecodable_values_become_jaegers_string_tag() {
        assert_eq!(
            annotation_value(AnnotationType::I32, vec![1, 2]),
            AttributeValue::String("Cannot parse Zipkin value AQI=: unexpected EOF".into())
        );
        assert_eq!(
            annotation_value(AnnotationType::I64, vec![]),
            AttributeValue::String("Cannot parse Zipkin value : EOF".into())
        );
        assert_eq!(
            annotation_value(AnnotationType::Unknown(9), vec![1]),
            AttributeValue::String("Cannot parse Zipkin value AQ==: unknown zipkin annotation type: 9".into())
        );
    }
}
