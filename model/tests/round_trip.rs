//! Round trips through every codec, over the golden fixture's spans and hand-made ones.

mod support;

use std::sync::Arc;

use prost::Message as _;
use spoor_model::jaeger_proto::{decode_span, encode_span, span_from_proto, span_to_proto, spans_from_batch};
use spoor_model::otlp::{spans_from_otlp, spans_from_otlp_request, spans_to_otlp};
use spoor_model::proto::jaeger::api_v2;
use spoor_model::{KeyValue, Log, Process, Span, SpanId, SpanRef, TraceId, FLAG_DEBUG, FLAG_SAMPLED};
use support::{load_otlp_request, without_otlp_only_attributes};

fn fixture_spans() -> Vec<Span> {
    spans_from_otlp_request(load_otlp_request("otlp_request.json")).spans
}

fn jaeger_client_span() -> Span {
    let trace_id = TraceId::new(0, 0x00ff_0000_0000_0001);
    Span {
        trace_id,
        span_id: SpanId(3),
        operation_name: "legacy".into(),
        references: vec![SpanRef::follows_from(trace_id, SpanId(1)), SpanRef::child_of(trace_id, SpanId(2))],
        flags: FLAG_SAMPLED | FLAG_DEBUG,
        start_time_unix_nano: 1_500_000_000_000_001_000,
        duration_nanos: 7_000,
        tags: vec![KeyValue::string("error", "true"), KeyValue::float64("x", -1.25e-7)],
        logs: vec![Log {
            timestamp_unix_nano: 1_500_000_000_000_002_000,
            fields: vec![KeyValue::string("message", "hi")],
        }],
        process: Arc::new(Process {
            service_name: "old-client".into(),
            tags: vec![KeyValue::string("jaeger.version", "Go-2.30.0")],
        }),
        warnings: vec![],
        scope_attributes: Vec::new(),
    }
}

#[test]
fn model_survives_jaeger_proto_round_trip_except_otlp_only_attributes() {
    let mut spans = fixture_spans();
    spans.push(jaeger_client_span());
    for span in spans {
        let expected = without_otlp_only_attributes(&span);
        assert_eq!(decode_span(&encode_span(&span)).unwrap(), expected);
        assert_eq!(span_from_proto(span_to_proto(span.clone()), None).unwrap(), expected);
    }
}

#[test]
fn the_fixture_has_scope_and_link_attributes_for_the_round_trips_to_keep() {
    let spans = fixture_spans();
    assert!(!spans[0].scope_attributes.is_empty());
    assert!(spans[0].references.iter().any(|reference| !reference.attributes.is_empty()));
}

#[test]
fn model_survives_a_post_spans_batch_with_a_shared_process() {
    let spans = fixture_spans();
    let process = spans[0].process.clone();
    let proto_spans =
        spans[..2].iter().map(|span| api_v2::Span { process: None, ..span_to_proto(span.clone()) }).collect();
    let batch = api_v2::Batch {
        spans: proto_spans,
        process: Some(spoor_model::jaeger_proto::process_to_proto((*process).clone())),
    };
    let bytes = api_v2::PostSpansRequest { batch: Some(batch) }.encode_to_vec();
    let request = api_v2::PostSpansRequest::decode(bytes.as_slice()).unwrap();
    let decoded = spans_from_batch(request.batch.unwrap()).unwrap();
    let expected: Vec<Span> = spans[..2].iter().map(without_otlp_only_attributes).collect();
    assert_eq!(decoded, expected);
    assert!(Arc::ptr_eq(&decoded[0].process, &decoded[1].process));
}

#[test]
fn model_survives_otlp_round_trip() {
    let spans = fixture_spans();
    let back = spans_from_otlp(spans_to_otlp(spans.clone()).resource_spans);
    assert_eq!((back.rejected, back.errors.len()), (0, 0));
    assert_eq!(back.spans, spans);
}

#[test]
fn otlp_round_trip_through_protobuf_bytes_keeps_the_spans() {
    let spans = fixture_spans();
    let bytes = spans_to_otlp(spans.clone()).encode_to_vec();
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(spans_from_otlp_request(request).spans, spans);
}

#[test]
fn jaeger_client_span_keeps_its_meaning_through_otlp() {
    // Not byte-identical: OTLP has no debug flag and the parent moves first, but the parent, the
    // link, the Envoy-style string error tag and the process survive.
    let span = jaeger_client_span();
    let back = spans_from_otlp(spans_to_otlp(vec![span.clone()]).resource_spans).spans.remove(0);
    assert_eq!(back.parent_span_id(), Some(SpanId(2)));
    assert_eq!(back.references[1], span.references[0]);
    assert_eq!(back.tags, span.tags);
    assert_eq!(back.logs, span.logs);
    assert_eq!(*back.process, *span.process);
    assert_eq!(back.flags, FLAG_SAMPLED);
}
