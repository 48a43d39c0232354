//! `google.rpc.Status` and `google.rpc.RetryInfo`, the error body OTLP/HTTP answers with and the
//! `grpc-status-details-bin` payload gRPC carries. Declared here with prost because only these
//! two messages are needed.

use std::time::Duration;

use prost::Message;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// A `google.rpc.Status` with code and message, and a `RetryInfo` detail when `retry_after` is set.
pub fn rpc_status(code: i32, message: &str, retry_after: Option<Duration>) -> RpcStatus {
    let details = retry_after
        .map(|delay| {
            let retry_info = RetryInfo {
                retry_delay: Some(prost_types::Duration {
                    seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                    nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
                }),
            };
            prost_types::Any { type_url: RETRY_INFO_TYPE_URL.to_owned(), value: retry_info.encode_to_vec() }
        })
        .into_iter()
        .collect();
    RpcStatus { code, message: message.to_owned(), details }
}

/// The encoded `google.rpc.Status` for a retryable gRPC error (the `grpc-status-details-bin` value).
pub fn status_with_retry_info(code: i32, message: &str, retry_after: Duration) -> Vec<u8> {
    rpc_status(code, message, Some(retry_after)).encode_to_vec()
}

/// The OTLP/JSON form of a `google.rpc.Status` (proto3 JSON mapping: `RetryInfo` as an `@type`
/// object with a duration string).
pub fn rpc_status_json(code: i32, message: &str, retry_after: Option<Duration>) -> serde_json::Value {
    let mut status = serde_json::json!({ "code": code, "message": message });
    if let Some(delay) = retry_after {
        status["details"] = serde_json::json!([{
            "@type": RETRY_INFO_TYPE_URL,
            "retryDelay": format!("{}s", delay.as_secs()),
        }]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_through_the_status_detail() {
        let bytes = status_with_retry_info(8, "overloaded", Duration::from_secs(3));
        let status = RpcStatus::decode(bytes.as_slice()).unwrap();
        assert_eq!(status.code, 8);
        assert_eq!(status.message, "overloaded");
        assert_eq!(status.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(status.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 3);
    }

    #[test]
    fn json_status_names_retry_delay_in_seconds() {
        let json = rpc_status_json(14, "down", Some(Duration::from_secs(2)));
        assert_eq!(json["details"][0]["retryDelay"], "2s");
        assert!(rpc_status_json(3, "bad", None).get("details").is_none());
    }
}
