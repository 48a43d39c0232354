//! Zipkin v2 protobuf bodies (`zipkin.proto3.ListOfSpans`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::zipkin::spans_from_v2_proto;

fuzz_target!(|data: &[u8]| {
    let _ = spans_from_v2_proto(data);
});
