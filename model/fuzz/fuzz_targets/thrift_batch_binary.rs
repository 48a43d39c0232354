//! `POST /api/traces` bodies: a bare `jaeger.Batch` in TBinaryProtocol, then the model conversion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::thrift::{decode_batch_binary, spans_from_thrift_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode_batch_binary(data) {
        let _ = spans_from_thrift_batch(batch);
    }
});
