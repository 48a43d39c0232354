//! Loads Envoy-like spans into an embedded store and prints the ingest rate and get-trace /
//! search / dependency latencies (the figures in BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p spoor-storage --example embedded_load -- \
//!     [--spans 1000000] [--spans-per-trace 2] [--writers 4] [--batch 512] \
//!     [--sync every_batch|os_buffer|never] [--dir PATH] [--ingest-only true]
//! ```

#[path = "../benches/support/envoy.rs"]
mod envoy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_model::{Namespace, TraceId};
use spoor_storage::{
    DependencyQuery, EmbeddedConfig, EmbeddedStore, GetTraceRequest, SpanReader, SpanWriter, SyncPolicy, TraceQuery,
};

struct Options {
    spans: usize,
    spans_per_trace: usize,
    writers: usize,
    batch: usize,
    sync: SyncPolicy,
    dir: Option<PathBuf>,
    ingest_only: bool,
}

fn options() -> Options {
    let mut options = Options {
        spans: 1_000_000,
        spans_per_trace: 2,
        writers: 4,
        batch: 512,
        sync: SyncPolicy::EveryBatch,
        dir: None,
        ingest_only: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--spans" => options.spans = value.parse().expect("--spans takes a number"),
            "--spans-per-trace" => options.spans_per_trace = value.parse().expect("--spans-per-trace takes a number"),
            "--writers" => options.writers = value.parse().expect("--writers takes a number"),
            "--batch" => options.batch = value.parse().expect("--batch takes a number"),
            "--sync" => {
                options.sync = match value {
                    "every_batch" => SyncPolicy::EveryBatch,
                    "os_buffer" => SyncPolicy::OsBuffer,
                    "never" => SyncPolicy::Never,
                    other => panic!("unknown sync policy {other}"),
                }
            }
            "--dir" => options.dir = Some(PathBuf::from(value)),
            "--ingest-only" => options.ingest_only = value == "true",
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = options.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    runtime.block_on(run(&options, &dir));
}

async fn run(options: &Options, dir: &Path) {
    let config = EmbeddedConfig { sync_policy: options.sync, ..EmbeddedConfig::new(dir) };
    let store = Arc::new(EmbeddedStore::open(config).expect("open store"));
    let ns = Namespace::new("shop");

    // Spans spread over the last hour, generated before timing.
    let batch_count = options.spans.div_ceil(options.batch);
    let hour = 3_600_000_000_000u64;
    let start = envoy::now_nanos() - hour;
    let mut generator = envoy::Generator::new(42);
    let mut batches = Vec::with_capacity(batch_count);
    let mut trace_ids: Vec<TraceId> = Vec::new();
    for index in 0..batch_count {
        let at = start + hour * index as u64 / batch_count as u64;
        let (batch, traces) = generator.batch(options.batch, options.spans_per_trace, at);
        trace_ids.extend(traces);
        batches.push(batch);
    }
    let total_spans: usize = batches.iter().map(|b| b.len()).sum();
    println!(
        "loading {total_spans} spans ({} per trace per batch, batches of {}, {} writers, sync {:?}) into {}",
        options.spans_per_trace,
        options.batch,
        options.writers,
        options.sync,
        dir.display()
    );

    let queue = Arc::new(parking_lot::Mutex::new(batches));
    let cpu_before = thread_cpu();
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.writers {
        let queue = queue.clone();
        let store = store.clone();
        let ns = ns.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().pop() else { break };
                store.write(&ns, batch).await.expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let elapsed = began.elapsed();
    println!(
        "ingest: {total_spans} spans in {:.2} s = {:.0} spans/s; {:.1} MiB on disk ({:.0} B/span)",
        elapsed.as_secs_f64(),
        total_spans as f64 / elapsed.as_secs_f64(),
        dir_size(dir) as f64 / 1_048_576.0,
        dir_size(dir) as f64 / total_spans as f64,
    );

    let cpu_after = thread_cpu();
    let mut by_thread: BTreeMap<String, f64> = BTreeMap::new();
    for (thread, seconds) in &cpu_after {
        *by_thread.entry(thread.clone()).or_default() += seconds;
    }
    for (thread, seconds) in &cpu_before {
        *by_thread.entry(thread.clone()).or_default() -= seconds;
    }
    let total_cpu: f64 = by_thread.values().sum();
    let breakdown: Vec<String> = by_thread.iter().map(|(name, s)| format!("{name} {s:.2} s")).collect();
    println!(
        "ingest cpu: {total_cpu:.2} s = {:.1} us/span ({})",
        total_cpu * 1e6 / total_spans as f64,
        breakdown.join(", ")
    );
    if options.ingest_only {
        return;
    }
    let mut generator = envoy::Generator::new(7);
    let mut sample = |count: usize| -> Vec<TraceId> {
        (0..count).map(|_| trace_ids[(generator.random() % trace_ids.len() as u64) as usize]).collect()
    };
    let mut latencies = Vec::new();
    let mut span_total = 0;
    for trace_id in sample(2_000) {
        let began = Instant::now();
        let trace = store.get_trace(&ns, GetTraceRequest::new(trace_id)).await.expect("get trace");
        latencies.push(began.elapsed());
        span_total += trace.map(|t| t.spans.len()).unwrap_or(0);
    }
    report("get_trace (2000 random ids)", &mut latencies);
    println!("  {:.1} spans per trace on average", span_total as f64 / 2_000.0);

    let now = envoy::now_nanos();
    let last_hour = |service: Option<&str>| TraceQuery {
        service_name: service.map(str::to_owned),
        start_time_min_unix_nano: now - hour - 60_000_000_000,
        start_time_max_unix_nano: now,
        limit: 20,
        ..TraceQuery::default()
    };
    let tags = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>()
    };
    let searches: Vec<(&str, TraceQuery)> = vec![
        ("service, limit 20", last_hour(Some("service-03"))),
        (
            "service + operation, limit 20",
            TraceQuery {
                operation_name: Some("service-04.shop.svc.cluster.local:8080/api/op-5".into()),
                ..last_hour(Some("service-03"))
            },
        ),
        (
            "service + http.status_code=503 (2%), limit 20",
            TraceQuery { tags: tags(&[("http.status_code", "503")]), ..last_hour(Some("service-03")) },
        ),
        (
            "service + duration >= 49 ms (2%), limit 20",
            TraceQuery { duration_min_nanos: Some(49_000_000), ..last_hour(Some("service-03")) },
        ),
        (
            "service + tag matching nothing (full scan of the service), limit 20",
            TraceQuery { tags: tags(&[("guid:x-request-id", "no-such-id")]), ..last_hour(Some("service-03")) },
        ),
        (
            "no service + http.status_code=503, limit 20",
            TraceQuery { tags: tags(&[("http.status_code", "503")]), ..last_hour(None) },
        ),
        (
            "service, limit 20, 10-minute window an hour ago",
            TraceQuery {
                start_time_min_unix_nano: now - hour,
                start_time_max_unix_nano: now - hour + 600_000_000_000,
                ..last_hour(Some("service-03"))
            },
        ),
    ];
    for (name, query) in &searches {
        let mut latencies = Vec::new();
        let mut found = 0;
        for _ in 0..50 {
            let began = Instant::now();
            found = store.find_trace_ids(&ns, query).await.expect("search").len();
            latencies.push(began.elapsed());
        }
        report(&format!("find_trace_ids: {name} -> {found} traces"), &mut latencies);
    }
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let began = Instant::now();
        store.find_traces(&ns, &searches[0].1).await.expect("find traces");
        latencies.push(began.elapsed());
    }
    report("find_traces (ids + 20 whole traces): service, limit 20", &mut latencies);

    for (name, lookback) in [("last 24 h", 24 * 3600), ("last 10 min", 600)] {
        let query = DependencyQuery { end_time_unix_nano: now, lookback: Duration::from_secs(lookback) };
        let mut latencies = Vec::new();
        let mut links = Vec::new();
        for _ in 0..5 {
            let began = Instant::now();
            links = store.dependencies(&ns, &query).await.expect("dependencies");
            latencies.push(began.elapsed());
        }
        let calls: u64 = links.iter().map(|link| link.call_count).sum();
        report(&format!("dependencies ({name}) -> {} links, {calls} calls", links.len()), &mut latencies);
    }

    let store = Arc::try_unwrap(store).ok().expect("no other owner");
    let began = Instant::now();
    store.close().expect("close");
    println!("close: {:.0} ms", began.elapsed().as_secs_f64() * 1000.0);
}

fn report(name: &str, latencies: &mut [Duration]) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        at(1.0).as_secs_f64() * 1000.0
    );
}

/// CPU seconds (user + system) of each live thread of this process, by thread name (Linux).
fn thread_cpu() -> Vec<(String, f64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some((name.to_owned(), ticks / 100.0))
        })
        .collect()
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
