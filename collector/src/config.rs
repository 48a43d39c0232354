//! Configuration of the pipeline and the OTLP receivers. Units are in the names; unknown keys are
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
}
