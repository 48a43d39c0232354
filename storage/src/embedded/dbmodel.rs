//! The embedded backend's on-disk format: keys, span-group records and search rows.
//!
//! Two keyspaces per UTC day of writing (see `partitions.rs`):
//!
//! * `spans-YYYY-MM-DD`: one row per trace per commit.
//!   key = `ns` ‖ trace id (16 B, big-endian) ‖ row hash (8 B) → value = [`SpanGroupRecord`]
//!   (protobuf: the spans with their content hashes, and the processes they share).
//! * `index-YYYY-MM-DD`:
//!   * search rows, one per service per commit (not per trace or span), split so that a row's
//!     spans start within [`SEARCH_ROW_WINDOW_NANOS`] of each other:
//!     key = `0x01` ‖ `ns` ‖ service (u16 length ‖ bytes) ‖ latest span start (u64 BE) ‖ row hash
//!     → value = span summaries (see [`encode_search_row`]).
//!   * operations: key = `0x02` ‖ `ns` ‖ service ‖ span kind (u8) ‖ operation bytes → empty.
//!   * dependency rows, one per `write` call (split at [`MAX_SPANS_PER_DEPENDENCY_ROW`] spans):
//!     key = `0x03` ‖ `ns` ‖ latest span start (u64 BE) ‖ row hash → value = per span what
//!     dependency links need: trace, span and parent ids, start, service, client/server role and
//!     content hash (see [`encode_dependency_row`]).
//!
//! `ns` is the namespace name with a one-byte length prefix. A span's content hash is xxh3 of its
//! encoded record (seeded with the hash of its encoded process); row hashes are derived from the
//! content hashes, so replaying a commit rewrites the same keys (idempotent).
//!
//! The format has no version number; it grows the protobuf way. Scope attributes
//! ([`SpanRecord::scope_attributes`], field 12) and link attributes ([`SpanRefRecord::attributes`],
//! field 5) were added later: rows written before decode with none, and a span without them
//! encodes to the same bytes as before, so its content hash and keys did not change. Search rows
//! kept their layout: the terms of scope and link attributes are simply among a span's terms.

use std::sync::Arc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use spoor_model::{
    AttributeValue, KeyValue, Log, Namespace, Process, RefType, Span, SpanId, SpanKind, SpanRef, TraceId,
};

use crate::api::{Result, StorageError};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::dependencies::Role;
use crate::hashing::{bytes_hash, key_value_term_hash};

/// Spans of one search row start at most this far apart. A search for spans up to `t` reads rows
/// whose latest start is up to `t` + this window.
pub(crate) const SEARCH_ROW_WINDOW_NANOS: u64 = 60 * 1_000_000_000;
/// At most this many spans share a span-group record, bounding value sizes.
pub(crate) const MAX_SPANS_PER_SPAN_ROW: usize = 128;
/// At most this many span summaries share a search row.
pub(crate) const MAX_SPANS_PER_SEARCH_ROW: usize = 512;
/// At most this many spans share a dependency row (about 32 B each).
pub(crate) const MAX_SPANS_PER_DEPENDENCY_ROW: usize = 4096;
/// Service and operation names are cut to this many bytes in index keys (queries are cut the same
/// way, so they still match).
const MAX_INDEXED_NAME_BYTES: usize = 1024;

pub(crate) const SEARCH_ROW_TAG: u8 = 0x01;
pub(crate) const OPERATION_ROW_TAG: u8 = 0x02;
pub(crate) const DEPENDENCY_ROW_TAG: u8 = 0x03;
const SEARCH_ROW_FORMAT: u8 = 1;
const DEPENDENCY_ROW_FORMAT: u8 = 1;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The namespace's key component: its name with a one-byte length prefix.
pub(crate) fn namespace_key(ns: &Namespace) -> Result<Vec<u8>> {
    let name = ns.as_str().as_bytes();
    let length = u8::try_from(name.len()).map_err(|_| {
        StorageError::InvalidQuery(format!("namespace name is {} bytes, at most 255 allowed", name.len()))
    })?;
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(length);
    key.extend_from_slice(name);
    Ok(key)
}

/// The prefix of every span-group row of a trace.
pub(crate) fn trace_prefix(namespace_key: &[u8], trace_id: TraceId) -> Vec<u8> {
    let mut key = Vec::with_capacity(namespace_key.len() + 16 + 8);
    key.extend_from_slice(namespace_key);
    key.extend_from_slice(&trace_id.to_bytes());
    key
}

