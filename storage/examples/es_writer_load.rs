//! Pushes Envoy-like spans through `ElasticsearchStore` (the path the Kafka ingester and the
//! collector take: documents built, batched by the bulk writer, every item checked) and prints
//! spans per second. Run `es_bulk_ceiling` with the same `--spans`, `--batch` and concurrency for
//! the plain-bulk ceiling this is measured against.
//!
//! ```text
//! cargo run --release -p spoor-storage --example es_writer_load -- \
//!     [--url http://127.0.0.1:9200] [--spans 200000] [--batch 1000] [--writers 4] [--workers 2] \
//!     [--compression false]
//! ```

#[path = "../benches/support/envoy.rs"]
mod envoy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_model::{Namespace, SpanBatch};
use spoor_storage::elasticsearch::client::EsClient;
use spoor_storage::elasticsearch::lifecycle;
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::{Purger, SpanWriter};

struct Options {
    url: String,
    spans: usize,
    batch: usize,
    writers: usize,
    workers: usize,
    compression: bool,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:9200".into(),
        spans: 200_000,
        batch: 1_000,
        writers: 4,
        workers: 2,
        compression: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--url" => options.url = value.to_owned(),
            "--spans" => options.spans = value.parse().expect("--spans takes a number"),
            "--batch" => options.batch = value.parse().expect("--batch takes a number"),
            "--writers" => options.writers = value.parse().expect("--writers takes a number"),
            "--workers" => options.workers = value.parse().expect("--workers takes a number"),
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
    target.index_prefix = format!("bench-writer-{}", std::process::id());
    target.shards = 1;
    target.replicas = 0;
    target.http_compression = options.compression;
    target.bulk.workers = options.workers;
    target.bulk.max_actions = options.batch;
    target.bulk.flush_interval = Duration::from_millis(200);
    let store = Arc::new(ElasticsearchStore::connect("bench", target, None).await.expect("connect"));
    let ns = Namespace::new("bench");

    let mut generator = envoy::Generator::new(42);
    let now = envoy::now_nanos();
    let mut batches: Vec<SpanBatch> = Vec::new();
    let mut spans = 0usize;
    while spans < options.spans {
        let (batch, _) = generator.batch(options.batch, 2, now);
        spans += batch.len();
        batches.push(batch);
    }
    println!(
        "writer: {spans} spans in {} write calls of {}, {} concurrent writers, {} bulk workers, compression {}",
        batches.len(),
        options.batch,
        options.writers,
        options.workers,
        options.compression
    );

    let queue = Arc::new(parking_lot::Mutex::new(batches));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.writers {
        let queue = queue.clone();
        let store = store.clone();
        let ns = ns.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().pop() else { break };
                store.write(&ns, batch).await.expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let seconds = began.elapsed().as_secs_f64();
    println!("writer: {:.0} spans/s ({spans} spans in {seconds:.2} s)", spans as f64 / seconds);
    store.purge().await.expect("purge");
    let client = EsClient::connect(store.target()).await.expect("client");
    lifecycle::delete_templates(&client, store.target()).await.expect("delete templates");
}
