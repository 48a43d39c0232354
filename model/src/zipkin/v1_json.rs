//! Zipkin v1 JSON (`POST /api/v1/spans` with a JSON body): an array of spans with
//! `annotations` and typed `binaryAnnotations`.
//!
//! Binary annotation values are read by their `type` (absent means `STRING`): `BOOL` a JSON
//! boolean, `I16`/`I32`/`I64` an integer (or a numeric string, as some tracers quote 64-bit
//! numbers) within the type's range, `DOUBLE` a number, `BYTES` standard base64, `STRING` a string
//! (a number or boolean is kept as its JSON text). Jaeger converts these to Thrift bytes first and
//! in doing so writes numbers little-endian but reads them big-endian, so `I32 1` came out as
//! 16777216; Spoor keeps the value that was sent.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::common::{parse_span_id, parse_trace_id, quoted};
use super::json::{parse_array, Micros, RawEndpoint};
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Span};
use super::{ZipkinError, ZipkinFormat};
use crate::AttributeValue;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpan {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    timestamp: Option<Micros>,
    duration: Option<Micros>,
    debug: Option<bool>,
    annotations: Option<Vec<RawAnnotation>>,
    binary_annotations: Option<Vec<RawBinaryAnnotation>>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    timestamp: Option<Micros>,
    value: Option<String>,
    endpoint: Option<RawEndpoint>,
}

#[derive(Deserialize)]
struct RawBinaryAnnotation {
    key: Option<String>,
    value: Option<Value>,
    #[serde(rename = "type")]
    value_type: Option<String>,
    endpoint: Option<RawEndpoint>,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<V1Span>, ZipkinError> {
    let raw: Vec<RawSpan> = parse_array(bytes, ZipkinFormat::V1Json)?;
    raw.into_iter()
        .enumerate()
        .map(|(index, span)| from_raw(span).map_err(|problem| ZipkinError::InvalidSpan { index, problem }))
        .collect()
}

fn micros_i64(micros: Micros) -> i64 {
    i64::try_from(micros.0).unwrap_or(i64::MAX)
}

fn from_raw(raw: RawSpan) -> Result<V1Span, String> {
    let trace_id = parse_trace_id("traceId", raw.trace_id.as_deref().ok_or("traceId is missing")?)?;
    let id = parse_span_id("id", raw.id.as_deref().ok_or("id is missing")?)?;
    let parent_id = match raw.parent_id.as_deref().filter(|text| !text.is_empty()) {
        Some(text) => Some(parse_span_id("parentId", text)?),
        None => None,
    };
    let mut annotations = Vec::new();
    for (index, annotation) in raw.annotations.unwrap_or_default().into_iter().enumerate() {
        let field = format!("annotations[{index}]");
        let timestamp = annotation.timestamp.ok_or_else(|| format!("{field}.timestamp is missing"))?;
        annotations.push(V1Annotation {
            timestamp: micros_i64(timestamp),
            value: annotation.value.unwrap_or_default(),
            host: annotation.endpoint.map(|endpoint| endpoint.parse(&format!("{field}.endpoint"))).transpose()?,
        });
    }
    let mut binary_annotations = Vec::new();
    for (index, annotation) in raw.binary_annotations.unwrap_or_default().into_iter().enumerate() {
        let field = format!("binaryAnnotations[{index}]");
        let key = annotation.key.ok_or_else(|| format!("{field}.key is missing"))?;
        let value = typed_value(annotation.value_type.as_deref(), annotation.value.unwrap_or(Value::Null))
            .map_err(|problem| format!("{field} ({key:?}): {problem}"))?;
        let host = annotation.endpoint.map(|endpoint| endpoint.parse(&format!("{field}.endpoint"))).transpose()?;
        binary_annotations.push(V1BinaryAnnotation { key, value, host });
    }
    Ok(V1Span {
        trace_id,
        id,
        parent_id,
        name: raw.name.unwrap_or_default(),
        annotations,
        binary_annotations,
        debug: raw.debug.unwrap_or_default(),
        timestamp: raw.timestamp.map(micros_i64),
        duration: raw.duration.map(micros_i64),
        warnings: Vec::new(),
    })
}

fn typed_value(value_type: Option<&str>, value: Value) -> Result<AttributeValue, String> {
    match value_type.unwrap_or("STRING") {
        "STRING" => Ok(AttributeValue::String(match value {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        })),
        "BOOL" => match value {
            Value::Bool(flag) => Ok(AttributeValue::Bool(flag)),
            other => Err(format!("a BOOL value must be true or false, got {}", shown(&other))),
        },
        "I16" => integer(&value, i64::from(i16::MIN), i64::from(i16::MAX), "I16"),
        "I32" => integer(&value, i64::from(i32::MIN), i64::from(i32::MAX), "I32"),
        "I64" => integer(&value, i64::MIN, i64::MAX, "I64"),
        "DOUBLE" => match &value {
            Value::Number(number) => number.as_f64().map(AttributeValue::Float64),
            Value::String(text) => text.trim().parse::<f64>().ok().map(AttributeValue::Float64),
            _ => None,
        }
        .ok_or_else(|| format!("a DOUBLE value must be a number, got {}", shown(&value))),
        "BYTES" => match &value {
            Value::String(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(AttributeValue::Binary)
                .map_err(|_| format!("a BYTES value must be base64, got {}", quoted(text))),
            other => Err(format!("a BYTES value must be a base64 string, got {}", shown(other))),
        },
        other => Err(format!("unknown type {}", quoted(other))),
    }
}

/// A JSON value for an error message: strings quoted, anything else as JSON text, cut short.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        other => {
            let text = other.to_string();
            if text.len() <= 40 {
                text
            } else {
                format!("{}...", text.chars().take(40).collect::<String>())
            }
        }
    }
}

fn integer(value: &Value, min: i64, max: i64, name: &str) -> Result<AttributeValue, String> {
    let number = match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    number
        .filter(|number| (min..=max).contains(number))
        .map(AttributeValue::Int64)
        .ok_or_else(|| format!("an {name} value must be an integer from {min} to {max}, got {}", shown(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_annotation_values_keep_their_declared_type() {
        assert_eq!(typed_value(Some("I32"), Value::from(1)), Ok(AttributeValue::Int64(1)));
        assert_eq!(
            typed_value(Some("I64"), Value::from("9007199254740993")),
            Ok(AttributeValue::Int64(9_007_199_254_740_993))
        );
        assert_eq!(typed_value(Some("DOUBLE"), Value::from(0.25)), Ok(AttributeValue::Float64(0.25)));
        assert_eq!(typed_value(Some("BOOL"), Value::from(true)), Ok(AttributeValue::Bool(true)));
        assert_eq!(typed_value(Some("BYTES"), Value::from("yv4=")), Ok(AttributeValue::Binary(vec![0xca, 0xfe])));
        assert_eq!(typed_value(None, Value::from(200)), Ok(AttributeValue::String("200".into())));
        assert!(typed_value(Some("I16"), Value::from(70_000)).is_err());
        assert!(typed_value(Some("BOOL"), Value::from("yes")).is_err());
        assert!(typed_value(Some("FLOAT"), Value::from(1)).is_err());
    }
}
