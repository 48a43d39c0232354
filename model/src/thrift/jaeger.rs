//! The `jaeger.thrift` structs (jaeger-idl `thrift/jaeger.thrift`, spec §1.7) and their
//! reading and writing over any Thrift protocol. Field ids, types and requiredness follow the IDL:
//! a `required` field that is absent is an error, an unknown field is skipped.

use thrift::protocol::TType;

use super::wire::{Reader, Result, ThriftError, Writer};

/// `TagType`. The order differs from proto's `ValueType`: DOUBLE is 1 and LONG is 3 here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagType {
    String,
    Double,
    Bool,
    Long,
    Binary,
    /// A value this IDL version does not define; kept so the converter can say which.
    Unknown(i32),
}

impl TagType {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::String,
            1 => Self::Double,
            2 => Self::Bool,
            3 => Self::Long,
            4 => Self::Binary,
            other => Self::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            Self::String => 0,
            Self::Double => 1,
            Self::Bool => 2,
            Self::Long => 3,
            Self::Binary => 4,
            Self::Unknown(other) => other,
        }
    }
}

/// `SpanRefType`: CHILD_OF is 0, FOLLOWS_FROM is 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanRefType {
    ChildOf,
    FollowsFrom,
    Unknown(i32),
}

impl SpanRefType {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::ChildOf,
            1 => Self::FollowsFrom,
            other => Self::Unknown(other),
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            Self::ChildOf => 0,
            Self::FollowsFrom => 1,
            Self::Unknown(other) => other,
        }
    }
}

/// `Tag`: a typed key/value; only the field that `v_type` names is meaningful.
#[derive(Clone, Debug, PartialEq)]
pub struct ThriftTag {
    pub key: String,
    pub v_type: TagType,
    pub v_str: Option<String>,
    pub v_double: Option<f64>,
    pub v_bool: Option<bool>,
    pub v_long: Option<i64>,
    pub v_binary: Option<Vec<u8>>,
}

impl ThriftTag {
    fn empty(key: impl Into<String>, v_type: TagType) -> Self {
        Self { key: key.into(), v_type, v_str: None, v_double: None, v_bool: None, v_long: None, v_binary: None }
    }
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { v_str: Some(value.into()), ..Self::empty(key, TagType::String) }
    }
    pub fn double(key: impl Into<String>, value: f64) -> Self {
        Self { v_double: Some(value), ..Self::empty(key, TagType::Double) }
    }
    pub fn bool(key: impl Into<String>, value: bool) -> Self {
        Self { v_bool: Some(value), ..Self::empty(key, TagType::Bool) }
    }
    pub fn long(key: impl Into<String>, value: i64) -> Self {
        Self { v_long: Some(value), ..Self::empty(key, TagType::Long) }
    }
    pub fn binary(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self { v_binary: Some(value), ..Self::empty(key, TagType::Binary) }
    }
}

/// `Log`: a timestamp in microseconds since the epoch and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ThriftLog {
    pub timestamp: i64,
    pub fields: Vec<ThriftTag>,
}

/// `SpanRef`: ids are the signed halves Thrift carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThriftSpanRef {
    pub ref_type: SpanRefType,
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
}

/// `Span`: times are microseconds; `parent_span_id` 0 means none.
#[derive(Clone, Debug, PartialEq)]
pub struct ThriftSpan {
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
    pub parent_span_id: i64,
    pub operation_name: String,
    pub references: Option<Vec<ThriftSpanRef>>,
    pub flags: i32,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Option<Vec<ThriftTag>>,
    pub logs: Option<Vec<ThriftLog>>,
}

/// `Process`: the emitting service.
#[derive(Clone, Debug, PartialEq)]
pub struct ThriftProcess {
    pub service_name: String,
    pub tags: Option<Vec<ThriftTag>>,
}

/// `ClientStats`: what the client dropped before sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientStats {
    pub full_queue_dropped_spans: i64,
    pub too_large_dropped_spans: i64,
    pub failed_to_emit_spans: i64,
}

/// `Batch`: spans of one process; the body of `POST /api/traces` and of an agent `emitBatch`.
#[derive(Clone, Debug, PartialEq)]
pub struct ThriftBatch {
    pub process: ThriftProcess,
    pub spans: Vec<ThriftSpan>,
    pub seq_no: Option<i64>,
    pub stats: Option<ClientStats>,
}

/// Unwraps a required field, naming it when absent.
fn required<T>(value: Option<T>, name: &'static str) -> Result<T> {
    value.ok_or_else(|| ThriftError::missing(name))
}

/// Reads one field value; the error names the field.
fn field<T>(name: &str, value: Result<T>) -> Result<T> {
    value.map_err(|error| error.within(name))
}

// ---------------------------------------------------------------------------------------------
// Reading

