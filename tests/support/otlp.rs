//! Small OTLP requests for end-to-end tests.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

pub fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

pub fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// A request with one trace of `spans` spans (a root and its children) for `service`.
pub fn trace_request(service: &str, trace_id: u128, spans: u64) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: trace_id.to_be_bytes().to_vec(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            parent_span_id: if i == 0 { vec![] } else { 1u64.to_be_bytes().to_vec() },
            name: format!("op-{i}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: now + i * 1_000,
            end_time_unix_nano: now + i * 1_000 + 1_000_000,
            attributes: vec![attr("test.index", &i.to_string())],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![attr("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}