pub(crate) fn span_row_key(namespace_key: &[u8], trace_id: TraceId, row_hash: u64) -> Vec<u8> {
    let mut key = trace_prefix(namespace_key, trace_id);
    key.extend_from_slice(&row_hash.to_be_bytes());
    key
}

/// The prefix of every search row of a service.
pub(crate) fn service_search_prefix(namespace_key: &[u8], service: &str) -> Vec<u8> {
    let service = indexed_name(service);
    let mut key = Vec::with_capacity(1 + namespace_key.len() + 2 + service.len() + 32);
    key.push(SEARCH_ROW_TAG);
    key.extend_from_slice(namespace_key);
    push_name(&mut key, service);
    key
}

pub(crate) fn search_row_key(service_prefix: &[u8], latest_start: u64, row_hash: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(service_prefix.len() + 8 + 8);
    key.extend_from_slice(service_prefix);
    key.extend_from_slice(&latest_start.to_be_bytes());
    key.extend_from_slice(&row_hash.to_be_bytes());
    key
}

/// The latest span start of a search row key that starts with `service_prefix`.
pub(crate) fn parse_search_row_key(key: &[u8], service_prefix_len: usize) -> Result<u64> {
    let rest = key.get(service_prefix_len..).ok_or_else(|| corrupt("search row key is too short"))?;
    let latest_start: [u8; 8] = rest
        .get(..8)
        .filter(|_| rest.len() == 8 + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt("search row key has the wrong length"))?;
    Ok(u64::from_be_bytes(latest_start))
}

/// The prefix of every dependency row of a namespace.
pub(crate) fn dependency_row_prefix(namespace_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + namespace_key.len() + 16);
    key.push(DEPENDENCY_ROW_TAG);
    key.extend_from_slice(namespace_key);
    key
}

/// A dependency row key: `dependency_prefix` ‖ latest span start (BE) ‖ row hash (BE). Taken
/// apart by [`parse_search_row_key`], which reads the same layout.
pub(crate) fn dependency_row_key(dependency_prefix: &[u8], latest_start: u64, row_hash: u64) -> Vec<u8> {
    search_row_key(dependency_prefix, latest_start, row_hash)
}

/// The search-key bound for a span start: `service_prefix` ‖ `start` (BE).
pub(crate) fn search_bound(service_prefix: &[u8], start: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(service_prefix.len() + 8);
    key.extend_from_slice(service_prefix);
    key.extend_from_slice(&start.to_be_bytes());
    key
}

pub(crate) fn operation_key(namespace_key: &[u8], service: &str, kind: SpanKind, operation: &str) -> Vec<u8> {
    let service = indexed_name(service);
    let operation = indexed_name(operation);
    let mut key = Vec::with_capacity(1 + namespace_key.len() + 2 + service.len() + 1 + operation.len());
    key.push(OPERATION_ROW_TAG);
    key.extend_from_slice(namespace_key);
    push_name(&mut key, service);
    key.push(span_kind_code(kind));
    key.extend_from_slice(operation.as_bytes());
    key
}

/// An operation row key taken apart: namespace, service, kind, operation.
pub(crate) fn parse_operation_key(key: &[u8]) -> Result<(String, String, SpanKind, String)> {
    let bad = || corrupt("operation row key");
    let (&tag, rest) = key.split_first().ok_or_else(bad)?;
    if tag != OPERATION_ROW_TAG {
        return Err(bad());
    }
    let (&ns_len, rest) = rest.split_first().ok_or_else(bad)?;
    let (ns, rest) = rest.split_at_checked(usize::from(ns_len)).ok_or_else(bad)?;
    let (service_len, rest) = rest.split_at_checked(2).ok_or_else(bad)?;
    let service_len = usize::from(u16::from_be_bytes([service_len[0], service_len[1]]));
    let (service, rest) = rest.split_at_checked(service_len).ok_or_else(bad)?;
    let (&kind, operation) = rest.split_first().ok_or_else(bad)?;
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| bad());
    Ok((text(ns)?, text(service)?, span_kind_from_code(kind), text(operation)?))
}

