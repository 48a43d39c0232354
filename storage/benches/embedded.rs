//! Embedded backend benchmarks: write throughput of ~640-byte Envoy-like spans in batches of 512
//! (four concurrent writers, so group commit shares each fdatasync), get-trace and search latency.
//!
//! `cargo bench -p spoor-storage --bench embedded`

#[path = "support/envoy.rs"]
mod envoy;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use spoor_model::{Namespace, TraceId};
use spoor_storage::{EmbeddedConfig, EmbeddedStore, GetTraceRequest, SpanReader, SpanWriter, SyncPolicy, TraceQuery};

const BATCH_SPANS: usize = 512;
const CONCURRENT_WRITERS: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn write_throughput(c: &mut Criterion) {
    let runtime = runtime();
    let ns = Namespace::new("shop");
    let mut group = c.benchmark_group("embedded_write");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements((BATCH_SPANS * CONCURRENT_WRITERS) as u64));
    for (sync_policy, spans_per_trace) in
        [(SyncPolicy::EveryBatch, 1), (SyncPolicy::EveryBatch, 2), (SyncPolicy::EveryBatch, 8), (SyncPolicy::Never, 2)]
    {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(
            EmbeddedStore::open(EmbeddedConfig { sync_policy, ..EmbeddedConfig::new(dir.path()) }).expect("open"),
        );
        let mut generator = envoy::Generator::new(1);
        let id = BenchmarkId::new(format!("{sync_policy:?}"), format!("{spans_per_trace}_spans_per_trace"));
        group.bench_function(id, |bench| {
            bench.iter_batched(
                || {
                    (0..CONCURRENT_WRITERS)
                        .map(|_| generator.batch(BATCH_SPANS, spans_per_trace, envoy::now_nanos()).0)
                        .collect::<Vec<_>>()
                },
                |batches| {
                    runtime.block_on(async {
                        let writes = batches.into_iter().map(|batch| {
                            let store = store.clone();
                            let ns = ns.clone();
                            tokio::spawn(async move { store.write(&ns, batch).await })
                        });
                        for result in futures::future::join_all(writes).await {
                            result.expect("task").expect("write");
                        }
                    })
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// A store preloaded with 200k spans over the last hour, and the trace ids written.
fn preloaded(runtime: &tokio::runtime::Runtime, dir: &std::path::Path) -> (EmbeddedStore, Vec<TraceId>) {
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir)).expect("open");
    let ns = Namespace::new("shop");
    let mut generator = envoy::Generator::new(2);
    let hour = 3_600_000_000_000u64;
    let start = envoy::now_nanos() - hour;
    let batches = 400u64;
    let mut trace_ids = Vec::new();
    runtime.block_on(async {
        for index in 0..batches {
            let (batch, traces) = generator.batch(BATCH_SPANS, 2, start + hour * index / batches);
            trace_ids.extend(traces);
            store.write(&ns, batch).await.expect("write");
        }
    });
    (store, trace_ids)
}

fn read_latency(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, trace_ids) = preloaded(&runtime, dir.path());
    let ns = Namespace::new("shop");
    let mut group = c.benchmark_group("embedded_read_200k_spans");

    let mut generator = envoy::Generator::new(3);
    group.bench_function("get_trace", |bench| {
        bench.iter(|| {
            let trace_id = trace_ids[(generator.random() % trace_ids.len() as u64) as usize];
            let trace = runtime.block_on(store.get_trace(&ns, GetTraceRequest::new(trace_id))).expect("get");
            black_box(trace)
        })
    });

    let now = envoy::now_nanos();
    let last_hour = TraceQuery {
        service_name: Some("service-03".into()),
        start_time_min_unix_nano: now - 3_660_000_000_000,
        start_time_max_unix_nano: now,
        limit: 20,
        ..TraceQuery::default()
    };
    let with_status =
        TraceQuery { tags: BTreeMap::from([("http.status_code".to_owned(), "503".to_owned())]), ..last_hour.clone() };
    let matching_nothing =
        TraceQuery { tags: BTreeMap::from([("guid:x-request-id".to_owned(), "none".to_owned())]), ..last_hour.clone() };
    for (name, query) in [
        ("search_service", &last_hour),
        ("search_service_tag_2_percent", &with_status),
        ("search_service_tag_matching_nothing", &matching_nothing),
    ] {
        group.bench_function(name, |bench| {
            bench.iter(|| black_box(runtime.block_on(store.find_trace_ids(&ns, query)).expect("search")))
        });
    }
    group.finish();
}

criterion_group!(benches, write_throughput, read_latency);
criterion_main!(benches);
