//! Messages produced by a producer that is not Spoor's (`tests/clients/send_kafka_jaeger.py`:
//! confluent-kafka, and a protobuf / jsonpb encoder written from Jaeger's field tables) decode
//! with Spoor's Kafka codec into the spans the script describes. Needs the broker of
//! `tests/infra/kafka` and the `kafka` venv (`tests/clients/setup-python kafka`, or set
//! `KAFKA_PYTHON`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use spoor_model::kafka::{decode_message, KafkaEncoding};
use spoor_model::{AttributeValue, RefType, SpanId, TraceId};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn kafka_python() -> String {
    if let Ok(python) = std::env::var("KAFKA_PYTHON") {
        return python;
    }
    let output =
        Command::new(repo_root().join("tests/clients/setup-python")).arg("kafka").output().expect("setup-python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    stdout.lines().find_map(|line| line.strip_prefix("KAFKA_PYTHON=")).expect("KAFKA_PYTHON line").to_owned()
}

async fn consume(topic: &str, expected: usize) -> Vec<(String, Vec<u8>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Ok(next) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
            let message = next.expect("consume");
            out.push((
                String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    out
}

#[tokio::test]
#[ignore = "needs Kafka (tests/infra/kafka) and the kafka venv (tests/clients/setup-python)"]
async fn spans_from_the_python_producer_decode_in_both_jaeger_encodings() {
    let python = kafka_python();
    for (encoding, name) in [(KafkaEncoding::Protobuf, "protobuf"), (KafkaEncoding::Json, "json")] {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
        let topic = format!("spoor-test-python-{name}-{}-{nanos}", std::process::id());
        let output = Command::new(&python)
            .arg(repo_root().join("tests/clients/send_kafka_jaeger.py"))
            .args(["--brokers", &brokers(), "--topic", &topic, "--encoding", name, "--spans", "3"])
            .args(["--trace-id", "00000000000000000000000000abcdef", "--service", "py-svc"])
            .output()
            .expect("python runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
        assert_eq!(report["ok"], true);

        let messages = consume(&topic, 3).await;
        assert_eq!(messages.len(), 3, "{name}");
        let mut spans: Vec<_> = messages
            .iter()
            .map(|(key, payload)| {
                assert_eq!(key, "0000000000abcdef", "Jaeger's 16-char key for a 64-bit trace id");
                decode_message(encoding, payload).unwrap_or_else(|e| panic!("{name}: {e}")).remove(0)
            })
            .collect();
        spans.sort_by_key(|s| s.span_id);
        let root = &spans[0];
        assert_eq!(root.trace_id, TraceId::new(0, 0xabcdef));
        assert_eq!(root.span_id, SpanId(0x1000));
        assert_eq!(root.operation_name, "kafka-root");
        assert_eq!(root.service_name(), "py-svc");
        assert_eq!(root.duration_nanos, 22_938_000);
        assert_eq!(root.tag("http.status_code"), Some(&AttributeValue::Int64(200)));
        assert_eq!(root.tag("retries"), Some(&AttributeValue::Int64(-3)));
        assert_eq!(root.tag("sampler.param"), Some(&AttributeValue::Float64(0.25)));
        assert_eq!(root.tag("payload"), Some(&AttributeValue::Binary(vec![0xde, 0xad, 0xbe, 0xef])));
        assert_eq!(root.warnings, ["written by send_kafka_jaeger.py"]);
        assert_eq!(root.logs[0].fields.len(), 2);
        assert_eq!(spans[2].tag("error"), Some(&AttributeValue::Bool(true)));
        assert_eq!(spans[1].references[0].ref_type, RefType::ChildOf);
        assert_eq!(spans[1].parent_span_id(), Some(SpanId(0x1000)));
        assert!(root.process.tags.iter().any(|kv| kv.key == "hostname"));
    }
}