pub(crate) fn read_tag(reader: &mut Reader<'_>) -> Result<ThriftTag> {
    let (mut key, mut v_type) = (None, None);
    let mut tag = ThriftTag::empty("", TagType::String);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::String) => key = Some(field("key", reader.read_string())?),
            (2, TType::I32) => v_type = Some(TagType::from_i32(field("vType", reader.read_i32())?)),
            (3, TType::String) => tag.v_str = Some(field("vStr", reader.read_string())?),
            (4, TType::Double) => tag.v_double = Some(field("vDouble", reader.read_double())?),
            (5, TType::Bool) => tag.v_bool = Some(field("vBool", reader.read_bool())?),
            (6, TType::I64) => tag.v_long = Some(field("vLong", reader.read_i64())?),
            (7, TType::String) => tag.v_binary = Some(field("vBinary", reader.read_bytes())?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    tag.key = required(key, "key")?;
    tag.v_type = required(v_type, "vType")?;
    Ok(tag)
}

fn read_tags(reader: &mut Reader<'_>, name: &str) -> Result<Vec<ThriftTag>> {
    field(name, reader.read_list(TType::Struct, read_tag))
}

fn read_log(reader: &mut Reader<'_>) -> Result<ThriftLog> {
    let (mut timestamp, mut fields) = (None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I64) => timestamp = Some(field("timestamp", reader.read_i64())?),
            (2, TType::List) => fields = Some(read_tags(reader, "fields")?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ThriftLog { timestamp: required(timestamp, "timestamp")?, fields: required(fields, "fields")? })
}

fn read_span_ref(reader: &mut Reader<'_>) -> Result<ThriftSpanRef> {
    let (mut ref_type, mut low, mut high, mut span_id) = (None, None, None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I32) => ref_type = Some(SpanRefType::from_i32(field("refType", reader.read_i32())?)),
            (2, TType::I64) => low = Some(field("traceIdLow", reader.read_i64())?),
            (3, TType::I64) => high = Some(field("traceIdHigh", reader.read_i64())?),
            (4, TType::I64) => span_id = Some(field("spanId", reader.read_i64())?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ThriftSpanRef {
        ref_type: required(ref_type, "refType")?,
        trace_id_low: required(low, "traceIdLow")?,
        trace_id_high: required(high, "traceIdHigh")?,
        span_id: required(span_id, "spanId")?,
    })
}

fn read_span(reader: &mut Reader<'_>) -> Result<ThriftSpan> {
    let (mut low, mut high, mut span_id, mut parent, mut name) = (None, None, None, None, None);
    let (mut flags, mut start_time, mut duration) = (None, None, None);
    let (mut references, mut tags, mut logs) = (None, None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I64) => low = Some(field("traceIdLow", reader.read_i64())?),
            (2, TType::I64) => high = Some(field("traceIdHigh", reader.read_i64())?),
            (3, TType::I64) => span_id = Some(field("spanId", reader.read_i64())?),
            (4, TType::I64) => parent = Some(field("parentSpanId", reader.read_i64())?),
            (5, TType::String) => name = Some(field("operationName", reader.read_string())?),
            (6, TType::List) => {
                references = Some(field("references", reader.read_list(TType::Struct, read_span_ref))?);
            }
            (7, TType::I32) => flags = Some(field("flags", reader.read_i32())?),
            (8, TType::I64) => start_time = Some(field("startTime", reader.read_i64())?),
            (9, TType::I64) => duration = Some(field("duration", reader.read_i64())?),
            (10, TType::List) => tags = Some(read_tags(reader, "tags")?),
            (11, TType::List) => logs = Some(field("logs", reader.read_list(TType::Struct, read_log))?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ThriftSpan {
        trace_id_low: required(low, "traceIdLow")?,
        trace_id_high: required(high, "traceIdHigh")?,
        span_id: required(span_id, "spanId")?,
        parent_span_id: required(parent, "parentSpanId")?,
        operation_name: required(name, "operationName")?,
        references,
        flags: required(flags, "flags")?,
        start_time: required(start_time, "startTime")?,
        duration: required(duration, "duration")?,
        tags,
        logs,
    })
}

fn read_process(reader: &mut Reader<'_>) -> Result<ThriftProcess> {
    let (mut service_name, mut tags) = (None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::String) => service_name = Some(field("serviceName", reader.read_string())?),
            (2, TType::List) => tags = Some(read_tags(reader, "tags")?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ThriftProcess { service_name: required(service_name, "serviceName")?, tags })
}

fn read_client_stats(reader: &mut Reader<'_>) -> Result<ClientStats> {
    let (mut full_queue, mut too_large, mut failed) = (None, None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::I64) => full_queue = Some(field("fullQueueDroppedSpans", reader.read_i64())?),
            (2, TType::I64) => too_large = Some(field("tooLargeDroppedSpans", reader.read_i64())?),
            (3, TType::I64) => failed = Some(field("failedToEmitSpans", reader.read_i64())?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ClientStats {
        full_queue_dropped_spans: required(full_queue, "fullQueueDroppedSpans")?,
        too_large_dropped_spans: required(too_large, "tooLargeDroppedSpans")?,
        failed_to_emit_spans: required(failed, "failedToEmitSpans")?,
    })
}

