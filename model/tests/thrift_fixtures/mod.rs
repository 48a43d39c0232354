//! The one logical trace every protocol's fixture carries, built here from the Jaeger Thrift and
//! Zipkin v1 Thrift field tables (spec §1.7, §1.8), plus helpers for hex fixtures and for comparing
//! what different protocols stored.
//!
//! The trace: service `checkout` (host `checkout-7d9f`, 10.0.0.10:8080, client `Go-2.30.0`),
//! 128-bit trace id `463ac35c9f6413ad48485a3953bb6124`, three spans:
//!
//! | span | id | parent | kind | start (µs after T0) | duration (µs) | notes |
//! |---|---|---|---|---|---|---|
//! | `GET /checkout` | `5b4185666d50f68b` | - | server | 0 | 150000 | a tag of every type |
//! | `load-cart` | `1d2ad7a6b3c9e4f0` | root | - | 5000 | 40000 | `component=cart`, log `cache miss` at 20000 |
//! | `SELECT cart` | `7c3e5f1a9b0d2e46` | load-cart | client | 10000 | 25000 | `error`, remote `postgres` |
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;

use spoor_model::thrift::{ThriftBatch, ThriftLog, ThriftProcess, ThriftSpan, ThriftTag};
use spoor_model::zipkin::{
    AnnotationType, ZipkinThriftAnnotation, ZipkinThriftBinaryAnnotation, ZipkinThriftEndpoint, ZipkinThriftSpan,
};
use spoor_model::Span;

pub const T0: i64 = 1_700_000_000_000_000;
pub const TRACE_HIGH: i64 = 0x463a_c35c_9f64_13ad;
pub const TRACE_LOW: i64 = 0x4848_5a39_53bb_6124;
pub const ROOT: i64 = 0x5b41_8566_6d50_f68b;
pub const LOAD_CART: i64 = 0x1d2a_d7a6_b3c9_e4f0;
pub const SELECT_CART: i64 = 0x7c3e_5f1a_9b0d_2e46;
/// 10.0.0.10 and 10.0.0.20 packed big-endian.
pub const CHECKOUT_IPV4: i32 = 0x0a00_000a;
pub const POSTGRES_IPV4: i32 = 0x0a00_0014;

fn span(id: i64, parent: i64, name: &str, start: i64, duration: i64, tags: Vec<ThriftTag>) -> ThriftSpan {
    ThriftSpan {
        trace_id_low: TRACE_LOW,
        trace_id_high: TRACE_HIGH,
        span_id: id,
        parent_span_id: parent,
        operation_name: name.to_owned(),
        references: None,
        flags: 1,
        start_time: T0 + start,
        duration,
        tags: Some(tags),
        logs: None,
    }
}

/// The trace as a Jaeger client sends it: one batch for the `checkout` process.
pub fn jaeger_batch() -> ThriftBatch {
    let root = span(
        ROOT,
        0,
        "GET /checkout",
        0,
        150_000,
        vec![
            ThriftTag::string("span.kind", "server"),
            ThriftTag::string("http.method", "GET"),
            ThriftTag::long("http.status_code", 500),
            ThriftTag::bool("user.authenticated", true),
            ThriftTag::double("retry.ratio", 0.25),
            ThriftTag::binary("request.digest", vec![0xca, 0xfe, 0x01]),
        ],
    );
    let mut load_cart = span(
        LOAD_CART,
        ROOT,
        "load-cart",
        5_000,
        40_000,
        vec![ThriftTag::string("component", "cart"), ThriftTag::long("cart.items", 3)],
    );
    load_cart.logs =
        Some(vec![ThriftLog { timestamp: T0 + 20_000, fields: vec![ThriftTag::string("event", "cache miss")] }]);
    let select_cart = span(
        SELECT_CART,
        LOAD_CART,
        "SELECT cart",
        10_000,
        25_000,
        vec![
            ThriftTag::string("db.system", "postgresql"),
            ThriftTag::bool("error", true),
            ThriftTag::string("peer.service", "postgres"),
            ThriftTag::long("peer.ipv4", i64::from(POSTGRES_IPV4)),
            ThriftTag::long("peer.port", 5432),
            ThriftTag::string("span.kind", "client"),
        ],
    );
    ThriftBatch {
        process: ThriftProcess {
            service_name: "checkout".to_owned(),
            tags: Some(vec![
                ThriftTag::string("jaeger.version", "Go-2.30.0"),
                ThriftTag::string("hostname", "checkout-7d9f"),
                ThriftTag::long("ip", i64::from(CHECKOUT_IPV4)),
                ThriftTag::long("port", 8080),
            ]),
        },
        spans: vec![root, load_cart, select_cart],
        seq_no: Some(7),
        stats: None,
    }
}

fn endpoint(service: &str, ipv4: i32, port: i16) -> ZipkinThriftEndpoint {
    ZipkinThriftEndpoint { ipv4, port, service_name: service.to_owned(), ipv6: None }
}

fn checkout() -> Option<ZipkinThriftEndpoint> {
    Some(endpoint("checkout", CHECKOUT_IPV4, 8080))
}

fn annotation(timestamp: i64, value: &str) -> ZipkinThriftAnnotation {
    ZipkinThriftAnnotation { timestamp: T0 + timestamp, value: value.to_owned(), host: checkout() }
}

