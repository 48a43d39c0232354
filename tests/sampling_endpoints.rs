//! Remote sampling through the real binary: the strategies file is served over HTTP (5778, any
//! path, and the legacy `/` form) and gRPC (5779), and editing the file changes the answer without
//! a restart.

mod support;

use std::time::Duration;

use spoor_model::proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use spoor_model::proto::jaeger::api_v2::SamplingStrategyParameters;
use support::{eventually, http_get, Spoor};

const STRATEGIES: &str = r#"{
  "default_strategy": {"type": "probabilistic", "param": 0.5},
  "service_strategies": [
    {"service": "foo", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
    {"service": "bar", "type": "ratelimiting", "param": 5}
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_are_served_on_every_endpoint_and_reloaded_on_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, STRATEGIES).expect("write strategies");
    let spoor = Spoor::start(
        &dir.path().join("data"),
        &[
            "--sampling.strategies-file",
            file.to_str().expect("utf-8 path"),
            "--sampling.strategies-reload-interval",
            "200ms",
        ],
    );
    let http = format!("http://127.0.0.1:{}", spoor.ports.sampling_http);

    let (status, body) = http_get(&format!("{http}/sampling?service=bar"));
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#);
    let (_, body) = http_get(&format!("{http}/?service=bar"));
    assert_eq!(body, r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#, "legacy form");
    let (_, body) = http_get(&format!("{http}/sampling?service=foo"));
    assert_eq!(
        body,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},"operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
    let (status, body) = http_get(&format!("{http}/sampling"));
    assert_eq!(status, 400);
    assert_eq!(body.trim_end(), "'service' parameter must be provided once");

    let mut grpc = SamplingManagerClient::connect(format!("http://127.0.0.1:{}", spoor.ports.sampling_grpc))
        .await
        .expect("connect sampling gRPC");
    let unknown = grpc
        .get_sampling_strategy(SamplingStrategyParameters { service_name: "unknown".into() })
        .await
        .expect("GetSamplingStrategy")
        .into_inner();
    assert_eq!(unknown.probabilistic_sampling.expect("probabilistic").sampling_rate, 0.5);

    // Edit the file: the answer changes without a restart.
    std::fs::write(&file, STRATEGIES.replace("\"param\": 5", "\"param\": 7")).expect("rewrite strategies");
    let reloaded = eventually(Duration::from_secs(10), || {
        let (_, body) = http_get(&format!("{http}/sampling?service=bar"));
        body.contains("\"maxTracesPerSecond\":7").then_some(())
    });
    assert!(reloaded.is_some(), "the edited strategies file was not picked up; log:\n{}", spoor.log());
}
