//! `agent.thrift`: one UDP datagram is one Thrift message, `emitBatch(1: jaeger.Batch batch)` or
//! `emitZipkinBatch(1: list<zipkincore.Span> spans)`, ONEWAY, in the compact (port 6831) or
//! binary (port 6832) protocol (spec §1.6).

use thrift::protocol::{TMessageIdentifier, TMessageType, TType};

use super::jaeger::{read_batch, write_batch, ThriftBatch};
use super::wire::{Protocol, Reader, Result, ThriftError, ThriftProblem, Writer};
use crate::zipkin::{read_thrift_span as read_zipkin_span, write_thrift_span as write_zipkin_span, ZipkinThriftSpan};

/// The method name of a Jaeger batch.
pub const EMIT_BATCH: &str = "emitBatch";
/// The method name of a Zipkin v1 batch (Jaeger v1 agents only).
pub const EMIT_ZIPKIN_BATCH: &str = "emitZipkinBatch";

/// A decoded agent datagram.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentMessage {
    EmitBatch(ThriftBatch),
    EmitZipkinBatch(Vec<ZipkinThriftSpan>),
}

/// Decodes one agent datagram: the message header, then the call's arguments struct. Bytes after
/// the arguments are ignored, as Thrift servers do.
pub fn decode_agent_message(bytes: &[u8], protocol: Protocol) -> Result<AgentMessage> {
    let mut reader = Reader::new(bytes, protocol);
    let header = reader.protocol().read_message_begin()?;
    match header.message_type {
        TMessageType::OneWay | TMessageType::Call => {}
        other => return Err(ThriftError::new(ThriftProblem::MessageType(other.to_string()))),
    }
    let message = match header.name.as_str() {
        EMIT_BATCH => {
            let mut batch = None;
            reader.read_struct(|reader, id, wire_type| {
                if (id, wire_type) != (1, TType::Struct) {
                    return Ok(false);
                }
                batch = Some(read_batch(reader).map_err(|error| error.within("batch"))?);
                Ok(true)
            })?;
            AgentMessage::EmitBatch(batch.ok_or_else(|| ThriftError::missing("batch"))?)
        }
        EMIT_ZIPKIN_BATCH => {
            let mut spans = None;
            reader.read_struct(|reader, id, wire_type| {
                if (id, wire_type) != (1, TType::List) {
                    return Ok(false);
                }
                let list = reader.read_list(TType::Struct, read_zipkin_span);
                spans = Some(list.map_err(|error| error.within("spans"))?);
                Ok(true)
            })?;
            AgentMessage::EmitZipkinBatch(spans.ok_or_else(|| ThriftError::missing("spans"))?)
        }
        other => return Err(ThriftError::new(ThriftProblem::UnknownMethod(other.to_owned()))),
    };
    reader.protocol().read_message_end()?;
    Ok(message)
}

/// Encodes an agent datagram as a ONEWAY message with the given sequence id, as Jaeger clients
/// send it.
pub fn encode_agent_message(message: &AgentMessage, protocol: Protocol, sequence_id: i32) -> Result<Vec<u8>> {
    let mut writer = Writer::new(protocol);
    let name = match message {
        AgentMessage::EmitBatch(_) => EMIT_BATCH,
        AgentMessage::EmitZipkinBatch(_) => EMIT_ZIPKIN_BATCH,
    };
    writer.protocol().write_message_begin(&TMessageIdentifier::new(name, TMessageType::OneWay, sequence_id))?;
    writer.struct_begin(&format!("Agent_{name}_args"))?;
    match message {
        AgentMessage::EmitBatch(batch) => {
            writer.field("batch", TType::Struct, 1)?;
            write_batch(&mut writer, batch)?;
            writer.field_end()?;
        }
        AgentMessage::EmitZipkinBatch(spans) => {
            writer.list_field("spans", 1, TType::Struct, spans, write_zipkin_span)?;
        }
    }
    writer.struct_end()?;
    writer.protocol().write_message_end()?;
    writer.into_bytes()
}
