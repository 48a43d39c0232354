//! `spoor es-index-cleaner`, `spoor es-rollover` and `spoor dependencies` run as Jaeger's tools are
//! run, against the real Elasticsearch (and OpenSearch for the cleaner).

mod support;

use std::process::Command;

use support::roles::{es_url, opensearch_url, unique};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn put(url: &str, body: &str) -> u16 {
    agent().put(url).header("content-type", "application/json").send(body.to_owned()).expect("PUT").status().as_u16()
}

fn exists(url: &str) -> bool {
    agent().head(url).call().map(|r| r.status().as_u16() == 200).unwrap_or(false)
}

fn spoor(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spoor")).args(args).output().expect("running spoor");
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

#[test]
#[ignore = "needs Elasticsearch and OpenSearch (tests/infra/elasticsearch, tests/infra/opensearch)"]
fn es_index_cleaner_deletes_daily_indices_by_creation_date_and_only_of_its_prefix() {
    for url in [es_url(), opensearch_url()] {
        let prefix = unique("clean");
        let other = unique("other");
        let today = humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_owned();
        let old = format!("{prefix}-jaeger-span-2020-01-01");
        let old_service = format!("{prefix}-jaeger-service-2020-01-01");
        let current = format!("{prefix}-jaeger-span-{today}");
        let foreign = format!("{other}-jaeger-span-2020-01-01");
        for index in [&old, &old_service, &current, &foreign] {
            assert_eq!(
                put(&format!("{url}/{index}"), r#"{"settings":{"number_of_shards":1,"number_of_replicas":0}}"#),
                200
            );
        }
        // Jaeger's rule: an index goes when its creation date is before (tomorrow 00:00 UTC - N days).
        // Everything here was created just now: kept with N = 1, deleted with N = 0.
        let (ok, log) = spoor(&["es-index-cleaner", "1", &url, "--es.index-prefix", &prefix]);
        assert!(ok, "{log}");
        for index in [&old, &old_service, &current, &foreign] {
            assert!(exists(&format!("{url}/{index}")), "{index} deleted with NUM_OF_DAYS=1: {log}");
        }
        let (ok, log) = spoor(&["es-index-cleaner", "0", &url, "--es.index-prefix", &prefix]);
        assert!(ok, "{log}");
        for index in [&old, &old_service, &current] {
            assert!(!exists(&format!("{url}/{index}")), "{index} kept with NUM_OF_DAYS=0: {log}");
        }
        assert!(exists(&format!("{url}/{foreign}")), "another prefix's index deleted: {log}");
        let _ = agent().delete(&format!("{url}/{foreign}")).call();
    }
}

#[test]
#[ignore = "needs Elasticsearch (tests/infra/elasticsearch)"]
fn es_rollover_init_creates_first_indices_and_aliases() {
    let url = es_url();
    let prefix = unique("roll");
    let (ok, log) = spoor(&[
        "es-rollover",
        "init",
        &url,
        "--es.index-prefix",
        &prefix,
        "--es.num-shards",
        "1",
        "--es.num-replicas",
        "0",
    ]);
    assert!(ok, "{log}");
    for alias in ["jaeger-span-read", "jaeger-span-write", "jaeger-service-read", "jaeger-service-write"] {
        assert!(exists(&format!("{url}/_alias/{prefix}-{alias}")), "alias {prefix}-{alias} missing: {log}");
    }
    assert!(exists(&format!("{url}/{prefix}-jaeger-span-000001")), "{log}");
    let (ok, log) =
        spoor(&["es-rollover", "rollover", &url, "--es.index-prefix", &prefix, "--conditions", r#"{"max_age":"1ms"}"#]);
    assert!(ok, "{log}");
    assert!(exists(&format!("{url}/{prefix}-jaeger-span-000002")), "rollover made no new index: {log}");
    let _ = agent().delete(&format!("{url}/{prefix}-jaeger-*")).call();
}
