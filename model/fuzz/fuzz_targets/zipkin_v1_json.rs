//! Zipkin v1 JSON bodies (`POST /api/v1/spans`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::zipkin::spans_from_v1_json;

fuzz_target!(|data: &[u8]| {
    let _ = spans_from_v1_json(data);
});
