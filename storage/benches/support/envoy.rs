//! Envoy-like spans for the embedded benchmarks: ~640 bytes each, 14 string tags, 20 services.
//! Shared by `benches/embedded.rs` and `examples/embedded_load.rs`.

use std::sync::Arc;

use spoor_model::{KeyValue, Process, Span, SpanBatch, SpanId, TraceId, FLAG_SAMPLED};

pub const SERVICES: usize = 20;
pub const OPERATIONS_PER_SERVICE: u64 = 8;

/// A small deterministic generator (xorshift), so runs are comparable.
pub struct Generator {
    state: u64,
    processes: Vec<Arc<Process>>,
    next_trace: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        let processes = (0..SERVICES)
            .map(|service| {
                Arc::new(Process {
                    service_name: format!("service-{service:02}"),
                    tags: vec![
                        KeyValue::string("hostname", format!("service-{service:02}-7d9f8b6c5-x2k4p")),
                        KeyValue::string("ip", format!("10.12.{}.{}", service, 17 + service)),
                    ],
                })
            })
            .collect();
        Self { state: seed | 1, processes, next_trace: 1 }
    }

    pub fn random(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// One batch of `batch_size` spans in which each trace has `spans_per_trace` spans (a sidecar
    /// hop gives two: the client and the server span), starting around `now_nanos`.
    pub fn batch(&mut self, batch_size: usize, spans_per_trace: usize, now_nanos: u64) -> (SpanBatch, Vec<TraceId>) {
        let mut spans = Vec::with_capacity(batch_size);
        let mut traces = Vec::new();
        while spans.len() < batch_size {
            let trace_id = TraceId::new(self.random(), self.next_trace);
            self.next_trace += 1;
            traces.push(trace_id);
            let root_service = (self.random() % SERVICES as u64) as usize;
            for hop in 0..spans_per_trace.min(batch_size - spans.len()) {
                let service = (root_service + hop / 2) % SERVICES;
                let start = now_nanos + hop as u64 * 150_000;
                spans.push(self.span(trace_id, hop as u64 + 1, service, start));
            }
        }
        (SpanBatch::new(spans), traces)
    }

    fn span(&mut self, trace_id: TraceId, span_id: u64, service: usize, start: u64) -> Span {
        let operation = self.random() % OPERATIONS_PER_SERVICE;
        let status = if self.random() % 50 < 1 { "503" } else { "200" };
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            self.random() as u32,
            self.random() as u16,
            self.random() % 4096,
            self.random() % 4096,
            self.random() % (1 << 48)
        );
        let upstream = (service + 1) % SERVICES;
        let tags = vec![
            KeyValue::string(
                "http.url",
                format!(
                    "http://service-{upstream:02}.shop.svc.cluster.local:8080/api/v1/items/{}?page={}",
                    self.random() % 100_000,
                    self.random() % 20
                ),
            ),
            KeyValue::string(
                "node_id",
                format!(
                    "sidecar~10.12.{service}.{}~service-{service:02}-7d9f8b6c5-x2k4p.shop~shop.svc.cluster.local",
                    17 + service
                ),
            ),
            KeyValue::string(
                "upstream_cluster",
                format!("outbound|8080||service-{upstream:02}.shop.svc.cluster.local"),
            ),
            KeyValue::string("guid:x-request-id", request_id),
            KeyValue::string("http.method", if operation % 3 < 1 { "POST" } else { "GET" }),
            KeyValue::string("http.status_code", status),
            KeyValue::string(
                "user_agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            ),
            KeyValue::string("request_size", (self.random() % 4096).to_string()),
            KeyValue::string("response_size", (self.random() % 65_536).to_string()),
            KeyValue::string("component", "proxy"),
            KeyValue::string("downstream_cluster", "-"),
            KeyValue::string("peer.address", format!("10.12.{}.{}", self.random() % 256, self.random() % 256)),
            KeyValue::string("response_flags", "-"),
            KeyValue::string("http.protocol", "HTTP/1.1"),
        ];
        Span {
            trace_id,
            span_id: SpanId(span_id),
            operation_name: format!("service-{upstream:02}.shop.svc.cluster.local:8080/api/op-{operation}"),
            references: if span_id > 1 {
                vec![spoor_model::SpanRef::child_of(trace_id, SpanId(span_id - 1))]
            } else {
                vec![]
            },
            flags: FLAG_SAMPLED,
            start_time_unix_nano: start,
            duration_nanos: 200_000 + self.random() % 50_000_000,
            tags,
            logs: vec![],
            process: self.processes[service].clone(),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }
}

pub fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
