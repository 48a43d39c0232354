//! Every real client nobody here wrote sends the known 3-span trace to `spoor all-in-one`, and the
//! trace read back through Jaeger's `/api/traces/{id}` matches a golden file per client.
//!
//! Values that change from run to run are normalised before the comparison: ids become
//! `span-N` in start order, times become offsets from the trace start, and process tag values
//! (host names, addresses, client uuids) are dropped, keeping their keys. Regenerate the golden
//! files with `SPOOR_BLESS=1` and review the diff.
//!
//! Needs the client installs; `tests/run-all` sets `ZIPKIN_PYTHON`, `JAEGER_PYTHON`, `OTLP_PYTHON`
//! and `SPOOR_NODE_CLIENTS`. Without them these tests fail: they never pass silently.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, Spoor};

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} must be set (tests/run-all sets it from tests/clients/setup-*)"),
    }
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client and returns the trace id it reports.
fn run_client(program: &str, args: &[String]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON from {program}: {e}"));
    report["trace_id"].as_str().expect("trace_id in the client's report").to_owned()
}

/// Times rounded to 10 µs: the Jaeger 1.21 proto exporter converts them through float seconds, so
/// they arrive ±1 µs off the whole milliseconds the senders use.
fn rounded(micros: u64) -> u64 {
    (micros + 5) / 10 * 10
}

/// Rewrites the UI trace into a form that is the same on every run.
fn normalise(trace: &Value) -> Value {
    let mut spans: Vec<Value> = trace["spans"].as_array().expect("spans").clone();
    spans.sort_by_key(|s| (s["startTime"].as_u64().unwrap_or(0), s["operationName"].as_str().unwrap_or("").to_owned()));
    let start = spans.iter().filter_map(|s| s["startTime"].as_u64()).min().unwrap_or(0);
    let ids: HashMap<String, String> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s["spanID"].as_str().unwrap_or("").to_owned(), format!("span-{i}")))
        .collect();
    let trace_id = trace["traceID"].as_str().unwrap_or("").to_owned();
    let spans: Vec<Value> = spans
        .iter()
        .map(|span| {
            let process = &trace["processes"][span["processID"].as_str().unwrap_or("")];
            let mut process_tag_keys: Vec<&str> =
                process["tags"].as_array().into_iter().flatten().filter_map(|t| t["key"].as_str()).collect();
            process_tag_keys.sort_unstable();
            let references: Vec<Value> = span["references"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let same_trace = r["traceID"].as_str() == Some(trace_id.as_str());
                    let span_id = r["spanID"].as_str().unwrap_or("");
                    json!({
                        "refType": r["refType"],
                        "traceID": if same_trace { json!("this trace") } else { r["traceID"].clone() },
                        "spanID": ids.get(span_id).map(|s| json!(s)).unwrap_or_else(|| r["spanID"].clone()),
                    })
                })
                .collect();
            let logs: Vec<Value> = span["logs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| json!({"offset_us": rounded(l["timestamp"].as_u64().unwrap_or(0).saturating_sub(start)), "fields": l["fields"]}))
                .collect();
            json!({
                "span": ids.get(span["spanID"].as_str().unwrap_or("")),
                "operationName": span["operationName"],
                "flags": span["flags"],
                "references": references,
                "offset_us": rounded(span["startTime"].as_u64().unwrap_or(0) - start),
                "duration_us": rounded(span["duration"].as_u64().unwrap_or(0)),
                "tags": span["tags"],
                "logs": logs,
                "service": process["serviceName"],
                "processTagKeys": process_tag_keys,
                "warnings": span["warnings"],
            })
        })
        .collect();
    json!({"traceIDLength": trace_id.len(), "spans": spans, "warnings": trace["warnings"]})
}

