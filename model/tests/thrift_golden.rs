//! Golden files for Jaeger Thrift. The fixture batch (`thrift_fixtures::jaeger_batch`, built from
//! the field tables) is encoded as an HTTP body and as an agent datagram, in both protocols; the
//! encodings are checked in as `golden/thrift/*.hex`, and each checked-in encoding must decode to
//! the same model spans, `golden/thrift/trace.model.json`. Rerun with `SPOOR_BLESS=1` to rewrite
//! them, then review the diff.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod support;
mod thrift_fixtures;

use spoor_model::thrift::{
    decode_agent_message, decode_batch, encode_agent_message, encode_batch, spans_from_thrift_batch, AgentMessage,
    Protocol, ThriftBatch,
};
use spoor_model::Span;
use support::{assert_golden, pretty, read_golden};
use thrift_fixtures::{from_hex_text, jaeger_batch, to_hex_lines};

/// Blesses (or checks) the encoding under `name`, then returns the checked-in bytes.
fn checked_in(name: &str, encoded: &[u8]) -> Vec<u8> {
    assert_golden(name, &to_hex_lines(encoded));
    from_hex_text(&read_golden(name))
}

fn batch_from_http_body(protocol: Protocol, name: &str) -> ThriftBatch {
    let bytes = checked_in(name, &encode_batch(&jaeger_batch(), protocol).unwrap());
    decode_batch(&bytes, protocol).unwrap()
}

fn batch_from_datagram(protocol: Protocol, name: &str) -> ThriftBatch {
    let message = AgentMessage::EmitBatch(jaeger_batch());
    let bytes = checked_in(name, &encode_agent_message(&message, protocol, 1).unwrap());
    match decode_agent_message(&bytes, protocol).unwrap() {
        AgentMessage::EmitBatch(batch) => batch,
        other => panic!("expected emitBatch, got {other:?}"),
    }
}

fn model(batch: ThriftBatch) -> Vec<Span> {
    spans_from_thrift_batch(batch)
}

#[test]
fn http_body_in_binary_decodes_to_the_golden_model_spans() {
    let batch = batch_from_http_body(Protocol::Binary, "thrift/trace.batch.binary.hex");
    assert_eq!(batch, jaeger_batch());
    assert_golden("thrift/trace.model.json", &pretty(&model(batch)));
}

#[test]
fn every_thrift_encoding_of_the_trace_stores_the_same_spans() {
    let expected = model(jaeger_batch());
    let encodings = [
        ("compact body", batch_from_http_body(Protocol::Compact, "thrift/trace.batch.compact.hex")),
        ("compact datagram", batch_from_datagram(Protocol::Compact, "thrift/trace.emit_batch.compact.hex")),
        ("binary datagram", batch_from_datagram(Protocol::Binary, "thrift/trace.emit_batch.binary.hex")),
    ];
    for (what, batch) in encodings {
        assert_eq!(model(batch), expected, "{what}");
    }
}

#[test]
fn spans_of_a_batch_share_one_process() {
    let spans = model(jaeger_batch());
    assert!(spans.windows(2).all(|pair| std::sync::Arc::ptr_eq(&pair[0].process, &pair[1].process)));
}
