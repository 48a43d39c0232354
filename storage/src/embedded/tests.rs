use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spoor_model::{Namespace, SpanBatch, TraceId};
use tempfile::TempDir;

use super::partitions::DAY_NANOS;
use super::{Clock, EmbeddedConfig, EmbeddedStore, SyncPolicy};
use crate::api::{DependencyQuery, ErrorKind, GetTraceRequest, Purger, SpanReader, SpanWriter};
use crate::conformance::{base_time, child_of, query_for, span};

/// A store in a temporary directory that lives as long as the store.
struct TempStore {
    store: EmbeddedStore,
    _dir: TempDir,
}

impl Deref for TempStore {
    type Target = EmbeddedStore;
    fn deref(&self) -> &EmbeddedStore {
        &self.store
    }
}

async fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    TempStore { store, _dir: dir }
}

crate::storage_conformance_tests!(temp_store);
crate::storage_purge_conformance_tests!(temp_store);

/// A clock the test moves by hand.
fn manual_clock(start: u64) -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(start));
    let reader = now.clone();
    (now, Clock(Some(Arc::new(move || reader.load(Ordering::SeqCst)))))
}

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig { retention: Duration::from_secs(2 * 86_400), ..EmbeddedConfig::new(dir) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new("shop");
    let spans = vec![span(TraceId::new(0, 1), 1, "frontend", "GET /", base_time(), 10)];
    {
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        store.write(&ns, SpanBatch::new(spans.clone())).await.unwrap();
        store.close().unwrap();
    }
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let trace = store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 1))).await.unwrap().unwrap();
    assert_eq!(trace.spans, spans);
    assert_eq!(store.services(&ns).await.unwrap(), vec!["frontend".to_owned()], "the catalog is rebuilt on open");
    assert_eq!(store.find_trace_ids(&ns, &query_for("frontend")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_close_are_refused_as_unavailable() {
    let store = temp_store().await;
    store.close().unwrap();
    let batch = SpanBatch::new(vec![span(TraceId::new(0, 1), 1, "frontend", "GET /", base_time(), 10)]);
    let error = store.write(&Namespace::default(), batch).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_days_are_dropped_whole_and_recent_days_kept() {
    let dir = tempfile::tempdir().unwrap();
    let day_10 = 10 * DAY_NANOS + 3_600_000_000_000;
    let (now, clock) = manual_clock(day_10);
    let store = EmbeddedStore::open_with_clock(config(dir.path()), clock).unwrap();
    let ns = Namespace::new("shop");
    let old = span(TraceId::new(0, 1), 1, "frontend", "old", day_10, 10);
    store.write(&ns, SpanBatch::new(vec![old])).await.unwrap();
    now.store(11 * DAY_NANOS + 5, Ordering::SeqCst);
    let newer = span(TraceId::new(0, 2), 1, "cart", "new", 11 * DAY_NANOS + 5, 10);
    store.write(&ns, SpanBatch::new(vec![newer])).await.unwrap();

    // Day 10 ends at day 11; with two days of retention it is kept until the start of day 13.
    now.store(13 * DAY_NANOS - 1, Ordering::SeqCst);
    assert_eq!(store.apply_retention().unwrap(), 0);
    now.store(13 * DAY_NANOS, Ordering::SeqCst);
    assert_eq!(store.apply_retention().unwrap(), 1);

    assert!(store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 1))).await.unwrap().is_none());
    assert!(store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 2))).await.unwrap().is_some());
    assert_eq!(store.services(&ns).await.unwrap(), vec!["cart".to_owned()], "services of dropped days go too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_rewritten_on_another_day_is_returned_once() {
    let dir = tempfile::tempdir().unwrap();
    let (now, clock) = manual_clock(base_time());
    let store = EmbeddedStore::open_with_clock(EmbeddedConfig::new(dir.path()), clock).unwrap();
    let ns = Namespace::new("shop");
    let replayed = span(TraceId::new(0, 7), 1, "frontend", "GET /", base_time(), 10);
    store.write(&ns, SpanBatch::new(vec![replayed.clone()])).await.unwrap();
    now.fetch_add(DAY_NANOS, Ordering::SeqCst);
    store.write(&ns, SpanBatch::new(vec![replayed.clone()])).await.unwrap();

    let trace = store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 7))).await.unwrap().unwrap();
    assert_eq!(trace.spans, vec![replayed]);
    assert_eq!(store.find_trace_ids(&ns, &query_for("frontend")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_acknowledged_and_stored() {
    let store = Arc::new(temp_store().await);
    let ns = Namespace::new("shop");
    let mut writers = Vec::new();
    for writer in 0..8u64 {
        let store = store.clone();
        let ns = ns.clone();
        writers.push(tokio::spawn(async move {
            for batch in 0..10u64 {
                let trace_id = TraceId::new(writer + 1, batch + 1);
                let spans = (1..=20).map(|i| span(trace_id, i, "frontend", "op", base_time() + i, 10)).collect();
                store.write(&ns, SpanBatch::new(spans)).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    for writer in 0..8u64 {
        for batch in 0..10u64 {
            let trace = store.get_trace(&ns, GetTraceRequest::new(TraceId::new(writer + 1, batch + 1))).await.unwrap();
            assert_eq!(trace.map(|t| t.spans.len()), Some(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_trace_is_split_into_bounded_rows_and_returned_whole() {
    let store = temp_store().await;
    let ns = Namespace::new("shop");
    let trace_id = TraceId::new(0, 99);
    let t = base_time();
    let spans: Vec<_> = (1..=1_000).map(|i| span(trace_id, i, "frontend", "op", t + i * 1_000_000_000, 10)).collect();
    store.write(&ns, SpanBatch::new(spans)).await.unwrap();
    let trace = store.get_trace(&ns, GetTraceRequest::new(trace_id)).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 1_000);
    let found = store.find_trace_ids(&ns, &query_for("frontend")).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].start_time_max_unix_nano, t + 1_000 * 1_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_data_stays_gone_after_reopen_and_later_writes_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new("shop");
    let before = span(TraceId::new(0, 1), 1, "frontend", "GET /", base_time(), 10);
    let after = child_of(span(TraceId::new(0, 1), 2, "cart", "get", base_time() + 1, 5), 1);
    {
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        store.write(&ns, SpanBatch::new(vec![before])).await.unwrap();
        store.purge().await.unwrap();
        store.write(&ns, SpanBatch::new(vec![after.clone()])).await.unwrap();
        store.close().unwrap();
    }
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let trace = store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 1))).await.unwrap().unwrap();
    assert_eq!(trace.spans, vec![after]);
    assert_eq!(store.services(&ns).await.unwrap(), vec!["cart".to_owned()]);
    let window = DependencyQuery { end_time_unix_nano: base_time() + 1, lookback: Duration::from_secs(60) };
    assert!(store.dependencies(&ns, &window).await.unwrap().is_empty(), "the purged parent is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_refuses_to_purge_as_unavailable() {
    let store = temp_store().await;
    store.close().unwrap();
    assert_eq!(store.purge().await.unwrap_err().kind(), ErrorKind::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_survive_reopen_and_join_parents_written_on_another_day() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new("shop");
    let t = base_time();
    let (now, clock) = manual_clock(t);
    {
        let store = EmbeddedStore::open_with_clock(EmbeddedConfig::new(dir.path()), clock).unwrap();
        let child = child_of(span(TraceId::new(0, 3), 2, "cart", "get", t + 1, 5), 1);
        store.write(&ns, SpanBatch::new(vec![child])).await.unwrap();
        now.fetch_add(DAY_NANOS, Ordering::SeqCst);
        store.write(&ns, SpanBatch::new(vec![span(TraceId::new(0, 3), 1, "frontend", "GET /", t, 10)])).await.unwrap();
        store.close().unwrap();
    }
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let window = DependencyQuery { end_time_unix_nano: t + 1, lookback: Duration::from_secs(60) };
    let links = store.dependencies(&ns, &window).await.unwrap();
    let calls: Vec<(&str, &str, u64)> =
        links.iter().map(|link| (link.parent.as_str(), link.child.as_str(), link.call_count)).collect();
    assert_eq!(calls, vec![("frontend", "cart", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_read_parents_up_to_a_day_before_the_window() {
    let store = temp_store().await;
    let ns = Namespace::new("shop");
    let t = base_time();
    let hour = 3_600_000_000_000;
    for (trace, parent_lead, service) in [(1, 23 * hour, "recent-batch"), (2, 25 * hour, "old-batch")] {
        let parent = span(TraceId::new(0, trace), 1, service, "run", t - parent_lead, 10);
        store.write(&ns, SpanBatch::new(vec![parent])).await.unwrap();
        let child = child_of(span(TraceId::new(0, trace), 2, "db", "SELECT", t, 5), 1);
        store.write(&ns, SpanBatch::new(vec![child])).await.unwrap();
    }
    let window = DependencyQuery { end_time_unix_nano: t, lookback: Duration::from_secs(60) };
    let links = store.dependencies(&ns, &window).await.unwrap();
    let parents: Vec<&str> = links.iter().map(|link| link.parent.as_str()).collect();
    assert_eq!(parents, vec!["recent-batch"], "a parent more than DEPENDENCY_PARENT_LEAD early is not read");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_while_it_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    match EmbeddedStore::open(EmbeddedConfig::new(dir.path())) {
        Ok(_) => panic!("two stores opened one directory"),
        Err(error) => assert_eq!(error.kind(), ErrorKind::Unavailable),
    }
}

/// The child half of [`acknowledged_writes_survive_kill_9`]: writes batches forever and prints
/// each trace id once its write is acknowledged. Does nothing unless the parent started it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_writes_until_killed() {
    let Some(dir) = std::env::var_os("SPOOR_CRASH_CHILD_DIR") else { return };
    let store = EmbeddedStore::open(EmbeddedConfig::new(&dir)).unwrap();
    let ns = Namespace::new("crash");
    for trace in 1u64.. {
        let spans = (1..=50).map(|i| span(TraceId::new(0, trace), i, "frontend", "op", base_time(), 10)).collect();
        store.write(&ns, SpanBatch::new(spans)).await.unwrap();
        println!("acked {trace}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    assert_eq!(EmbeddedConfig::new("x").sync_policy, SyncPolicy::EveryBatch);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "embedded::tests::crash_child_writes_until_killed", "--nocapture", "--test-threads=1"])
        .env("SPOOR_CRASH_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_acked = 0u64;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(number) = line.strip_prefix("acked ") {
            last_acked = number.trim().parse().unwrap();
            if last_acked >= 40 {
                child.kill().unwrap(); // SIGKILL: no destructor, no flush
                break;
            }
        }
    }
    child.wait().unwrap();
    assert!(last_acked >= 40, "the child acknowledged {last_acked} writes");

    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let ns = Namespace::new("crash");
    for trace in 1..=last_acked {
        let found = store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, trace))).await.unwrap();
        assert_eq!(found.map(|t| t.spans.len()), Some(50), "acknowledged trace {trace} was lost");
    }
}
