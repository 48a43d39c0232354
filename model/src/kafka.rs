//! The Kafka message between the collector and the ingester (spec §3): one span per message, keyed
//! by its trace id, in one of three encodings.
//!
//! | encoding | payload | compatible with |
//! |---|---|---|
//! | `protobuf` | `jaeger.api_v2.Span`, process embedded | Jaeger v1 `protobuf`, v2 `jaeger_proto` |
//! | `json` | gogo `jsonpb` of that `Span` | Jaeger v1 `json`, v2 `jaeger_json` |
//! | `otlp_proto` | `ExportTraceServiceRequest` (may hold several spans) | Jaeger v2 default `otlp_proto` |
//!
//! Only `otlp_proto` carries OTLP scope attributes and link attributes ([`Span::scope_attributes`],
//! [`crate::SpanRef::attributes`]); Jaeger's `protobuf` and `json` have no place for them and leave
//! them out, so a collector that must keep them writes `otlp_proto`.
//!
//! Spoor's collector adds two headers ([`NAMESPACE_HEADER`], [`ENCODING_HEADER`]); Jaeger's own
//! messages have neither, so a consumer falls back to its configured encoding and its own
//! namespace rules.
//!
//! The `json` writer reproduces Go's output byte for byte (field order, escaping, number and time
//! formats). The reader is lenient, as `jsonpb` is and more: camelCase or proto field names,
//! quoted or bare integers, enum names or numbers, ids in base64 or hex, unknown fields ignored.
//! No decoder ever panics, whatever the bytes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::{Map, Value};

use crate::civil_date::{civil_from_days, days_from_civil};
use crate::jaeger_proto::{self, ProtoError};
use crate::otlp::{spans_from_otlp_request, spans_to_resource_spans, OtlpConversion};
use crate::proto::jaeger::api_v2;
use crate::{Span, TraceId};

/// Kafka header naming the namespace a span belongs to (UTF-8 namespace name).
pub const NAMESPACE_HEADER: &str = "spoor-namespace";
/// Kafka header naming the payload encoding ([`KafkaEncoding::as_str`]). Absent on Jaeger's own
/// messages.
pub const ENCODING_HEADER: &str = "spoor-encoding";

/// How a span is written into a Kafka message's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KafkaEncoding {
    /// `jaeger.api_v2.Span` protobuf with the process embedded (Jaeger's default).
    #[default]
    Protobuf,
    /// gogo `jsonpb` of the same `Span`.
    Json,
    /// An OTLP `ExportTraceServiceRequest` protobuf.
    OtlpProto,
}

impl KafkaEncoding {
    pub const ALL: [KafkaEncoding; 3] = [Self::Protobuf, Self::Json, Self::OtlpProto];

    /// The name used in flags, config files and the [`ENCODING_HEADER`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
            Self::OtlpProto => "otlp_proto",
        }
    }

    /// Reads an [`ENCODING_HEADER`] value; `None` when it is not a known encoding.
    pub fn from_header(value: &[u8]) -> Option<Self> {
        std::str::from_utf8(value).ok()?.parse().ok()
    }
}

