use std::sync::Arc;

use prost::Message;
use spoor_model::{KeyValue, Log, Namespace, Process, RefType, Span, SpanId, SpanKind, SpanRef, TraceId};

use super::*;
use crate::hashing::term_hash;

fn process() -> Arc<Process> {
    Arc::new(Process { service_name: "checkout".into(), tags: vec![KeyValue::string("hostname", "node-1")] })
}

fn rich_span(span_id: u64) -> Span {
    Span {
        trace_id: TraceId::new(0x0102, 0x0304),
        span_id: SpanId(span_id),
        operation_name: "POST /pay".into(),
        references: vec![
            SpanRef::child_of(TraceId::new(0x0102, 0x0304), SpanId(1)),
            SpanRef::follows_from(TraceId::new(0, 9), SpanId(0)),
        ],
        flags: 1,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        duration_nanos: 42_000,
        tags: vec![
            KeyValue::string("span.kind", "server"),
            KeyValue::string("empty", ""),
            KeyValue::bool("error", false),
            KeyValue::int64("http.status_code", -1),
            KeyValue::float64("ratio", 0.5),
            KeyValue::binary("blob", vec![0, 255]),
        ],
        logs: vec![Log { timestamp_unix_nano: 5, fields: vec![KeyValue::string("event", "retry")] }],
        process: process(),
        warnings: vec!["skew".into()],
        scope_attributes: Vec::new(),
    }
}

/// [`rich_span`] with what only OTLP carries: scope attributes and a link's attributes.
fn span_with_otlp_attributes(span_id: u64) -> Span {
    let mut span = rich_span(span_id);
    span.scope_attributes = vec![KeyValue::string("library.language", "rust"), KeyValue::binary("build", vec![0, 1])];
    span.references[1].attributes = vec![
        KeyValue::string("link.kind", "batch"),
        KeyValue::int64("link.count", 123),
        KeyValue::float64("link.ratio", 72.5),
        KeyValue::bool("link.sampled", true),
    ];
    span
}

fn record_of(spans: &[(&Span, u64)]) -> SpanGroupRecord {
    let to_record = |kv: &KeyValue| KeyValueRecord {
        key: kv.key.clone(),
        value: Some(match &kv.value {
            AttributeValue::String(s) => ValueRecord::String(s.clone()),
            AttributeValue::Bool(b) => ValueRecord::Bool(*b),
            AttributeValue::Int64(i) => ValueRecord::Int64(*i),
            AttributeValue::Float64(f) => ValueRecord::Float64(*f),
            AttributeValue::Binary(b) => ValueRecord::Binary(b.clone()),
        }),
    };
    let first = &spans[0].0.process;
    SpanGroupRecord {
        processes: vec![ProcessRecord {
            service_name: first.service_name.clone(),
            tags: first.tags.iter().map(to_record).collect(),
        }],
        spans: spans
            .iter()
            .map(|(span, hash)| SpanRecord {
                span_id: span.span_id.0,
                content_hash: *hash,
                operation_name: span.operation_name.clone(),
                references: span
                    .references
                    .iter()
                    .map(|r| SpanRefRecord {
                        ref_type: u32::from(r.ref_type == RefType::FollowsFrom),
                        trace_id_high: r.trace_id.high,
                        trace_id_low: r.trace_id.low,
                        span_id: r.span_id.0,
                        attributes: r.attributes.iter().map(to_record).collect(),
                    })
                    .collect(),
                flags: span.flags,
                start_time_unix_nano: span.start_time_unix_nano,
                duration_nanos: span.duration_nanos,
                tags: span.tags.iter().map(to_record).collect(),
                logs: span
                    .logs
                    .iter()
                    .map(|l| LogRecord {
                        timestamp_unix_nano: l.timestamp_unix_nano,
                        fields: l.fields.iter().map(to_record).collect(),
                    })
                    .collect(),
                process_index: 0,
                warnings: span.warnings.clone(),
                scope_attributes: span.scope_attributes.iter().map(to_record).collect(),
            })
            .collect(),
    }
}

