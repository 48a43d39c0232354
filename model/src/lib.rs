//! Spoor's span model (Jaeger-shaped, with typed ids and attributes) and the codecs to and from
//! OTLP, Jaeger `api_v2` protobuf, Jaeger Thrift, Zipkin and the Kafka message.
#![forbid(unsafe_code)]

pub mod civil_date;
pub mod duration;
mod ids;
mod namespace;
pub mod namespace_rules;
mod span;

pub mod jaeger_proto;
pub mod kafka;
pub mod otlp;
pub mod proto;
pub mod thrift;
pub mod zipkin;

pub use ids::{IdParseError, SpanId, TraceId};
pub use namespace::Namespace;
pub use span::{
    AttributeValue, KeyValue, Log, Process, RefType, Span, SpanBatch, SpanKind, SpanRef, StatusCode, FLAG_DEBUG,
    FLAG_FIREHOSE, FLAG_SAMPLED,
};
