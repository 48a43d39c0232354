//! OTLP protobuf bodies through the UTF-8-repairing decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_collector::otlp::lenient::decode_lenient;

fuzz_target!(|data: &[u8]| {
    let _ = decode_lenient(data);
});