/// Encodes spans that share one process the way `encode.rs` does.
fn encode_group(spans: &[&Span]) -> Vec<u8> {
    let mut process_body = Vec::new();
    encode_process_body(&spans[0].process, &mut process_body);
    let bodies: Vec<Vec<u8>> = spans
        .iter()
        .map(|span| {
            let mut body = Vec::new();
            encode_span_body(span, &mut body);
            body
        })
        .collect();
    let members: Vec<EncodedSpan<'_>> = bodies
        .iter()
        .map(|body| EncodedSpan {
            body,
            content_hash: span_content_hash(body, process_hash(&process_body)),
            process_index: 0,
        })
        .collect();
    let mut bytes = Vec::new();
    encode_span_group(&[&process_body], &members, &mut bytes);
    bytes
}

#[test]
fn hand_written_span_group_encoding_decodes_as_the_prost_record() {
    let (a, b) = (rich_span(2), span_with_otlp_attributes(3));
    let bytes = encode_group(&[&a, &b]);
    let decoded = SpanGroupRecord::decode(bytes.as_slice()).unwrap();
    let hashes: Vec<u64> = decoded.spans.iter().map(|s| s.content_hash).collect();
    assert_eq!(decoded, record_of(&[(&a, hashes[0]), (&b, hashes[1])]));
}

#[test]
fn span_group_round_trips_with_content_hashes_and_shared_process() {
    let (a, b) = (rich_span(2), span_with_otlp_attributes(3));
    let bytes = encode_group(&[&a, &b]);
    let decoded = decode_span_group(a.trace_id, &bytes).unwrap();
    assert_eq!(decoded.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(), vec![a, b]);
    assert_ne!(decoded[0].0, decoded[1].0);
    assert!(Arc::ptr_eq(&decoded[0].1.process, &decoded[1].1.process), "one process is decoded once");
}

#[test]
fn content_hash_covers_the_process() {
    let span = rich_span(2);
    let mut other = span.clone();
    other.process = Arc::new(Process { service_name: "other".into(), tags: vec![] });
    let group_hash = |bytes: Vec<u8>| SpanGroupRecord::decode(bytes.as_slice()).unwrap().spans[0].content_hash;
    assert_ne!(group_hash(encode_group(&[&span])), group_hash(encode_group(&[&other])));
    assert_eq!(group_hash(encode_group(&[&span])), group_hash(encode_group(&[&span.clone()])));
}

#[test]
fn span_group_encoding_matches_the_golden_file() {
    let span = rich_span(2);
    check_golden("span_group.hex", &encode_group(&[&span]));
}

#[test]
fn span_group_with_scope_and_link_attributes_matches_the_golden_file() {
    let span = span_with_otlp_attributes(2);
    check_golden("span_group_with_attributes.hex", &encode_group(&[&span]));
}

#[test]
fn rows_written_before_scope_and_link_attributes_existed_still_decode() {
    // `span_group.hex` predates fields 12 (scope attributes) and 5 of a reference (link
    // attributes); its test above shows a span without them still encodes to these bytes.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/embedded/testdata/span_group.hex");
    let text = std::fs::read_to_string(path).unwrap();
    let hex: String = text.lines().collect();
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|index| u8::from_str_radix(&hex[index..index + 2], 16).unwrap()).collect();
    let decoded = decode_span_group(TraceId::new(0x0102, 0x0304), &bytes).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].1, rich_span(2));
}

