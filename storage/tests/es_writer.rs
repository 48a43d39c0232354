//! The Elasticsearch/OpenSearch writer against real servers (`tests/infra/elasticsearch start`,
//! `tests/infra/opensearch start`; URLs from `ES_URL` and `OPENSEARCH_URL`). Every test uses its own
//! index prefix, so they run in parallel and can be rerun. Run with
//! `cargo test -p spoor-storage --test es_writer -- --include-ignored`.
//!
//! Documents written are compared with `tests/golden/elasticsearch/common/bulk_request.ndjson`
//! (the same file the unit test of the bulk body checks), read back raw with `_search`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde_json::Value;
use spoor_model::{
    KeyValue, Log, Namespace, Process, Span, SpanBatch, SpanId, SpanRef, TraceId, FLAG_DEBUG, FLAG_SAMPLED,
};
use spoor_storage::elasticsearch::client::EsClient;
use spoor_storage::elasticsearch::lifecycle::{self, CleanerOptions, RolloverOptions};
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::{Purger, SpanWriter};

fn es_url() -> String {
    std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into())
}

fn opensearch_url() -> String {
    std::env::var("OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".into())
}

/// A prefix no other test (or earlier run) uses.
fn unique_prefix(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("spoor-w-{tag}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn target(url: &str, prefix: &str) -> EsTarget {
    let mut target = EsTarget::new(vec![url.to_owned()]);
    target.index_prefix = prefix.to_owned();
    target.shards = 1;
    target.replicas = 0;
    target
}

/// The batch of the golden file: two spans of one trace on 2024-05-31 (one repeated), every
/// field kind (same as the unit test in `writer.rs`).
fn golden_batch() -> SpanBatch {
    let trace_id = TraceId::new(0x0af7651916cd43dd, 0x8448eb211c80319c);
    let start = 1_717_199_999_000_123_456;
    let process = Arc::new(Process {
        service_name: "checkout".into(),
        tags: vec![KeyValue::string("hostname", "node-1"), KeyValue::int64("pid", 42)],
    });
    let server = Span {
        trace_id,
        span_id: SpanId(0xb7ad6b7169203331),
        operation_name: "POST /pay".into(),
        references: vec![
            SpanRef::child_of(trace_id, SpanId(1)),
            SpanRef::follows_from(TraceId::new(0, 99), SpanId(u64::MAX)),
        ],
        flags: FLAG_SAMPLED | FLAG_DEBUG,
        start_time_unix_nano: start,
        duration_nanos: 987_654_321,
        tags: vec![
            KeyValue::string("span.kind", "server"),
            KeyValue::bool("error", true),
            KeyValue::int64("http.status_code", -500),
            KeyValue::float64("ratio", 0.25),
            KeyValue::binary("blob", vec![0, 1, 255]),
            KeyValue::string("unicode", "grüße ✓ \"quoted\""),
        ],
        logs: vec![Log { timestamp_unix_nano: start + 5, fields: vec![KeyValue::string("event", "retry")] }],
        process,
        warnings: vec!["clock skew adjusted".into()],
        scope_attributes: Vec::new(),
    };
    let internal = Span {
        span_id: SpanId(0x00f067aa0ba902b7),
        operation_name: "charge".into(),
        references: vec![SpanRef::child_of(trace_id, server.span_id)],
        flags: FLAG_SAMPLED,
        start_time_unix_nano: start + 1_000_000,
        duration_nanos: 1_000,
        tags: vec![],
        logs: vec![],
        warnings: vec![],
        ..server.clone()
    };
    SpanBatch::new(vec![server, internal.clone(), internal])
}

/// (index without prefix, _id, _source) of each document of the golden bulk body, de-duplicated.
fn golden_documents(prefix: &str) -> Vec<(String, String, Value)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/elasticsearch/common/bulk_request.ndjson");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut documents: Vec<(String, String, Value)> = lines
        .chunks(2)
        .map(|pair| {
            let action: Value = serde_json::from_str(pair[0]).unwrap();
            let index = action["index"]["_index"].as_str().unwrap().replacen("test-", &format!("{prefix}-"), 1);
            (index, action["index"]["_id"].as_str().unwrap().to_owned(), serde_json::from_str(pair[1]).unwrap())
        })
        .collect();
    documents.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    documents.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    documents
}