/// `name` cut to [`MAX_INDEXED_NAME_BYTES`] at a character boundary.
pub(crate) fn indexed_name(name: &str) -> &str {
    if name.len() <= MAX_INDEXED_NAME_BYTES {
        return name;
    }
    let mut end = MAX_INDEXED_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

fn push_name(key: &mut Vec<u8>, name: &str) {
    // indexed_name keeps names far below u16::MAX.
    let length = u16::try_from(name.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&length.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
}

pub(crate) fn span_kind_code(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn span_kind_from_code(code: u8) -> SpanKind {
    match code {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

/// The hash an operation name is matched by in search rows.
pub(crate) fn operation_hash(operation: &str) -> u64 {
    bytes_hash(operation.as_bytes())
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("embedded store: malformed {what}"))
}

// ---------------------------------------------------------------------------------------------
// Span-group records (protobuf)
// ---------------------------------------------------------------------------------------------

/// The spans of one trace written in one commit. The trace id is in the key.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct SpanGroupRecord {
    #[prost(message, repeated, tag = "1")]
    pub processes: Vec<ProcessRecord>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<SpanRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProcessRecord {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValueRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct SpanRecord {
    #[prost(fixed64, tag = "1")]
    pub span_id: u64,
    #[prost(fixed64, tag = "2")]
    pub content_hash: u64,
    #[prost(string, tag = "3")]
    pub operation_name: String,
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<SpanRefRecord>,
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    #[prost(fixed64, tag = "6")]
    pub start_time_unix_nano: u64,
    #[prost(uint64, tag = "7")]
    pub duration_nanos: u64,
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValueRecord>,
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<LogRecord>,
    /// Index into [`SpanGroupRecord::processes`].
    #[prost(uint32, tag = "10")]
    pub process_index: u32,
    #[prost(string, repeated, tag = "11")]
    pub warnings: Vec<String>,
    #[prost(message, repeated, tag = "12")]
    pub scope_attributes: Vec<KeyValueRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct SpanRefRecord {
    /// 0 = CHILD_OF, 1 = FOLLOWS_FROM.
    #[prost(uint32, tag = "1")]
    pub ref_type: u32,
    #[prost(fixed64, tag = "2")]
    pub trace_id_high: u64,
    #[prost(fixed64, tag = "3")]
    pub trace_id_low: u64,
    #[prost(fixed64, tag = "4")]
    pub span_id: u64,
    /// The link's attributes.
    #[prost(message, repeated, tag = "5")]
    pub attributes: Vec<KeyValueRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub timestamp_unix_nano: u64,
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValueRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct KeyValueRecord {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(oneof = "ValueRecord", tags = "2, 3, 4, 5, 6")]
    pub value: Option<ValueRecord>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum ValueRecord {
    #[prost(string, tag = "2")]
    String(String),
    #[prost(bool, tag = "3")]
    Bool(bool),
    #[prost(int64, tag = "4")]
    Int64(i64),
    #[prost(double, tag = "5")]
    Float64(f64),
    #[prost(bytes = "vec", tag = "6")]
    Binary(Vec<u8>),
}

/// Appends a [`ProcessRecord`]'s body (without its field header) to `out`.
pub(crate) fn encode_process_body(process: &Process, out: &mut Vec<u8>) {
    put_string(out, 1, &process.service_name);
    for tag in &process.tags {
        put_key_value(out, 2, tag);
    }
}

/// Appends a [`SpanRecord`]'s body without its content hash and process index (fields 2 and 10)
/// to `out`: the bytes the content hash is computed over.
pub(crate) fn encode_span_body(span: &Span, out: &mut Vec<u8>) {
    put_fixed64(out, 1, span.span_id.0);
    put_string(out, 3, &span.operation_name);
    for reference in &span.references {
        let ref_type = match reference.ref_type {
            RefType::ChildOf => 0,
            RefType::FollowsFrom => 1,
        };
        let body_len = varint_field_len(1, ref_type)
            + fixed64_field_len(2, reference.trace_id.high)
            + fixed64_field_len(3, reference.trace_id.low)
            + fixed64_field_len(4, reference.span_id.0)
            + key_values_len(5, &reference.attributes);
        put_length_delimited_header(out, 4, body_len);
        put_varint(out, 1, ref_type);
        put_fixed64(out, 2, reference.trace_id.high);
        put_fixed64(out, 3, reference.trace_id.low);
        put_fixed64(out, 4, reference.span_id.0);
        for attribute in &reference.attributes {
            put_key_value(out, 5, attribute);
        }
    }
    put_varint(out, 5, u64::from(span.flags));
    put_fixed64(out, 6, span.start_time_unix_nano);
    put_varint(out, 7, span.duration_nanos);
    for tag in &span.tags {
        put_key_value(out, 8, tag);
    }
    for log in &span.logs {
        let body_len = fixed64_field_len(1, log.timestamp_unix_nano) + key_values_len(2, &log.fields);
        put_length_delimited_header(out, 9, body_len);
        put_fixed64(out, 1, log.timestamp_unix_nano);
        for field in &log.fields {
            put_key_value(out, 2, field);
        }
    }
    for warning in &span.warnings {
        put_bytes_always(out, 11, warning.as_bytes());
    }
    for attribute in &span.scope_attributes {
        put_key_value(out, 12, attribute);
    }
}

/// A span's content hash: xxh3 of its body ([`encode_span_body`]) seeded with the hash of its
/// process's body, so the same span from another process is a different span.
pub(crate) fn span_content_hash(span_body: &[u8], process_hash: u64) -> u64 {
    xxh3_64_with_seed(span_body, process_hash)
}

pub(crate) fn process_hash(process_body: &[u8]) -> u64 {
    bytes_hash(process_body)
}

/// One span of a span-group record, already encoded.
pub(crate) struct EncodedSpan<'a> {
    pub body: &'a [u8],
    pub content_hash: u64,
    /// Index into the record's process list.
    pub process_index: u32,
}

/// Writes a [`SpanGroupRecord`] from encoded processes and spans. The content hash and process
/// index of each span follow its body (protobuf decoders accept fields in any order).
pub(crate) fn encode_span_group(process_bodies: &[&[u8]], spans: &[EncodedSpan<'_>], out: &mut Vec<u8>) {
    for body in process_bodies {
        put_bytes_always(out, 1, body);
    }
    for span in spans {
        let trailer_len = fixed64_field_len(2, span.content_hash) + varint_field_len(10, u64::from(span.process_index));
        put_length_delimited_header(out, 2, span.body.len() + trailer_len);
        out.extend_from_slice(span.body);
        put_fixed64(out, 2, span.content_hash);
        put_varint(out, 10, u64::from(span.process_index));
    }
}

/// The encoded length of `key_values` as repeated field `tag`.
fn key_values_len(tag: u32, key_values: &[KeyValue]) -> usize {
    key_values.iter().map(|key_value| length_delimited_len(tag, key_value_body_len(key_value))).sum()
}

fn key_value_body_len(key_value: &KeyValue) -> usize {
    let key_len_total = if key_value.key.is_empty() { 0 } else { length_delimited_len(1, key_value.key.len()) };
    let value_len = match &key_value.value {
        AttributeValue::String(text) => length_delimited_len(2, text.len()),
        AttributeValue::Bool(_) => key_len(3) + 1,
        AttributeValue::Int64(number) => key_len(4) + encoded_len_varint(*number as u64),
        AttributeValue::Float64(_) => key_len(5) + 8,
        AttributeValue::Binary(bytes) => length_delimited_len(6, bytes.len()),
    };
    key_len_total + value_len
}

fn put_key_value(out: &mut Vec<u8>, tag: u32, key_value: &KeyValue) {
    put_length_delimited_header(out, tag, key_value_body_len(key_value));
    put_string(out, 1, &key_value.key);
    match &key_value.value {
        AttributeValue::String(text) => put_bytes_always(out, 2, text.as_bytes()),
        AttributeValue::Bool(flag) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(u64::from(*flag), out);
        }
        AttributeValue::Int64(number) => {
            encode_key(4, WireType::Varint, out);
            encode_varint(*number as u64, out);
        }
        AttributeValue::Float64(number) => {
            encode_key(5, WireType::SixtyFourBit, out);
            out.extend_from_slice(&number.to_le_bytes());
        }
        AttributeValue::Binary(bytes) => put_bytes_always(out, 6, bytes),
    }
}

fn length_delimited_len(tag: u32, body_len: usize) -> usize {
    key_len(tag) + encoded_len_varint(body_len as u64) + body_len
}

fn varint_field_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(value)
    }
}

fn fixed64_field_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + 8
    }
}

fn put_length_delimited_header(out: &mut Vec<u8>, tag: u32, body_len: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body_len as u64, out);
}

/// A proto3 string field: omitted when empty, as prost does.
fn put_string(out: &mut Vec<u8>, tag: u32, text: &str) {
    if !text.is_empty() {
        put_bytes_always(out, tag, text.as_bytes());
    }
}

/// A length-delimited field written even when empty (repeated elements and oneof members).
fn put_bytes_always(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_length_delimited_header(out, tag, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_fixed64(out: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn put_varint(out: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value, out);
    }
}

/// Decodes a span-group value into spans of `trace_id`, each with its content hash.
pub(crate) fn decode_span_group(trace_id: TraceId, bytes: &[u8]) -> Result<Vec<(u64, Span)>> {
    let record = SpanGroupRecord::decode(bytes).map_err(|e| corrupt(&format!("span record: {e}")))?;
    let processes: Vec<Arc<Process>> = record
        .processes
        .into_iter()
        .map(|process| {
            Arc::new(Process {
                service_name: process.service_name,
                tags: process.tags.into_iter().map(key_value_from_record).collect(),
            })
        })
        .collect();
    record
        .spans
        .into_iter()
        .map(|span| {
            let process = processes
                .get(span.process_index as usize)
                .cloned()
                .ok_or_else(|| corrupt("span record: process index out of range"))?;
            let references = span
                .references
                .into_iter()
                .map(|reference| {
                    SpanRef::new(
                        if reference.ref_type == 1 { RefType::FollowsFrom } else { RefType::ChildOf },
                        TraceId::new(reference.trace_id_high, reference.trace_id_low),
                        SpanId(reference.span_id),
                    )
                    .with_attributes(reference.attributes.into_iter().map(key_value_from_record).collect())
                })
                .collect();
            let decoded = Span {
                trace_id,
                span_id: SpanId(span.span_id),
                operation_name: span.operation_name,
                references,
                flags: span.flags,
                start_time_unix_nano: span.start_time_unix_nano,
                duration_nanos: span.duration_nanos,
                tags: span.tags.into_iter().map(key_value_from_record).collect(),
                logs: span
                    .logs
                    .into_iter()
                    .map(|log| Log {
                        timestamp_unix_nano: log.timestamp_unix_nano,
                        fields: log.fields.into_iter().map(key_value_from_record).collect(),
                    })
                    .collect(),
                process,
                warnings: span.warnings,
                scope_attributes: span.scope_attributes.into_iter().map(key_value_from_record).collect(),
            };
            Ok((span.content_hash, decoded))
        })
        .collect()
}

fn key_value_from_record(record: KeyValueRecord) -> KeyValue {
    let value = match record.value {
        Some(ValueRecord::String(text)) => AttributeValue::String(text),
        Some(ValueRecord::Bool(flag)) => AttributeValue::Bool(flag),
        Some(ValueRecord::Int64(number)) => AttributeValue::Int64(number),
        Some(ValueRecord::Float64(number)) => AttributeValue::Float64(number),
        Some(ValueRecord::Binary(bytes)) => AttributeValue::Binary(bytes),
        None => AttributeValue::String(String::new()),
    };
    KeyValue { key: record.key, value }
}

// ---------------------------------------------------------------------------------------------
// Search rows (a compact binary layout, scanned without allocating)
// ---------------------------------------------------------------------------------------------
//
// value = format (u8 = 1)
//         process count (varint), per process: term count (varint), term hashes (u64 LE each)
//         span count (varint), per span:
//           trace id (16 B, BE), latest start of the row − span start (varint), duration (varint),
//           operation hash (u64 LE), process index (varint),
//           term count (varint), term hashes (u64 LE each)
//
// Terms are xxh3 hashes of `key`+`value as text` of span tags, log fields, scope attributes and
// link attributes (per span) and of process tags (per process): enough to answer Jaeger's tag
// search without the spans.

/// One span's entry in a search row.
pub(crate) struct SearchEntry<'a> {
    pub trace_id: TraceId,
    pub start: u64,
    pub duration: u64,
    pub operation_hash: u64,
    /// Index into the row's process list.
    pub process_index: usize,
    /// Sorted, without duplicates.
    pub terms: &'a [u64],
}

/// Appends a search row value: `process_terms` per process (sorted, without duplicates), then
/// the spans, whose starts must all be at most `latest_start`.
pub(crate) fn encode_search_row<'a>(
    process_terms: &[&[u64]],
    spans: impl ExactSizeIterator<Item = SearchEntry<'a>>,
    latest_start: u64,
    out: &mut Vec<u8>,
) {
    out.push(SEARCH_ROW_FORMAT);
    encode_varint(process_terms.len() as u64, out);
    for terms in process_terms {
        put_terms(out, terms);
    }
    encode_varint(spans.len() as u64, out);
    for span in spans {
        out.extend_from_slice(&span.trace_id.to_bytes());
        encode_varint(latest_start.saturating_sub(span.start), out);
        encode_varint(span.duration, out);
        out.extend_from_slice(&span.operation_hash.to_le_bytes());
        encode_varint(span.process_index as u64, out);
        put_terms(out, span.terms);
    }
}

