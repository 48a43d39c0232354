//! The receivers beyond OTLP answer through the real binary: a Zipkin v2 JSON span (as Envoy sends
//! it) and a Jaeger sampling request on the collector's HTTP port.

mod support;

use std::time::Duration;

use support::{eventually, http_get, http_post, Spoor};

#[test]
fn zipkin_span_from_a_sidecar_is_stored_and_sampling_answers_on_14268() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spoor = Spoor::start(&dir.path().join("data"), &[]);
    let now_micros = support::otlp::now_nanos() / 1_000;
    let body = format!(
        r#"[{{"traceId":"0000000000000abc","id":"0000000000000def","kind":"SERVER","name":"reviews.bookinfo.svc.cluster.local:9080/*",
            "timestamp":{now_micros},"duration":2500,"localEndpoint":{{"serviceName":"reviews.bookinfo","ipv4":"10.1.2.3"}},
            "tags":{{"http.status_code":"200","error":"true","upstream_cluster":"inbound|9080||"}}}}]"#
    );
    let url = format!("http://127.0.0.1:{}/api/v2/spans", spoor.ports.zipkin);
    let (status, answer) =
        http_post(&url, &[("content-type", "application/json"), ("host", "zipkin")], body.as_bytes());
    assert_eq!(status, 202, "{answer}");

    let trace = eventually(Duration::from_secs(5), || {
        let (status, body) = spoor.query("/api/traces/0000000000000abc");
        (status == 200).then(|| serde_json::from_str::<serde_json::Value>(&body).expect("json"))
    })
    .expect("the Zipkin span is stored");
    let span = &trace["data"][0]["spans"][0];
    assert_eq!(span["operationName"], "reviews.bookinfo.svc.cluster.local:9080/*");
    let error = span["tags"].as_array().expect("tags").iter().find(|t| t["key"] == "error").expect("error tag");
    assert_eq!(error["value"], "true", "kept as the string it arrived as");

    let (status, body) =
        http_get(&format!("http://127.0.0.1:{}/api/sampling?service=reviews", spoor.ports.jaeger_http));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#);
}
