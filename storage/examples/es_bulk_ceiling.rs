//! A plain bulk loader: the ceiling Elasticsearch sets for Spoor's writer. It pre-builds the exact
//! documents the writer would send (Envoy-like spans, `span_bulk_lines`), cuts them into `_bulk`
//! requests of `--batch` documents, sends them from `--concurrency` tasks through the same HTTP
//! client, checks every answer for `"errors": false`, and prints documents per second. Compare
//! with `es_writer_load`, which pushes the same spans through `ElasticsearchStore`.
//!
//! ```text
//! cargo run --release -p spoor-storage --example es_bulk_ceiling -- \
//!     [--url http://127.0.0.1:9200] [--spans 200000] [--batch 1000] [--concurrency 2] [--compression false]
//! ```

#[path = "../benches/support/envoy.rs"]
mod envoy;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use spoor_storage::elasticsearch::client::EsClient;
use spoor_storage::elasticsearch::lifecycle;
use spoor_storage::elasticsearch::writer::span_bulk_lines;
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::Purger;

struct Options {
    url: String,
    spans: usize,
    batch: usize,
    concurrency: usize,
    compression: bool,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:9200".into(),
        spans: 200_000,
        batch: 1_000,
        concurrency: 2,
        compression: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--url" => options.url = value.to_owned(),
            "--spans" => options.spans = value.parse().expect("--spans takes a number"),
            "--batch" => options.batch = value.parse().expect("--batch takes a number"),
            "--concurrency" => options.concurrency = value.parse().expect("--concurrency takes a number"),
            "--compression" => options.compression = value == "true",
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run(&options));
}

async fn run(options: &Options) {
    let mut target = EsTarget::new(vec![options.url.clone()]);
    target.index_prefix = format!("bench-ceiling-{}", std::process::id());
    target.shards = 1;
    target.replicas = 0;
    target.http_compression = options.compression;
    // The store installs the same templates the writer's indices get; it also purges at the end.
    let store = ElasticsearchStore::connect("bench", target.clone(), None).await.expect("connect");
    let client = EsClient::connect(&target).await.expect("client");

    let mut generator = envoy::Generator::new(42);
    let now = envoy::now_nanos();
    let mut bodies: Vec<Bytes> = Vec::new();
    let mut documents = 0usize;
    let mut bytes = 0usize;
    while documents < options.spans {
        let (batch, _) = generator.batch(options.batch, 2, now);
        let lines = span_bulk_lines(&target, &batch);
        documents += lines.len();
        let mut body = Vec::with_capacity(lines.iter().map(Bytes::len).sum());
        for line in &lines {
            body.extend_from_slice(line);
        }
        bytes += body.len();
        bodies.push(Bytes::from(body));
    }
    println!(
        "ceiling: {documents} documents ({:.0} bytes each) in {} bulk requests of {}, {} in flight, compression {}",
        bytes as f64 / documents as f64,
        bodies.len(),
        options.batch,
        options.concurrency,
        options.compression
    );

    let queue = Arc::new(parking_lot::Mutex::new(bodies));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.concurrency {
        let queue = queue.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().pop() else { break };
                let (status, answer) =
                    client.send(http::Method::POST, "/_bulk", Some(body.to_vec())).await.expect("bulk request");
                assert_eq!(status, 200);
                let answer: serde_json::Value = serde_json::from_slice(&answer).expect("bulk answer");
                assert_eq!(answer["errors"], false, "bulk items failed");
            }
        }));
    }
    for task in tasks {
        task.await.expect("loader task");
    }
    let seconds = began.elapsed().as_secs_f64();
    println!("ceiling: {:.0} docs/s ({documents} documents in {seconds:.2} s)", documents as f64 / seconds);
    store.purge().await.expect("purge");
    lifecycle::delete_templates(&client, &target).await.expect("delete templates");
}
