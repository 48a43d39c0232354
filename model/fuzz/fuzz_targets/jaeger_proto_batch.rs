//! Jaeger gRPC `PostSpansRequest` bodies and Kafka `protobuf` span messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use spoor_model::jaeger_proto::{decode_span, spans_from_batch};
use spoor_model::proto::jaeger::api_v2::PostSpansRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(PostSpansRequest { batch: Some(batch) }) = PostSpansRequest::decode(data) {
        let _ = spans_from_batch(batch);
    }
    let _ = decode_span(data);
});
