//! The OTLP ingest hot path without the network and the store: the bytes of an
//! `ExportTraceServiceRequest` of 512 Envoy-like spans (about 640 bytes each on the wire, 14 string
//! attributes) -> prost decode -> model spans -> sanitizer, in spans per second, next to the bare
//! prost decode floor, the lenient (UTF-8 repairing) decoder and the OTLP/JSON path.
//!
//! Times are this thread's CPU time (Linux `/proc/thread-self/schedstat`, nanoseconds), not wall
//! time, so the figures hold on a shared 2-core machine where other builds compete for the CPU;
//! where that file is missing, wall time.
//!
//! `cargo bench -p spoor-collector --bench otlp_decode`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use spoor_collector::otlp::json::decode_json;
use spoor_collector::otlp::lenient::decode_lenient;
use spoor_collector::Sanitizer;
use spoor_model::otlp::spans_from_otlp_request;
use spoor_model::SpanBatch;

const SPANS: usize = 512;

fn attribute(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        key_strindex: 0,
    }
}

/// A span as Envoy's OpenTelemetry tracer writes it: every tag a string.
fn envoy_span(index: usize) -> Span {
    let trace = (index / 8) as u128 + 0x5b8e_fff7_9803_8103_d269_b633_813f_c60c;
    let server = index & 1 == 0;
    Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: (index as u64 + 1).to_be_bytes().to_vec(),
        parent_span_id: if index & 7 == 0 { Vec::new() } else { (index as u64).to_be_bytes().to_vec() },
        name: if server { "ingress".into() } else { "router checkout egress".into() },
        kind: if server { 2 } else { 3 },
        start_time_unix_nano: 1_700_000_000_000_000_000 + index as u64 * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + index as u64 * 1_000_000 + 734_000,
        attributes: vec![
            attribute("http.url", format!("https://shop.example.com/api/v1/cart/items/{index}?currency=EUR")),
            attribute(
                "node_id",
                format!("sidecar~10.12.34.{}~checkout-7d9f8b6c5.shop~shop.svc.cluster.local", index % 250),
            ),
            attribute("upstream_cluster", "outbound|8080||checkout.shop".into()),
            attribute("guid:x-request-id", format!("5f3c2a1e-8b7d-4e6f-9a0b-{index:012x}")),
            attribute("http.method", "GET".into()),
            attribute("http.status_code", "200".into()),
            attribute("user_agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0".into()),
            attribute("request_size", "0".into()),
            attribute("response_size", format!("{}", 1000 + index)),
            attribute("component", "proxy".into()),
            attribute("downstream_cluster", "-".into()),
            attribute("peer.address", format!("10.12.{}.{}", index % 200, index % 250)),
            attribute("response_flags", "-".into()),
            attribute("http.protocol", "HTTP/1.1".into()),
        ],
        status: Some(Status { message: String::new(), code: 0 }),
        ..Default::default()
    }
}

fn envoy_request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", "checkout-envoy".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "envoy".into(),
                    version: "1.31.0".into(),
                    ..Default::default()
                }),
                spans: (0..SPANS).map(envoy_span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_nanos() -> Option<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    schedstat.split_whitespace().next()?.parse().ok()
}

/// Runs `routine` `iterations` times and returns the CPU time it took (wall time as a fallback).
fn cpu_time<O>(iterations: u64, mut routine: impl FnMut() -> O) -> Duration {
    let wall_start = Instant::now();
    let cpu_start = thread_cpu_nanos();
    for _ in 0..iterations {
        black_box(routine());
    }
    match (cpu_start, thread_cpu_nanos()) {
        (Some(start), Some(end)) => Duration::from_nanos(end.saturating_sub(start)),
        _ => wall_start.elapsed(),
    }
}

fn decode_to_sanitized_spans(bytes: &[u8], sanitizer: &Sanitizer) -> SpanBatch {
    let request = ExportTraceServiceRequest::decode(bytes).expect("valid request");
    let mut batch = SpanBatch::new(spans_from_otlp_request(request).spans);
    sanitizer.sanitize(&mut batch);
    batch
}

fn otlp_decode(criterion: &mut Criterion) {
    let request = envoy_request();
    let bytes = request.encode_to_vec();
    let json = serde_json::to_vec(&request).expect("serializable");
    eprintln!(
        "request: {SPANS} spans, {} protobuf bytes ({} per span), {} JSON bytes",
        bytes.len(),
        bytes.len() / SPANS,
        json.len()
    );
    let sanitizer = Sanitizer::new();
    assert_eq!(decode_to_sanitized_spans(&bytes, &sanitizer).len(), SPANS);

    let mut group = criterion.benchmark_group("otlp_decode");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("prost_decode_floor", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || ExportTraceServiceRequest::decode(black_box(bytes.as_slice())).expect("valid"))
        })
    });
    group.bench_function("decode_model_sanitize", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || decode_to_sanitized_spans(black_box(bytes.as_slice()), &sanitizer))
        })
    });
    group.bench_function("lenient_decode", |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || decode_lenient(black_box(bytes.as_slice())).expect("valid")))
    });
    group.bench_function("json_decode_model_sanitize", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                let request = decode_json(black_box(json.as_slice())).expect("valid");
                let mut batch = SpanBatch::new(spans_from_otlp_request(request).spans);
                sanitizer.sanitize(&mut batch);
                batch
            })
        })
    });
    group.finish();
}

criterion_group!(benches, otlp_decode);
criterion_main!(benches);
