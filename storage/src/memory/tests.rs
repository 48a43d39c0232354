use std::sync::Arc;

use spoor_model::{Namespace, SpanBatch, TraceId};

use super::MemoryStore;
use crate::api::{GetTraceRequest, SpanReader, SpanWriter};
use crate::conformance::{base_time, span};

crate::storage_conformance_tests!(|| async { Arc::new(MemoryStore::new()) });
crate::storage_purge_conformance_tests!(|| async { Arc::new(MemoryStore::new()) });

#[tokio::test]
async fn bounded_store_evicts_the_trace_written_first() {
    let store = MemoryStore::with_max_traces_per_namespace(2);
    let ns = Namespace::default();
    for id in 1..=3 {
        let batch = SpanBatch::new(vec![span(TraceId::new(0, id), 1, "frontend", "op", base_time(), 1)]);
        store.write(&ns, batch).await.unwrap();
    }
    assert!(store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 1))).await.unwrap().is_none());
    assert!(store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 2))).await.unwrap().is_some());
    assert!(store.get_trace(&ns, GetTraceRequest::new(TraceId::new(0, 3))).await.unwrap().is_some());
}

#[tokio::test]
async fn memory_store_reports_it_is_not_durable() {
    assert!(!MemoryStore::new().capabilities().durable);
}
