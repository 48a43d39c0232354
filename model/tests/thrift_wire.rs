//! Jaeger Thrift at the byte level: payloads assembled by hand from the field tables (spec §1.6,
//! §1.7) and the Thrift binary/compact encodings, independent of the encoder, plus the decoder's
//! required-field, unknown-field and size rules.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod thrift_fixtures;

use spoor_model::thrift::{
    decode_agent_message, decode_batch, decode_batch_binary, encode_agent_message, encode_batch, encode_batch_binary,
    spans_from_thrift_batch, AgentMessage, Protocol, TagType, ThriftBatch, ThriftProblem, ThriftProcess, ThriftSpan,
    ThriftTag,
};
use spoor_model::{AttributeValue, KeyValue};
use thrift_fixtures::{from_hex_text, zipkin_v1_spans};

/// Batch{process{serviceName "svc"}, spans[{traceIdLow 1, traceIdHigh 0, spanId 2, parentSpanId 0,
/// operationName "op", flags 1, startTime 1000, duration 5, tags[{key "k", vType LONG, vLong 7}]}]}
const SMALL_BATCH_BINARY: &str = "
    0c 0001                       # 1: process (struct)
      0b 0001 00000003 737663     #   1: serviceName \"svc\"
      00                          #   stop
    0f 0002 0c 00000001           # 2: spans (list<struct>, 1 element)
      0a 0001 0000000000000001    #   1: traceIdLow 1
      0a 0002 0000000000000000    #   2: traceIdHigh 0
      0a 0003 0000000000000002    #   3: spanId 2
      0a 0004 0000000000000000    #   4: parentSpanId 0
      0b 0005 00000002 6f70       #   5: operationName \"op\"
      08 0007 00000001            #   7: flags 1
      0a 0008 00000000000003e8    #   8: startTime 1000
      0a 0009 0000000000000005    #   9: duration 5
      0f 000a 0c 00000001         #   10: tags (list<struct>, 1 element)
        0b 0001 00000001 6b       #     1: key \"k\"
        08 0002 00000003          #     2: vType LONG (3)
        0a 0006 0000000000000007  #     6: vLong 7
        00                        #     stop
      00                          #   stop
    00                            # stop
";

/// The same batch in TCompactProtocol: field headers are (id delta << 4 | type), integers zigzag
/// varints, strings and list sizes varints.
const SMALL_BATCH_COMPACT: &str = "
    1c                            # 1: process (struct)
      18 03 737663                #   1: serviceName \"svc\"
      00
    19 1c                         # 2: spans (list, 1 struct)
      16 02                       #   1: traceIdLow 1
      16 00                       #   2: traceIdHigh 0
      16 04                       #   3: spanId 2
      16 00                       #   4: parentSpanId 0
      18 02 6f70                  #   5: operationName \"op\"
      25 02                       #   7: flags 1 (delta 2)
      16 d00f                     #   8: startTime 1000
      16 0a                       #   9: duration 5
      19 1c                       #   10: tags (list, 1 struct)
        18 01 6b                  #     1: key \"k\"
        15 06                     #     2: vType 3
        46 0e                     #     6: vLong 7 (delta 4)
        00
      00
    00
";

fn small_batch() -> ThriftBatch {
    ThriftBatch {
        process: ThriftProcess { service_name: "svc".into(), tags: None },
        spans: vec![ThriftSpan {
            trace_id_low: 1,
            trace_id_high: 0,
            span_id: 2,
            parent_span_id: 0,
            operation_name: "op".into(),
            references: None,
            flags: 1,
            start_time: 1000,
            duration: 5,
            tags: Some(vec![ThriftTag::long("k", 7)]),
            logs: None,
        }],
        seq_no: None,
        stats: None,
    }
}

fn hex(text: &str) -> Vec<u8> {
    from_hex_text(text)
}

#[test]
fn binary_batch_matches_the_field_tables_byte_for_byte() {
    let bytes = hex(SMALL_BATCH_BINARY);
    assert_eq!(decode_batch_binary(&bytes).unwrap(), small_batch());
    assert_eq!(encode_batch_binary(&small_batch()).unwrap(), bytes);
}

#[test]
fn compact_batch_matches_the_field_tables_byte_for_byte() {
    let bytes = hex(SMALL_BATCH_COMPACT);
    assert_eq!(decode_batch(&bytes, Protocol::Compact).unwrap(), small_batch());
    assert_eq!(encode_batch(&small_batch(), Protocol::Compact).unwrap(), bytes);
}

#[test]
fn compact_emit_batch_datagram_has_the_standard_message_header() {
    // 0x82 protocol id, 0x81 = ONEWAY (4) << 5 | version 1, seq id 1, name "emitBatch", then the
    // args struct whose field 1 is the batch, then the args' stop.
    let mut expected = hex("82 81 01 09 656d697442617463 68 1c");
    expected.extend(hex(SMALL_BATCH_COMPACT));
    expected.push(0);
    let message = AgentMessage::EmitBatch(small_batch());
    assert_eq!(encode_agent_message(&message, Protocol::Compact, 1).unwrap(), expected);
    assert_eq!(decode_agent_message(&expected, Protocol::Compact).unwrap(), message);
}

#[test]
fn binary_emit_batch_datagram_has_the_strict_message_header() {
    let mut expected = hex("80010004 00000009 656d6974426174636 8 00000001 0c0001");
    expected.extend(hex(SMALL_BATCH_BINARY));
    expected.push(0);
    let message = AgentMessage::EmitBatch(small_batch());
    assert_eq!(encode_agent_message(&message, Protocol::Binary, 1).unwrap(), expected);
    assert_eq!(decode_agent_message(&expected, Protocol::Binary).unwrap(), message);
}

