//! End-to-end latency from "a sender was acknowledged" to "the trace is queryable": sends single-span
//! traces over OTLP/HTTP JSON and polls `GET /api/traces/{id}` of a query service until each one is
//! found. Works against any deployment (all-in-one, or collector -> Kafka -> ingester -> Elasticsearch
//! -> query).
//!
//! ```sh
//! cargo run --release --example send_to_query_latency -- \
//!     --otlp-http http://127.0.0.1:4318 --query http://127.0.0.1:16686 --traces 200 --senders 4
//! ```
//!
//! Prints p50/p90/p99/max of the latency in milliseconds, and how many traces were never found
//! within `--timeout-secs`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let otlp = arg("--otlp-http", "http://127.0.0.1:4318");
    let query = arg("--query", "http://127.0.0.1:16686");
    let traces: usize = arg("--traces", "200").parse().expect("--traces");
    let senders: usize = arg("--senders", "4").parse().expect("--senders");
    let timeout = Duration::from_secs(arg("--timeout-secs", "60").parse().expect("--timeout-secs"));
    let poll = Duration::from_millis(arg("--poll-ms", "10").parse().expect("--poll-ms"));

    let per_sender = traces.div_ceil(senders);
    let handles: Vec<_> = (0..senders)
        .map(|sender| {
            let (otlp, query) = (otlp.clone(), query.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut latencies = Vec::new();
                let mut missing = 0usize;
                for i in 0..per_sender {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
                    let trace_id = format!("{:016x}{:08x}{:08x}", now as u64, sender as u32, i as u32);
                    let span_id = format!("{:016x}", (now as u64) ^ 0x5a5a_5a5a);
                    let body = serde_json::json!({"resourceSpans": [{
                        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "latency-probe"}}]},
                        "scopeSpans": [{"spans": [{
                            "traceId": trace_id, "spanId": span_id, "name": "probe", "kind": 2,
                            "startTimeUnixNano": (now - 1_000_000).to_string(),
                            "endTimeUnixNano": now.to_string(),
                        }]}]
                    }]});
                    let sent = agent
                        .post(&format!("{otlp}/v1/traces"))
                        .header("content-type", "application/json")
                        .send(body.to_string())
                        .expect("sending");
                    assert_eq!(sent.status(), 200, "the collector refused the span");
                    let acknowledged = Instant::now();
                    loop {
                        let response = agent.get(&format!("{query}/api/traces/{trace_id}")).call().expect("query");
                        if response.status() == 200 {
                            latencies.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
                            break;
                        }
                        if acknowledged.elapsed() > timeout {
                            missing += 1;
                            break;
                        }
                        std::thread::sleep(poll);
                    }
                }
                (latencies, missing)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut missing = 0;
    for handle in handles {
        let (mut l, m) = handle.join().expect("sender thread");
        latencies.append(&mut l);
        missing += m;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "traces={} found={} missing={} latency_ms p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        latencies.len() + missing,
        latencies.len(),
        missing,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
}
