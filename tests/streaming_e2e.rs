//! The streaming deployment end to end, on real services: a real OpenTelemetry client -> `spoor
//! collector` -> Kafka -> `spoor ingester` -> Elasticsearch -> `spoor query`. Each test uses its own
//! topic, consumer group and index prefix, so they run side by side on the shared Kafka and
//! Elasticsearch; tests that stop a service start a private instance of it.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::roles::{
    collector_otlp_only, es_url, free_port, kafka_brokers, query_http_only, span_documents, unique, PrivateService,
    RoleProcess,
};
use support::{eventually, http_get};

fn otlp_python() -> String {
    std::env::var("OTLP_PYTHON").expect("OTLP_PYTHON (tests/clients/setup-python prints it)")
}

fn clients_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python")
}

/// What `load_otlp.py` reports.
struct Sent {
    spans: u64,
    trace_ids: Vec<String>,
    failed_exports: u64,
}

/// Sends `traces` x `spans_per_trace` spans with the OpenTelemetry Python SDK to an OTLP gRPC port.
fn send_load(otlp_port: u16, traces: u32, spans_per_trace: u32, extra: &[&str]) -> Sent {
    let output = Command::new(otlp_python())
        .arg(clients_dir().join("load_otlp.py"))
        .args(["--endpoint", &format!("http://127.0.0.1:{otlp_port}")])
        .args(["--traces", &traces.to_string(), "--spans-per-trace", &spans_per_trace.to_string()])
        .args(extra)
        .output()
        .expect("running load_otlp.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("load_otlp.py printed no report ({error}): {stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    Sent {
        spans: report["spans"].as_u64().unwrap_or(0),
        trace_ids: report["trace_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        failed_exports: report["exports"]["failed"].as_u64().unwrap_or(u64::MAX),
    }
}

/// Distinct (trace id, span id) pairs stored under the prefix, read with a composite aggregation
/// (the integration-test Elasticsearch has no painless for a scripted cardinality).
fn distinct_spans(es: &str, prefix: &str) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut after: Option<serde_json::Value> = None;
    let mut pairs = 0u64;
    loop {
        let mut composite = serde_json::json!({
            "size": 10000,
            "sources": [{"t": {"terms": {"field": "traceID"}}}, {"s": {"terms": {"field": "spanID"}}}]
        });
        if let Some(after) = &after {
            composite["after"] = after.clone();
        }
        let request = serde_json::json!({"size": 0, "aggs": {"pairs": {"composite": composite}}});
        let mut response = agent
            .post(&format!("{es}/{prefix}-jaeger-span-*/_search"))
            .header("content-type", "application/json")
            .send(request.to_string())
            .expect("composite aggregation");
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let buckets = json["aggregations"]["pairs"]["buckets"].as_array().cloned().unwrap_or_default();
        if buckets.is_empty() {
            return pairs;
        }
        pairs += buckets.len() as u64;
        after = Some(json["aggregations"]["pairs"]["after_key"].clone());
    }
}

/// Collector (Kafka), ingester and query over one topic and one index prefix.
struct Streaming {
    dir: tempfile::TempDir,
    topic: String,
    prefix: String,
    otlp_port: u16,
    query_port: u16,
    collector: RoleProcess,
    ingesters: Vec<RoleProcess>,
    query: RoleProcess,
}

impl Streaming {
    fn start(brokers: &str, es: &str, partitions: u32, ingesters: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let topic = unique("spans");
        let prefix = unique("e2e");
        create_topic(brokers, &topic, partitions);
        let group = unique("group");
        let ingester_args = |instance: usize| -> Vec<String> {
            vec![
                format!("--kafka.consumer.brokers={brokers}"),
                format!("--kafka.consumer.topic={topic}"),
                format!("--kafka.consumer.group-id={group}"),
                format!("--ingester.instance-id={group}-{instance}"),
                "--span-storage.type=elasticsearch".to_owned(),
                format!("--es.server-urls={es}"),
                format!("--es.index-prefix={prefix}"),
                "--es.num-shards=1".to_owned(),
                "--es.num-replicas=0".to_owned(),
            ]
        };
        let ingesters = (0..ingesters).map(|i| RoleProcess::start("ingester", &ingester_args(i), dir.path())).collect();

        let otlp_port = free_port();
        let mut collector_args = collector_otlp_only(otlp_port);
        collector_args.extend([
            "--span-storage.type=kafka".to_owned(),
            format!("--kafka.producer.brokers={brokers}"),
            format!("--kafka.producer.topic={topic}"),
            format!("--kafka.producer.spool.dir={}", dir.path().join("spool").display()),
        ]);
        let collector = RoleProcess::start("collector", &collector_args, dir.path());

        let query_port = free_port();
        let mut query_args = query_http_only(query_port);
        query_args.extend([
            "--span-storage.type=elasticsearch".to_owned(),
            format!("--es.server-urls={es}"),
            format!("--es.index-prefix={prefix}"),
            "--es.create-index-templates=false".to_owned(),
        ]);
        let query = RoleProcess::start("query", &query_args, dir.path());
        Self { dir, topic, prefix, otlp_port, query_port, collector, ingesters, query }
    }

    /// Waits until `expected` distinct spans are stored (or the timeout passes); returns the count.
    fn wait_stored(&self, es: &str, expected: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let stored = span_documents(es, &self.prefix);
            if stored >= expected || Instant::now() > deadline {
                return stored;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Every trace through `GET /api/traces/{id}` of `spoor query`: the number of spans found and
    /// whether any span id came back twice.
    fn read_back(&self, trace_ids: &[String]) -> (u64, u64) {
        let (mut spans, mut duplicates) = (0u64, 0u64);
        for id in trace_ids {
            let (status, body) = http_get(&format!("http://127.0.0.1:{}/api/traces/{id}?raw=true", self.query_port));
            assert_eq!(status, 200, "GET /api/traces/{id} -> {status}: {body}");
            let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            let mut seen = HashSet::new();
            for span in json["data"][0]["spans"].as_array().cloned().unwrap_or_default() {
                spans += 1;
                if !seen.insert(span["spanID"].as_str().unwrap_or_default().to_owned()) {
                    duplicates += 1;
                }
            }
        }
        (spans, duplicates)
    }
}

fn create_topic(brokers: &str, topic: &str, partitions: u32) {
    let status = Command::new(support::roles::infra_script("kafka"))
        .args(["run-class", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", brokers])
        .args(["--create", "--topic", topic, "--partitions", &partitions.to_string(), "--replication-factor", "1"])
        .env("SPOOR_KAFKA_PORT", brokers.rsplit(':').next().unwrap_or("9092"))
        .output()
        .expect("creating the topic");
    assert!(status.status.success(), "creating topic {topic}: {}", String::from_utf8_lossy(&status.stderr));
}

#[test]
#[ignore = "needs Kafka, Elasticsearch and the OTLP Python venv (tests/run-all)"]
fn otel_python_100k_spans_reach_elasticsearch_through_kafka_once_each() {
    let (brokers, es) = (kafka_brokers(), es_url());
    let streaming = Streaming::start(&brokers, &es, 6, 1);
    let sent = send_load(streaming.otlp_port, 1000, 100, &[]);
    assert_eq!(sent.failed_exports, 0, "the collector refused an export");
    assert_eq!(sent.spans, 100_000);

    let stored = streaming.wait_stored(&es, sent.spans, Duration::from_secs(300));
    assert_eq!(stored, sent.spans, "span documents in Elasticsearch; ingester log:\n{}", streaming.ingesters[0].log());
    assert_eq!(distinct_spans(&es, &streaming.prefix), sent.spans, "distinct (trace, span) ids");
    let (read, duplicates) = streaming.read_back(&sent.trace_ids);
    assert_eq!(read, sent.spans, "spans read back through spoor query");
    assert_eq!(duplicates, 0);
    let _ = (&streaming.dir, &streaming.topic, &streaming.collector, &streaming.query);
}

#[test]
#[ignore = "needs Kafka, Elasticsearch and the OTLP Python venv (tests/run-all)"]
fn ingester_killed_under_load_loses_nothing_and_duplicates_nothing() {
    let (brokers, es) = (kafka_brokers(), es_url());
    let mut streaming = Streaming::start(&brokers, &es, 3, 1);
    let otlp_port = streaming.otlp_port;
    let sender = std::thread::spawn(move || send_load(otlp_port, 400, 50, &["--rate", "4000"]));
    // Kill the ingester at a moment somewhere in the middle of the load.
    let kill_after = Duration::from_millis(1500 + u64::from(std::process::id() % 2000));
    std::thread::sleep(kill_after);
    let ingester = streaming.ingesters.remove(0);
    let mut ingester = ingester;
    ingester.kill_9();
    std::thread::sleep(Duration::from_secs(1));
    streaming.ingesters.push(ingester.restart(streaming.dir.path()));

    let sent = sender.join().expect("sender thread");
    assert_eq!(sent.failed_exports, 0);
    let stored = streaming.wait_stored(&es, sent.spans, Duration::from_secs(240));
    assert_eq!(stored, sent.spans, "documents after the kill and restart; log:\n{}", streaming.ingesters[0].log());
    assert_eq!(distinct_spans(&es, &streaming.prefix), sent.spans);
}

#[test]
#[ignore = "needs Kafka (a private instance is started), Elasticsearch and the OTLP Python venv (tests/run-all)"]
fn kafka_down_for_60s_collector_spools_and_drains_without_loss() {
    let es = es_url();
    let kafka_dir = tempfile::tempdir().expect("tempdir");
    let kafka = PrivateService::start("kafka", kafka_dir.path());
    let streaming = Streaming::start(&kafka.url, &es, 2, 1);
    let otlp_port = streaming.otlp_port;

    let sender = std::thread::spawn(move || send_load(otlp_port, 300, 20, &["--rate", "100"]));
    std::thread::sleep(Duration::from_secs(5));
    kafka.run("stop");
    let outage = Instant::now();
    // While Kafka is away the collector keeps accepting (the spool) and says so in its health.
    let degraded = eventually(Duration::from_secs(45), || {
        let health = streaming.collector.health();
        health.get("degraded").map(|reason| reason.to_string())
    });
    assert!(degraded.is_some(), "collector health never reported degraded: {}", streaming.collector.health());
    std::thread::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed()));
    kafka.run("start");

    let sent = sender.join().expect("sender thread");
    assert_eq!(sent.failed_exports, 0, "a sender got an error while Kafka was down");
    let stored = streaming.wait_stored(&es, sent.spans, Duration::from_secs(240));
    assert_eq!(stored, sent.spans, "collector log:\n{}", streaming.collector.log());
    assert_eq!(distinct_spans(&es, &streaming.prefix), sent.spans);
    let spool_bytes = streaming.collector.metric_sum("spoor_kafka_spool_bytes", &[]);
    assert_eq!(spool_bytes, 0.0, "the spool drained");
}

#[test]
#[ignore = "needs Kafka, Elasticsearch and the OTLP Python venv (tests/run-all)"]
fn three_ingesters_rebalance_only_when_membership_changes() {
    let (brokers, es) = (kafka_brokers(), es_url());
    let mut streaming = Streaming::start(&brokers, &es, 6, 3);
    // Let the group settle after the three joins.
    std::thread::sleep(Duration::from_secs(15));
    let rebalances = |streaming: &Streaming| -> Vec<f64> {
        streaming.ingesters.iter().map(|i| i.metric_sum("spoor_ingester_rebalances_total", &[])).collect()
    };
    let settled = rebalances(&streaming);
    // Every member counted its own join: the counter exists and counts, so "unchanged" below means something.
    assert!(settled.iter().all(|count| *count > 0.0), "rebalance counters after the joins: {settled:?}");

    let otlp_port = streaming.otlp_port;
    let steady = std::thread::spawn(move || send_load(otlp_port, 0, 10, &["--rate", "500", "--duration", "120"]));
    // A restart of one member with the same instance id, within the session timeout: no rebalance.
    std::thread::sleep(Duration::from_secs(40));
    let restarted = streaming.ingesters.remove(2);
    let mut restarted = restarted;
    restarted.terminate();
    streaming.ingesters.push(restarted.restart(streaming.dir.path()));
    let sent = steady.join().expect("load thread");
    assert_eq!(sent.failed_exports, 0);

    let after = rebalances(&streaming);
    // The two members that stayed saw no rebalance during two minutes of load and a restart.
    assert_eq!(after[0], settled[0], "ingester 0 rebalanced: {settled:?} -> {after:?}");
    assert_eq!(after[1], settled[1], "ingester 1 rebalanced: {settled:?} -> {after:?}");
    let stored = streaming.wait_stored(&es, sent.spans, Duration::from_secs(120));
    assert_eq!(stored, sent.spans);
}

#[test]
#[ignore = "needs Kafka, Elasticsearch and the Kafka Python venv (tests/run-all)"]
fn jaeger_protobuf_written_by_confluent_kafka_is_ingested_and_queryable() {
    let (brokers, es) = (kafka_brokers(), es_url());
    let python = std::env::var("KAFKA_PYTHON").expect("KAFKA_PYTHON (tests/clients/setup-python prints it)");
    let streaming = Streaming::start(&brokers, &es, 2, 1);
    for encoding in ["protobuf", "json"] {
        let service = format!("py-jaeger-{encoding}");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/send_kafka_jaeger.py");
        let output = Command::new(&python)
            .arg(script)
            .args(["--brokers", &brokers, "--topic", &streaming.topic, "--spans", "3", "--service", &service])
            .args(["--encoding", encoding])
            // Jaeger's own collector writes no headers (the ingester's configured encoding,
            // protobuf, applies); a json message says so in Spoor's encoding header.
            .args(if encoding == "json" { &["--header", "spoor-encoding=json"][..] } else { &[][..] })
            .output()
            .expect("running send_kafka_jaeger.py");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
        let trace_id = report["trace_id"].as_str().expect("trace id").to_owned();
        // Each span is its own message, so the trace can be found (after an index refresh) before
        // all three are in: wait for the whole trace, then check it.
        let url = format!("http://127.0.0.1:{}/api/traces/{trace_id}", streaming.query_port);
        let span_count = |body: &str| {
            serde_json::from_str::<serde_json::Value>(body).ok()?["data"][0]["spans"].as_array().map(Vec::len)
        };
        let found = eventually(Duration::from_secs(60), || {
            let (status, body) = http_get(&url);
            (status == 200 && span_count(&body) == Some(3)).then_some(body)
        })
        .or_else(|| Some(http_get(&url)).filter(|(status, _)| *status == 200).map(|(_, body)| body))
        .unwrap_or_else(|| panic!("trace {trace_id} never found; ingester log:\n{}", streaming.ingesters[0].log()));
        let json: serde_json::Value = serde_json::from_str(&found).expect("JSON");
        assert_eq!(json["data"][0]["spans"].as_array().map(Vec::len), Some(3), "{found}");
        let processes = json["data"][0]["processes"].as_object().expect("processes");
        assert!(processes.values().any(|p| p["serviceName"] == service.as_str()), "{found}");
    }
}

#[test]
#[ignore = "needs Kafka, Elasticsearch (a private instance is started) and the OTLP Python venv (tests/run-all)"]
fn elasticsearch_down_for_60s_under_load_loses_nothing_and_duplicates_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let brokers = kafka_brokers();
    let es_dir = tempfile::tempdir().expect("tempdir");
    // Elasticsearch runs as an unprivileged user, which must reach its state directory.
    std::fs::set_permissions(es_dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let es = PrivateService::start("elasticsearch", es_dir.path());
    let streaming = Streaming::start(&brokers, &es.url, 2, 1);
    let otlp_port = streaming.otlp_port;

    let sender = std::thread::spawn(move || send_load(otlp_port, 300, 20, &["--rate", "100"]));
    std::thread::sleep(Duration::from_secs(5));
    es.run("stop");
    let outage = Instant::now();
    // The ingester holds its offsets while the store is away, and says so.
    let degraded = eventually(Duration::from_secs(45), || {
        let health = streaming.ingesters[0].health();
        health.get("degraded").map(|reason| reason.to_string())
    });
    assert!(degraded.is_some(), "ingester health never reported degraded: {}", streaming.ingesters[0].health());
    std::thread::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed()));
    let _ = es.run("start");

    let sent = sender.join().expect("sender thread");
    assert_eq!(sent.failed_exports, 0, "the collector refused spans while Elasticsearch was down");
    let stored = streaming.wait_stored(&es.url, sent.spans, Duration::from_secs(240));
    assert_eq!(stored, sent.spans, "ingester log:\n{}", streaming.ingesters[0].log());
    assert_eq!(distinct_spans(&es.url, &streaming.prefix), sent.spans);
}
