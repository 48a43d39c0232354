//! Bytes from the network never panic the OTLP/HTTP receiver: mutated protobuf, JSON and gzip
//! bodies get 200, 400 or 413, nothing else. A deterministic generator keeps failures repeatable.

mod common;

use std::sync::Arc;

use axum::body::Body;
use http::Request;
use prometheus_client::registry::Registry;
use prost::Message;
use spoor_collector::otlp::http::router;
use spoor_collector::{CollectorMetrics, OtlpConfig, Pipeline, PipelineConfig};
use spoor_storage::MemoryStore;
use tower::ServiceExt;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    /// Flips, overwrites, inserts, deletes or truncates a few bytes.
    fn mutate(&mut self, original: &[u8]) -> Vec<u8> {
        let mut bytes = original.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(bytes.len());
            match self.below(5) {
                0 if !bytes.is_empty() => bytes[at] ^= 1 << self.below(8),
                1 if !bytes.is_empty() => bytes[at] = self.next() as u8,
                2 => bytes.insert(at, self.next() as u8),
                3 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        bytes
    }
}

fn receiver() -> axum::Router {
    let mut registry = Registry::default();
    let metrics = Arc::new(CollectorMetrics::register(&mut registry));
    let pipeline = Arc::new(Pipeline::new(Arc::new(MemoryStore::new()), &PipelineConfig::default(), metrics));
    router(pipeline, &OtlpConfig::default())
}

async fn status_of(router: &axum::Router, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> u16 {
    let mut request = Request::post("/v1/traces").header("content-type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let request = request.body(Body::from(body)).expect("request");
    router.clone().oneshot(request).await.expect("infallible").status().as_u16()
}

#[tokio::test]
async fn mutated_protobuf_bodies_get_200_or_400_and_never_panic() {
    let router = receiver();
    let original = common::request(1, 6).encode_to_vec();
    let mut mutator = Mutator(0x5eed_0001);
    for _ in 0..1500 {
        let status = status_of(&router, "application/x-protobuf", None, mutator.mutate(&original)).await;
        assert!(status == 200 || status == 400, "status {status}");
    }
}

#[tokio::test]
async fn mutated_json_bodies_get_200_or_400_and_never_panic() {
    let router = receiver();
    let original = serde_json::to_vec(&common::request(2, 3)).expect("serializable");
    let mut mutator = Mutator(0x5eed_0002);
    for _ in 0..1500 {
        let status = status_of(&router, "application/json", None, mutator.mutate(&original)).await;
        assert!(status == 200 || status == 400, "status {status}");
    }
}

#[tokio::test]
async fn mutated_gzip_bodies_get_200_or_400_and_never_panic() {
    let router = receiver();
    let original = common::gzip(&common::request(3, 4).encode_to_vec());
    let mut mutator = Mutator(0x5eed_0003);
    for _ in 0..500 {
        let status = status_of(&router, "application/x-protobuf", Some("gzip"), mutator.mutate(&original)).await;
        assert!(status == 200 || status == 400, "status {status}");
    }
}

#[tokio::test]
async fn deeply_nested_values_are_refused_not_overflowing_the_stack() {
    let router = receiver();
    let mut nested = String::from(r#"{"stringValue":"leaf"}"#);
    for _ in 0..5000 {
        nested = format!(r#"{{"arrayValue":{{"values":[{nested}]}}}}"#);
    }
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"01010101010101010101010101010101",
            "spanId":"0101010101010101","attributes":[{{"key":"deep","value":{nested}}}]}}]}}]}}]}}"#
    );
    assert_eq!(status_of(&router, "application/json", None, body.into_bytes()).await, 400);
}
