//! The Kafka message (`spoor_model::kafka`): golden files of every encoding (in `golden/kafka/`,
//! rewrite with `SPOOR_BLESS=1` and review the diff), a hand-written message in the exact form
//! Jaeger's collector writes, and decoders fed garbage that must return, never panic.

mod support;

use serde_json::{json, Value};
use spoor_model::kafka::{decode_message, encode_otlp_spans, encode_span, message_key, KafkaEncoding};
use spoor_model::otlp::spans_from_otlp_request;
use spoor_model::Span;
use support::{assert_golden, load_otlp_request, pretty, read_golden, without_otlp_only_attributes, Xorshift};

fn fixture_spans() -> Vec<Span> {
    spans_from_otlp_request(load_otlp_request("otlp_request.json")).spans
}

fn hex_lines(messages: &[Vec<u8>]) -> String {
    let mut text = String::new();
    for bytes in messages {
        for line in bytes.chunks(32) {
            text.push_str(&hex::encode(line));
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

fn from_hex_lines(text: &str) -> Vec<Vec<u8>> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| hex::decode(block.lines().collect::<String>()).expect("golden hex"))
        .collect()
}

#[test]
fn kafka_keys_of_the_fixture_spans_are_jaeger_trace_id_strings() {
    let keys: Vec<_> = fixture_spans().iter().map(message_key).collect();
    assert_golden("kafka/otlp_request.keys.json", &pretty(&keys));
}

#[test]
fn kafka_protobuf_messages_match_the_golden_bytes_and_decode_back() {
    let spans = fixture_spans();
    let messages: Vec<_> = spans.iter().map(|span| encode_span(KafkaEncoding::Protobuf, span)).collect();
    assert_golden("kafka/otlp_request.protobuf.hex", &hex_lines(&messages));
    for (bytes, span) in from_hex_lines(&read_golden("kafka/otlp_request.protobuf.hex")).iter().zip(&spans) {
        // Jaeger's protobuf has no place for scope or link attributes; `otlp_proto` keeps them.
        assert_eq!(decode_message(KafkaEncoding::Protobuf, bytes).unwrap(), [without_otlp_only_attributes(span)]);
    }
}

#[test]
fn kafka_json_messages_match_the_golden_text_and_decode_back() {
    let spans = fixture_spans();
    let mut text = String::new();
    for span in &spans {
        let message = encode_span(KafkaEncoding::Json, span);
        text.push_str(std::str::from_utf8(&message).unwrap());
        text.push('\n');
    }
    assert_golden("kafka/otlp_request.json.ndjson", &text);
    for (line, span) in read_golden("kafka/otlp_request.json.ndjson").lines().zip(&spans) {
        assert_eq!(decode_message(KafkaEncoding::Json, line.as_bytes()).unwrap(), [without_otlp_only_attributes(span)]);
    }
}

#[test]
fn kafka_json_and_protobuf_carry_the_same_span() {
    for span in fixture_spans() {
        let from_json = decode_message(KafkaEncoding::Json, &encode_span(KafkaEncoding::Json, &span)).unwrap();
        let from_proto = decode_message(KafkaEncoding::Protobuf, &encode_span(KafkaEncoding::Protobuf, &span)).unwrap();
        assert_eq!(from_json, from_proto);
    }
}

#[test]
fn kafka_otlp_proto_messages_match_the_golden_bytes_and_decoded_spans() {
    let spans = fixture_spans();
    let messages: Vec<_> = spans.iter().map(|span| encode_span(KafkaEncoding::OtlpProto, span)).collect();
    assert_golden("kafka/otlp_request.otlp_proto.hex", &hex_lines(&messages));
    let decoded: Vec<Span> =
        messages.iter().flat_map(|bytes| decode_message(KafkaEncoding::OtlpProto, bytes).unwrap()).collect();
    assert_golden("kafka/otlp_request.otlp_proto.model.json", &pretty(&decoded));
    assert_eq!(decoded, spans, "otlp_proto carries every span whole, scope and link attributes included");
}

#[test]
fn kafka_otlp_proto_message_may_hold_several_spans() {
    let spans = fixture_spans();
    let decoded = decode_message(KafkaEncoding::OtlpProto, &encode_otlp_spans(&spans)).unwrap();
    let ids = |spans: &[Span]| spans.iter().map(|s| (s.trace_id, s.span_id)).collect::<Vec<_>>();
    assert_eq!(ids(&decoded), ids(&spans));
}

/// `golden/kafka/jaeger_collector.json` is written as Jaeger v1's collector writes its `json`
/// encoding (gogo jsonpb, compact): every field type once, a 64-bit trace id, a log, a warning.
#[test]
fn kafka_json_written_by_jaeger_decodes_to_the_golden_model_span() {
    let message = read_golden("kafka/jaeger_collector.json");
    let spans = decode_message(KafkaEncoding::Json, message.trim_end().as_bytes()).unwrap();
    assert_golden("kafka/jaeger_collector.model.json", &pretty(&spans));
    // Spoor writes the same message back, byte for byte.
    assert_eq!(String::from_utf8(encode_span(KafkaEncoding::Json, &spans[0])).unwrap(), message.trim_end());
}

/// The same span in the forms other producers use: proto field names, bare 64-bit integers,
/// numeric enums, hex ids, a time zone offset.
#[test]
fn kafka_json_accepts_the_lenient_forms_of_the_same_span() {
    let strict = read_golden("kafka/jaeger_collector.json");
    let expected = decode_message(KafkaEncoding::Json, strict.trim_end().as_bytes()).unwrap();
    let lenient = read_golden("kafka/lenient.json");
    let decoded = decode_message(KafkaEncoding::Json, lenient.as_bytes()).unwrap();
    assert_eq!(decoded, expected);
}

// ---- garbage never panics

const ROUNDS: usize = 20_000;

fn valid_messages(encoding: KafkaEncoding) -> Vec<Vec<u8>> {
    fixture_spans().iter().map(|span| encode_span(encoding, span)).collect()
}

#[test]
fn kafka_decoders_never_panic_on_random_bytes() {
    let mut rng = Xorshift::new(0xcafe);
    for _ in 0..ROUNDS {
        let length = rng.below(300);
        let bytes = rng.bytes(length);
        for encoding in KafkaEncoding::ALL {
            let _ = decode_message(encoding, &bytes);
        }
    }
}

#[test]
fn kafka_decoders_never_panic_on_truncated_or_bit_flipped_messages() {
    let mut rng = Xorshift::new(99);
    for encoding in KafkaEncoding::ALL {
        for message in valid_messages(encoding) {
            for end in 0..message.len() {
                let _ = decode_message(encoding, &message[..end]);
            }
            for _ in 0..ROUNDS / 10 {
                let mut bytes = message.clone();
                for _ in 0..=rng.below(4) {
                    let index = rng.below(bytes.len());
                    bytes[index] ^= 1 << rng.below(8);
                }
                let _ = decode_message(encoding, &bytes);
            }
        }
    }
}

/// Structurally valid JSON with wrong types and extreme values in every field.
#[test]
fn kafka_json_decoder_never_panics_on_wrong_types_and_extreme_values() {
    let weird = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(-1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0.5),
        json!(""),
        json!("NaN"),
        json!("-9999999999999999999999999"),
        json!("9999-12-31T23:59:59.999999999Z"),
        json!("0000-01-01T00:00:00Z"),
        json!("-9223372036854775808.999999999s"),
        json!("9223372036854775807s"),
        json!("9223372036854775808s"),
        json!("ffffffffffffffffffffffffffffffff"),
        json!("////////////////////////////////"),
        json!([]),
        json!([{}]),
        json!({}),
        json!({"seconds": 1}),
    ];
    let base: Value = serde_json::from_slice(&valid_messages(KafkaEncoding::Json)[0]).unwrap();
    let mut rng = Xorshift::new(5);
    for round in 0..ROUNDS {
        let mut value = base.clone();
        mutate(&mut value, &weird, &mut rng, round % 3 + 1);
        let _ = decode_message(KafkaEncoding::Json, value.to_string().as_bytes());
    }
}

/// Replaces `count` randomly chosen nodes of `value` with one of `weird`.
fn mutate(value: &mut Value, weird: &[Value], rng: &mut Xorshift, count: usize) {
    for _ in 0..count {
        let mut node = &mut *value;
        loop {
            let children = match node {
                Value::Object(map) => map.len(),
                Value::Array(items) => items.len(),
                _ => 0,
            };
            if children == 0 || rng.below(4) == 0 {
                break;
            }
            let pick = rng.below(children);
            node = match node {
                Value::Object(map) => map.values_mut().nth(pick).expect("in range"),
                Value::Array(items) => &mut items[pick],
                _ => unreachable!(),
            };
        }
        *node = weird[rng.below(weird.len())].clone();
    }
}