#[test]
fn old_unversioned_binary_message_header_is_accepted() {
    // Name length, name, type byte (ONEWAY), seq id: what non-strict writers send.
    let mut bytes = hex("00000009 656d697442617463 68 04 00000001 0c0001");
    bytes.extend(hex(SMALL_BATCH_BINARY));
    bytes.push(0);
    assert_eq!(decode_agent_message(&bytes, Protocol::Binary).unwrap(), AgentMessage::EmitBatch(small_batch()));
}

#[test]
fn call_messages_are_accepted_and_replies_are_not() {
    let mut call = encode_agent_message(&AgentMessage::EmitBatch(small_batch()), Protocol::Compact, 1).unwrap();
    call[1] = 0x21; // CALL (1) << 5 | version 1
    assert!(decode_agent_message(&call, Protocol::Compact).is_ok());
    call[1] = 0x41; // REPLY
    let error = decode_agent_message(&call, Protocol::Compact).unwrap_err();
    assert!(matches!(error.problem(), ThriftProblem::MessageType(_)), "{error}");
}

#[test]
fn unknown_methods_are_refused_by_name() {
    let bytes = hex("82 81 01 05 68656c6c6f 00");
    let error = decode_agent_message(&bytes, Protocol::Compact).unwrap_err();
    assert_eq!(error.to_string(), "unknown method \"hello\"; expected emitBatch or emitZipkinBatch");
}

#[test]
fn emit_zipkin_batch_round_trips() {
    let message = AgentMessage::EmitZipkinBatch(zipkin_v1_spans());
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let bytes = encode_agent_message(&message, protocol, 9).unwrap();
        assert_eq!(decode_agent_message(&bytes, protocol).unwrap(), message, "{protocol:?}");
    }
}

#[test]
fn tag_types_follow_the_thrift_enum_order_not_protos() {
    // vType 1 is DOUBLE in jaeger.thrift (BOOL in proto), vType 3 is LONG (FLOAT64 in proto).
    let mut batch = small_batch();
    batch.spans[0].tags = Some(vec![ThriftTag::double("d", 2.5), ThriftTag::long("l", 3)]);
    let bytes = encode_batch_binary(&batch).unwrap();
    let decoded = decode_batch_binary(&bytes).unwrap();
    let tags = decoded.spans[0].tags.as_ref().unwrap();
    assert_eq!((tags[0].v_type, tags[0].v_type.to_i32()), (TagType::Double, 1));
    assert_eq!((tags[1].v_type, tags[1].v_type.to_i32()), (TagType::Long, 3));
    let span = spans_from_thrift_batch(decoded).remove(0);
    assert_eq!(span.tags, [KeyValue::float64("d", 2.5), KeyValue::int64("l", 3)]);
    assert!(matches!(span.tags[0].value, AttributeValue::Float64(_)));
}

#[test]
fn a_missing_required_field_is_named_with_its_path() {
    // The tag without its vType (field 2).
    let text = SMALL_BATCH_BINARY.replace("08 0002 00000003", "");
    let error = decode_batch_binary(&hex(&text)).unwrap_err();
    assert_eq!(error.to_string(), "spans[0].tags[0]: required field vType is missing");
    assert_eq!(error.path(), "spans[0].tags[0]");
    // The batch without its process.
    let error = decode_batch_binary(&hex("0f 0002 0c 00000000 00")).unwrap_err();
    assert_eq!(error.to_string(), "required field process is missing");
}

#[test]
fn unknown_fields_are_skipped() {
    // Span field 99 (a string) and batch field 50 (a list of i32), unknown to this IDL version.
    let text = SMALL_BATCH_BINARY
        .replace("0b 0005 00000002 6f70", "0b 0063 00000003 787878 0b 0005 00000002 6f70")
        .replace("    00                            # stop", "0f 0032 08 00000002 00000001 00000002 00");
    assert_eq!(decode_batch_binary(&hex(&text)).unwrap(), small_batch());
}

#[test]
fn a_known_field_with_the_wrong_wire_type_is_skipped_then_missing() {
    // operationName sent as an i32.
    let text = SMALL_BATCH_BINARY.replace("0b 0005 00000002 6f70", "08 0005 00000002");
    let error = decode_batch_binary(&hex(&text)).unwrap_err();
    assert_eq!(error.to_string(), "spans[0]: required field operationName is missing");
}

#[test]
fn a_small_datagram_declaring_a_huge_list_fails_fast() {
    // 50 bytes: emitBatch header, then a batch whose spans list claims 2^31-1 elements.
    let mut bytes = hex("82 81 01 09 656d697442617463 68 1c 1c 18 03 737663 00 19 fc ffffffff07");
    bytes.resize(50, 0);
    let started = std::time::Instant::now();
    let error = decode_agent_message(&bytes, Protocol::Compact).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    assert!(error.to_string().starts_with("batch.spans: "), "{error}");
}

#[test]
fn a_huge_string_length_fails_without_allocating_it() {
    let error = decode_batch_binary(&hex("0c 0001 0b 0001 7fffffff 73")).unwrap_err();
    assert!(error.to_string().starts_with("process.serviceName: "), "{error}");
}

#[test]
fn truncation_is_reported_as_such() {
    let bytes = hex(SMALL_BATCH_BINARY);
    let error = decode_batch_binary(&bytes[..40]).unwrap_err();
    assert!(error.to_string().ends_with("input ends in the middle of a value (truncated)"), "{error}");
}

#[test]
fn invalid_utf8_in_a_string_is_an_error() {
    let error = decode_batch_binary(&hex("0c 0001 0b 0001 00000002 c328 00 0f 0002 0c 00000000 00")).unwrap_err();
    assert!(error.to_string().starts_with("process.serviceName: "), "{error}");
}
