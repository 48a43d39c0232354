//! Acknowledged spans survive `kill -9` of `spoor all-in-one` and a restart.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::otlp::trace_request;
use support::{eventually, Spoor};

const SPANS_PER_TRACE: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_survive_kill_9_and_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let spoor = Spoor::start(&data_dir, &[]);
    let ports = spoor.ports;

    // Several senders export traces in a loop; every acknowledged trace id is recorded.
    let acknowledged = Arc::new(Mutex::new(Vec::<u128>::new()));
    let mut senders = Vec::new();
    for sender in 0..4u128 {
        let endpoint = spoor.otlp_grpc_endpoint();
        let acknowledged = acknowledged.clone();
        senders.push(tokio::spawn(async move {
            let Ok(mut client) = TraceServiceClient::connect(endpoint).await else { return };
            for n in 0u128.. {
                let trace_id = (sender << 96) | (n + 1);
                match client.export(trace_request("durability-test", trace_id, SPANS_PER_TRACE)).await {
                    Ok(_) => acknowledged.lock().expect("lock").push(trace_id),
                    Err(_) => return, // the server died under us: this one was not acknowledged
                }
            }
        }));
    }
    // Kill at a moment when writes are in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::spawn_blocking(move || spoor.kill_9()).await.expect("killing");
    for sender in senders {
        let _ = sender.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= 10, "too few traces acknowledged before the kill: {}", acknowledged.len());

    // Restart on the same data and read back every acknowledged trace, complete.
    let restarted = tokio::task::spawn_blocking(move || Spoor::start_on(&data_dir, ports, &[])).await.expect("restart");
    let restarted = Arc::new(restarted);
    let checker = restarted.clone();
    let missing = tokio::task::spawn_blocking(move || {
        let mut missing = Vec::new();
        for trace_id in &acknowledged {
            let id = format!("{trace_id:032x}");
            let (status, body) = checker.query(&format!("/api/traces/{id}"));
            let spans = if status == 200 {
                let json: serde_json::Value = serde_json::from_str(&body).expect("json");
                json["data"][0]["spans"].as_array().map(Vec::len).unwrap_or(0)
            } else {
                0
            };
            if spans != SPANS_PER_TRACE as usize {
                missing.push((id, status, spans));
            }
        }
        missing
    })
    .await
    .expect("checking");
    assert!(missing.is_empty(), "acknowledged traces lost or incomplete after kill -9: {missing:?}");

    // And the restarted instance still accepts and serves new data.
    let endpoint = restarted.otlp_grpc_endpoint();
    let mut client = TraceServiceClient::connect(endpoint).await.expect("connect after restart");
    client.export(trace_request("durability-test", 0xfeed, 2)).await.expect("export after restart");
    let found = eventually(Duration::from_secs(5), || {
        let (status, _) = restarted.query("/api/traces/000000000000000000000000000feed");
        (status == 200).then_some(())
    });
    assert!(found.is_some(), "a trace written after the restart was not found");
}
