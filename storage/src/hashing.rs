//! Stable 64-bit hashes shared by the backends: a span's content hash (what makes re-writes
//! idempotent while two different spans with one span id are both kept) and the hash of a
//! `key=value` search term.
//!
//! These hashes end up in the embedded backend's on-disk keys, so their definition is part of the
//! file format: xxh3-64, fields fed in a fixed order with explicit little-endian widths and length
//! prefixes. Changing anything here changes the format.

use spoor_model::{AttributeValue, KeyValue, Span};
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// The hash of a search term: a tag key and the value's text form
/// ([`AttributeValue::as_string`]), so `error=true` matches a bool and a string alike.
///
/// Defined as xxh3-64 of `len(key)` (u64 LE) ‖ key ‖ `len(value)` (u64 LE) ‖ value, hashed in one
/// shot (this runs for every tag of every span written).
pub(crate) fn term_hash(key: &str, value_text: &str) -> u64 {
    const STACK_BYTES: usize = 256;
    let length = 16 + key.len() + value_text.len();
    let fill = |buffer: &mut [u8]| {
        let (key_len, rest) = buffer.split_at_mut(8);
        key_len.copy_from_slice(&(key.len() as u64).to_le_bytes());
        let (key_bytes, rest) = rest.split_at_mut(key.len());
        key_bytes.copy_from_slice(key.as_bytes());
        let (value_len, value_bytes) = rest.split_at_mut(8);
        value_len.copy_from_slice(&(value_text.len() as u64).to_le_bytes());
        value_bytes.copy_from_slice(value_text.as_bytes());
    };
    if length <= STACK_BYTES {
        let mut buffer = [0u8; STACK_BYTES];
        fill(&mut buffer[..length]);
        xxh3_64(&buffer[..length])
    } else {
        let mut buffer = vec![0u8; length];
        fill(&mut buffer);
        xxh3_64(&buffer)
    }
}

/// The hash of a stored tag or log field, equal to [`term_hash`] of its key and text value.
pub(crate) fn key_value_term_hash(key_value: &KeyValue) -> u64 {
    term_hash(&key_value.key, &key_value.value.as_string())
}

/// A hash over every field of a span, including its process. Two spans with the same trace id and
/// span id are "the same span" for idempotency when this hash is also equal.
pub(crate) fn span_content_hash(span: &Span) -> u64 {
    let mut hasher = StableHasher::new();
    hasher.u64(span.trace_id.high);
    hasher.u64(span.trace_id.low);
    hasher.u64(span.span_id.0);
    hasher.text(&span.operation_name);
    hasher.u64(span.references.len() as u64);
    for reference in &span.references {
        hasher.u64(reference.ref_type as u64);
        hasher.u64(reference.trace_id.high);
        hasher.u64(reference.trace_id.low);
        hasher.u64(reference.span_id.0);
    }
    hasher.u64(u64::from(span.flags));
    hasher.u64(span.start_time_unix_nano);
    hasher.u64(span.duration_nanos);
    hasher.key_values(&span.tags);
    hasher.u64(span.logs.len() as u64);
    for log in &span.logs {
        hasher.u64(log.timestamp_unix_nano);
        hasher.key_values(&log.fields);
    }
    hasher.text(&span.process.service_name);
    hasher.key_values(&span.process.tags);
    hasher.u64(span.warnings.len() as u64);
    for warning in &span.warnings {
        hasher.text(warning);
    }
    // Appended only when present, so a span without them keeps the hash it always had.
    if !span.scope_attributes.is_empty() || span.references.iter().any(|r| !r.attributes.is_empty()) {
        hasher.key_values(&span.scope_attributes);
        for reference in &span.references {
            hasher.key_values(&reference.attributes);
        }
    }
    hasher.finish()
}

/// xxh3 with explicit framing: every variable-length field is length-prefixed so that no two
/// different field sequences feed the same bytes.
pub(crate) struct StableHasher(Xxh3Default);

impl StableHasher {
    pub(crate) fn new() -> Self {
        Self(Xxh3Default::new())
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.0.update(&value.to_le_bytes());
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.update(bytes);
    }

