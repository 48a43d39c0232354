//! Decoders fed random, truncated and bit-flipped bytes must return, never panic. Deterministic
//! (fixed seeds) so a failure reproduces; no fuzzing crate needed.

mod support;

use prost::Message as _;
use spoor_model::jaeger_proto::{decode_span, encode_span, span_from_proto, spans_from_batch};
use spoor_model::otlp::{spans_from_otlp_request, spans_to_otlp};
use spoor_model::proto::jaeger::api_v2;
use support::{load_otlp_request, Xorshift};

const ROUNDS: usize = 20_000;

fn valid_span_bytes() -> Vec<Vec<u8>> {
    spans_from_otlp_request(load_otlp_request("otlp_request.json")).spans.iter().map(encode_span).collect()
}

#[test]
fn random_bytes_never_panic_the_span_decoder() {
    let mut rng = Xorshift::new(0x5eed);
    for _ in 0..ROUNDS {
        let length = rng.below(300);
        let _ = decode_span(&rng.bytes(length));
    }
}

#[test]
fn every_truncation_of_a_valid_span_decodes_or_errors() {
    for bytes in valid_span_bytes() {
        for end in 0..bytes.len() {
            let _ = decode_span(&bytes[..end]);
        }
        assert!(decode_span(&bytes).is_ok());
    }
}

#[test]
fn bit_flips_in_a_valid_span_never_panic() {
    let mut rng = Xorshift::new(42);
    let samples = valid_span_bytes();
    for round in 0..ROUNDS {
        let mut bytes = samples[round % samples.len()].clone();
        for _ in 0..=rng.below(4) {
            let index = rng.below(bytes.len());
            bytes[index] ^= 1 << rng.below(8);
        }
        if let Ok(proto) = api_v2::Span::decode(bytes.as_slice()) {
            let _ = span_from_proto(proto, None);
        }
    }
}

#[test]
fn random_batches_and_otlp_requests_never_panic_the_converters() {
    let mut rng = Xorshift::new(7);
    let otlp_bytes =
        spans_to_otlp(spans_from_otlp_request(load_otlp_request("otlp_request.json")).spans).encode_to_vec();
    for _ in 0..ROUNDS {
        let length = rng.below(200);
        if let Ok(batch) = api_v2::Batch::decode(rng.bytes(length).as_slice()) {
            let _ = spans_from_batch(batch);
        }
        let mut mutated = otlp_bytes.clone();
        let index = rng.below(mutated.len());
        mutated[index] = rng.next_u64() as u8;
        let cut = rng.below(mutated.len() + 1);
        let request =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&mutated[..cut]);
        if let Ok(request) = request {
            let _ = spans_from_otlp_request(request);
        }
    }
}