fn search_row_of(spans: &[&Span], latest_start: u64) -> Vec<u8> {
    let mut process_terms = Vec::new();
    collect_terms(spans[0].process.tags.iter(), &mut process_terms);
    let span_terms: Vec<Vec<u64>> = spans
        .iter()
        .map(|span| {
            let mut terms = Vec::new();
            collect_terms(span_searchable_key_values(span), &mut terms);
            terms
        })
        .collect();
    let entries = spans.iter().zip(&span_terms).map(|(span, terms)| SearchEntry {
        trace_id: span.trace_id,
        start: span.start_time_unix_nano,
        duration: span.duration_nanos,
        operation_hash: operation_hash(&span.operation_name),
        process_index: 0,
        terms,
    });
    let mut bytes = Vec::new();
    encode_search_row(&[&process_terms], entries, latest_start, &mut bytes);
    bytes
}

#[test]
fn search_row_matches_the_golden_file() {
    let span = rich_span(2);
    check_golden("search_row.hex", &search_row_of(&[&span], span.start_time_unix_nano + 7));
}

fn check_golden(name: &str, bytes: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/embedded/testdata").join(name);
    let actual = hex_lines(bytes);
    if std::env::var_os("SPOOR_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).expect("golden file exists; regenerate with SPOOR_UPDATE_GOLDEN=1");
    assert_eq!(
        actual, expected,
        "the on-disk format of {name} changed; review, then regenerate with SPOOR_UPDATE_GOLDEN=1"
    );
}

fn hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(32).map(|chunk| format!("{}\n", hex_string(chunk))).collect()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn search_row_summaries_carry_trace_times_operation_and_terms_of_tags_process_and_logs() {
    let mut early = rich_span(2);
    early.start_time_unix_nano -= 1_000;
    early.tags.push(KeyValue::int64("http.status_code", 200));
    let mut late = rich_span(3);
    late.trace_id = TraceId::new(0, 77);
    let latest = late.start_time_unix_nano;
    let bytes = search_row_of(&[&early, &late], latest);
    let mut processes = Vec::new();
    let mut summaries = Vec::new();
    for_each_span_summary(&bytes, latest, &mut processes, |summary| {
        summaries.push((
            summary.trace_id,
            summary.start,
            summary.duration,
            summary.operation_hash,
            summary.has_term(term_hash("http.status_code", "200")),
            summary.has_term(term_hash("hostname", "node-1")),
            summary.has_term(term_hash("event", "retry")),
            summary.has_term(term_hash("error", "true")),
        ));
    })
    .unwrap();
    let op = operation_hash("POST /pay");
    assert_eq!(
        summaries,
        vec![
            (early.trace_id, latest - 1_000, 42_000, op, true, true, true, false),
            (TraceId::new(0, 77), latest, 42_000, op, false, true, true, false),
        ]
    );
}

#[test]
fn search_row_summaries_carry_terms_of_scope_attributes_and_link_attributes() {
    let span = span_with_otlp_attributes(2);
    let bytes = search_row_of(&[&span], span.start_time_unix_nano);
    let mut found = Vec::new();
    for_each_span_summary(&bytes, span.start_time_unix_nano, &mut Vec::new(), |summary| {
        found.push((
            summary.has_term(term_hash("library.language", "rust")),
            summary.has_term(term_hash("link.count", "123")),
            summary.has_term(term_hash("link.ratio", "72.5")),
            summary.has_term(term_hash("link.sampled", "true")),
            summary.has_term(term_hash("link.sampled", "false")),
        ));
    })
    .unwrap();
    assert_eq!(found, [(true, true, true, true, false)]);
}

#[test]
fn truncated_search_row_is_reported_as_corrupt() {
    let span = rich_span(2);
    let bytes = search_row_of(&[&span], span.start_time_unix_nano);
    let result = for_each_span_summary(&bytes[..bytes.len() - 3], span.start_time_unix_nano, &mut Vec::new(), |_| {});
    assert!(matches!(result, Err(StorageError::Corrupt(_))));
}

#[test]
fn search_row_keys_sort_by_service_then_latest_start() {
    let ns = namespace_key(&Namespace::new("shop")).unwrap();
    let cart = service_search_prefix(&ns, "cart");
    let early = search_row_key(&cart, 5, u64::MAX);
    let late = search_row_key(&cart, 6, 1);
    assert!(early < late);
    assert_eq!(parse_search_row_key(&late, cart.len()).unwrap(), 6);
    assert!(parse_search_row_key(&late[..late.len() - 1], cart.len()).is_err());
    // A service whose name is a prefix of another's cannot interleave with it.
    let car = service_search_prefix(&ns, "car");
    assert!(!cart.starts_with(&car));
}

#[test]
fn operation_keys_parse_back() {
    let ns = namespace_key(&Namespace::new("shop")).unwrap();
    let key = operation_key(&ns, "cart", SpanKind::Client, "GET /items");
    assert_eq!(
        parse_operation_key(&key).unwrap(),
        ("shop".into(), "cart".into(), SpanKind::Client, "GET /items".into())
    );
}

#[test]
fn namespace_names_longer_than_255_bytes_are_rejected() {
    assert!(namespace_key(&Namespace::new("a".repeat(256))).is_err());
    assert_eq!(namespace_key(&Namespace::new("ab")).unwrap(), vec![2, b'a', b'b']);
}

#[test]
fn long_names_are_cut_at_a_character_boundary_for_indexing() {
    let long = "é".repeat(1000);
    let cut = indexed_name(&long);
    assert!(cut.len() <= 1024 && long.starts_with(cut));
    assert_eq!(indexed_name("short"), "short");
}

fn dependency_entries() -> (Vec<&'static str>, Vec<DependencyEntry>) {
    let trace_a = TraceId::new(0x0102, 0x0304);
    let trace_b = TraceId::new(0, 0x77);
    let entry = |trace_id, span_id, parent_span_id, start, service_index, role| DependencyEntry {
        trace_id,
        span_id,
        content_hash: 0xfeed_0000 + span_id,
        parent_span_id,
        start,
        service_index,
        role,
    };
    let t = 1_700_000_000_123_456_789;
    (
        vec!["checkout", "cart"],
        vec![
            entry(trace_a, 1, 0, t, 0, Role::Server),
            entry(trace_a, 2, 1, t + 5, 0, Role::Client),
            entry(trace_a, 2, 1, t + 6, 1, Role::Server),
            entry(trace_b, 9, 4, t + 9, 1, Role::Other),
        ],
    )
}

#[test]
fn dependency_row_matches_the_golden_file() {
    let (services, entries) = dependency_entries();
    let mut bytes = Vec::new();
    encode_dependency_row(&services, &entries, entries[3].start, &mut bytes);
    check_golden("dependency_row.hex", &bytes);
}

#[test]
fn dependency_row_entries_decode_as_written() {
    let (services, entries) = dependency_entries();
    let latest = entries[3].start + 100;
    let mut bytes = Vec::new();
    encode_dependency_row(&services, &entries, latest, &mut bytes);
    let mut decoded = Vec::new();
    for_each_dependency_entry(&bytes, latest, |row_services, entry| {
        assert_eq!(row_services, services.as_slice());
        decoded.push(entry);
    })
    .unwrap();
    assert_eq!(decoded, entries);
}

#[test]
fn truncated_or_inconsistent_dependency_rows_are_corrupt_not_a_panic() {
    let (services, entries) = dependency_entries();
    let mut bytes = Vec::new();
    encode_dependency_row(&services, &entries, entries[3].start, &mut bytes);
    for length in 0..bytes.len() {
        let result = for_each_dependency_entry(&bytes[..length], entries[3].start, |_, _| {});
        assert!(matches!(result, Err(StorageError::Corrupt(_))), "prefix of {length} bytes");
    }
    let mut bad_index = Vec::new();
    let (_, mut entries) = dependency_entries();
    entries[0].service_index = 5;
    encode_dependency_row(&services, &entries, entries[3].start, &mut bad_index);
    assert!(matches!(for_each_dependency_entry(&bad_index, 0, |_, _| {}), Err(StorageError::Corrupt(_))));
}
