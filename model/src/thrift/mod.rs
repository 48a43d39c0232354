//! Jaeger Thrift: the `jaeger.thrift` and `agent.thrift` structs, read and written with the
//! `thrift` crate's protocol API (hand-written against `TInputProtocol`/`TOutputProtocol`, as
//! generated code would be), and the conversion to model spans with Jaeger's `to_domain` rules.
//!
//! * `POST /api/traces` (spec §1.5): the body is a bare `Batch` in TBinaryProtocol,
//!   [`decode_batch_binary`].
//! * Agent UDP (spec §1.6): a datagram is one `emitBatch` (or `emitZipkinBatch`) message in the
//!   compact (6831) or binary (6832) protocol, [`decode_agent_message`].
//! * [`spans_from_thrift_batch`] turns a batch into model spans sharing one process.
//!
//! Decoding is defensive: required fields must be present, unknown fields are skipped, and no
//! declared size is trusted beyond the bytes that remain (see `wire.rs`). Errors say where the
//! problem is, e.g. `spans[3].tags[0]: required field vType is missing`.

mod agent;
mod convert;
mod jaeger;
pub(crate) mod wire;

pub use agent::{decode_agent_message, encode_agent_message, AgentMessage, EMIT_BATCH, EMIT_ZIPKIN_BATCH};
pub use convert::{key_value, maybe_add_parent_span_id, span_from_thrift, spans_from_thrift_batch};
pub use jaeger::{
    ClientStats, SpanRefType, TagType, ThriftBatch, ThriftLog, ThriftProcess, ThriftSpan, ThriftSpanRef, ThriftTag,
};
pub use wire::{Protocol, ThriftError, ThriftProblem, MAX_DEPTH};

use wire::{Reader, Writer};

/// Decodes the body of `POST /api/traces`: one `Batch` struct in TBinaryProtocol, no message
/// envelope. Bytes after the struct are ignored, as Thrift's `TDeserializer` does.
pub fn decode_batch_binary(bytes: &[u8]) -> Result<ThriftBatch, ThriftError> {
    decode_batch(bytes, Protocol::Binary)
}

/// Decodes a bare `Batch` struct in either protocol.
pub fn decode_batch(bytes: &[u8], protocol: Protocol) -> Result<ThriftBatch, ThriftError> {
    jaeger::read_batch(&mut Reader::new(bytes, protocol))
}

/// Encodes a bare `Batch` struct in TBinaryProtocol (a `POST /api/traces` body).
pub fn encode_batch_binary(batch: &ThriftBatch) -> Result<Vec<u8>, ThriftError> {
    encode_batch(batch, Protocol::Binary)
}

/// Encodes a bare `Batch` struct in either protocol.
pub fn encode_batch(batch: &ThriftBatch, protocol: Protocol) -> Result<Vec<u8>, ThriftError> {
    let mut writer = Writer::new(protocol);
    jaeger::write_batch(&mut writer, batch)?;
    writer.into_bytes()
}
