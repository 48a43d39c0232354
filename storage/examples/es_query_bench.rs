//! Loads spans into Elasticsearch/OpenSearch through [`ElasticsearchStore`] and measures the reader:
//! get-trace (with and without a time window) and searches (trace ids only, and whole traces).
//!
//! ```text
//! tests/infra/elasticsearch start
//! cargo run --release -p spoor-storage --example es_query_bench -- --spans 1000000
//! ```
//!
//! Flags: `--spans N` (default 1,000,000), `--spans-per-trace N` (10), `--queries N` (200 of each
//! kind), `--url URL` (`ES_URL` or `http://127.0.0.1:9200`), `--shards N` (1), `--writers N`
//! (concurrent `write` calls, 4), `--keep` (leave the indices; they are purged by default),
//! `--skip-dependencies` (the link computation scans every span of the last 25 hours).
//! Traces are spread over the last hour across 20 services of 10 operations each; every span
//! has an `http.status_code`, 1% an `error=true` tag.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spoor_model::{KeyValue, Namespace, Process, Span, SpanBatch, SpanId, TraceId};
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::{GetTraceRequest, Purger, SpanReader, SpanWriter, TraceQuery};

const SERVICES: u64 = 20;
const OPERATIONS: u64 = 10;
const HOUR_NANOS: u64 = 3_600_000_000_000;

struct Options {
    spans: u64,
    spans_per_trace: u64,
    queries: usize,
    url: String,
    shards: u32,
    writers: usize,
    keep: bool,
    dependencies: bool,
}

fn options() -> Options {
    let mut options = Options {
        spans: 1_000_000,
        spans_per_trace: 10,
        queries: 200,
        url: std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_owned()),
        shards: 1,
        writers: 4,
        keep: false,
        dependencies: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--spans" => options.spans = value().parse().expect("--spans N"),
            "--spans-per-trace" => options.spans_per_trace = value().parse().expect("--spans-per-trace N"),
            "--queries" => options.queries = value().parse().expect("--queries N"),
            "--url" => options.url = value(),
            "--shards" => options.shards = value().parse().expect("--shards N"),
            "--writers" => options.writers = value().parse().expect("--writers N"),
            "--keep" => options.keep = true,
            "--skip-dependencies" => options.dependencies = false,
            other => panic!("unknown flag {other}"),
        }
    }
    options.spans_per_trace = options.spans_per_trace.max(1);
    options
}

/// xorshift64*: deterministic and dependency-free.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

fn now_nanos() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()).unwrap_or(u64::MAX)
}

