//! Spans/s per core from bytes on the wire to a sanitized batch ready for the writer, for every
//! protocol, with the same 512 Envoy-like spans (~640 bytes, 14 string tags) in each encoding.
//! Measured in thread CPU time, so a busy machine does not distort it.
//!
//! `cargo bench -p spoor-collector --bench protocols`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use spoor_collector::Sanitizer;
use spoor_model::proto::jaeger::api_v2;
use spoor_model::thrift::{self, ThriftBatch, ThriftProcess, ThriftSpan, ThriftTag};
use spoor_model::{jaeger_proto, zipkin, Process, Span, SpanBatch, SpanId, TraceId};

const SPANS: usize = 512;

fn tags(index: usize) -> Vec<(&'static str, String)> {
    vec![
        ("http.url", format!("https://shop.example.com/api/v1/cart/items/{index}?currency=EUR")),
        ("node_id", format!("sidecar~10.12.34.{}~checkout-7d9f8b6c5.shop~shop.svc.cluster.local", index % 250)),
        ("upstream_cluster", "outbound|8080||checkout.shop".into()),
        ("guid:x-request-id", format!("5f3c2a1e-8b7d-4e6f-9a0b-{index:012x}")),
        ("http.method", "GET".into()),
        ("http.status_code", "200".into()),
        ("user_agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0".into()),
        ("request_size", "0".into()),
        ("response_size", format!("{}", 1000 + index)),
        ("component", "proxy".into()),
        ("downstream_cluster", "-".into()),
        ("peer.address", format!("10.12.{}.{}", index % 200, index % 250)),
        ("response_flags", "-".into()),
        ("http.protocol", "HTTP/1.1".into()),
    ]
}

const START_MICROS: u64 = 1_700_000_000_000_000;

fn trace_low(index: usize) -> u64 {
    0xd269_b633_813f_c60c + (index / 8) as u64
}

fn zipkin_v2_json() -> Vec<u8> {
    let spans: Vec<serde_json::Value> = (0..SPANS)
        .map(|i| {
            let mut span = serde_json::json!({
                "traceId": format!("5b8efff798038103{:016x}", trace_low(i)),
                "id": format!("{:016x}", i + 1),
                "kind": if i % 2 == 0 { "SERVER" } else { "CLIENT" },
                "name": "reviews.bookinfo.svc.cluster.local:9080/*",
                "timestamp": START_MICROS + i as u64 * 1000,
                "duration": 734,
                "localEndpoint": {"serviceName": "checkout-envoy", "ipv4": "10.12.34.5"},
                "tags": tags(i).into_iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
            });
            if i % 8 != 0 {
                span["parentId"] = format!("{i:016x}").into();
            }
            span
        })
        .collect();
    serde_json::to_vec(&spans).expect("json")
}

fn thrift_batch() -> ThriftBatch {
    ThriftBatch {
        process: ThriftProcess {
            service_name: "checkout-envoy".into(),
            tags: Some(vec![ThriftTag::string("ip", "10.12.34.5")]),
        },
        spans: (0..SPANS)
            .map(|i| ThriftSpan {
                trace_id_low: trace_low(i) as i64,
                trace_id_high: 0x5b8e_fff7_9803_8103,
                span_id: i as i64 + 1,
                parent_span_id: if i % 8 == 0 { 0 } else { i as i64 },
                operation_name: "reviews.bookinfo.svc.cluster.local:9080/*".into(),
                references: None,
                flags: 1,
                start_time: (START_MICROS + i as u64 * 1000) as i64,
                duration: 734,
                tags: Some(tags(i).into_iter().map(|(k, v)| ThriftTag::string(k, v)).collect()),
                logs: None,
            })
            .collect(),
        seq_no: None,
        stats: None,
    }
}

fn model_spans() -> Vec<Span> {
    let process = std::sync::Arc::new(Process { service_name: "checkout-envoy".into(), tags: vec![] });
    (0..SPANS)
        .map(|i| Span {
            trace_id: TraceId::new(0x5b8e_fff7_9803_8103, trace_low(i)),
            span_id: SpanId(i as u64 + 1),
            operation_name: "reviews.bookinfo.svc.cluster.local:9080/*".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: (START_MICROS + i as u64 * 1000) * 1000,
            duration_nanos: 734_000,
            tags: tags(i).into_iter().map(|(k, v)| spoor_model::KeyValue::string(k, v)).collect(),
            logs: vec![],
            process: process.clone(),
            warnings: vec![],
            scope_attributes: Vec::new(),
        })
        .collect()
}

fn thread_cpu_nanos() -> Option<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    schedstat.split_whitespace().next()?.parse().ok()
}

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

fn sanitized(spans: Vec<Span>, sanitizer: &Sanitizer) -> SpanBatch {
    let mut batch = SpanBatch::new(spans);
    sanitizer.sanitize(&mut batch);
    batch
}

fn protocols(criterion: &mut Criterion) {
    let sanitizer = Sanitizer::new();
    let zipkin_json = zipkin_v2_json();
    let thrift_binary = thrift::encode_batch_binary(&thrift_batch()).expect("thrift encode");
    let proto_batch = api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: model_spans().into_iter().map(jaeger_proto::span_to_proto).collect(),
            process: None,
        }),
    }
    .encode_to_vec();
    eprintln!(
        "{SPANS} spans: zipkin v2 JSON {} B/span, jaeger thrift binary {} B/span, jaeger proto {} B/span",
        zipkin_json.len() / SPANS,
        thrift_binary.len() / SPANS,
        proto_batch.len() / SPANS
    );
    assert_eq!(zipkin::spans_from_v2_json(&zipkin_json).expect("zipkin").len(), SPANS);
    assert_eq!(
        thrift::spans_from_thrift_batch(thrift::decode_batch_binary(&thrift_binary).expect("thrift")).len(),
        SPANS
    );

    let mut group = criterion.benchmark_group("protocols");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("zipkin_v2_json", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || sanitized(zipkin::spans_from_v2_json(black_box(&zipkin_json)).expect("valid"), &sanitizer))
        })
    });
    group.bench_function("jaeger_thrift_binary", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                let batch = thrift::decode_batch_binary(black_box(&thrift_binary)).expect("valid");
                sanitized(thrift::spans_from_thrift_batch(batch), &sanitizer)
            })
        })
    });
    group.bench_function("jaeger_proto_grpc", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                let request = api_v2::PostSpansRequest::decode(black_box(proto_batch.as_slice())).expect("valid");
                let spans = jaeger_proto::spans_from_batch(request.batch.expect("batch")).expect("valid");
                sanitized(spans, &sanitizer)
            })
        })
    });
    group.bench_function("jaeger_proto_decode_floor", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || api_v2::PostSpansRequest::decode(black_box(proto_batch.as_slice())).expect("valid"))
        })
    });
    group.finish();
}

criterion_group!(benches, protocols);
criterion_main!(benches);
