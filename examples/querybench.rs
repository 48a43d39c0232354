//! Query latency benchmark: trace-by-id and search through Jaeger's HTTP API, against a Spoor
//! loaded by `examples/loadgen.rs` (whose trace ids and services it knows).
//!
//! ```sh
//! cargo run --release --example querybench -- --url http://127.0.0.1:16686 --traces 250000 --requests 2000
//! ```
//!
//! `--url` points at a Spoor that is already running (all-in-one, or `spoor query` over any store).
//! With `--start-query <spoor binary> --es-url <url> --es-index-prefix <prefix>` the benchmark
//! starts `spoor query` over that Elasticsearch index prefix itself, listening on `--url`'s
//! host:port (its gRPC servers off, its admin server on the next port), waits until it answers,
//! and stops it at the end.
#![forbid(unsafe_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn run(name: &str, agent: &ureq::Agent, urls: &[String], expect_spans: bool) {
    let mut latencies = Vec::with_capacity(urls.len());
    let mut empty = 0;
    for url in urls {
        let began = Instant::now();
        let mut response = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let body = response.body_mut().read_to_string().expect("body");
        latencies.push(began.elapsed());
        if expect_spans && !body.contains("\"spanID\"") {
            empty += 1;
        }
    }
    latencies.sort();
    println!(
        "{name:<28} n={:<5} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (empty results: {empty})",
        urls.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
    );
}

/// `spoor query` over an Elasticsearch index prefix, started by the benchmark; killed on drop.
struct QueryProcess(Child);

impl Drop for QueryProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `spoor query` over `es_url`/`es_index_prefix` listening on `url`'s host:port, and waits
/// until `/api/services` answers.
fn start_query(spoor: &str, url: &str, es_url: &str, es_index_prefix: &str, agent: &ureq::Agent) -> QueryProcess {
    let host_port = url.trim_start_matches("http://").trim_end_matches('/');
    let (host, port) = host_port.rsplit_once(':').expect("--url needs an explicit port with --start-query");
    let admin_port: u16 = port.parse::<u16>().expect("--url port") + 1;
    let child = Command::new(spoor)
        .args(["query", "--span-storage.type=elasticsearch", "--log-level=warn"])
        .args(["--es.server-urls", es_url, "--es.index-prefix", es_index_prefix])
        .args(["--query.http-server.host-port", host_port])
        .args(["--query.grpc-server.host-port=", "--remote-storage.grpc.host-port="])
        .args(["--admin.http.host-port", &format!("{host}:{admin_port}")])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {spoor} query: {e}"));
    let process = QueryProcess(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = agent.get(&format!("{url}/api/services")).call() {
            if response.status() == 200 {
                return process;
            }
        }
        assert!(Instant::now() < deadline, "spoor query did not answer {url}/api/services within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let mut url = "http://127.0.0.1:16686".to_owned();
    let mut traces: u64 = 250_000;
    let mut requests: u64 = 1000;
    let mut start_query_with: Option<String> = None;
    let mut es_url = std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_owned());
    let mut es_index_prefix: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("flag value");
        match flag.as_str() {
            "--url" => url = value,
            "--traces" => traces = value.parse().expect("--traces"),
            "--requests" => requests = value.parse().expect("--requests"),
            "--start-query" => start_query_with = Some(value),
            "--es-url" => es_url = value,
            "--es-index-prefix" => es_index_prefix = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let _query = start_query_with.map(|spoor| {
        let prefix = es_index_prefix.as_deref().expect("--start-query needs --es-index-prefix");
        start_query(&spoor, &url, &es_url, prefix, &agent)
    });
    println!("load average before: {}", load_average());
    // A cheap deterministic spread over the loaded trace ids.
    let pick = |i: u64| (i.wrapping_mul(2_654_435_761) % traces.max(1)) as u128;
    let by_id: Vec<String> =
        (0..requests).map(|i| format!("{url}/api/traces/{:032x}", (0x5b0013u128 << 64) | pick(i))).collect();
    run("trace by id", &agent, &by_id, true);

    let services: Vec<String> = (0..requests).map(|i| format!("productpage-{}.bookinfo", i % 10)).collect();
    let search_service: Vec<String> =
        services.iter().map(|s| format!("{url}/api/traces?service={s}&limit=20&lookback=1h")).collect();
    run("search: service, limit 20", &agent, &search_service, true);

    let search_tag: Vec<String> = services
        .iter()
        .map(|s| format!("{url}/api/traces?service={s}&limit=20&tags=%7B%22http.status_code%22%3A%22503%22%7D"))
        .collect();
    run("search: service + rare tag", &agent, &search_tag, true);

    let search_duration: Vec<String> = services
        .iter()
        .map(|s| format!("{url}/api/traces?service={s}&limit=20&minDuration=2ms&maxDuration=3s"))
        .collect();
    run("search: service + duration", &agent, &search_duration, true);
    println!("load average after: {}", load_average());
}