fn put_terms(out: &mut Vec<u8>, terms: &[u64]) {
    encode_varint(terms.len() as u64, out);
    for term in terms {
        out.extend_from_slice(&term.to_le_bytes());
    }
}

/// What a span's own search terms are made of: its tags, log fields, scope attributes and link
/// attributes (process tags are terms of the process).
pub(crate) fn span_searchable_key_values(span: &Span) -> impl Iterator<Item = &KeyValue> {
    span.tags
        .iter()
        .chain(span.logs.iter().flat_map(|log| log.fields.iter()))
        .chain(span.scope_attributes.iter())
        .chain(span.references.iter().flat_map(|reference| reference.attributes.iter()))
}

/// The sorted, de-duplicated search terms of key-values.
pub(crate) fn collect_terms<'a>(key_values: impl Iterator<Item = &'a KeyValue>, terms: &mut Vec<u64>) {
    terms.clear();
    terms.extend(key_values.map(key_value_term_hash));
    terms.sort_unstable();
    terms.dedup();
}

/// One span of a search row, borrowed from the row's bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanSummary<'a> {
    pub trace_id: TraceId,
    pub start: u64,
    pub duration: u64,
    pub operation_hash: u64,
    /// Hashes of the span's tags, log fields, scope attributes and link attributes (u64 LE each,
    /// sorted).
    pub span_terms: &'a [u8],
    /// Hashes of the span's process tags (u64 LE each, sorted).
    pub process_terms: &'a [u8],
}