fn check_against_golden(name: &str, spoor: &Spoor, trace_id: &str) {
    let trace = eventually(Duration::from_secs(15), || {
        let (status, body) = spoor.query(&format!("/api/traces/{trace_id}"));
        let json: Value = (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()?;
        (json["data"][0]["spans"].as_array().map(Vec::len) >= Some(3)).then(|| json["data"][0].clone())
    })
    .unwrap_or_else(|| panic!("{name}: trace {trace_id} not complete through /api/traces; log:\n{}", spoor.log()));
    let actual = serde_json::to_string_pretty(&normalise(&trace)).expect("json") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/real_clients/{name}.json"));
    if std::env::var_os("SPOOR_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("writing the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden file {} missing ({e}); run with SPOOR_BLESS=1", path.display()));
    if actual != expected {
        let actual_path = std::env::temp_dir().join(format!("spoor-real-client-{name}.actual.json"));
        std::fs::write(&actual_path, &actual).expect("writing the actual output");
        panic!("{name}: /api/traces/{trace_id} differs from {} (actual in {})", path.display(), actual_path.display());
    }
}

#[test]
#[ignore = "needs the real client installs (tests/run-all sets ZIPKIN_PYTHON, JAEGER_PYTHON, OTLP_PYTHON, SPOOR_NODE_CLIENTS)"]
fn every_real_client_trace_reads_back_through_the_query_api_as_its_golden_file() {
    let (otlp, zipkin, jaeger, node) = (
        required_env("OTLP_PYTHON"),
        required_env("ZIPKIN_PYTHON"),
        required_env("JAEGER_PYTHON"),
        required_env("SPOOR_NODE_CLIENTS"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let spoor = Spoor::start(&dir.path().join("data"), &[]);
    let p = spoor.ports;
    let python = |script: &str| clients_dir().join("python").join(script).display().to_string();
    let node_script = clients_dir().join("node/send_jaeger.js").display().to_string();
    let s = |text: &str| text.to_owned();

    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "otlp-grpc",
            otlp.clone(),
            vec![
                python("send_otlp.py"),
                s("--protocol"),
                s("grpc"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}", p.otlp_grpc),
            ],
        ),
        (
            "otlp-http",
            otlp,
            vec![
                python("send_otlp.py"),
                s("--protocol"),
                s("http"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}", p.otlp_http),
            ],
        ),
        (
            "zipkin-v2-json",
            zipkin.clone(),
            vec![
                python("send_zipkin.py"),
                s("--format"),
                s("json"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}/api/v2/spans", p.zipkin),
            ],
        ),
        (
            "zipkin-v2-proto",
            zipkin,
            vec![
                python("send_zipkin.py"),
                s("--format"),
                s("proto"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}/api/v2/spans", p.zipkin),
            ],
        ),
        (
            "jaeger-agent-udp",
            jaeger.clone(),
            vec![
                python("send_jaeger.py"),
                s("--transport"),
                s("agent-udp"),
                s("--endpoint"),
                format!("127.0.0.1:{}", p.agent_compact),
            ],
        ),
        (
            "jaeger-collector-http",
            jaeger.clone(),
            vec![
                python("send_jaeger.py"),
                s("--transport"),
                s("collector-http"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}/api/traces", p.jaeger_http),
            ],
        ),
        (
            "jaeger-grpc",
            jaeger,
            vec![
                python("send_jaeger.py"),
                s("--transport"),
                s("grpc"),
                s("--endpoint"),
                format!("127.0.0.1:{}", p.jaeger_grpc),
            ],
        ),
        (
            "node-jaeger-udp",
            s("node"),
            vec![
                node_script.clone(),
                s("--transport"),
                s("udp"),
                s("--endpoint"),
                format!("127.0.0.1:{}", p.agent_binary),
            ],
        ),
        (
            "node-jaeger-http",
            s("node"),
            vec![
                node_script,
                s("--transport"),
                s("http"),
                s("--endpoint"),
                format!("http://127.0.0.1:{}/api/traces", p.jaeger_http),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (name, program, args) in cases {
        std::env::set_var("SPOOR_NODE_CLIENTS", &node);
        let trace_id = run_client(&program, &args);
        if let Err(panic) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_against_golden(name, &spoor, &trace_id)))
        {
            failures.push(panic.downcast_ref::<String>().cloned().unwrap_or_else(|| name.to_owned()));
        }
    }
    assert!(failures.is_empty(), "{} client(s) differ:\n{}", failures.len(), failures.join("\n\n"));
}
