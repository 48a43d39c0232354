//! Property-style checks of the Zipkin decoders with fixed seeds (no fuzzing crate): random bytes,
//! every truncation, random bit flips and random JSON-ish text must decode or return an error,
//! never panic. `model/fuzz/` runs the same decoders under libFuzzer.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod support;
mod thrift_fixtures;

use spoor_model::zipkin::{
    encode_v1_thrift, spans_from_v1_json, spans_from_v1_thrift, spans_from_v2_json, spans_from_v2_proto,
};
use support::Xorshift;
use thrift_fixtures::zipkin_v1_spans;

const ROUNDS: usize = 5_000;

type Decoder = fn(&[u8]) -> bool;

fn decoders() -> [(&'static str, Decoder); 4] {
    [
        ("v2 json", |bytes| spans_from_v2_json(bytes).is_ok()),
        ("v2 proto", |bytes| spans_from_v2_proto(bytes).is_ok()),
        ("v1 json", |bytes| spans_from_v1_json(bytes).is_ok()),
        ("v1 thrift", |bytes| spans_from_v1_thrift(bytes).is_ok()),
    ]
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(support::golden_path(name)).unwrap()
}

fn proto_fixture() -> Vec<u8> {
    thrift_fixtures::from_hex_text(&support::read_golden("zipkin/trace.v2.proto.hex"))
}

/// Each decoder with a valid payload of its own format.
fn samples() -> Vec<(Decoder, Vec<u8>)> {
    let [v2_json, v2_proto, v1_json, v1_thrift] = decoders();
    vec![
        (v2_json.1, fixture("zipkin/trace.v2.json")),
        (v2_json.1, fixture("zipkin/envoy_1_13_exponent_timestamps.v2.json")),
        (v2_proto.1, proto_fixture()),
        (v1_json.1, fixture("zipkin/trace.v1.json")),
        (v1_thrift.1, encode_v1_thrift(&zipkin_v1_spans()).unwrap()),
    ]
}

#[test]
fn random_bytes_never_panic_the_zipkin_decoders() {
    let mut rng = Xorshift::new(0x2157);
    for _ in 0..ROUNDS {
        let length = rng.below(300);
        let bytes = rng.bytes(length);
        for (_, decode) in decoders() {
            decode(&bytes);
        }
    }
}

#[test]
fn random_json_token_soup_never_panics_the_json_decoders() {
    const TOKENS: [&str; 24] = [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"traceId\"",
        "\"id\"",
        "\"parentId\"",
        "\"timestamp\"",
        "\"tags\"",
        "\"annotations\"",
        "\"binaryAnnotations\"",
        "\"localEndpoint\"",
        "\"ipv4\"",
        "\"port\"",
        "\"1\"",
        "\"a\"",
        "1.5e15",
        "-1",
        "null",
        "true",
        "\"\\ud800\"",
        "18446744073709551616",
    ];
    let mut rng = Xorshift::new(0x50f7);
    for _ in 0..ROUNDS {
        let mut text = String::from("[{");
        for _ in 0..rng.below(40) {
            text.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        spans_from_v2_json(text.as_bytes()).ok();
        spans_from_v1_json(text.as_bytes()).ok();
    }
}

#[test]
fn every_truncation_of_valid_zipkin_payloads_decodes_or_errors() {
    for (decode, bytes) in samples() {
        assert!(decode(&bytes), "the untouched sample decodes");
        for end in 0..bytes.len() {
            decode(&bytes[..end]);
        }
    }
}

#[test]
fn bit_flips_in_valid_zipkin_payloads_never_panic() {
    let mut rng = Xorshift::new(99);
    let samples = samples();
    for round in 0..ROUNDS {
        let (decode, sample) = &samples[round % samples.len()];
        let mut bytes = sample.clone();
        for _ in 0..=rng.below(4) {
            let index = rng.below(bytes.len());
            bytes[index] ^= 1 << rng.below(8);
        }
        decode(&bytes);
    }
}