impl SpanSummary<'_> {
    pub(crate) fn has_term(&self, term: u64) -> bool {
        contains_term(self.span_terms, term) || contains_term(self.process_terms, term)
    }
}

fn contains_term(terms: &[u8], term: u64) -> bool {
    terms.chunks_exact(8).any(|chunk| chunk.try_into().map(u64::from_le_bytes).is_ok_and(|t| t == term))
}

/// Reads the span summaries of a search row. `processes` is scratch space reused across rows
/// (byte ranges of each process's terms).
pub(crate) fn for_each_span_summary<'a>(
    bytes: &'a [u8],
    latest_start: u64,
    processes: &mut Vec<std::ops::Range<usize>>,
    mut visit: impl FnMut(SpanSummary<'a>),
) -> Result<()> {
    let mut reader = Reader { bytes };
    if reader.byte()? != SEARCH_ROW_FORMAT {
        return Err(corrupt("search row: unknown format"));
    }
    processes.clear();
    for _ in 0..reader.varint()? {
        let terms = reader.terms()?;
        let end = bytes.len() - reader.bytes.len();
        processes.push(end - terms.len()..end);
    }
    for _ in 0..reader.varint()? {
        let trace_id = TraceId::from_bytes(reader.take(16)?).map_err(|_| corrupt("search row: trace id"))?;
        let start = latest_start.saturating_sub(reader.varint()?);
        let duration = reader.varint()?;
        let operation_hash = reader.u64()?;
        let process_index = usize::try_from(reader.varint()?).map_err(|_| corrupt("search row"))?;
        let span_terms = reader.terms()?;
        let process_terms = processes
            .get(process_index)
            .and_then(|range| bytes.get(range.clone()))
            .ok_or_else(|| corrupt("search row: process index out of range"))?;
        visit(SpanSummary { trace_id, start, duration, operation_hash, span_terms, process_terms });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Dependency rows (compact binary, like search rows)
// ---------------------------------------------------------------------------------------------
//
// value = format (u8 = 1)
//         service count (varint), per service: length (varint), UTF-8 bytes
//         trace count (varint), per trace:
//           trace id (16 B, BE), span count (varint), per span:
//             span id (u64 LE), content hash (u64 LE), parent span id (u64 LE, 0 = none),
//             latest start of the row − span start (varint), service index (varint),
//             role (u8: 0 other, 1 client, 2 server)

/// One span's entry in a dependency row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DependencyEntry {
    pub trace_id: TraceId,
    pub span_id: u64,
    pub content_hash: u64,
    /// 0 when the span has no CHILD_OF parent in its trace.
    pub parent_span_id: u64,
    pub start: u64,
    /// Index into the row's service list.
    pub service_index: usize,
    pub role: Role,
}

/// Appends a dependency row value: the services, then `spans` grouped by trace (spans of one
/// trace must be adjacent), whose starts must all be at most `latest_start`.
pub(crate) fn encode_dependency_row(
    services: &[&str],
    spans: &[DependencyEntry],
    latest_start: u64,
    out: &mut Vec<u8>,
) {
    out.push(DEPENDENCY_ROW_FORMAT);
    encode_varint(services.len() as u64, out);
    for service in services {
        encode_varint(service.len() as u64, out);
        out.extend_from_slice(service.as_bytes());
    }
    let traces: Vec<&[DependencyEntry]> = spans.chunk_by(|a, b| a.trace_id == b.trace_id).collect();
    encode_varint(traces.len() as u64, out);
    for trace in traces {
        out.extend_from_slice(&trace[0].trace_id.to_bytes());
        encode_varint(trace.len() as u64, out);
        for span in trace {
            out.extend_from_slice(&span.span_id.to_le_bytes());
            out.extend_from_slice(&span.content_hash.to_le_bytes());
            out.extend_from_slice(&span.parent_span_id.to_le_bytes());
            encode_varint(latest_start.saturating_sub(span.start), out);
            encode_varint(span.service_index as u64, out);
            out.push(span.role.code());
        }
    }
}

/// Reads a dependency row: visits every span entry with the row's service names (which the
/// entry's `service_index` points into).
pub(crate) fn for_each_dependency_entry<'a>(
    bytes: &'a [u8],
    latest_start: u64,
    mut visit: impl FnMut(&[&'a str], DependencyEntry),
) -> Result<()> {
    let mut reader = Reader { bytes };
    if reader.byte()? != DEPENDENCY_ROW_FORMAT {
        return Err(corrupt("dependency row: unknown format"));
    }
    let mut services = Vec::new();
    for _ in 0..reader.varint()? {
        let length = usize::try_from(reader.varint()?).map_err(|_| corrupt("dependency row"))?;
        let name = std::str::from_utf8(reader.take(length)?).map_err(|_| corrupt("dependency row: service name"))?;
        services.push(name);
    }
    for _ in 0..reader.varint()? {
        let trace_id = TraceId::from_bytes(reader.take(16)?).map_err(|_| corrupt("dependency row: trace id"))?;
        for _ in 0..reader.varint()? {
            let span_id = reader.u64()?;
            let content_hash = reader.u64()?;
            let parent_span_id = reader.u64()?;
            let start = latest_start.saturating_sub(reader.varint()?);
            let service_index = usize::try_from(reader.varint()?).map_err(|_| corrupt("dependency row"))?;
            if service_index >= services.len() {
                return Err(corrupt("dependency row: service index out of range"));
            }
            let role = Role::from_code(reader.byte()?);
            let entry = DependencyEntry { trace_id, span_id, content_hash, parent_span_id, start, service_index, role };
            visit(&services, entry);
        }
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (&first, rest) = self.bytes.split_first().ok_or_else(|| corrupt("search row: truncated"))?;
        self.bytes = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64> {
        prost::encoding::decode_varint(&mut self.bytes).map_err(|_| corrupt("search row: bad varint"))
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(length).ok_or_else(|| corrupt("search row: truncated"))?;
        self.bytes = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| corrupt("search row"))?))
    }

    fn terms(&mut self) -> Result<&'a [u8]> {
        let count = usize::try_from(self.varint()?).map_err(|_| corrupt("search row"))?;
        let length = count.checked_mul(8).ok_or_else(|| corrupt("search row: term count"))?;
        let (terms, rest) = self.bytes.split_at_checked(length).ok_or_else(|| corrupt("search row: truncated"))?;
        self.bytes = rest;
        Ok(terms)
    }
}

#[cfg(test)]
mod tests;
