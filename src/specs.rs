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
    OptionSpec::new("span-storage.type", Some("embedded"), "Span storage: embedded (on disk, default; `badger` is accepted as a synonym), memory, elasticsearch (or opensearch), or kafka (collector only: Jaeger's streaming strategy)")
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

/// Where each namespace's spans go and how spans are attributed to namespaces.
pub const NAMESPACES: &[OptionSpec] = &[OptionSpec::new(
    "namespaces.config",
    None,
    "TOML file: namespace attribution rules and, per namespace, its Elasticsearch target (server_urls, index_prefix, credentials as files); see docs/namespaces.md",
)];

/// One Elasticsearch/OpenSearch target from flags (Jaeger's `--es.*` names); with
/// `--namespaces.config` these are the defaults every namespace table starts from.
pub const ELASTICSEARCH: &[OptionSpec] = &[
    OptionSpec::new("es.server-urls", Some("http://127.0.0.1:9200"), "Comma-separated Elasticsearch/OpenSearch URLs")
        .jaeger(),
    OptionSpec::new("es.index-prefix", Some(""), "Prefix of every index name (`prod` -> prod-jaeger-span-...)")
        .jaeger(),
    OptionSpec::new("es.username", None, "Basic-auth user name (the password comes from --es.password-file)").jaeger(),
    OptionSpec::new("es.password-file", None, "File holding the basic-auth password; re-read when it changes").jaeger(),
    OptionSpec::new("es.token-file", None, "File holding a bearer token; re-read when it changes").jaeger(),
    OptionSpec::new("es.api-key-file", None, "File holding an Elasticsearch API key; re-read when it changes"),
    OptionSpec::new(
        "es.bearer-token-propagation",
        Some("false"),
        "Query reads send the caller's bearer token (HTTP Authorization / X-Forwarded-Access-Token, gRPC bearer.token / authorization metadata) instead of the configured credentials",
    )
    .jaeger(),
    OptionSpec::new("es.tls.enabled", Some("false"), "Use TLS (implied by https:// URLs)").jaeger(),
    OptionSpec::new("es.tls.ca", None, "CA bundle (PEM) that verifies the server").jaeger(),
    OptionSpec::new("es.tls.cert", None, "Client certificate (PEM)").jaeger(),
    OptionSpec::new("es.tls.key", None, "Client private key (PEM)").jaeger(),
    OptionSpec::new("es.tls.server-name", None, "Server name to verify instead of the URL's host").jaeger(),
    OptionSpec::new("es.tls.skip-host-verify", Some("false"), "DANGEROUS: accept any server certificate").jaeger(),
    OptionSpec::new(
        "es.use-aliases",
        Some("false"),
        "Write to <prefix>jaeger-span-write and read from -read aliases (es-rollover)",
    )
    .jaeger(),
    OptionSpec::new("es.create-index-templates", Some("true"), "Install Jaeger's index templates at start-up").jaeger(),
    OptionSpec::new("es.num-shards", Some("5"), "Shards of new indices").jaeger(),
    OptionSpec::new("es.num-replicas", Some("1"), "Replicas of new indices").jaeger(),
    OptionSpec::new("es.max-span-age", Some("72h"), "How far back reads look when a request gives no time range")
        .jaeger(),
    OptionSpec::new("es.max-doc-count", Some("10000"), "Documents per search page").jaeger(),
    OptionSpec::new("es.timeout", Some("30s"), "Timeout of one request").jaeger(),
    OptionSpec::new("es.bulk.size", Some("5000000"), "Bytes per bulk request").jaeger(),
    OptionSpec::new("es.bulk.actions", Some("1000"), "Documents per bulk request").jaeger(),
    OptionSpec::new("es.bulk.workers", Some("4"), "Bulk requests in flight").jaeger(),
    OptionSpec::new("es.bulk.flush-interval", Some("200ms"), "Longest a document waits for its bulk request").jaeger(),
    OptionSpec::new(
        "es.version",
        None,
        "Major server version (7, 8, 9; OpenSearch 1-3 as 101-103); detected when unset",
    )
    .jaeger(),
];

