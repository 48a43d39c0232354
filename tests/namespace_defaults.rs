//! Without `--namespaces.config` every span is in the default namespace, whatever namespace tags it
//! carries: a span from a Kubernetes pod (`k8s.namespace.name`) or an Istio sidecar
//! (`istio.namespace`) must be found by a query without a tenant header.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::otlp::{attr, trace_request};
use support::Spoor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_with_namespace_tags_are_found_without_a_namespaces_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spoor = Spoor::start(&dir.path().join("data"), &[]);
    let mut request = trace_request("reviews.bookinfo", 0xabc1, 2);
    let resource_spans = &mut request.resource_spans[0];
    if let Some(resource) = resource_spans.resource.as_mut() {
        resource.attributes.push(attr("k8s.namespace.name", "prod"));
    }
    resource_spans.scope_spans[0].spans[1].attributes.push(attr("istio.namespace", "bookinfo"));
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_endpoint()).await.expect("connect");
    client.export(request).await.expect("export");

    let trace = spoor.query_json("/api/traces/000000000000000000000000000abc1");
    assert_eq!(trace["data"][0]["spans"].as_array().map(Vec::len), Some(2), "{trace}");
    let services = spoor.query_json("/api/services");
    assert_eq!(services["data"], serde_json::json!(["reviews.bookinfo"]));
}
