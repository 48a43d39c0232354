//! Zipkin v2 JSON bodies (`POST /api/v2/spans`, what Envoy sends).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_model::zipkin::spans_from_v2_json;

fuzz_target!(|data: &[u8]| {
    let _ = spans_from_v2_json(data);
});