/// `spoor collector --span-storage.type=kafka`: Jaeger's `--kafka.producer.*` names.
pub const KAFKA_PRODUCER: &[OptionSpec] = &[
    OptionSpec::new("kafka.producer.brokers", Some("127.0.0.1:9092"), "Comma-separated Kafka brokers").jaeger(),
    OptionSpec::new("kafka.producer.topic", Some("jaeger-spans"), "Topic spans are written to").jaeger(),
    OptionSpec::new(
        "kafka.producer.encoding",
        Some("protobuf"),
        "protobuf (Jaeger's, the default), json or otlp_proto",
    )
    .jaeger(),
    OptionSpec::new("kafka.producer.compression", Some("none"), "none, gzip, snappy, lz4 or zstd").jaeger(),
    OptionSpec::new(
        "kafka.producer.required-acks",
        Some("all"),
        "all (needed for the idempotent producer), local or noack",
    )
    .jaeger(),
    OptionSpec::new("kafka.producer.batch-linger", Some("5ms"), "How long the producer waits to fill a batch").jaeger(),
    OptionSpec::new("kafka.producer.batch-size", Some("1000000"), "Bytes per produce batch").jaeger(),
    OptionSpec::new("kafka.producer.max-message-bytes", Some("1000000"), "Largest message").jaeger(),
    OptionSpec::new(
        "kafka.producer.spool.dir",
        Some("./spoor-spool"),
        "Disk spool for spans while Kafka is unreachable or slow",
    ),
    OptionSpec::new(
        "kafka.producer.spool.max-bytes",
        Some("1GiB"),
        "Spool size; when full senders get a retryable error",
    ),
];

/// `spoor ingester`: Jaeger's `--kafka.consumer.*` names.
pub const INGESTER: &[OptionSpec] = &[
    OptionSpec::new("kafka.consumer.brokers", Some("127.0.0.1:9092"), "Comma-separated Kafka brokers").jaeger(),
    OptionSpec::new("kafka.consumer.topic", Some("jaeger-spans"), "Topic spans are read from").jaeger(),
    OptionSpec::new("kafka.consumer.group-id", Some("jaeger-ingester"), "Consumer group").jaeger(),
    OptionSpec::new("kafka.consumer.client-id", Some("jaeger-ingester"), "Kafka client id").jaeger(),
    OptionSpec::new(
        "kafka.consumer.encoding",
        Some("protobuf"),
        "Encoding of messages without Spoor's encoding header (Jaeger's own collector): protobuf, json or otlp_proto",
    )
    .jaeger(),
    OptionSpec::new(
        "ingester.instance-id",
        None,
        "Static group membership id (e.g. the pod name, env POD_NAME); a restart with the same id causes no rebalance",
    ),
    OptionSpec::new("ingester.dead-letter-topic", None, "Where undecodable messages go (default <topic>.dead-letter)"),
];

/// Every key any role accepts (for checking config files).
pub fn all_keys() -> Vec<&'static str> {
    [
        COMMON,
        STORAGE,
        COLLECTOR,
        SAMPLING,
        QUERY,
        NAMESPACES,
        ELASTICSEARCH,
        KAFKA_PRODUCER,
        KAFKA_PRODUCER_SECURITY,
        INGESTER,
        KAFKA_CONSUMER_SECURITY,
        ES_TOOLS,
    ]
    .iter()
    .flat_map(|group| group.iter().map(|s| s.key))
    .chain(crate::tls_options::all_specs().into_iter().map(|s| s.key))
    .collect()
}

