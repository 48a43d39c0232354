//! OTLP/JSON bodies through the collector's decoder (fast path plus the rewriting fallback).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_collector::otlp::json::decode_json;

fuzz_target!(|data: &[u8]| {
    let _ = decode_json(data);
});