async fn raw(client: &EsClient, method: http::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|body| serde_json::to_vec(&body).unwrap());
    let (status, bytes) = client.send(method, path, body).await.expect("request succeeds");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Deletes what a test left in the shared server: its indices (through the store's purge) and
/// its templates.
async fn clean_up(store: &ElasticsearchStore) {
    store.purge().await.expect("purge");
    let client = EsClient::connect(store.target()).await.expect("client");
    lifecycle::delete_templates(&client, store.target()).await.expect("templates deleted");
}

async fn refresh(client: &EsClient, prefix: &str) {
    raw(client, http::Method::POST, &format!("/{prefix}-*/_refresh?ignore_unavailable=true"), None).await;
}

/// (index, _id, _source) of every document of `pattern`, sorted.
async fn stored_documents(client: &EsClient, pattern: &str) -> Vec<(String, String, Value)> {
    let (status, answer) = raw(
        client,
        http::Method::POST,
        &format!("/{pattern}/_search?ignore_unavailable=true"),
        Some(serde_json::json!({ "size": 1000, "query": { "match_all": {} } })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mut documents: Vec<(String, String, Value)> = answer["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            (
                hit["_index"].as_str().unwrap().to_owned(),
                hit["_id"].as_str().unwrap().to_owned(),
                hit["_source"].clone(),
            )
        })
        .collect();
    documents.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    documents
}

async fn writes_jaegers_documents(url: &str, tag: &str) {
    let prefix = unique_prefix(tag);
    let store = ElasticsearchStore::connect("writer-test", target(url, &prefix), None).await.expect("connects");
    let client = EsClient::connect(&target(url, &prefix)).await.unwrap();
    let ns = Namespace::default_namespace();
    store.write(&ns, golden_batch()).await.expect("write succeeds");
    refresh(&client, &prefix).await;
    let stored = stored_documents(&client, &format!("{prefix}-jaeger-*")).await;
    assert_eq!(stored, golden_documents(&prefix));

    // The index was created from Spoor's template.
    let (_, mapping) =
        raw(&client, http::Method::GET, &format!("/{prefix}-jaeger-span-2024-05-31/_mapping"), None).await;
    let properties = &mapping[format!("{prefix}-jaeger-span-2024-05-31")]["mappings"]["properties"];
    assert_eq!(properties["startTimeMillis"]["type"], "date", "{mapping}");
    assert_eq!(properties["tags"]["type"], "nested");
    assert_eq!(properties["startTimeNanos"]["type"], "long");
    clean_up(&store).await;
}

#[tokio::test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
async fn writes_jaegers_documents_to_elasticsearch() {
    writes_jaegers_documents(&es_url(), "es").await;
}

#[tokio::test]
#[ignore = "needs OpenSearch (tests/infra/opensearch)"]
async fn writes_jaegers_documents_to_opensearch() {
    writes_jaegers_documents(&opensearch_url(), "os").await;
}

async fn replaying_a_batch_keeps_one_copy(url: &str, tag: &str) {
    let prefix = unique_prefix(tag);
    let store = ElasticsearchStore::connect("replay", target(url, &prefix), None).await.unwrap();
    let client = EsClient::connect(&target(url, &prefix)).await.unwrap();
    let ns = Namespace::default_namespace();
    store.write(&ns, golden_batch()).await.unwrap();
    // A second store (a restarted ingester replaying its uncommitted offsets) has an empty cache.
    let replay = ElasticsearchStore::connect("replay", target(url, &prefix), None).await.unwrap();
    replay.write(&ns, golden_batch()).await.unwrap();
    store.write(&ns, golden_batch()).await.unwrap();
    refresh(&client, &prefix).await;
    assert_eq!(stored_documents(&client, &format!("{prefix}-jaeger-span-*")).await.len(), 2);
    assert_eq!(stored_documents(&client, &format!("{prefix}-jaeger-service-*")).await.len(), 2);
    clean_up(&store).await;
}

#[tokio::test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
async fn replaying_a_batch_keeps_one_copy_in_elasticsearch() {
    replaying_a_batch_keeps_one_copy(&es_url(), "es").await;
}

#[tokio::test]
#[ignore = "needs OpenSearch (tests/infra/opensearch)"]
async fn replaying_a_batch_keeps_one_copy_in_opensearch() {
    replaying_a_batch_keeps_one_copy(&opensearch_url(), "os").await;
}

/// A span of the golden trace with another operation name and flags.
fn span_named(operation: &str, span_id: u64, flags: u32) -> Span {
    let mut span = golden_batch().spans.remove(1);
    span.operation_name = operation.to_owned();
    span.span_id = SpanId(span_id);
    span.flags = flags;
    span
}

async fn rejected_documents_are_dead_lettered(url: &str, tag: &str) {
    let prefix = unique_prefix(tag);
    let client = EsClient::connect(&target(url, &prefix)).await.unwrap();
    let mut registry = Registry::default();
    let store = ElasticsearchStore::connect("dead-letter", target(url, &prefix), Some(&mut registry)).await.unwrap();
    // The day's span index maps `flags` as a boolean: a span with flags 1 is rejected, spans with
    // flags 0 (no `flags` field) are stored.
    let index = format!("{prefix}-jaeger-span-2024-05-31");
    let (status, answer) = raw(
        &client,
        http::Method::PUT,
        &format!("/{index}"),
        Some(serde_json::json!({ "mappings": { "properties": { "flags": { "type": "boolean" } } } })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let ns = Namespace::default_namespace();
    let batch =
        SpanBatch::new(vec![span_named("kept-1", 1, 0), span_named("rejected", 2, 1), span_named("kept-2", 3, 0)]);
    store.write(&ns, batch).await.expect("the write succeeds: the rejected span is dead-lettered");
    refresh(&client, &prefix).await;
    let stored = stored_documents(&client, &index).await;
    let operations: Vec<&str> = stored.iter().map(|(_, _, source)| source["operationName"].as_str().unwrap()).collect();
    assert_eq!(operations.len(), 2);
    assert!(operations.contains(&"kept-1") && operations.contains(&"kept-2"));

    let dead = stored_documents(&client, &format!("{prefix}-spoor-dead-letter")).await;
    assert_eq!(dead.len(), 1);
    let (_, id, letter) = &dead[0];
    assert!(id.starts_with("0af7651916cd43dd8448eb211c80319c_0000000000000002_"), "{id}");
    assert_eq!(letter["index"], index.as_str());
    assert_eq!(letter["status"], 400);
    assert!(letter["errorType"].as_str().unwrap().contains("exception"), "{letter}");
    let document: Value = serde_json::from_str(letter["document"].as_str().unwrap()).unwrap();
    assert_eq!(document["operationName"], "rejected");

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(text.contains("spoor_es_bulk_items_dead_lettered_total{namespace=\"dead-letter\"} 1"), "{text}");
    assert!(text.contains("jaeger_bulk_index_errors_total{namespace=\"dead-letter\"} 1"), "{text}");
    clean_up(&store).await;
}

#[tokio::test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
async fn rejected_documents_are_dead_lettered_in_elasticsearch() {
    rejected_documents_are_dead_lettered(&es_url(), "es").await;
}

#[tokio::test]
#[ignore = "needs OpenSearch (tests/infra/opensearch)"]
async fn rejected_documents_are_dead_lettered_in_opensearch() {
    rejected_documents_are_dead_lettered(&opensearch_url(), "os").await;
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn unreachable_cluster_is_a_retryable_error() {
    let url = closed_port_url();
    let error = ElasticsearchStore::connect("down", target(&url, "down"), None).await.unwrap_err();
    assert!(error.kind().is_retryable(), "{error}");

    // With the version configured and no templates, the store starts; writes then fail retryably.
    let mut configured = target(&url, "down");
    configured.version = Some(9);
    configured.create_index_templates = false;
    configured.bulk.max_retries = 2;
    configured.bulk.retry_initial_backoff = Duration::from_millis(10);
    let store = ElasticsearchStore::connect("down", configured, None).await.expect("starts without the cluster");
    let error = store.write(&Namespace::default_namespace(), golden_batch()).await.unwrap_err();
    assert!(error.kind().is_retryable(), "{error}");
    assert!(error.to_string().contains(&url), "{error}");
}

#[tokio::test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
async fn purge_deletes_only_this_prefix() {
    let ns = Namespace::default_namespace();
    let mine = unique_prefix("purge-a");
    let other = unique_prefix("purge-b");
    let store = ElasticsearchStore::connect("a", target(&es_url(), &mine), None).await.unwrap();
    let neighbour = ElasticsearchStore::connect("b", target(&es_url(), &other), None).await.unwrap();
    store.write(&ns, golden_batch()).await.unwrap();
    neighbour.write(&ns, golden_batch()).await.unwrap();
    store.purge().await.unwrap();
    let client = EsClient::connect(&target(&es_url(), &mine)).await.unwrap();
    refresh(&client, &other).await;
    assert!(stored_documents(&client, &format!("{mine}-jaeger-*")).await.is_empty());
    assert_eq!(stored_documents(&client, &format!("{other}-jaeger-*")).await.len(), 4);
    // After a purge the service documents are written again.
    store.write(&ns, golden_batch()).await.unwrap();
    refresh(&client, &mine).await;
    assert_eq!(stored_documents(&client, &format!("{mine}-jaeger-service-*")).await.len(), 2);
    clean_up(&store).await;
    clean_up(&neighbour).await;
}

async fn rollover_init_then_aliased_writes(url: &str, tag: &str) {
    let prefix = unique_prefix(tag);
    let mut aliased = target(url, &prefix);
    aliased.use_aliases = true;
    let client = EsClient::connect(&aliased).await.unwrap();
    lifecycle::rollover_init(&client, &aliased, &RolloverOptions::default()).await.expect("init");
    // Idempotent.
    lifecycle::rollover_init(&client, &aliased, &RolloverOptions::default()).await.expect("init again");
    let store = ElasticsearchStore::connect("aliases", aliased.clone(), None).await.unwrap();
    store.write(&Namespace::default_namespace(), golden_batch()).await.unwrap();
    refresh(&client, &prefix).await;
    let stored = stored_documents(&client, &format!("{prefix}-jaeger-span-read")).await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|(index, ..)| index == &format!("{prefix}-jaeger-span-000001")));

    lifecycle::rollover(&client, &prefix, &serde_json::json!({ "max_docs": 1 }), &RolloverOptions::default())
        .await
        .unwrap();
    let indices = lifecycle::list_jaeger_indices(&client, &prefix).await.unwrap();
    let second =
        indices.iter().find(|index| index.name == format!("{prefix}-jaeger-span-000002")).expect("rolled over");
    assert!(second.aliases.contains(&format!("{prefix}-jaeger-span-read")));
    assert!(second.aliases.contains(&format!("{prefix}-jaeger-span-write")));

    // The cleaner keeps the write index and deletes (here: lists, dry run) the rolled-over one.
    let tomorrow = SystemTime::now() + Duration::from_secs(2 * 86_400);
    let options = CleanerOptions { rollover: true, dry_run: true, ..CleanerOptions::default() };
    let doomed = lifecycle::clean_indices(&client, &prefix, 0, tomorrow, &options).await.unwrap();
    assert!(doomed.contains(&format!("{prefix}-jaeger-span-000001")), "{doomed:?}");
    assert!(!doomed.contains(&format!("{prefix}-jaeger-span-000002")), "{doomed:?}");
    clean_up(&store).await;
}

#[tokio::test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
async fn rollover_init_then_aliased_writes_in_elasticsearch() {
    rollover_init_then_aliased_writes(&es_url(), "es").await;
}

#[tokio::test]
#[ignore = "needs OpenSearch (tests/infra/opensearch)"]
async fn rollover_init_then_aliased_writes_in_opensearch() {
    rollover_init_then_aliased_writes(&opensearch_url(), "os").await;
}

/// A tiny HTTP/1.1 server standing in for Elasticsearch: it accepts requests whose
/// `Authorization` header equals the current expected value (401 otherwise) and acknowledges
/// every bulk item.
mod fake_cluster {
    use std::sync::Arc;

    use parking_lot::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    pub struct FakeCluster {
        pub url: String,
        pub accepted_authorization: Arc<Mutex<String>>,
    }

    pub async fn start(authorization: &str) -> FakeCluster {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(authorization.to_owned()));
        let shared = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let accepted = shared.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut length = 0usize;
                        let mut authorization = String::new();
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).await.unwrap();
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap_or((header, ""));
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap(),
                                "authorization" => authorization = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).await.unwrap();
                        let (status, answer) = if authorization != *accepted.lock() {
                            ("401 Unauthorized", r#"{"error":{"type":"security_exception","reason":"unable to authenticate user"},"status":401}"#.to_owned())
                        } else if request_line.contains("/_bulk") {
                            let documents =
                                body.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).count() / 2;
                            let items = vec![r#"{"index":{"status":201}}"#; documents].join(",");
                            ("200 OK", format!(r#"{{"took":1,"errors":false,"items":[{items}]}}"#))
                        } else {
                            ("200 OK", r#"{"acknowledged":true}"#.to_owned())
                        };
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if write.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeCluster { url, accepted_authorization: accepted }
    }
}

#[tokio::test]
async fn a_changed_password_file_is_picked_up_and_never_logged() {
    const FIRST: &str = "Basic ZWxhc3RpYzpmaXJzdA=="; // elastic:first
    const SECOND: &str = "Basic ZWxhc3RpYzpzZWNvbmQ="; // elastic:second
    let cluster = fake_cluster::start(FIRST).await;
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    std::fs::write(&password_file, "first\n").unwrap();
    let mut configured = target(&cluster.url, "auth");
    configured.version = Some(9);
    configured.create_index_templates = false;
    configured.http_compression = false;
    configured.username = Some("elastic".into());
    configured.password_file = Some(password_file.clone());
    configured.secret_reload_interval = Duration::from_millis(50);
    let store = ElasticsearchStore::connect("auth", configured, None).await.unwrap();
    let ns = Namespace::default_namespace();
    store.write(&ns, golden_batch()).await.expect("accepted with the first password");

    // The cluster's password changes before the file does: a clear, retryable error.
    *cluster.accepted_authorization.lock() = SECOND.to_owned();
    let error = store.write(&ns, golden_batch()).await.unwrap_err();
    let message = error.to_string();
    assert!(error.kind().is_retryable(), "{message}");
    assert!(message.contains("authentication failed") && message.contains(&cluster.url), "{message}");
    assert!(!message.contains("first") && !message.contains("ZWxhc3Rp"), "{message}");
    assert!(!format!("{store:?}").contains("first"));

    // The new password lands in the file: the client is rebuilt within the reload interval.
    std::fs::write(&password_file, "second\n").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.write(&ns, golden_batch()).await.expect("accepted with the second password");

    // A missing file is logged and the previous client stays.
    std::fs::remove_file(&password_file).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.write(&ns, golden_batch()).await.expect("still the second password");
}
