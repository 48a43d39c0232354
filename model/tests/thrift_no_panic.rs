//! Property-style checks of the Thrift decoders with fixed seeds (no fuzzing crate): random bytes,
//! every truncation and random bit flips of valid payloads must decode or return an error, never
//! panic, and whatever decodes must convert to model spans. `model/fuzz/` runs the same decoders
//! under libFuzzer.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod support;
mod thrift_fixtures;

use spoor_model::thrift::{
    decode_agent_message, decode_batch, encode_agent_message, encode_batch, spans_from_thrift_batch, AgentMessage,
    Protocol,
};
use spoor_model::zipkin::spans_from_v1_thrift_spans;
use support::Xorshift;
use thrift_fixtures::{jaeger_batch, zipkin_v1_spans};

const ROUNDS: usize = 5_000;
const PROTOCOLS: [Protocol; 2] = [Protocol::Compact, Protocol::Binary];

fn decode_datagram_fully(bytes: &[u8], protocol: Protocol) {
    match decode_agent_message(bytes, protocol) {
        Ok(AgentMessage::EmitBatch(batch)) => drop(spans_from_thrift_batch(batch)),
        Ok(AgentMessage::EmitZipkinBatch(spans)) => drop(spans_from_v1_thrift_spans(spans)),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

fn decode_body_fully(bytes: &[u8], protocol: Protocol) {
    if let Ok(batch) = decode_batch(bytes, protocol) {
        drop(spans_from_thrift_batch(batch));
    }
}

fn valid_datagrams(protocol: Protocol) -> Vec<Vec<u8>> {
    vec![
        encode_agent_message(&AgentMessage::EmitBatch(jaeger_batch()), protocol, 1).unwrap(),
        encode_agent_message(&AgentMessage::EmitZipkinBatch(zipkin_v1_spans()), protocol, 2).unwrap(),
    ]
}

#[test]
fn random_bytes_never_panic_the_thrift_decoders() {
    let mut rng = Xorshift::new(0x7412);
    for protocol in PROTOCOLS {
        for _ in 0..ROUNDS {
            let length = rng.below(300);
            let bytes = rng.bytes(length);
            decode_datagram_fully(&bytes, protocol);
            decode_body_fully(&bytes, protocol);
        }
    }
}

#[test]
fn random_bytes_after_a_valid_message_header_never_panic() {
    let mut rng = Xorshift::new(0xbeef);
    for protocol in PROTOCOLS {
        let valid = &valid_datagrams(protocol)[0];
        let header_length = if protocol == Protocol::Compact { 13 } else { 21 };
        for _ in 0..ROUNDS {
            let mut bytes = valid[..header_length].to_vec();
            let tail = rng.below(200);
            bytes.extend(rng.bytes(tail));
            decode_datagram_fully(&bytes, protocol);
        }
    }
}

#[test]
fn every_truncation_of_valid_thrift_payloads_is_an_error() {
    for protocol in PROTOCOLS {
        for datagram in valid_datagrams(protocol) {
            for end in 0..datagram.len() {
                assert!(decode_agent_message(&datagram[..end], protocol).is_err(), "{protocol:?} cut at {end}");
            }
            assert!(decode_agent_message(&datagram, protocol).is_ok());
        }
        let body = encode_batch(&jaeger_batch(), protocol).unwrap();
        for end in 0..body.len() {
            assert!(decode_batch(&body[..end], protocol).is_err(), "{protocol:?} body cut at {end}");
        }
    }
}

#[test]
fn bit_flips_in_valid_thrift_payloads_never_panic() {
    let mut rng = Xorshift::new(42);
    for protocol in PROTOCOLS {
        let samples = valid_datagrams(protocol);
        for round in 0..ROUNDS {
            let mut bytes = samples[round % samples.len()].clone();
            for _ in 0..=rng.below(4) {
                let index = rng.below(bytes.len());
                bytes[index] ^= 1 << rng.below(8);
            }
            decode_datagram_fully(&bytes, protocol);
            decode_body_fully(&bytes, protocol);
        }
    }
}
