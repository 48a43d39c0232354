//! The options of every role, in one place, so `--help`, the TOML file check and the docs agree.

use crate::options::{OptionSpec, CONFIG_FILE};

pub const COMMON: &[OptionSpec] = &[
    CONFIG_FILE,
    OptionSpec::new("log-level", Some("info"), "Log level: error, warn, info, debug or trace (or a tracing filter)")
        .jaeger(),
    OptionSpec::new("admin.http.host-port", None, "Admin server (health `/`, Prometheus `/metrics`) host:port")
        .jaeger(),
];

pub const STORAGE: &[OptionSpec] = &[
    OptionSpec::new("span-storage.type", Some("embedded"), "Span storage: embedded (on disk, default; `badger` is accepted as a synonym) or memory")
        .jaeger(),
    OptionSpec::new("data-dir", Some("./spoor-data"), "Directory of the embedded store"),
    OptionSpec::new(
        "embedded.span-store-ttl",
        Some("72h"),
        "How long the embedded store keeps spans (whole days are dropped once all their spans are older)",
    )
    .aliases(&["badger.span-store-ttl"]),
    OptionSpec::new(
        "embedded.sync-policy",
        Some("every-batch"),
        "every-batch: fsync before acknowledging (survives power loss); os-buffer: hand writes to the OS before acknowledging (survives kill -9, not power loss); never: for benchmarks only",
    ),
];

pub const COLLECTOR: &[OptionSpec] = &[
    OptionSpec::new("collector.otlp.enabled", Some("true"), "Accept OTLP on gRPC and HTTP").jaeger(),
    OptionSpec::new("collector.otlp.grpc.host-port", Some(":4317"), "OTLP gRPC receiver host:port").jaeger(),
    OptionSpec::new("collector.otlp.http.host-port", Some(":4318"), "OTLP HTTP receiver host:port").jaeger(),
    OptionSpec::new(
        "collector.grpc-server.host-port",
        Some(":14250"),
        "Jaeger gRPC receiver (PostSpans, and sampling) host:port; empty turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "collector.http-server.host-port",
        Some(":14268"),
        "Jaeger Thrift HTTP receiver (POST /api/traces, GET /api/sampling) host:port; empty turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "collector.zipkin.host-port",
        Some(":9411"),
        "Zipkin receiver (v1 and v2, JSON, Thrift, protobuf) host:port; empty turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "processor.jaeger-compact.server-host-port",
        Some(":6831"),
        "Agent UDP receiver, Thrift compact emitBatch; empty turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "processor.jaeger-binary.server-host-port",
        Some(":6832"),
        "Agent UDP receiver, Thrift binary emitBatch; empty turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "collector.grpc-server.max-message-size",
        Some("4MiB"),
        "Largest gRPC request a receiver accepts, in bytes (units allowed: 4MiB)",
    )
    .jaeger(),
    OptionSpec::new(
        "collector.http-server.max-request-size",
        Some("16MiB"),
        "Largest HTTP request body a receiver accepts after decompression (larger: 413)",
    ),
    OptionSpec::new(
        "collector.queue-size-bytes",
        Some("256MiB"),
        "Bytes of spans the collector holds in flight; beyond it senders get a retryable 429/RESOURCE_EXHAUSTED",
    ),
];

pub const SAMPLING: &[OptionSpec] = &[
    OptionSpec::new(
        "sampling.strategies-file",
        None,
        "Jaeger sampling strategies JSON file served to clients; without it every service samples at the default probability",
    )
    .jaeger(),
    OptionSpec::new(
        "sampling.strategies-reload-interval",
        Some("5s"),
        "How often the strategies file is re-read (a broken new file is refused, the old strategies stay); 0s turns it off",
    )
    .jaeger(),
    OptionSpec::new(
        "sampling.default-sampling-probability",
        Some("0.001"),
        "Sampling probability of the default strategy (all-in-one: 1, like Jaeger's)",
    )
    .jaeger(),
    OptionSpec::new("sampling.http.host-port", Some(":5778"), "Remote sampling HTTP server (any path with ?service=) host:port; empty turns it off"),
    OptionSpec::new("sampling.grpc.host-port", Some(":5779"), "Remote sampling gRPC server (jaeger.api_v2.SamplingManager) host:port; empty turns it off"),
];

pub const QUERY: &[OptionSpec] = &[
    OptionSpec::new("query.http-server.host-port", Some(":16686"), "Query HTTP server (API and UI) host:port").jaeger(),
    OptionSpec::new("query.grpc-server.host-port", Some(":16685"), "Query gRPC server (api_v2, api_v3, health) host:port; empty turns it off")
        .jaeger(),
    OptionSpec::new(
        "remote-storage.grpc.host-port",
        Some(":17271"),
        "Jaeger remote-storage gRPC server (jaeger.storage.v2 TraceReader/DependencyReader) host:port; empty turns it off",
    ),
    OptionSpec::new("query.base-path", Some("/"), "Path prefix of every query HTTP route, e.g. /jaeger").jaeger(),
    OptionSpec::new(
        "query.max-clock-skew-adjustment",
        Some("0s"),
        "Largest clock-skew correction applied to spans; 0s turns the adjuster off",
    )
    .jaeger(),
    OptionSpec::new("multi-tenancy.enabled", Some("false"), "Choose each query's namespace by a request header (Jaeger's multi-tenancy)").jaeger(),
    OptionSpec::new("multi-tenancy.header", Some("x-tenant"), "The header naming the tenant (namespace) of a query").jaeger(),
    OptionSpec::new("multi-tenancy.tenants", Some(""), "Comma-separated allowed tenants; empty allows any").jaeger(),
    OptionSpec::new(
        "testing.purge-endpoint",
        Some("false"),
        "Serve POST /purge, which DELETES ALL DATA, for Jaeger's storage integration suite; never in production",
    ),
    OptionSpec::new("testing.purge-host-port", Some(":9231"), "Where the purge endpoint listens (with --testing.purge-endpoint)"),
    OptionSpec::new("query.max-spans-per-trace", Some("100000"), "Spans returned per trace; beyond it a warning"),
];

/// Every key any role accepts (for checking config files).
pub fn all_keys() -> Vec<&'static str> {
    [COMMON, STORAGE, COLLECTOR, SAMPLING, QUERY].iter().flat_map(|group| group.iter().map(|s| s.key)).collect()
}

/// The options of `all-in-one`.
pub fn all_in_one() -> Vec<crate::options::OptionSpec> {
    let mut specs: Vec<OptionSpec> = [COMMON, STORAGE, COLLECTOR, SAMPLING, QUERY].concat();
    for spec in &mut specs {
        match spec.key {
            "admin.http.host-port" => spec.default = Some(":14269"),
            // Jaeger's all-in-one samples everything by default: it is for trying things out.
            "sampling.default-sampling-probability" => spec.default = Some("1"),
            _ => {}
        }
    }
    specs
}
