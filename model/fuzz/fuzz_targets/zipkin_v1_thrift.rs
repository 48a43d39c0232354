//! Zipkin v1 Thrift bodies (a TBinaryProtocol `list<zipkincore.Span>`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::zipkin::spans_from_v1_thrift;

fuzz_target!(|data: &[u8]| {
    let _ = spans_from_v1_thrift(data);
});
