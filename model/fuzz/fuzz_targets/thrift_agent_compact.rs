//! Agent UDP datagrams in the compact protocol (port 6831): `emitBatch` or `emitZipkinBatch`,
//! then the model conversion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::thrift::{decode_agent_message, spans_from_thrift_batch, AgentMessage, Protocol};
use spoor_model::zipkin::spans_from_v1_thrift_spans;

fuzz_target!(|data: &[u8]| {
    match decode_agent_message(data, Protocol::Compact) {
        Ok(AgentMessage::EmitBatch(batch)) => {
            let _ = spans_from_thrift_batch(batch);
        }
        Ok(AgentMessage::EmitZipkinBatch(spans)) => {
            let _ = spans_from_v1_thrift_spans(spans);
        }
        Err(_) => {}
    }
});
