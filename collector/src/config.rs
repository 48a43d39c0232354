//! Configuration of the pipeline and the receivers (OTLP, Jaeger, Zipkin, agent UDP). Units are in the names; unknown keys are
//! rejected. The binary fills these from defaults < TOML < `SPOOR_*` env < flags.

use serde::{Deserialize, Serialize};

const MIB: usize = 1024 * 1024;

/// The bounded pipeline between receivers and the writer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Estimated in-memory bytes of spans accepted but not yet stored. When a batch does not fit,
    /// the sender gets a retryable 429 / RESOURCE_EXHAUSTED at once; nothing waits and nothing
    /// acknowledged is dropped. A batch larger than the whole budget is refused permanently.
    pub max_inflight_bytes: usize,
    /// The delay suggested to senders refused for overload (`Retry-After`, gRPC `RetryInfo`).
    pub overload_retry_after_seconds: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self { max_inflight_bytes: 256 * MIB, overload_retry_after_seconds: 1 }
    }
}

/// The OTLP receivers (spec §1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// gRPC `TraceService/Export` listener, `host:port`; `:4317` is every interface (dual-stack).
    /// Empty disables the gRPC receiver.
    pub grpc_host_port: String,
    /// OTLP/HTTP `POST /v1/traces` listener, `host:port`. Empty disables the HTTP receiver.
    pub http_host_port: String,
    /// Largest gRPC message accepted, after decompression (Jaeger's default is 4 MiB).
    pub grpc_max_message_bytes: usize,
    /// Largest HTTP request body accepted, both as sent and after decompression (larger: 413).
    pub http_max_request_bytes: usize,
    /// Repair invalid UTF-8 in protobuf string fields (replacing bad bytes with U+FFFD and warning
    /// on the span) instead of refusing the request with 400. OTLP/HTTP protobuf only.
    pub lenient_utf8: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            grpc_host_port: ":4317".to_owned(),
            http_host_port: ":4318".to_owned(),
            grpc_max_message_bytes: 4 * MIB,
            http_max_request_bytes: 16 * MIB,
            lenient_utf8: true,
        }
    }
}

/// The Jaeger collector receivers (spec §1.3, §1.5). The binary may serve remote sampling on the
/// same two ports (gRPC `SamplingManager`, `GET /api/sampling`), as Jaeger's collector does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JaegerConfig {
    /// gRPC `jaeger.api_v2.CollectorService/PostSpans` listener, `host:port` (Jaeger: `:14250`).
    /// Empty disables it.
    pub grpc_host_port: String,
    /// Jaeger Thrift over HTTP, `POST /api/traces`, listener `host:port` (Jaeger: `:14268`).
    /// Empty disables it.
    pub thrift_http_host_port: String,
    /// Largest gRPC message accepted, after decompression (Jaeger's default is 4 MiB); larger is
    /// RESOURCE_EXHAUSTED.
    pub grpc_max_message_bytes: usize,
    /// Largest `POST /api/traces` body accepted, both as sent and after decompression (larger: 413).
    pub http_max_request_bytes: usize,
}

impl Default for JaegerConfig {
    fn default() -> Self {
        Self {
            grpc_host_port: ":14250".to_owned(),
            thrift_http_host_port: ":14268".to_owned(),
            grpc_max_message_bytes: 4 * MIB,
            http_max_request_bytes: 16 * MIB,
        }
    }
}

/// The Zipkin receiver (spec §1.8): `POST /api/v1/spans` and `/api/v2/spans` on 9411, where
/// Envoy/Istio sidecars send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZipkinConfig {
    /// Listener `host:port` (Zipkin's and Jaeger's `:9411`). Empty disables it.
    pub http_host_port: String,
    /// Largest request body accepted, both as sent and after decompression (larger: 413).
    pub http_max_request_bytes: usize,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        Self { http_host_port: ":9411".to_owned(), http_max_request_bytes: 16 * MIB }
    }
}

/// The agent's UDP receivers (spec §1.6): one Thrift `emitBatch` (or `emitZipkinBatch`) message
/// per datagram. Every socket has its own queue and workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Thrift compact datagrams, `host:port` (Jaeger: `:6831`). Empty disables it.
    pub thrift_compact_host_port: String,
    /// Thrift binary datagrams, `host:port` (Jaeger: `:6832`). Empty disables it.
    pub thrift_binary_host_port: String,
    /// Jaeger v1's Zipkin socket (`emitZipkinBatch` in compact, v1 port `:5775`). Empty (the
    /// default) disables it; the two sockets above take `emitZipkinBatch` too.
    pub zipkin_thrift_compact_host_port: String,
    /// Largest datagram accepted (Jaeger: 65000); a longer one is counted as a read error and
    /// dropped.
    pub max_packet_bytes: usize,
    /// Bytes of datagrams each socket holds, queued or being handled by its workers. A datagram
    /// that does not fit is dropped and counted (`jaeger_agent_thrift_udp_server_packets_dropped_total`):
    /// UDP cannot ask the sender to slow down. Should be at least `max_packet_bytes`.
    pub queue_bytes: usize,
    /// Tasks per socket that decode datagrams and submit them to the pipeline (Jaeger: 10).
    pub workers: usize,
    /// `SO_RCVBUF` of each socket; 0 keeps the system default (Jaeger's default too).
    pub socket_buffer_bytes: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            thrift_compact_host_port: ":6831".to_owned(),
            thrift_binary_host_port: ":6832".to_owned(),
            zipkin_thrift_compact_host_port: String::new(),
            max_packet_bytes: 65_000,
            queue_bytes: 16 * MIB,
            workers: 10,
            socket_buffer_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let error = serde_json::from_str::<OtlpConfig>(r#"{"grpc_host_port": ":1", "max_bytes": 3}"#).unwrap_err();
        assert!(error.to_string().contains("max_bytes"), "{error}");
    }

    #[test]
    fn missing_keys_take_defaults() {
        let config: OtlpConfig = serde_json::from_str(r#"{"http_host_port": "127.0.0.1:0"}"#).unwrap();
        assert_eq!(config.grpc_host_port, ":4317");
        assert_eq!(config.http_host_port, "127.0.0.1:0");
        assert_eq!(config.http_max_request_bytes, 16 * MIB);
        let pipeline: PipelineConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(pipeline.max_inflight_bytes, 256 * MIB);
    }

    #[test]
    fn jaeger_zipkin_and_agent_defaults_are_jaegers_ports() {
        let jaeger = JaegerConfig::default();
        assert_eq!((jaeger.grpc_host_port.as_str(), jaeger.thrift_http_host_port.as_str()), (":14250", ":14268"));
        assert_eq!(ZipkinConfig::default().http_host_port, ":9411");
        let agent: AgentConfig = serde_json::from_str(r#"{"workers": 2}"#).unwrap();
        assert_eq!(
            (agent.thrift_compact_host_port.as_str(), agent.thrift_binary_host_port.as_str()),
            (":6831", ":6832")
        );
        assert_eq!((agent.workers, agent.max_packet_bytes), (2, 65_000));
        let error = serde_json::from_str::<AgentConfig>(r#"{"queue_size": 1}"#).unwrap_err();
        assert!(error.to_string().contains("queue_size"), "{error}");
    }
}