pub(crate) fn read_batch(reader: &mut Reader<'_>) -> Result<ThriftBatch> {
    let (mut process, mut spans, mut seq_no, mut stats) = (None, None, None, None);
    reader.read_struct(|reader, id, wire_type| {
        match (id, wire_type) {
            (1, TType::Struct) => process = Some(field("process", read_process(reader))?),
            (2, TType::List) => spans = Some(field("spans", reader.read_list(TType::Struct, read_span))?),
            (3, TType::I64) => seq_no = Some(field("seqNo", reader.read_i64())?),
            (4, TType::Struct) => stats = Some(field("stats", read_client_stats(reader))?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ThriftBatch { process: required(process, "process")?, spans: required(spans, "spans")?, seq_no, stats })
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_tag(writer: &mut Writer, tag: &ThriftTag) -> Result<()> {
    writer.struct_begin("Tag")?;
    writer.string_field("key", 1, &tag.key)?;
    writer.i32_field("vType", 2, tag.v_type.to_i32())?;
    if let Some(text) = &tag.v_str {
        writer.string_field("vStr", 3, text)?;
    }
    if let Some(number) = tag.v_double {
        writer.double_field("vDouble", 4, number)?;
    }
    if let Some(flag) = tag.v_bool {
        writer.bool_field("vBool", 5, flag)?;
    }
    if let Some(number) = tag.v_long {
        writer.i64_field("vLong", 6, number)?;
    }
    if let Some(bytes) = &tag.v_binary {
        writer.bytes_field("vBinary", 7, bytes)?;
    }
    writer.struct_end()
}

fn write_optional_tags(writer: &mut Writer, name: &str, id: i16, tags: Option<&Vec<ThriftTag>>) -> Result<()> {
    match tags {
        Some(tags) => writer.list_field(name, id, TType::Struct, tags, write_tag),
        None => Ok(()),
    }
}

fn write_log(writer: &mut Writer, log: &ThriftLog) -> Result<()> {
    writer.struct_begin("Log")?;
    writer.i64_field("timestamp", 1, log.timestamp)?;
    writer.list_field("fields", 2, TType::Struct, &log.fields, write_tag)?;
    writer.struct_end()
}

fn write_span_ref(writer: &mut Writer, reference: &ThriftSpanRef) -> Result<()> {
    writer.struct_begin("SpanRef")?;
    writer.i32_field("refType", 1, reference.ref_type.to_i32())?;
    writer.i64_field("traceIdLow", 2, reference.trace_id_low)?;
    writer.i64_field("traceIdHigh", 3, reference.trace_id_high)?;
    writer.i64_field("spanId", 4, reference.span_id)?;
    writer.struct_end()
}

fn write_span(writer: &mut Writer, span: &ThriftSpan) -> Result<()> {
    writer.struct_begin("Span")?;
    writer.i64_field("traceIdLow", 1, span.trace_id_low)?;
    writer.i64_field("traceIdHigh", 2, span.trace_id_high)?;
    writer.i64_field("spanId", 3, span.span_id)?;
    writer.i64_field("parentSpanId", 4, span.parent_span_id)?;
    writer.string_field("operationName", 5, &span.operation_name)?;
    if let Some(references) = &span.references {
        writer.list_field("references", 6, TType::Struct, references, write_span_ref)?;
    }
    writer.i32_field("flags", 7, span.flags)?;
    writer.i64_field("startTime", 8, span.start_time)?;
    writer.i64_field("duration", 9, span.duration)?;
    write_optional_tags(writer, "tags", 10, span.tags.as_ref())?;
    if let Some(logs) = &span.logs {
        writer.list_field("logs", 11, TType::Struct, logs, write_log)?;
    }
    writer.struct_end()
}

fn write_process(writer: &mut Writer, process: &ThriftProcess) -> Result<()> {
    writer.struct_begin("Process")?;
    writer.string_field("serviceName", 1, &process.service_name)?;
    write_optional_tags(writer, "tags", 2, process.tags.as_ref())?;
    writer.struct_end()
}

fn write_client_stats(writer: &mut Writer, stats: &ClientStats) -> Result<()> {
    writer.struct_begin("ClientStats")?;
    writer.i64_field("fullQueueDroppedSpans", 1, stats.full_queue_dropped_spans)?;
    writer.i64_field("tooLargeDroppedSpans", 2, stats.too_large_dropped_spans)?;
    writer.i64_field("failedToEmitSpans", 3, stats.failed_to_emit_spans)?;
    writer.struct_end()
}

pub(crate) fn write_batch(writer: &mut Writer, batch: &ThriftBatch) -> Result<()> {
    writer.struct_begin("Batch")?;
    writer.field("process", TType::Struct, 1)?;
    write_process(writer, &batch.process)?;
    writer.field_end()?;
    writer.list_field("spans", 2, TType::Struct, &batch.spans, write_span)?;
    if let Some(seq_no) = batch.seq_no {
        writer.i64_field("seqNo", 3, seq_no)?;
    }
    if let Some(stats) = &batch.stats {
        writer.field("stats", TType::Struct, 4)?;
        write_client_stats(writer, stats)?;
        writer.field_end()?;
    }
    writer.struct_end()
}
