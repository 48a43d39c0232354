//! Namespaces end to end: spans of three namespaces go collector -> Kafka -> ingester into three
//! index prefixes on two clusters (two on Elasticsearch, one on OpenSearch), and `spoor query`,
//! reading the same namespaces file, answers each tenant (`x-tenant`) with its own traces only.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::roles::{
    collector_otlp_only, es_url, free_port, kafka_brokers, opensearch_url, query_http_only, span_documents, unique,
    RoleProcess,
};

fn otlp_python() -> String {
    std::env::var("OTLP_PYTHON").expect("OTLP_PYTHON (tests/clients/setup-python prints it)")
}

/// Sends `traces` traces of 5 spans whose resource says `k8s.namespace.name = namespace`; returns
/// their trace ids.
fn send(otlp_port: u16, namespace: &str, service: &str, traces: u32) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python/load_otlp.py");
    let output = Command::new(otlp_python())
        .arg(script)
        .args(["--endpoint", &format!("http://127.0.0.1:{otlp_port}")])
        .args(["--traces", &traces.to_string(), "--spans-per-trace", "5"])
        .args(["--namespace", namespace, "--service", service])
        .output()
        .expect("running load_otlp.py");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(report["ok"], true, "export failed: {report}");
    report["trace_ids"].as_array().expect("trace ids").iter().map(|v| v.as_str().expect("id").to_owned()).collect()
}

fn get_as(query_port: u16, tenant: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .get(&format!("http://127.0.0.1:{query_port}{path}"))
        .header("x-tenant", tenant)
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap_or_default())
}

#[test]
#[ignore = "needs Kafka, Elasticsearch, OpenSearch and the OTLP Python venv (tests/run-all)"]
fn three_namespaces_land_in_their_own_prefixes_and_tenants_see_only_their_own() {
    let (brokers, es, opensearch) = (kafka_brokers(), es_url(), opensearch_url());
    let dir = tempfile::tempdir().expect("tempdir");
    let run = unique("ns");
    let namespaces_file = dir.path().join("namespaces.toml");
    std::fs::write(
        &namespaces_file,
        format!(
            r#"
unknown_namespaces = "refuse"

[alpha]
server_urls = ["{es}"]
index_prefix = "{run}-alpha"
shards = 1
replicas = 0

[beta]
server_urls = ["{es}"]
index_prefix = "{run}-beta"
shards = 1
replicas = 0

[gamma]
server_urls = ["{opensearch}"]
index_prefix = "{run}-gamma"
shards = 1
replicas = 0
"#
        ),
    )
    .expect("writing the namespaces file");
    let file_arg = format!("--namespaces.config={}", namespaces_file.display());
    let topic = unique("ns-spans");
    let created = Command::new(support::roles::infra_script("kafka"))
        .args(["run-class", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", &brokers])
        .args(["--create", "--topic", &topic, "--partitions", "3", "--replication-factor", "1"])
        .output()
        .expect("creating the topic");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let ingester = RoleProcess::start(
        "ingester",
        &[
            format!("--kafka.consumer.brokers={brokers}"),
            format!("--kafka.consumer.topic={topic}"),
            format!("--kafka.consumer.group-id={}", unique("ns-group")),
            "--span-storage.type=elasticsearch".to_owned(),
            file_arg.clone(),
        ],
        dir.path(),
    );
    let otlp_port = free_port();
    let mut collector_args = collector_otlp_only(otlp_port);
    collector_args.extend([
        "--span-storage.type=kafka".to_owned(),
        format!("--kafka.producer.brokers={brokers}"),
        format!("--kafka.producer.topic={topic}"),
        format!("--kafka.producer.spool.dir={}", dir.path().join("spool").display()),
        file_arg.clone(),
    ]);
    let collector = RoleProcess::start("collector", &collector_args, dir.path());
    let query_port = free_port();
    let mut query_args = query_http_only(query_port);
    query_args.extend([
        "--span-storage.type=elasticsearch".to_owned(),
        "--multi-tenancy.enabled=true".to_owned(),
        file_arg,
    ]);
    let _query = RoleProcess::start("query", &query_args, dir.path());

    let alpha = send(otlp_port, "alpha", "alpha-app", 20);
    let beta = send(otlp_port, "beta", "beta-app", 30);
    let gamma = send(otlp_port, "gamma", "gamma-app", 40);

    let deadline = Instant::now() + Duration::from_secs(120);
    let expected = [(&es, "alpha", 100), (&es, "beta", 150), (&opensearch, "gamma", 200)];
    loop {
        let counts: Vec<u64> =
            expected.iter().map(|(url, ns, _)| span_documents(url, &format!("{run}-{ns}"))).collect();
        if counts.iter().zip(&expected).all(|(got, (_, _, want))| got == want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "documents per prefix {counts:?}, expected 100/150/200; ingester log:\n{}",
            ingester.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // Nothing went to the other cluster under a wrong prefix.
    assert_eq!(span_documents(&opensearch, &format!("{run}-alpha")), 0);
    assert_eq!(span_documents(&es, &format!("{run}-gamma")), 0);

    // Each tenant finds its own traces and only those.
    for (tenant, own, other) in [("alpha", &alpha, &beta), ("beta", &beta, &gamma), ("gamma", &gamma, &alpha)] {
        let (status, body) = get_as(query_port, tenant, &format!("/api/traces/{}", own[0]));
        assert_eq!(status, 200, "tenant {tenant}, own trace: {body}");
        let (status, body) = get_as(query_port, tenant, &format!("/api/traces/{}", other[0]));
        assert_eq!(status, 404, "tenant {tenant} must not see another namespace's trace: {body}");
        // Service documents become searchable with the index's next refresh (1 s).
        let want = serde_json::json!([format!("{tenant}-app")]);
        let services = support::eventually(Duration::from_secs(20), || {
            let (status, body) = get_as(query_port, tenant, "/api/services");
            assert_eq!(status, 200, "{body}");
            let services: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            (services["data"] == want).then_some(services)
        });
        assert!(services.is_some(), "tenant {tenant} never listed exactly its own service");
    }
    // A namespace the file does not name is refused, as Jaeger refuses an unknown tenant.
    let (status, _) = get_as(query_port, "delta", "/api/services");
    assert_eq!(status, 401);
    drop(collector);
}
