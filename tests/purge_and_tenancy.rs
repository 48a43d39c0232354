//! The test-only purge endpoint and Jaeger's multi-tenancy header, through the real binary.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::otlp::trace_request;
use support::{http_post, Ports, Spoor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_endpoint_deletes_everything_only_when_turned_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = Ports::free();
    let purge_host_port = format!("127.0.0.1:{}", ports.spare);
    let spoor = Spoor::start_on(
        &dir.path().join("data"),
        ports,
        &["--testing.purge-endpoint", "true", "--testing.purge-host-port", &purge_host_port],
    );
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_endpoint()).await.expect("connect");
    client.export(trace_request("purge-test", 0x77, 2)).await.expect("export");
    assert_eq!(spoor.query("/api/traces/0000000000000077").0, 200);

    let (status, body) = http_post(&format!("http://{purge_host_port}/purge"), &[], b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(spoor.query("/api/traces/0000000000000077").0, 404, "purged");
    assert!(spoor.log().contains("deletes all data"), "the purge endpoint is announced loudly");
}

#[test]
fn multi_tenancy_refuses_queries_without_a_known_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spoor = Spoor::start(
        &dir.path().join("data"),
        &["--multi-tenancy.enabled", "true", "--multi-tenancy.tenants", "default,team-a"],
    );
    let (status, body) = spoor.query("/api/services");
    assert_eq!((status, body.trim()), (401, "missing tenant header"));

    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let get = |tenant: &str| {
        let mut response = agent.get(&spoor.query_url("/api/services")).header("x-tenant", tenant).call().expect("GET");
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
    };
    assert_eq!(get("team-b").0, 401, "unknown tenant");
    assert_eq!(get("team-a").0, 200);
}