    pub(crate) fn text(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn key_values(&mut self, key_values: &[KeyValue]) {
        self.u64(key_values.len() as u64);
        for key_value in key_values {
            self.text(&key_value.key);
            match &key_value.value {
                AttributeValue::String(text) => {
                    self.u64(0);
                    self.text(text);
                }
                AttributeValue::Bool(flag) => {
                    self.u64(1);
                    self.u64(u64::from(*flag));
                }
                AttributeValue::Int64(number) => {
                    self.u64(2);
                    self.u64(*number as u64);
                }
                AttributeValue::Float64(number) => {
                    self.u64(3);
                    self.u64(number.to_bits());
                }
                AttributeValue::Binary(bytes) => {
                    self.u64(4);
                    self.bytes(bytes);
                }
            }
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0.digest()
    }
}

/// One-shot xxh3 of a byte string (row ids).
pub(crate) fn bytes_hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spoor_model::{Process, SpanId, SpanRef, TraceId};

    use super::*;

    fn span() -> Span {
        Span {
            trace_id: TraceId::new(0, 7),
            span_id: SpanId(9),
            operation_name: "GET /".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_000,
            duration_nanos: 10,
            tags: vec![KeyValue::string("http.method", "GET")],
            logs: vec![],
            process: Arc::new(Process { service_name: "frontend".into(), tags: vec![] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn term_hash_of_bool_true_equals_term_hash_of_string_true() {
        assert_eq!(key_value_term_hash(&KeyValue::bool("error", true)), term_hash("error", "true"));
        assert_eq!(key_value_term_hash(&KeyValue::string("error", "true")), term_hash("error", "true"));
        assert_eq!(
            key_value_term_hash(&KeyValue::int64("http.status_code", 200)),
            term_hash("http.status_code", "200")
        );
    }

    #[test]
    fn term_hash_is_stable_across_releases_and_equals_the_framed_stream_hash() {
        let mut hasher = StableHasher::new();
        hasher.text("http.method");
        hasher.text("GET");
        assert_eq!(term_hash("http.method", "GET"), hasher.finish());
        let long_value = "v".repeat(300);
        let mut hasher = StableHasher::new();
        hasher.text("url");
        hasher.text(&long_value);
        assert_eq!(term_hash("url", &long_value), hasher.finish());
        // A golden value: it is part of the embedded backend's search rows.
        assert_eq!(term_hash("error", "true"), GOLDEN_ERROR_TRUE, "{:#x}", term_hash("error", "true"));
    }

    const GOLDEN_ERROR_TRUE: u64 = 0xb090_3bee_95f6_ee17;

    #[test]
    fn term_hash_frames_key_and_value_so_separators_cannot_collide() {
        assert_ne!(term_hash("a=b", "c"), term_hash("a", "b=c"));
        assert_ne!(term_hash("ab", ""), term_hash("a", "b"));
    }

    #[test]
    fn content_hash_is_stable_across_releases() {
        // A golden value: it is part of the embedded backend's key format.
        assert_eq!(span_content_hash(&span()), 0x017e_54cc_23fd_afff, "{:#x}", span_content_hash(&span()));
    }

    #[test]
    fn content_hash_covers_scope_attributes_and_link_attributes() {
        let plain = span_content_hash(&span());
        let mut with_scope = span();
        with_scope.scope_attributes = vec![KeyValue::string("k", "v")];
        let mut with_link = span();
        with_link.references =
            vec![SpanRef::child_of(TraceId::new(0, 1), SpanId(2)).with_attributes(vec![KeyValue::string("k", "v")])];
        let mut with_bare_link = span();
        with_bare_link.references = vec![SpanRef::child_of(TraceId::new(0, 1), SpanId(2))];
        let hashes = [plain, span_content_hash(&with_scope), span_content_hash(&with_link)];
        assert!(hashes[0] != hashes[1] && hashes[1] != hashes[2] && hashes[0] != hashes[2]);
        assert_ne!(span_content_hash(&with_link), span_content_hash(&with_bare_link));
    }

    #[test]
    fn content_hash_differs_when_a_tag_type_differs_but_its_text_does_not() {
        let mut with_string = span();
        with_string.tags = vec![KeyValue::string("error", "true")];
        let mut with_bool = span();
        with_bool.tags = vec![KeyValue::bool("error", true)];
        assert_ne!(span_content_hash(&with_string), span_content_hash(&with_bool));
    }

    #[test]
    fn content_hash_covers_the_process() {
        let mut other = span();
        other.process = Arc::new(Process { service_name: "backend".into(), tags: vec![] });
        assert_ne!(span_content_hash(&span()), span_content_hash(&other));
    }
}