fn with_defaults(mut specs: Vec<OptionSpec>, defaults: &[(&str, &'static str)]) -> Vec<OptionSpec> {
    for spec in &mut specs {
        if let Some((_, value)) = defaults.iter().find(|(key, _)| *key == spec.key) {
            spec.default = Some(value);
        }
    }
    specs
}

/// The options of `collector`: receivers into a store or into Kafka.
pub fn collector() -> Vec<OptionSpec> {
    let specs =
        [COMMON, STORAGE, COLLECTOR, SAMPLING, NAMESPACES, ELASTICSEARCH, KAFKA_PRODUCER, KAFKA_PRODUCER_SECURITY]
            .concat();
    let specs = [specs, crate::tls_options::collector_specs(), crate::tls_options::admin_specs()].concat();
    with_defaults(specs, &[("admin.http.host-port", ":14269")])
}

/// The options of `ingester`: Kafka into a store.
pub fn ingester() -> Vec<OptionSpec> {
    let specs = [COMMON, STORAGE, NAMESPACES, ELASTICSEARCH, INGESTER, KAFKA_CONSUMER_SECURITY].concat();
    let specs = [specs, crate::tls_options::admin_specs()].concat();
    with_defaults(specs, &[("admin.http.host-port", ":14270"), ("span-storage.type", "elasticsearch")])
}

/// The options of `query`: the query APIs and UI over a store.
pub fn query() -> Vec<OptionSpec> {
    let specs = [COMMON, STORAGE, QUERY, NAMESPACES, ELASTICSEARCH].concat();
    let specs = [specs, crate::tls_options::query_specs(), crate::tls_options::admin_specs()].concat();
    with_defaults(specs, &[("admin.http.host-port", ":16687")])
}

/// The options of `all-in-one`.
pub fn all_in_one() -> Vec<crate::options::OptionSpec> {
    let mut specs: Vec<OptionSpec> = [COMMON, STORAGE, COLLECTOR, SAMPLING, QUERY, NAMESPACES, ELASTICSEARCH].concat();
    specs.extend(crate::tls_options::all_specs());
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

/// Options of the Elasticsearch tools (`es-index-cleaner`, `es-rollover`, `dependencies`).
const ES_TOOLS: &[OptionSpec] = &[
    OptionSpec::new(
        "rollover",
        Some("false"),
        "es-index-cleaner: clean rollover indices (-000001) instead of daily ones",
    )
    .jaeger(),
    OptionSpec::new("archive", Some("false"), "es-index-cleaner: clean archive indices").jaeger(),
    OptionSpec::new("index-date-separator", Some("-"), "Separator of the date in daily index names").jaeger(),
    OptionSpec::new("conditions", Some("{\"max_age\":\"2d\"}"), "es-rollover rollover: the conditions").jaeger(),
    OptionSpec::new(
        "unit",
        Some("days"),
        "es-rollover lookback: unit of --unit-count (minutes, hours, days, weeks, months, years)",
    )
    .jaeger(),
    OptionSpec::new("unit-count", Some("1"), "es-rollover lookback: how many units of indices stay readable").jaeger(),
    OptionSpec::new("skip-dependencies", Some("false"), "es-rollover init: no dependencies index").jaeger(),
    OptionSpec::new(
        "dependencies.lookback",
        Some("24h"),
        "dependencies: how far back from --dependencies.end spans are read",
    ),
    OptionSpec::new("dependencies.end", None, "dependencies: end of the window (RFC 3339; default now)"),
];

pub fn es_index_cleaner() -> Vec<OptionSpec> {
    [COMMON, NAMESPACES, ELASTICSEARCH, ES_TOOLS].concat()
}

pub fn es_rollover() -> Vec<OptionSpec> {
    [COMMON, NAMESPACES, ELASTICSEARCH, ES_TOOLS].concat()
}

pub fn dependencies() -> Vec<OptionSpec> {
    let specs = [COMMON, STORAGE, NAMESPACES, ELASTICSEARCH, ES_TOOLS].concat();
    with_defaults(specs, &[("span-storage.type", "elasticsearch")])
}

/// TLS and SASL of a Kafka client (Jaeger's `--kafka.producer.*` / `--kafka.consumer.*` names), as
/// librdkafka properties; `prefix` is `kafka.producer` or `kafka.consumer`.
macro_rules! kafka_security_specs {
    ($prefix:literal) => {
        &[
            OptionSpec::new(
                concat!($prefix, ".tls.enabled"),
                Some("false"),
                "Connect to Kafka over TLS (e.g. Strimzi's 9093)",
            )
            .jaeger(),
            OptionSpec::new(concat!($prefix, ".tls.ca"), None, "CA bundle (PEM) that verifies the brokers").jaeger(),
            OptionSpec::new(concat!($prefix, ".tls.cert"), None, "Client certificate (PEM) for mTLS").jaeger(),
            OptionSpec::new(concat!($prefix, ".tls.key"), None, "Client private key (PEM) for mTLS").jaeger(),
            OptionSpec::new(
                concat!($prefix, ".tls.skip-host-verify"),
                Some("false"),
                "DANGEROUS: accept any broker certificate",
            )
            .jaeger(),
            OptionSpec::new(
                concat!($prefix, ".authentication"),
                Some("none"),
                "none, tls (client certificate) or plaintext (SASL PLAIN/SCRAM)",
            )
            .jaeger(),
            OptionSpec::new(concat!($prefix, ".plaintext.username"), None, "SASL user name").jaeger(),
            OptionSpec::new(concat!($prefix, ".plaintext.password-file"), None, "File holding the SASL password"),
            OptionSpec::new(
                concat!($prefix, ".plaintext.mechanism"),
                Some("PLAIN"),
                "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            )
            .jaeger(),
        ]
    };
}

pub const KAFKA_PRODUCER_SECURITY: &[OptionSpec] = kafka_security_specs!("kafka.producer");
pub const KAFKA_CONSUMER_SECURITY: &[OptionSpec] = kafka_security_specs!("kafka.consumer");