impl fmt::Display for KafkaEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An encoding name that is not one of `protobuf`, `json`, `otlp_proto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Kafka encoding {0:?}: expected protobuf, json or otlp_proto")]
pub struct UnknownEncoding(pub String);

impl FromStr for KafkaEncoding {
    type Err = UnknownEncoding;

    /// Accepts Spoor's and Jaeger v1 names, and Jaeger v2's equivalent names (`jaeger_proto`,
    /// `jaeger_json`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "protobuf" | "jaeger_proto" => Ok(Self::Protobuf),
            "json" | "jaeger_json" => Ok(Self::Json),
            "otlp_proto" => Ok(Self::OtlpProto),
            other => Err(UnknownEncoding(other.to_owned())),
        }
    }
}

impl serde::Serialize for KafkaEncoding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KafkaEncoding {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a Kafka message could not become spans.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KafkaDecodeError {
    #[error("protobuf span: {0}")]
    Protobuf(#[from] ProtoError),
    #[error("json span: {0}")]
    Json(String),
    #[error("otlp_proto request: {0}")]
    Otlp(prost::DecodeError),
    #[error("otlp_proto request: all {rejected} spans rejected: {message}")]
    OtlpRejected { rejected: usize, message: String },
}

/// The message key Jaeger uses: the trace id as 16 or 32 lowercase hex characters.
pub fn message_key(span: &Span) -> String {
    span.trace_id.to_hex()
}

/// Encodes one span as a Kafka message value.
pub fn encode_span(encoding: KafkaEncoding, span: &Span) -> Vec<u8> {
    match encoding {
        KafkaEncoding::Protobuf => jaeger_proto::encode_span(span),
        KafkaEncoding::Json => encode_json_span(span).into_bytes(),
        KafkaEncoding::OtlpProto => encode_otlp_spans(std::slice::from_ref(span)),
    }
}

/// Encodes spans as one `otlp_proto` message (an `ExportTraceServiceRequest`).
pub fn encode_otlp_spans(spans: &[Span]) -> Vec<u8> {
    ExportTraceServiceRequest { resource_spans: spans_to_resource_spans(spans.to_vec()) }.encode_to_vec()
}

/// Decodes one message; `otlp_proto` may hold several spans. Never panics.
///
/// An `otlp_proto` request whose spans are partly unusable (bad ids) yields the usable ones; when
/// every span is unusable the result is [`KafkaDecodeError::OtlpRejected`]. Use
/// [`decode_otlp_message`] for the counts.
pub fn decode_message(encoding: KafkaEncoding, payload: &[u8]) -> Result<Vec<Span>, KafkaDecodeError> {
    match encoding {
        KafkaEncoding::Protobuf => Ok(vec![jaeger_proto::decode_span(payload)?]),
        KafkaEncoding::Json => Ok(vec![decode_json_span(payload)?]),
        KafkaEncoding::OtlpProto => {
            let conversion = decode_otlp_message(payload)?;
            if conversion.spans.is_empty() && conversion.rejected > 0 {
                return Err(KafkaDecodeError::OtlpRejected {
                    rejected: conversion.rejected,
                    message: conversion.error_message(),
                });
            }
            Ok(conversion.spans)
        }
    }
}

/// Decodes an `otlp_proto` message, keeping the count and reasons of rejected spans.
pub fn decode_otlp_message(payload: &[u8]) -> Result<OtlpConversion, KafkaDecodeError> {
    let request = ExportTraceServiceRequest::decode(payload).map_err(KafkaDecodeError::Otlp)?;
    Ok(spans_from_otlp_request(request))
}

// ---------------------------------------------------------------------------------------------
// json: writer

/// Jaeger's `json` message for one span: compact gogo `jsonpb` of the `api_v2.Span`.
pub fn encode_json_span(span: &Span) -> String {
    let proto = jaeger_proto::span_to_proto(span.clone());
    let mut out = String::with_capacity(256 + span.estimated_size());
    write_json_span(&mut out, &proto);
    out
}

/// Writes `api_v2.Span` as gogo `jsonpb` (`jsonpb.Marshaler{}`): fields in proto order, zero
/// values omitted, except `startTime` and `duration`, which Jaeger's model always has.
pub fn write_json_span(out: &mut String, span: &api_v2::Span) {
    let mut object = JsonObject::open(out);
    object.bytes("traceId", &span.trace_id);
    object.bytes("spanId", &span.span_id);
    object.string("operationName", &span.operation_name);
    if !span.references.is_empty() {
        object.array("references", &span.references, |out, reference| {
            let mut item = JsonObject::open(out);
            item.bytes("traceId", &reference.trace_id);
            item.bytes("spanId", &reference.span_id);
            if reference.ref_type != 0 {
                item.enumeration("refType", reference.ref_type, |v| {
                    api_v2::SpanRefType::try_from(v).ok().map(|t| t.as_str_name())
                });
            }
            item.close();
        });
    }
    if span.flags != 0 {
        object.raw("flags", &span.flags.to_string());
    }
    let start = span.start_time.unwrap_or_default();
    object.quoted("startTime", &format_rfc3339(start.seconds, start.nanos));
    let duration = span.duration.unwrap_or_default();
    object.quoted("duration", &format_duration(duration.seconds, duration.nanos));
    write_key_values(&mut object, "tags", &span.tags);
    if !span.logs.is_empty() {
        object.array("logs", &span.logs, |out, log| {
            let mut item = JsonObject::open(out);
            let time = log.timestamp.unwrap_or_default();
            item.quoted("timestamp", &format_rfc3339(time.seconds, time.nanos));
            write_key_values(&mut item, "fields", &log.fields);
            item.close();
        });
    }
    if let Some(process) = &span.process {
        object.key("process");
        let mut item = JsonObject::open(object.out);
        item.string("serviceName", &process.service_name);
        write_key_values(&mut item, "tags", &process.tags);
        item.close();
    }
    object.string("processId", &span.process_id);
    if !span.warnings.is_empty() {
        object.array("warnings", &span.warnings, |out, warning| write_json_string(out, warning));
    }
    object.close();
}

fn write_key_values(object: &mut JsonObject<'_>, name: &str, key_values: &[api_v2::KeyValue]) {
    if key_values.is_empty() {
        return;
    }
    object.array(name, key_values, |out, kv| {
        let mut item = JsonObject::open(out);
        item.string("key", &kv.key);
        if kv.v_type != 0 {
            item.enumeration("vType", kv.v_type, |v| api_v2::ValueType::try_from(v).ok().map(|t| t.as_str_name()));
        }
        item.string("vStr", &kv.v_str);
        if kv.v_bool {
            item.raw("vBool", "true");
        }
        if kv.v_int64 != 0 {
            item.quoted("vInt64", &kv.v_int64.to_string());
        }
        if kv.v_float64 != 0.0 {
            item.key("vFloat64");
            write_go_float(item.out, kv.v_float64);
        }
        item.bytes("vBinary", &kv.v_binary);
        item.close();
    });
}

/// A JSON object being written: handles the commas.
struct JsonObject<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    fn raw(&mut self, name: &str, value: &str) {
        self.key(name);
        self.out.push_str(value);
    }

    /// A value that needs no escaping (numbers as text, times, base64).
    fn quoted(&mut self, name: &str, value: &str) {
        self.key(name);
        self.out.push('"');
        self.out.push_str(value);
        self.out.push('"');
    }

    /// A string field, omitted when empty.
    fn string(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        self.key(name);
        write_json_string(self.out, value);
    }

    /// A bytes field in standard padded base64, omitted when empty.
    fn bytes(&mut self, name: &str, value: &[u8]) {
        if value.is_empty() {
            return;
        }
        self.quoted(name, &base64::engine::general_purpose::STANDARD.encode(value));
    }

    /// An enum by name; a number this code does not know stays a number, as jsonpb writes it.
    fn enumeration(&mut self, name: &str, value: i32, name_of: impl Fn(i32) -> Option<&'static str>) {
        match name_of(value) {
            Some(text) => self.quoted(name, text),
            None => self.raw(name, &value.to_string()),
        }
    }

    fn array<T>(&mut self, name: &str, items: &[T], mut write: impl FnMut(&mut String, &T)) {
        self.key(name);
        self.out.push('[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                self.out.push(',');
            }
            write(self.out, item);
        }
        self.out.push(']');
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// A JSON string escaped as Go's `encoding/json` does: HTML-sensitive characters and U+2028/2029
/// as `\u` escapes, short escapes for the usual control characters.
fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double as jsonpb writes it: `"NaN"`, `"Infinity"`, `"-Infinity"` quoted; otherwise Go's
/// shortest form, with an exponent below 1e-6 and from 1e21 (`1e+21`, `1.5e-7`).
fn write_go_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("\"NaN\"");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
        return;
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                out.push_str(mantissa);
                out.push_str("e+");
                out.push_str(exponent);
            }
            _ => out.push_str(&text),
        }
    } else {
        out.push_str(&value.to_string());
    }
}

/// jsonpb's fraction: none, or 3, 6 or 9 digits.
fn push_fraction(out: &mut String, nanos: u32) {
    match (nanos, nanos % 1_000_000, nanos % 1_000) {
        (0, _, _) => {}
        (_, 0, _) => out.push_str(&format!(".{:03}", nanos / 1_000_000)),
        (_, _, 0) => out.push_str(&format!(".{:06}", nanos / 1_000)),
        _ => out.push_str(&format!(".{nanos:09}")),
    }
}

/// A `Timestamp` in RFC 3339, UTC, with jsonpb's fraction rule (`2023-11-14T22:13:20.123Z`).
pub fn format_rfc3339(seconds: i64, nanos: i32) -> String {
    let nanos = nanos.clamp(0, 999_999_999) as u32;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    );
    push_fraction(&mut out, nanos);
    out.push('Z');
    out
}

/// A `Duration` as jsonpb writes it (`0.022938s`, `1s`, `-1.5s`).
pub fn format_duration(seconds: i64, nanos: i32) -> String {
    let negative = seconds < 0 || nanos < 0;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&seconds.unsigned_abs().to_string());
    push_fraction(&mut out, nanos.unsigned_abs());
    out.push('s');
    out
}

// ---------------------------------------------------------------------------------------------
// json: reader

/// Decodes a `json` message into a span, with the protobuf path's sanitizing rules.
pub fn decode_json_span(payload: &[u8]) -> Result<Span, KafkaDecodeError> {
    let proto = parse_json_span(payload).map_err(KafkaDecodeError::Json)?;
    Ok(jaeger_proto::span_from_proto(proto, None)?)
}

/// Parses jsonpb text into an `api_v2.Span` (ids are not checked here).
pub fn parse_json_span(payload: &[u8]) -> Result<api_v2::Span, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let object = as_object(&value, "span")?;
    let mut span = api_v2::Span::default();
    for (name, field) in object {
        if field.is_null() {
            continue;
        }
        match name.as_str() {
            "traceId" | "trace_id" => span.trace_id = trace_id_bytes(field, name)?,
            "spanId" | "span_id" => span.span_id = span_id_bytes(field, name)?,
            "operationName" | "operation_name" => span.operation_name = string(field, name)?,
            "references" => span.references = array(field, name, parse_reference)?,
            "flags" => span.flags = u32::try_from(integer(field, name)?).map_err(|_| out_of_range(name))?,
            "startTime" | "start_time" => span.start_time = Some(timestamp(field, name)?),
            "duration" => span.duration = Some(duration(field, name)?),
            "tags" => span.tags = array(field, name, parse_key_value)?,
            "logs" => span.logs = array(field, name, parse_log)?,
            "process" => span.process = Some(parse_process(field)?),
            "processId" | "process_id" => span.process_id = string(field, name)?,
            "warnings" => span.warnings = array(field, name, |item| string(item, "warnings"))?,
            _ => {}
        }
    }
    Ok(span)
}

fn parse_reference(value: &Value) -> Result<api_v2::SpanRef, String> {
    let mut reference = api_v2::SpanRef::default();
    for (name, field) in as_object(value, "references")? {
        if field.is_null() {
            continue;
        }
        match name.as_str() {
            "traceId" | "trace_id" => reference.trace_id = trace_id_bytes(field, name)?,
            "spanId" | "span_id" => reference.span_id = span_id_bytes(field, name)?,
            "refType" | "ref_type" => {
                reference.ref_type =
                    enumeration(field, name, |text| api_v2::SpanRefType::from_str_name(text).map(|t| t as i32))?;
            }
            _ => {}
        }
    }
    Ok(reference)
}

fn parse_log(value: &Value) -> Result<api_v2::Log, String> {
    let mut log = api_v2::Log::default();
    for (name, field) in as_object(value, "logs")? {
        if field.is_null() {
            continue;
        }
        match name.as_str() {
            "timestamp" => log.timestamp = Some(timestamp(field, name)?),
            "fields" => log.fields = array(field, name, parse_key_value)?,
            _ => {}
        }
    }
    Ok(log)
}

fn parse_process(value: &Value) -> Result<api_v2::Process, String> {
    let mut process = api_v2::Process::default();
    for (name, field) in as_object(value, "process")? {
        if field.is_null() {
            continue;
        }
        match name.as_str() {
            "serviceName" | "service_name" => process.service_name = string(field, name)?,
            "tags" => process.tags = array(field, name, parse_key_value)?,
            _ => {}
        }
    }
    Ok(process)
}

fn parse_key_value(value: &Value) -> Result<api_v2::KeyValue, String> {
    let mut key_value = api_v2::KeyValue::default();
    for (name, field) in as_object(value, "key-value")? {
        if field.is_null() {
            continue;
        }
        match name.as_str() {
            "key" => key_value.key = string(field, name)?,
            "vType" | "v_type" => {
                key_value.v_type =
                    enumeration(field, name, |text| api_v2::ValueType::from_str_name(text).map(|t| t as i32))?;
            }
            "vStr" | "v_str" => key_value.v_str = string(field, name)?,
            "vBool" | "v_bool" => {
                key_value.v_bool = field.as_bool().ok_or_else(|| format!("{name} must be a boolean"))?;
            }
            "vInt64" | "v_int64" => {
                key_value.v_int64 = i64::try_from(integer(field, name)?).map_err(|_| out_of_range(name))?;
            }
            "vFloat64" | "v_float64" => key_value.v_float64 = float(field, name)?,
            "vBinary" | "v_binary" => key_value.v_binary = base64_bytes(field, name)?,
            _ => {}
        }
    }
    Ok(key_value)
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().ok_or_else(|| format!("{what} must be a JSON object"))
}

fn array<T>(value: &Value, name: &str, parse: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<T>, String> {
    let items = value.as_array().ok_or_else(|| format!("{name} must be an array"))?;
    items.iter().map(parse).collect()
}

fn string(value: &Value, name: &str) -> Result<String, String> {
    value.as_str().map(str::to_owned).ok_or_else(|| format!("{name} must be a string"))
}

fn out_of_range(name: &str) -> String {
    format!("{name} is out of range")
}

/// An integer given as a JSON number or a decimal string (jsonpb writes 64-bit ones quoted).
fn integer(value: &Value, name: &str) -> Result<i128, String> {
    let invalid = || format!("{name} must be an integer (number or decimal string)");
    match value {
        Value::Number(number) => {
            if let Some(signed) = number.as_i64() {
                Ok(i128::from(signed))
            } else if let Some(unsigned) = number.as_u64() {
                Ok(i128::from(unsigned))
            } else {
                let float = number.as_f64().ok_or_else(invalid)?;
                // 1e3 or 5.0 are integers jsonpb accepts; beyond ±2^63 the range check fails.
                if float.fract() != 0.0 || !float.is_finite() || float.abs() > 1.9e19 {
                    return Err(invalid());
                }
                Ok(float as i128)
            }
        }
        Value::String(text) => text.trim().parse::<i128>().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

fn float(value: &Value, name: &str) -> Result<f64, String> {
    let invalid = || format!("{name} must be a number");
    match value {
        Value::Number(number) => number.as_f64().ok_or_else(invalid),
        Value::String(text) => match text.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.trim().parse::<f64>().map_err(|_| invalid()),
        },
        _ => Err(invalid()),
    }
}

fn enumeration(value: &Value, name: &str, by_name: impl Fn(&str) -> Option<i32>) -> Result<i32, String> {
    match value {
        Value::String(text) => {
            by_name(text).or_else(|| text.parse().ok()).ok_or_else(|| format!("{name} has unknown value {text:?}"))
        }
        _ => i32::try_from(integer(value, name)?).map_err(|_| out_of_range(name)),
    }
}

fn base64_bytes(value: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or_else(|| format!("{name} must be a base64 string"))?;
    decode_base64(text).ok_or_else(|| format!("{name} is not valid base64"))
}

/// Standard or URL-safe alphabet, padded or not (jsonpb falls back to URL-safe).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

/// A trace id in base64 (jsonpb) or hex (Jaeger's string form). A string of 1 to 32 hex digits
/// is read as hex; padded base64 of 8 or 16 bytes (what jsonpb writes) always ends in `=`, so
/// Jaeger's own messages are never misread.
fn trace_id_bytes(value: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or_else(|| format!("{name} must be a string"))?;
    if is_hex_id(text, 32) {
        let id = TraceId::from_hex(text).map_err(|e| format!("{name}: {e}"))?;
        return Ok(id.to_bytes().to_vec());
    }
    decode_base64(text).ok_or_else(|| format!("{name} is neither base64 nor hex"))
}

fn span_id_bytes(value: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or_else(|| format!("{name} must be a string"))?;
    if is_hex_id(text, 16) {
        let id = crate::SpanId::from_hex(text).map_err(|e| format!("{name}: {e}"))?;
        return Ok(id.to_bytes().to_vec());
    }
    decode_base64(text).ok_or_else(|| format!("{name} is neither base64 nor hex"))
}

/// 1 to `max` hex digits.
fn is_hex_id(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn timestamp(value: &Value, name: &str) -> Result<prost_types::Timestamp, String> {
    let text = value.as_str().ok_or_else(|| format!("{name} must be an RFC 3339 string"))?;
    let (seconds, nanos) = parse_rfc3339(text).ok_or_else(|| format!("{name} {text:?} is not an RFC 3339 time"))?;
    Ok(prost_types::Timestamp { seconds, nanos })
}

fn duration(value: &Value, name: &str) -> Result<prost_types::Duration, String> {
    let text = value.as_str().ok_or_else(|| format!("{name} must be a string like \"1.5s\""))?;
    let (seconds, nanos) = parse_duration(text).ok_or_else(|| format!("{name} {text:?} is not a duration"))?;
    Ok(prost_types::Duration { seconds, nanos })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into seconds and nanoseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<(i64, i32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; Go's parser refuses it, so do we.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos: i64 = 0;
    if let Some(fraction_and_zone) = rest.strip_prefix('.') {
        let digits = fraction_and_zone.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let fraction = fraction_and_zone.get(..digits)?;
        nanos = fraction.parse::<i64>().ok()? * 10_i64.pow(9 - digits as u32);
        rest = fraction_and_zone.get(digits..)?;
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits = |range: std::ops::Range<usize>| -> Option<i64> {
                let part = zone.get(range)?;
                part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
            };
            let (zone_hour, zone_minute) = (digits(1..3)?, digits(4..6)?);
            if zone_hour > 23 || zone_minute > 59 {
                return None;
            }
            sign * (zone_hour * 3_600 + zone_minute * 60)
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset_seconds;
    Some((seconds, nanos as i32))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses jsonpb's `Duration` form: `[-]seconds[.fraction]s`, up to 9 fraction digits.
pub fn parse_duration(text: &str) -> Option<(i64, i32)> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let nanos: i64 =
        if fraction.is_empty() { 0 } else { fraction.parse::<i64>().ok()? * 10_i64.pow(9 - fraction.len() as u32) };
    if negative {
        Some((-seconds, -(nanos as i32)))
    } else {
        Some((seconds, nanos as i32))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{KeyValue, Log, Process, RefType, SpanId, SpanRef, FLAG_SAMPLED};

    fn sample_span() -> Span {
        Span {
            trace_id: TraceId::new(2, 1),
            span_id: SpanId(0xaa),
            operation_name: "GET /users <&>".into(),
            references: vec![
                SpanRef::child_of(TraceId::new(2, 1), SpanId(0xbb)),
                SpanRef::follows_from(TraceId::new(0, 7), SpanId(8)),
            ],
            flags: FLAG_SAMPLED,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            duration_nanos: 22_938_000,
            tags: vec![
                KeyValue::string("http.method", "GET"),
                KeyValue::bool("error", true),
                KeyValue::bool("cached", false),
                KeyValue::int64("http.status_code", -500),
                KeyValue::int64("big", i64::MAX),
                KeyValue::float64("ratio", 0.25),
                KeyValue::float64("tiny", 1.5e-7),
                KeyValue::float64("huge", 1e21),
                KeyValue::float64("nan", f64::INFINITY),
                KeyValue::binary("blob", vec![0, 1, 255]),
            ],
            logs: vec![Log {
                timestamp_unix_nano: 1_700_000_000_200_000_000,
                fields: vec![KeyValue::string("event", "x\ny")],
            }],
            process: Arc::new(Process { service_name: "users".into(), tags: vec![KeyValue::string("host.name", "a")] }),
            warnings: vec!["clock skew".into()],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn encodings_parse_from_their_names_and_jaeger_v2_aliases() {
        for encoding in KafkaEncoding::ALL {
            assert_eq!(encoding.as_str().parse::<KafkaEncoding>().unwrap(), encoding);
            assert_eq!(KafkaEncoding::from_header(encoding.as_str().as_bytes()), Some(encoding));
        }
        assert_eq!("jaeger_proto".parse::<KafkaEncoding>().unwrap(), KafkaEncoding::Protobuf);
        assert_eq!("jaeger_json".parse::<KafkaEncoding>().unwrap(), KafkaEncoding::Json);
        assert!("zipkin-thrift".parse::<KafkaEncoding>().is_err());
        assert_eq!(KafkaEncoding::from_header(&[0xff]), None);
    }

    #[test]
    fn message_key_is_jaeger_trace_id_string() {
        let mut span = sample_span();
        assert_eq!(message_key(&span), "00000000000000020000000000000001");
        span.trace_id = TraceId::new(0, 0xabc);
        assert_eq!(message_key(&span), "0000000000000abc");
    }

    #[test]
    fn every_encoding_round_trips_a_span() {
        let span = sample_span();
        for encoding in [KafkaEncoding::Protobuf, KafkaEncoding::Json] {
            let decoded = decode_message(encoding, &encode_span(encoding, &span)).unwrap();
            assert_eq!(decoded, vec![span.clone()], "{encoding}");
        }
        let otlp = decode_message(KafkaEncoding::OtlpProto, &encode_span(KafkaEncoding::OtlpProto, &span)).unwrap();
        assert_eq!(otlp.len(), 1);
        assert_eq!(otlp[0].trace_id, span.trace_id);
        assert_eq!(otlp[0].span_id, span.span_id);
        assert_eq!(otlp[0].service_name(), "users");
    }

    #[test]
    fn json_writes_jsonpb_forms() {
        let text = encode_json_span(&sample_span());
        assert!(text.starts_with(r#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","operationName":"GET /users \u003c\u0026\u003e","references":[{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAALs="},{"traceId":"AAAAAAAAAAAAAAAAAAAABw==","spanId":"AAAAAAAAAAg=","refType":"FOLLOWS_FROM"}],"flags":1,"startTime":"2023-11-14T22:13:20.123456789Z","duration":"0.022938s","tags":[{"key":"http.method","vStr":"GET"},{"key":"error","vType":"BOOL","vBool":true},{"key":"cached","vType":"BOOL"},{"key":"http.status_code","vType":"INT64","vInt64":"-500"}"#), "{text}");
        for fragment in [
            r#"{"key":"tiny","vType":"FLOAT64","vFloat64":1.5e-7}"#,
            r#"{"key":"huge","vType":"FLOAT64","vFloat64":1e+21}"#,
            r#"{"key":"nan","vType":"FLOAT64","vFloat64":"Infinity"}"#,
            r#"{"key":"blob","vType":"BINARY","vBinary":"AAH/"}"#,
            r#""logs":[{"timestamp":"2023-11-14T22:13:20.200Z","fields":[{"key":"event","vStr":"x\ny"}]}]"#,
            r#""process":{"serviceName":"users","tags":[{"key":"host.name","vStr":"a"}]},"warnings":["clock skew"]}"#,
        ] {
            assert!(text.contains(fragment), "{fragment} missing from {text}");
        }
    }

    #[test]
    fn json_reader_accepts_quoted_and_bare_ints_hex_ids_and_proto_names() {
        let text = r#"{"trace_id":"0000000000000002000000000000000a","spanId":"00000000000000aa",
            "operation_name":"op","flags":"1","startTime":"2023-11-14T23:13:20.5+01:00","duration":"1s",
            "tags":[{"key":"n","vType":2,"vInt64":42},{"key":"m","v_type":"INT64","v_int64":"-7"},
                    {"key":"f","vType":"FLOAT64","vFloat64":"NaN"},{"key":"s"}],
            "references":[{"traceId":"a","spanId":"AAAAAAAAALs=","refType":1}],
            "process":{"serviceName":"svc"},"unknown":{"x":1}}"#;
        let span = decode_json_span(text.as_bytes()).unwrap();
        assert_eq!(span.trace_id, TraceId::new(2, 10));
        assert_eq!(span.span_id, SpanId(0xaa));
        assert_eq!(span.flags, 1);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!(span.duration_nanos, 1_000_000_000);
        assert_eq!(span.tags[0], KeyValue::int64("n", 42));
        assert_eq!(span.tags[1], KeyValue::int64("m", -7));
        assert!(matches!(span.tags[2].value, crate::AttributeValue::Float64(f) if f.is_nan()));
        assert_eq!(span.tags[3], KeyValue::string("s", ""));
        assert_eq!(span.references[0].trace_id, TraceId::new(0, 10));
        assert_eq!(span.references[0].ref_type, RefType::FollowsFrom);
        assert_eq!(span.service_name(), "svc");
    }

    #[test]
    fn json_reader_reports_bad_fields_as_errors() {
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"traceId":"zz==","spanId":"AAAAAAAAAKo="}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","flags":"x"}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","flags":-1}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","startTime":"2023-02-30T00:00:00Z"}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","duration":"1.s"}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AAAAAAAAAKo=","tags":[{"vInt64":"99999999999999999999"}]}"#,
            br#"{"traceId":"AAAAAAAAAAIAAAAAAAAAAQ==","spanId":"AQID"}"#,
            br#"{"spanId":"AAAAAAAAAKo="}"#,
        ] {
            assert!(decode_message(KafkaEncoding::Json, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn times_and_durations_use_jsonpb_forms_both_ways() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.000000001Z"), Some((951_782_400, 1)));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some((-1, 0)));
        assert_eq!(parse_rfc3339("2000-02-29T01:00:00+01:00"), Some((951_782_400, 0)));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.1234567890Z"), None);
        assert_eq!(format_duration(0, 22_938_000), "0.022938s");
        assert_eq!(format_duration(1, 0), "1s");
        assert_eq!(format_duration(-1, -500_000_000), "-1.500s");
        assert_eq!(parse_duration("0.022938s"), Some((0, 22_938_000)));
        assert_eq!(parse_duration("-1.5s"), Some((-1, -500_000_000)));
        assert_eq!(parse_duration("1.5"), None);
    }

    #[test]
    fn go_float_formatting_switches_to_exponents_at_go_thresholds() {
        let render = |value: f64| {
            let mut out = String::new();
            write_go_float(&mut out, value);
            out
        };
        assert_eq!(render(0.25), "0.25");
        assert_eq!(render(1e20), "100000000000000000000");
        assert_eq!(render(1e21), "1e+21");
        assert_eq!(render(0.000001), "0.000001");
        assert_eq!(render(-1.25e-7), "-1.25e-7");
        assert_eq!(render(f64::NAN), "\"NaN\"");
        assert_eq!(render(f64::NEG_INFINITY), "\"-Infinity\"");
    }

    #[test]
    fn otlp_message_with_only_unusable_spans_is_an_error() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![OtlpSpan { trace_id: vec![1, 2], span_id: vec![1; 8], ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let error = decode_message(KafkaEncoding::OtlpProto, &request.encode_to_vec()).unwrap_err();
        assert!(matches!(error, KafkaDecodeError::OtlpRejected { rejected: 1, .. }), "{error}");
        assert_eq!(decode_message(KafkaEncoding::OtlpProto, &[]).unwrap(), vec![]);
    }
}
