//! Remote sampling end to end: servers on 127.0.0.1:0, a real tonic `SamplingManager` client, and
//! a plain HTTP/1.1 client over a `TcpStream`, checked byte for byte against golden responses.
//!
//! The golden files in `fixtures/sampling/responses/` are Jaeger's answers for the strategies files
//! beside them (its `provider.go` and JSON converters run on those files); `SPOOR_BLESS=1` rewrites
//! them from Spoor's answers, for review.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use spoor_collector::sampling::encode::to_proto_json;
use spoor_collector::sampling::{
    api_sampling_router, SamplingConfig, SamplingMetrics, SamplingServer, StrategyStore, HEALTH_SERVICE_NAME,
};
use spoor_model::proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use spoor_model::proto::jaeger::api_v2::SamplingStrategyParameters;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BLESS_ENV: &str = "SPOOR_BLESS";
const BAD_SERVICE_PARAMETER: &str = "'service' parameter must be provided once\n";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sampling").join(name)
}

/// Compares `actual` with `responses/<name>.json` exactly (one trailing newline in the file is
/// allowed), or rewrites the file when `SPOOR_BLESS` is set.
fn assert_golden(name: &str, actual: &str, context: &str) {
    let path = fixture(&format!("responses/{name}.json"));
    if std::env::var_os(BLESS_ENV).is_some_and(|value| !value.is_empty() && value != "0") {
        std::fs::write(&path, actual).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read golden file {}: {error}", path.display()));
    assert_eq!(
        actual,
        expected.strip_suffix('\n').unwrap_or(&expected),
        "{context} differs from {} (rerun with {BLESS_ENV}=1 to accept the change)",
        path.display()
    );
}

/// A copy of a fixture in a directory of its own, removed on drop.
struct ScratchFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ScratchFile {
    fn copy_of(fixture_name: &str, test_name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("spoor-sampling-{}-{test_name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("strategies.json");
        std::fs::copy(fixture(fixture_name), &path).expect("copy fixture");
        Self { dir, path }
    }

    fn write(&self, contents: &str) {
        // Write beside, then rename: the reloader never sees a half-written file.
        let partial = self.dir.join("strategies.json.partial");
        std::fs::write(&partial, contents).expect("write strategies");
        std::fs::rename(&partial, &self.path).expect("replace strategies");
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct TestSampling {
    http: SocketAddr,
    grpc: SocketAddr,
    store: Arc<StrategyStore>,
    registry: Registry,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), spoor_collector::sampling::SamplingError>>,
}

impl TestSampling {
    async fn start(strategies_file: Option<&Path>) -> Self {
        let config = SamplingConfig {
            strategies_file: strategies_file.map(Path::to_owned),
            reload_interval: Duration::from_millis(20),
            ..local_config()
        };
        Self::start_with(config).await
    }

    async fn start_with(config: SamplingConfig) -> Self {
        let mut registry = Registry::default();
        let metrics = Arc::new(SamplingMetrics::register(&mut registry));
        let store = StrategyStore::open_with_metrics(&config, metrics).expect("open strategies");
        let server = SamplingServer::bind(&config, Arc::clone(&store)).await.expect("bind");
        let http = server.http_local_addr().expect("http listener");
        let grpc = server.grpc_local_addr().expect("grpc listener");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Self { http, grpc, store, registry, stop: Some(stop), task }
    }

    async fn grpc_strategy_json(&self, service: &str) -> String {
        let mut client = SamplingManagerClient::connect(format!("http://{}", self.grpc)).await.expect("connect");
        let request = SamplingStrategyParameters { service_name: service.to_owned() };
        let response = client.get_sampling_strategy(request).await.expect("GetSamplingStrategy").into_inner();
        to_proto_json(&response)
    }

    fn metrics_text(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("encode metrics");
        text
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("server task").expect("server stopped cleanly");
    }
}

fn local_config() -> SamplingConfig {
    SamplingConfig {
        http_host_port: "127.0.0.1:0".to_owned(),
        grpc_host_port: "127.0.0.1:0".to_owned(),
        ..SamplingConfig::default()
    }
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`; the whole response.
async fn request(address: SocketAddr, method: &str, target: &str) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let head =
        format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status =
        lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok()).expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let response = HttpResponse { status, headers, body: String::from_utf8_lossy(&raw[split + 4..]).into_owned() };
    assert_ne!(response.header("transfer-encoding"), Some("chunked"), "the client reads only sized bodies");
    response
}

async fn get(address: SocketAddr, target: &str) -> HttpResponse {
    request(address, "GET", target).await
}

/// Asserts the proto-JSON answer for `service` on HTTP (`/sampling`) and gRPC equals the golden.
async fn assert_served(sampling: &TestSampling, service: &str, golden: &str) {
    let response = get(sampling.http, &format!("/sampling?service={service}")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_golden(golden, &response.body, &format!("HTTP answer for {service:?}"));
    assert_golden(golden, &sampling.grpc_strategy_json(service).await, &format!("gRPC answer for {service:?}"));
}

/// Polls until `service`'s HTTP answer differs from `before`, or gives up after 10 s.
async fn wait_for_change(sampling: &TestSampling, service: &str, before: &str) -> String {
    for _ in 0..500 {
        let body = get(sampling.http, &format!("/sampling?service={service}")).await.body;
        if body != before {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the answer for {service:?} did not change from {before}");
}

#[tokio::test]
async fn probabilistic_ratelimiting_and_unknown_services_are_answered_as_jaeger_answers_them() {
    let sampling = TestSampling::start(Some(&fixture("strategies.json"))).await;
    assert_served(&sampling, "foo", "probabilistic").await;
    assert_served(&sampling, "bar", "ratelimiting").await;
    // `ratelimiting` with param 0.9 truncates to 0 traces per second.
    assert_served(&sampling, "baz", "ratelimiting_truncated").await;
    // An unknown `type` answers the default probabilistic strategy (0.001), not the file's default.
    assert_served(&sampling, "mystery", "unknown_type").await;
    assert_served(&sampling, "busy", "ratelimiting_over_i16").await;
    assert_served(&sampling, "nobody", "unknown_service").await;
    assert_served(&sampling, "", "unknown_service").await;
    sampling.stop().await;
}

#[tokio::test]
async fn per_operation_strategies_inherit_and_merge_the_default_operations_as_jaeger_does() {
    let sampling = TestSampling::start(Some(&fixture("operation_strategies.json"))).await;
    // Own operations first (the ratelimiting one dropped), then the default's not already named.
    assert_served(&sampling, "foo", "per_operation_merged").await;
    // A rate-limited service's own operations default to the configured probability (0.001).
    assert_served(&sampling, "bar", "per_operation_ratelimited_service").await;
    // No operations of its own: a copy of the default's, with the service's own probability.
    assert_served(&sampling, "qux", "per_operation_inherited").await;
    // ... or, when the service is rate-limited, the default strategy's probability.
    assert_served(&sampling, "quux", "per_operation_inherited_ratelimited").await;
    // Go's HTML-safe string escapes and exponent notation.
    assert_served(&sampling, "web", "per_operation_escaped").await;
    assert_served(&sampling, "nobody", "per_operation_unknown_service").await;
    sampling.stop().await;
}

#[tokio::test]
async fn without_a_strategies_file_every_service_gets_the_configured_default_probability() {
    let sampling = TestSampling::start(None).await;
    assert_served(&sampling, "any-service", "no_file").await;
    sampling.stop().await;

    let all_in_one = TestSampling::start_with(local_config_all_in_one()).await;
    let response = get(all_in_one.http, "/sampling?service=x").await;
    assert_eq!(response.body, r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#);
    all_in_one.stop().await;
}

fn local_config_all_in_one() -> SamplingConfig {
    SamplingConfig {
        default_sampling_probability: SamplingConfig::all_in_one().default_sampling_probability,
        ..local_config()
    }
}

#[tokio::test]
async fn the_root_path_answers_in_the_legacy_form_with_numeric_strategy_types() {
    let sampling = TestSampling::start(Some(&fixture("operation_strategies.json"))).await;
    let response = get(sampling.http, "/?service=bar").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_golden("legacy_per_operation", &response.body, "legacy answer for bar");
    sampling.stop().await;

    let sampling = TestSampling::start(Some(&fixture("strategies.json"))).await;
    assert_golden("legacy_probabilistic", &get(sampling.http, "/?service=foo").await.body, "legacy answer for foo");
    assert_golden("legacy_ratelimiting", &get(sampling.http, "/?service=bar").await.body, "legacy answer for bar");
    // Thrift's maxTracesPerSecond is an i16: Jaeger's legacy endpoint fails with 500.
    let too_large = get(sampling.http, "/?service=busy").await;
    assert_eq!(too_large.status, 500);
    assert_eq!(too_large.body, "cannot marshall to JSON\n");
    assert!(sampling
        .metrics_text()
        .contains(r#"jaeger_remote_sampling_http_server_errors_total{source="thrift",status="5xx"} 1"#));
    assert!(sampling
        .metrics_text()
        .contains(r#"jaeger_remote_sampling_http_server_requests_total{type="sampling-legacy"} 2"#));
    sampling.stop().await;
}

#[tokio::test]
async fn every_other_path_and_method_answers_in_proto_json() {
    let sampling = TestSampling::start(Some(&fixture("strategies.json"))).await;
    for target in
        ["/sampling?service=bar", "/api/sampling?service=bar", "/a/b/c?x=1&service=bar", "/sampling/?service=bar"]
    {
        let response = get(sampling.http, target).await;
        assert_eq!(response.status, 200, "{target}");
        assert_golden("ratelimiting", &response.body, target);
    }
    let posted = request(sampling.http, "POST", "/sampling?service=bar").await;
    assert_golden("ratelimiting", &posted.body, "POST /sampling");
    let encoded = get(sampling.http, "/sampling?service=f%6Fo").await;
    assert_golden("probabilistic", &encoded.body, "percent-encoded service name");
    assert!(sampling.metrics_text().contains(r#"spoor_sampling_requests_total{transport="http",result="ok"} 6"#));
    sampling.stop().await;
}

#[tokio::test]
async fn a_missing_or_repeated_service_parameter_is_a_400_with_jaegers_message() {
    let sampling = TestSampling::start(Some(&fixture("strategies.json"))).await;
    let targets = ["/sampling", "/sampling?service=a&service=a", "/sampling?services=a", "/", "/?service=a&service=b"];
    for target in targets {
        let response = get(sampling.http, target).await;
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(response.body, BAD_SERVICE_PARAMETER, "{target}");
        assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    let metrics = sampling.metrics_text();
    assert!(metrics.contains(r#"spoor_sampling_requests_total{transport="http",result="bad_request"} 5"#), "{metrics}");
    assert!(metrics.contains(r#"jaeger_remote_sampling_http_server_errors_total{source="all",status="4xx"} 5"#));
    sampling.stop().await;
}

#[tokio::test]
async fn the_collector_route_serves_only_get_api_sampling() {
    let store = StrategyStore::open(&SamplingConfig {
        strategies_file: Some(fixture("strategies.json")),
        reload_interval: Duration::ZERO,
        ..SamplingConfig::default()
    })
    .expect("open strategies");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, api_sampling_router(store)).await });

    let response = get(address, "/api/sampling?service=bar").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_golden("ratelimiting", &response.body, "GET /api/sampling");
    assert_eq!(get(address, "/api/sampling").await.body, BAD_SERVICE_PARAMETER);
    assert_eq!(request(address, "POST", "/api/sampling?service=bar").await.status, 405);
    assert_eq!(get(address, "/sampling?service=bar").await.status, 404);
    assert_eq!(get(address, "/?service=bar").await.status, 404);
    server.abort();
}

#[tokio::test]
async fn editing_the_strategies_file_changes_the_answer_without_a_restart() {
    let file = ScratchFile::copy_of("strategies.json", "edit");
    let sampling = TestSampling::start(Some(&file.path)).await;
    let before = get(sampling.http, "/sampling?service=foo").await.body;
    assert_golden("probabilistic", &before, "answer before the edit");

    let edited = std::fs::read_to_string(fixture("strategies.json")).expect("fixture").replace("0.8", "0.25");
    file.write(&edited);
    let after = wait_for_change(&sampling, "foo", &before).await;
    assert_eq!(after, r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}"#);
    assert_eq!(sampling.grpc_strategy_json("foo").await, after);
    assert_eq!(sampling.store.metrics().reloads(true), 1);
    assert!(sampling.metrics_text().contains(r#"spoor_sampling_reloads_total{result="ok"} 1"#));
    sampling.stop().await;
}

#[tokio::test]
async fn a_broken_strategies_file_is_refused_and_the_previous_answers_stay() {
    let file = ScratchFile::copy_of("strategies.json", "broken");
    let sampling = TestSampling::start(Some(&file.path)).await;

    file.write(r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": "0.1"}]}"#);
    for _ in 0..500 {
        if sampling.store.metrics().reloads(false) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sampling.store.metrics().reloads(false), 1, "the broken file was seen once");
    assert_golden(
        "probabilistic",
        &get(sampling.http, "/sampling?service=foo").await.body,
        "answer after a broken edit",
    );
    assert_golden("ratelimiting", &sampling.grpc_strategy_json("bar").await, "gRPC answer after a broken edit");

    // Fixed again: the new file is used.
    file.write(r#"{"service_strategies": [{"service": "foo", "type": "ratelimiting", "param": 3}]}"#);
    let fixed = wait_for_change(
        &sampling,
        "foo",
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8}}"#,
    )
    .await;
    assert_eq!(fixed, r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3}}"#);
    assert_eq!(sampling.store.metrics().reloads(false), 1);
    sampling.stop().await;
}

#[tokio::test]
async fn a_strategies_file_that_cannot_be_used_at_start_up_is_an_error_naming_it() {
    let config = SamplingConfig { strategies_file: Some(fixture("no-such-strategies.json")), ..local_config() };
    let error = StrategyStore::open(&config).expect_err("missing file").to_string();
    assert!(error.contains("no-such-strategies.json"), "{error}");

    let file = ScratchFile::copy_of("strategies.json", "startup");
    file.write(r#""nonsense""#);
    let config = SamplingConfig { strategies_file: Some(file.path.clone()), ..local_config() };
    let error = StrategyStore::open(&config).expect_err("invalid file").to_string();
    assert!(error.contains("invalid sampling strategies file") && error.contains("expected an object"), "{error}");
}

#[tokio::test]
async fn grpc_health_reports_the_sampling_manager_as_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let sampling = TestSampling::start(None).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", sampling.grpc))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest { service: HEALTH_SERVICE_NAME.to_owned() })
        .await
        .expect("health check")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    assert_eq!(HEALTH_SERVICE_NAME, "jaeger.api_v2.SamplingManager");
    sampling.grpc_strategy_json("x").await;
    assert!(sampling.metrics_text().contains(r#"spoor_sampling_requests_total{transport="grpc",result="ok"} 1"#));
    sampling.stop().await;
}
