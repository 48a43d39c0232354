//! OTLP gRPC load generator for Spoor's end-to-end ingest benchmark.
//!
//! Sends batches of Envoy-like spans (~640 bytes each, 14 string attributes) to an OTLP gRPC
//! endpoint from several concurrent streams and prints spans/s, request latency percentiles and,
//! with `--pid`, the server's CPU seconds per million spans and peak RSS.
//!
//! ```sh
//! cargo run --release --example loadgen -- --endpoint http://127.0.0.1:4317 --spans 2000000 --pid <spoor pid>
//! ```
#![forbid(unsafe_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

struct Args {
    endpoint: String,
    spans: u64,
    batch: usize,
    concurrency: usize,
    pid: Option<u32>,
}

fn parse_args() -> Args {
    let mut args =
        Args { endpoint: "http://127.0.0.1:4317".into(), spans: 1_000_000, batch: 512, concurrency: 8, pid: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => args.endpoint = value,
            "--spans" => args.spans = value.parse().expect("--spans"),
            "--batch" => args.batch = value.parse().expect("--batch"),
            "--concurrency" => args.concurrency = value.parse().expect("--concurrency"),
            "--pid" => args.pid = Some(value.parse().expect("--pid")),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn string_attr(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        ..Default::default()
    }
}

/// One request of `batch` spans: traces of 4 spans (an ingress server span and three hops), ids
/// unique per `sequence`, service chosen among 10 like a small mesh.
fn envoy_like_request(sequence: u64, batch: usize) -> ExportTraceServiceRequest {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let service = format!("productpage-{}.bookinfo", sequence % 10);
    let spans = (0..batch as u64)
        .map(|i| {
            let global = sequence * batch as u64 + i;
            let trace = global / 4;
            let position = global % 4;
            let request_id = format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", trace as u32, i, position, i, global);
            Span {
                trace_id: ((0x5b0013u128 << 64) | trace as u128).to_be_bytes().to_vec(),
                span_id: (global + 1).to_be_bytes().to_vec(),
                parent_span_id: if position == 0 { vec![] } else { (global).to_be_bytes().to_vec() },
                name: format!("reviews.bookinfo.svc.cluster.local:9080/reviews/{}", trace % 100),
                kind: if position == 0 { span::SpanKind::Server as i32 } else { span::SpanKind::Client as i32 },
                start_time_unix_nano: now + position * 1_000,
                end_time_unix_nano: now + 2_500_000 + position * 1_000,
                attributes: vec![
                    string_attr("http.url", format!("http://reviews:9080/reviews/{}?user=jason", trace % 100)),
                    string_attr(
                        "node_id",
                        format!(
                            "sidecar~10.128.{}.{}~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local",
                            trace % 250,
                            i % 250
                        ),
                    ),
                    string_attr("upstream_cluster", "outbound|9080||reviews.bookinfo.svc.cluster.local".into()),
                    string_attr("guid:x-request-id", request_id),
                    string_attr("http.method", "GET".into()),
                    string_attr(
                        "http.status_code",
                        if global.is_multiple_of(97) { "503".into() } else { "200".into() },
                    ),
                    string_attr("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into()),
                    string_attr("request_size", "0".into()),
                    string_attr("response_size", format!("{}", 300 + trace % 1000)),
                    string_attr("component", "proxy".into()),
                    string_attr("downstream_cluster", "-".into()),
                    string_attr("peer.address", format!("10.128.{}.{}", trace % 250, i % 250)),
                    string_attr("response_flags", "-".into()),
                    string_attr("http.protocol", "HTTP/1.1".into()),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![string_attr("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "envoy".into(),
                    version: "1.30".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends pre-encoded request bytes, so the generator spends its CPU once per request, not once
/// per attempt (and leaves the cores to the server under test).
#[derive(Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }
    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        ExportTraceServiceResponse::decode(src.copy_to_bytes(src.remaining()))
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// (utime + stime seconds, peak RSS bytes) of a process, from /proc.
fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: u64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, hwm_kib * 1024))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let requests = args.spans.div_ceil(args.batch as u64);
    let channel = tonic::transport::Endpoint::from_shared(args.endpoint.clone())
        .expect("endpoint")
        .connect()
        .await
        .expect("connecting to the OTLP endpoint");
    // Every request is built and encoded before the clock starts: building ~640-byte spans with
    // formatted strings costs the generator ~7 µs per span, which on a 2-core machine would be
    // CPU taken from the server under test. Sending pre-encoded bytes costs well under 1 µs.
    let encoding_started = Instant::now();
    let encoded: std::sync::Arc<Vec<Bytes>> = std::sync::Arc::new(
        (0..requests).map(|sequence| Bytes::from(envoy_like_request(sequence, args.batch).encode_to_vec())).collect(),
    );
    println!(
        "pre-encoded:       {} requests ({:.0} MiB) in {:.1} s",
        encoded.len(),
        encoded.iter().map(Bytes::len).sum::<usize>() as f64 / (1 << 20) as f64,
        encoding_started.elapsed().as_secs_f64()
    );
    let before = args.pid.and_then(process_usage);
    let own_before = process_usage(std::process::id());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let channel = channel.clone();
        let next = next.clone();
        let encoded = encoded.clone();
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let mut client = tonic::client::Grpc::new(channel);
            let path =
                http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
            let mut latencies = Vec::new();
            let (mut sent, mut refused) = (0u64, 0u64);
            loop {
                let sequence = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if sequence >= requests {
                    break;
                }
                let request = encoded[sequence as usize].clone();
                loop {
                    let began = Instant::now();
                    client.ready().await.expect("channel ready");
                    match client.unary(tonic::Request::new(request.clone()), path.clone(), PreEncoded).await {
                        Ok(_) => {
                            latencies.push(began.elapsed());
                            sent += batch as u64;
                            break;
                        }
                        Err(status)
                            if matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable) =>
                        {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(status) => panic!("export failed: {status}"),
                    }
                }
            }
            (latencies, sent, refused)
        }));
    }
    let mut latencies = Vec::new();
    let (mut sent, mut refused) = (0u64, 0u64);
    for task in tasks {
        let (l, s, r) = task.await.expect("sender task");
        latencies.extend(l);
        sent += s;
        refused += r;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    println!("spans sent:        {sent}");
    println!("elapsed:           {:.2} s", elapsed.as_secs_f64());
    println!("throughput:        {:.0} spans/s", sent as f64 / elapsed.as_secs_f64());
    println!(
        "request latency:   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} spans/request, {} concurrent)",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        args.batch,
        args.concurrency
    );
    println!("retryable refusals: {refused}");
    if let (Some((own_before, _)), Some((own_after, _))) = (own_before, process_usage(std::process::id())) {
        println!(
            "generator CPU:     {:.2} s ({:.2} CPU-seconds per million spans)",
            own_after - own_before,
            (own_after - own_before) / (sent as f64 / 1e6)
        );
    }
    if let (Some(pid), Some((cpu_before, _))) = (args.pid, before) {
        if let Some((cpu_after, peak_rss)) = process_usage(pid) {
            let cpu = cpu_after - cpu_before;
            println!(
                "server CPU:        {:.2} s ({:.2} CPU-seconds per million spans)",
                cpu,
                cpu / (sent as f64 / 1e6)
            );
            println!("server peak RSS:   {:.1} MiB", peak_rss as f64 / (1 << 20) as f64);
        }
    }
}