fn binary(key: &str, annotation_type: AnnotationType, value: Vec<u8>) -> ZipkinThriftBinaryAnnotation {
    ZipkinThriftBinaryAnnotation { key: key.to_owned(), value, annotation_type, host: checkout() }
}

fn string(key: &str, value: &str) -> ZipkinThriftBinaryAnnotation {
    binary(key, AnnotationType::String, value.as_bytes().to_vec())
}

/// Binary annotations a Jaeger client in Zipkin mode adds to every span for its process.
fn process_annotations() -> Vec<ZipkinThriftBinaryAnnotation> {
    vec![string("jaeger.version", "Go-2.30.0"), string("jaeger.hostname", "checkout-7d9f")]
}

fn zipkin_span(id: i64, parent: Option<i64>, name: &str, start: i64, duration: i64) -> ZipkinThriftSpan {
    ZipkinThriftSpan {
        trace_id: TRACE_LOW,
        name: name.to_owned(),
        id,
        parent_id: parent,
        annotations: vec![],
        binary_annotations: process_annotations(),
        debug: false,
        timestamp: Some(T0 + start),
        duration: Some(duration),
        trace_id_high: Some(TRACE_HIGH),
    }
}

/// The trace as Zipkin v1 Thrift (`list<zipkincore.Span>`), as the Mixer's Jaeger client sends it.
pub fn zipkin_v1_spans() -> Vec<ZipkinThriftSpan> {
    let mut root = zipkin_span(ROOT, None, "GET /checkout", 0, 150_000);
    root.annotations = vec![annotation(0, "sr"), annotation(150_000, "ss")];
    root.binary_annotations.extend([
        string("http.method", "GET"),
        binary("http.status_code", AnnotationType::I32, 500i32.to_be_bytes().to_vec()),
        binary("user.authenticated", AnnotationType::Bool, vec![1]),
        binary("retry.ratio", AnnotationType::Double, 0.25f64.to_be_bytes().to_vec()),
        binary("request.digest", AnnotationType::Bytes, vec![0xca, 0xfe, 0x01]),
    ]);
    let mut load_cart = zipkin_span(LOAD_CART, Some(ROOT), "load-cart", 5_000, 40_000);
    load_cart.annotations = vec![annotation(20_000, "cache miss")];
    load_cart
        .binary_annotations
        .extend([string("lc", "cart"), binary("cart.items", AnnotationType::I64, 3i64.to_be_bytes().to_vec())]);
    let mut select_cart = zipkin_span(SELECT_CART, Some(LOAD_CART), "SELECT cart", 10_000, 25_000);
    select_cart.annotations = vec![annotation(10_000, "cs"), annotation(35_000, "cr")];
    select_cart.binary_annotations.extend([
        string("db.system", "postgresql"),
        binary("error", AnnotationType::Bool, vec![1]),
        ZipkinThriftBinaryAnnotation {
            key: "sa".to_owned(),
            value: vec![1],
            annotation_type: AnnotationType::Bool,
            host: Some(endpoint("postgres", POSTGRES_IPV4, 5432)),
        },
    ]);
    vec![root, load_cart, select_cart]
}

/// Hex text, 32 bytes a line, as the `.hex` fixtures hold it.
pub fn to_hex_lines(bytes: &[u8]) -> String {
    let mut text = String::new();
    for line in bytes.chunks(32) {
        text.push_str(&hex::encode(line));
        text.push('\n');
    }
    text
}

/// Bytes from hex text; whitespace and `#` comments are ignored.
pub fn from_hex_text(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).expect("fixture is hex")
}

/// A span as the cross-protocol comparison sees it: everything stored, values as text (Zipkin v2
/// tags are strings), tags as sets (protocols order them differently), protocol-specific tags out.
#[derive(Debug, PartialEq)]
pub struct Comparable {
    pub ids: String,
    pub operation_name: String,
    pub references: Vec<String>,
    pub flags: u32,
    pub start_time_unix_nano: u64,
    pub duration_nanos: u64,
    pub tags: BTreeSet<(String, String)>,
    pub logs: Vec<(u64, BTreeSet<(String, String)>)>,
    pub service_name: String,
    pub process_tags: BTreeSet<(String, String)>,
    pub warnings: Vec<String>,
}

fn texts(tags: &[spoor_model::KeyValue], ignored: &[&str]) -> BTreeSet<(String, String)> {
    tags.iter()
        .filter(|tag| !ignored.contains(&tag.key.as_str()))
        .map(|tag| (tag.key.clone(), tag.value.as_string().into_owned()))
        .collect()
}

pub fn comparable(spans: &[Span], ignored_tags: &[&str]) -> Vec<Comparable> {
    let mut out: Vec<Comparable> = spans
        .iter()
        .map(|span| Comparable {
            ids: format!("{}/{}", span.trace_id, span.span_id),
            operation_name: span.operation_name.clone(),
            references: span
                .references
                .iter()
                .map(|r| format!("{}:{}/{}", r.ref_type.as_str(), r.trace_id, r.span_id))
                .collect(),
            flags: span.flags,
            start_time_unix_nano: span.start_time_unix_nano,
            duration_nanos: span.duration_nanos,
            tags: texts(&span.tags, ignored_tags),
            logs: span.logs.iter().map(|log| (log.timestamp_unix_nano, texts(&log.fields, &[]))).collect(),
            service_name: span.process.service_name.clone(),
            process_tags: texts(&span.process.tags, &[]),
            warnings: span.warnings.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.ids.cmp(&b.ids));
    out
}
