//! Helpers shared by the integration tests: golden files and a jsonpb-style rendering of
//! `jaeger.api_v2` spans.
#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{json, Map, Value};
use spoor_model::proto::jaeger::api_v2;

/// The env variable that rewrites golden files instead of comparing against them.
pub const BLESS_ENV: &str = "SPOOR_BLESS";

pub fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden").join(name)
}

pub fn read_golden(name: &str) -> String {
    let path = golden_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

pub fn load_otlp_request(name: &str) -> ExportTraceServiceRequest {
    serde_json::from_str(&read_golden(name)).unwrap_or_else(|e| panic!("fixture {name} is not OTLP/JSON: {e}"))
}

/// `span` as a Jaeger format (api_v2 protobuf/jsonpb, Thrift, Zipkin) carries it: without scope
/// attributes and link attributes, which only OTLP has a place for.
pub fn without_otlp_only_attributes(span: &spoor_model::Span) -> spoor_model::Span {
    let mut jaeger = span.clone();
    jaeger.scope_attributes.clear();
    for reference in &mut jaeger.references {
        reference.attributes.clear();
    }
    jaeger
}

/// Compares `actual` with the golden file `name`, or rewrites the file when `SPOOR_BLESS` is set.
/// A missing golden file fails the test unless blessing.
pub fn assert_golden(name: &str, actual: &str) {
    let bless = std::env::var_os(BLESS_ENV).is_some_and(|value| !value.is_empty() && value != "0");
    if let Err(message) = check_golden(name, actual, bless) {
        panic!("{message}");
    }
}

pub fn check_golden(name: &str, actual: &str, bless: bool) -> Result<(), String> {
    let path = golden_path(name);
    if bless {
        std::fs::write(&path, actual).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "golden file {} is missing or unreadable ({e}); create it with {BLESS_ENV}=1 cargo test -p spoor-model",
            path.display()
        )
    })?;
    if expected != actual {
        let first_difference = expected
            .lines()
            .zip(actual.lines())
            .position(|(want, got)| want != got)
            .map_or_else(|| "lengths differ".to_owned(), |index| format!("first difference at line {}", index + 1));
        return Err(format!(
            "golden file {} does not match ({first_difference}); review the change and rerun with {BLESS_ENV}=1 to accept it\n--- actual ---\n{actual}",
            path.display()
        ));
    }
    Ok(())
}

pub fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("serializable");
    text.push('\n');
    text
}

// ---- jsonpb-style rendering (what Jaeger's Kafka `json` encoding writes: camelCase names, zero
// values omitted, enums by name, 64-bit integers as strings, bytes as base64, RFC 3339 times)

pub fn render_span(span: &api_v2::Span) -> Value {
    let mut out = Map::new();
    put_bytes(&mut out, "traceId", &span.trace_id);
    put_bytes(&mut out, "spanId", &span.span_id);
    put_str(&mut out, "operationName", &span.operation_name);
    if !span.references.is_empty() {
        out.insert("references".into(), span.references.iter().map(render_reference).collect());
    }
    if span.flags != 0 {
        out.insert("flags".into(), json!(span.flags));
    }
    if let Some(time) = &span.start_time {
        out.insert("startTime".into(), json!(rfc3339(time.seconds, time.nanos)));
    }
    if let Some(duration) = &span.duration {
        out.insert("duration".into(), json!(format!("{}s", seconds_text(duration.seconds, duration.nanos))));
    }
    put_key_values(&mut out, "tags", &span.tags);
    if !span.logs.is_empty() {
        let logs = span.logs.iter().map(|log| {
            let mut rendered = Map::new();
            if let Some(time) = &log.timestamp {
                rendered.insert("timestamp".into(), json!(rfc3339(time.seconds, time.nanos)));
            }
            put_key_values(&mut rendered, "fields", &log.fields);
            Value::Object(rendered)
        });
        out.insert("logs".into(), logs.collect());
    }
    if let Some(process) = &span.process {
        let mut rendered = Map::new();
        put_str(&mut rendered, "serviceName", &process.service_name);
        put_key_values(&mut rendered, "tags", &process.tags);
        out.insert("process".into(), Value::Object(rendered));
    }
    put_str(&mut out, "processId", &span.process_id);
    if !span.warnings.is_empty() {
        out.insert("warnings".into(), json!(span.warnings));
    }
    Value::Object(out)
}

fn render_reference(reference: &api_v2::SpanRef) -> Value {
    let mut out = Map::new();
    put_bytes(&mut out, "traceId", &reference.trace_id);
    put_bytes(&mut out, "spanId", &reference.span_id);
    if reference.ref_type != 0 {
        let name = api_v2::SpanRefType::try_from(reference.ref_type).map_or("UNKNOWN", |t| t.as_str_name());
        out.insert("refType".into(), json!(name));
    }
    Value::Object(out)
}

fn put_key_values(out: &mut Map<String, Value>, name: &str, key_values: &[api_v2::KeyValue]) {
    if key_values.is_empty() {
        return;
    }
    let rendered = key_values.iter().map(|kv| {
        let mut item = Map::new();
        put_str(&mut item, "key", &kv.key);
        if kv.v_type != 0 {
            let name = api_v2::ValueType::try_from(kv.v_type).map_or("UNKNOWN", |t| t.as_str_name());
            item.insert("vType".into(), json!(name));
        }
        put_str(&mut item, "vStr", &kv.v_str);
        if kv.v_bool {
            item.insert("vBool".into(), json!(true));
        }
        if kv.v_int64 != 0 {
            item.insert("vInt64".into(), json!(kv.v_int64.to_string()));
        }
        if kv.v_float64 != 0.0 {
            item.insert("vFloat64".into(), json!(kv.v_float64));
        }
        put_bytes(&mut item, "vBinary", &kv.v_binary);
        Value::Object(item)
    });
    out.insert(name.into(), rendered.collect());
}

fn put_str(out: &mut Map<String, Value>, name: &str, value: &str) {
    if !value.is_empty() {
        out.insert(name.into(), json!(value));
    }
}

fn put_bytes(out: &mut Map<String, Value>, name: &str, value: &[u8]) {
    if !value.is_empty() {
        out.insert(name.into(), json!(base64::engine::general_purpose::STANDARD.encode(value)));
    }
}

/// `seconds.fraction` with 0, 3, 6 or 9 fraction digits, as jsonpb writes durations.
fn seconds_text(seconds: i64, nanos: i32) -> String {
    format!("{seconds}{}", fraction(nanos))
}

fn fraction(nanos: i32) -> String {
    match nanos {
        0 => String::new(),
        n if n % 1_000_000 == 0 => format!(".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => format!(".{:06}", n / 1_000),
        n => format!(".{n:09}"),
    }
}

/// RFC 3339 in UTC with jsonpb's fraction rule.
pub fn rfc3339(seconds: i64, nanos: i32) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = spoor_model::civil_date::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60,
        fraction(nanos)
    )
}

/// A small deterministic generator (xorshift64*), so the fuzz-ish tests need no extra crate.
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next_u64() as u8).collect()
    }
}