/// The spans of trace number `trace` (deterministic, so reads can be checked by count).
fn trace_spans(trace: u64, spans_per_trace: u64, start: u64, processes: &[Arc<Process>]) -> Vec<Span> {
    let mut random = Random(trace.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let trace_id = TraceId::new(random.next() | 1, random.next());
    (0..spans_per_trace)
        .map(|index| {
            let service = random.below(SERVICES) as usize;
            let mut tags = vec![
                KeyValue::string("span.kind", if index == 0 { "server" } else { "client" }),
                KeyValue::int64("http.status_code", [200, 200, 200, 404, 500][random.below(5) as usize]),
                KeyValue::string("user.id", format!("user-{}", random.below(1_000))),
            ];
            if random.below(100) == 0 {
                tags.push(KeyValue::bool("error", true));
            }
            let references = if index == 0 {
                vec![]
            } else {
                vec![spoor_model::SpanRef::child_of(trace_id, SpanId(trace * 1_000 + random.below(index) + 1))]
            };
            Span {
                trace_id,
                span_id: SpanId(trace * 1_000 + index + 1),
                operation_name: format!("op-{}", random.below(OPERATIONS)),
                references,
                flags: 1,
                start_time_unix_nano: start + index * 1_000_000 + random.below(1_000),
                duration_nanos: 1_000_000 + random.below(500_000_000),
                tags,
                logs: vec![],
                process: processes[service].clone(),
                warnings: vec![],
                scope_attributes: Vec::new(),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut latencies: Vec<Duration>, detail: &str) {
    latencies.sort_unstable();
    println!(
        "{name:<34} n={:<5} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms  {detail}",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let options = options();
    let prefix = format!("spoor-bench-{}", now_nanos() % 1_000_000_000);
    let mut target = EsTarget::new(vec![options.url.clone()]);
    target.index_prefix = prefix.clone();
    target.shards = options.shards;
    target.replicas = 0;
    target.bulk.workers = options.writers.max(1);
    let store = Arc::new(ElasticsearchStore::connect("bench", target, None).await.expect("connect"));
    let ns = Namespace::default();
    let processes: Vec<Arc<Process>> = (0..SERVICES)
        .map(|service| {
            Arc::new(Process {
                service_name: format!("service-{service}"),
                tags: vec![KeyValue::string("hostname", format!("node-{service}"))],
            })
        })
        .collect();

    // Load: traces spread over the last hour, `writers` concurrent writes of ~1,000 spans.
    let traces = options.spans.div_ceil(options.spans_per_trace);
    let now = now_nanos();
    let first_start = now - HOUR_NANOS;
    let start_of = move |trace: u64| first_start + trace * (HOUR_NANOS / traces.max(1));
    let traces_per_batch = (1_000 / options.spans_per_trace).max(1);
    let started = Instant::now();
    let next_trace = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..options.writers.max(1) {
        let store = store.clone();
        let ns = ns.clone();
        let processes = processes.clone();
        let next_trace = next_trace.clone();
        let spans_per_trace = options.spans_per_trace;
        writers.push(tokio::spawn(async move {
            loop {
                let first = next_trace.fetch_add(traces_per_batch, std::sync::atomic::Ordering::Relaxed);
                if first >= traces {
                    return;
                }
                let spans: Vec<Span> = (first..(first + traces_per_batch).min(traces))
                    .flat_map(|trace| trace_spans(trace, spans_per_trace, start_of(trace), &processes))
                    .collect();
                store.write(&ns, SpanBatch::new(spans)).await.expect("write");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let load = started.elapsed();
    let loaded = traces * options.spans_per_trace;
    println!(
        "loaded {loaded} spans ({traces} traces) in {:.1} s: {:.0} spans/s",
        load.as_secs_f64(),
        loaded as f64 / load.as_secs_f64()
    );
    let refresh_started = Instant::now();
    // Reads below must see everything: wait until the last trace is searchable.
    let last = trace_spans(traces - 1, options.spans_per_trace, start_of(traces - 1), &processes);
    while store.get_trace(&ns, GetTraceRequest::new(last[0].trace_id)).await.expect("get").is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("searchable after {:.1} s more", refresh_started.elapsed().as_secs_f64());

    let mut random = Random(0x5eed);
    let mut latencies = Vec::new();
    let mut spans_read = 0;
    for _ in 0..options.queries {
        let trace = random.below(traces);
        let trace_id = trace_spans(trace, options.spans_per_trace, start_of(trace), &processes)[0].trace_id;
        let begun = Instant::now();
        let found = store.get_trace(&ns, GetTraceRequest::new(trace_id)).await.expect("get").expect("found");
        latencies.push(begun.elapsed());
        spans_read += found.spans.len();
    }
    report("get_trace (max_span_age)", latencies, &format!("{} spans/trace", spans_read / options.queries.max(1)));

    let mut latencies = Vec::new();
    for _ in 0..options.queries {
        let trace = random.below(traces);
        let trace_id = trace_spans(trace, options.spans_per_trace, start_of(trace), &processes)[0].trace_id;
        let mut request = GetTraceRequest::new(trace_id);
        request.start_time_min_unix_nano = Some(start_of(trace).saturating_sub(HOUR_NANOS / 60));
        request.start_time_max_unix_nano = Some(start_of(trace) + HOUR_NANOS / 60);
        let begun = Instant::now();
        store.get_trace(&ns, request).await.expect("get").expect("found");
        latencies.push(begun.elapsed());
    }
    report("get_trace (±1 min window)", latencies, "");

    let search = |random: &mut Random, with_tag: bool| {
        let mut query = TraceQuery {
            service_name: Some(format!("service-{}", random.below(SERVICES))),
            start_time_min_unix_nano: now - HOUR_NANOS,
            start_time_max_unix_nano: now,
            limit: 20,
            ..TraceQuery::default()
        };
        if with_tag {
            query.tags.insert("http.status_code".into(), "500".into());
        }
        query
    };
    for (name, with_tag) in [("find_trace_ids (service)", false), ("find_trace_ids (service + tag)", true)] {
        let mut latencies = Vec::new();
        let mut found = 0;
        for _ in 0..options.queries {
            let query = search(&mut random, with_tag);
            let begun = Instant::now();
            found += store.find_trace_ids(&ns, &query).await.expect("search").len();
            latencies.push(begun.elapsed());
        }
        report(name, latencies, &format!("{} ids/search, limit 20", found / options.queries.max(1)));
    }
    let mut latencies = Vec::new();
    let mut spans = 0;
    for _ in 0..options.queries {
        let query = search(&mut random, true);
        let begun = Instant::now();
        let traces = store.find_traces(&ns, &query).await.expect("search");
        latencies.push(begun.elapsed());
        spans += traces.iter().map(|trace| trace.spans.len()).sum::<usize>();
    }
    report("find_traces (service + tag)", latencies, &format!("{} spans/search", spans / options.queries.max(1)));
    let mut latencies = Vec::new();
    for _ in 0..(options.queries / 10).max(1) {
        let query = TraceQuery { service_name: None, ..search(&mut random, true) };
        let begun = Instant::now();
        store.find_trace_ids(&ns, &query).await.expect("search");
        latencies.push(begun.elapsed());
    }
    report("find_trace_ids (no service, tag)", latencies, "");
    if options.dependencies {
        let begun = Instant::now();
        let links = store
            .dependencies(
                &ns,
                &spoor_storage::DependencyQuery { end_time_unix_nano: now, lookback: Duration::from_secs(3_600) },
            )
            .await
            .expect("dependencies");
        report("dependencies from spans (1 h)", vec![begun.elapsed()], &format!("{} links", links.len()));
    }

    if options.keep {
        println!("kept indices {prefix}-jaeger-*");
    } else {
        store.purge().await.expect("purge");
    }
}
