//! Jaeger's standard trace adjusters, applied to every trace the query service returns unless
//! the caller asks for raw spans. They never fail: problems become span warnings, as in Jaeger.
//!
//! Order: drop identical spans, give Zipkin-style shared server spans their own id, drop empty
//! references, correct clock skew, turn packed IPv4 tags into dotted strings, sort by start time.
//! Identical spans are dropped *before* the span-id uniquifier so that a server span stored twice
//! does not become two spans with two fresh ids.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use spoor_model::duration::format_go_duration;
use spoor_model::{AttributeValue, KeyValue, Process, RefType, Span, SpanId, SpanKind, SpanRef};

const WARNING_TOO_MANY_SPANS: &str = "cannot assign unique span ID, too many spans in the trace";
const WARNING_DUPLICATE_SPAN_ID: &str = "duplicate span IDs; skipping clock skew adjustment";

/// Process tags naming the host, in the order they are looked for (OTel resource attributes
/// first, then the Jaeger client / Zipkin converter tags).
const HOST_KEY_TAGS: [&str; 5] = ["host.id", "host.ip", "host.name", "ip", "hostname"];

/// Tags that Zipkin and old Jaeger clients fill with an IPv4 address packed into an integer.
const PACKED_IPV4_TAGS: [&str; 2] = ["ip", "peer.ipv4"];

/// Applies every adjuster, in order. `max_clock_skew_adjust` of zero turns skew correction off.
pub(crate) fn adjust(spans: &mut Vec<Span>, max_clock_skew_adjust: Duration) {
    drop_identical_spans(spans);
    uniquify_shared_span_ids(spans);
    drop_empty_references(spans);
    correct_clock_skew(spans, max_clock_skew_adjust);
    normalize_ip_tags(spans);
    sort_by_start_time(spans);
}

/// Keeps the first of spans that are equal in every field (stored twice, e.g. by an archive copy
/// or a retried write to a backend without idempotent ids).
fn drop_identical_spans(spans: &mut Vec<Span>) {
    let mut kept_by_span_id: HashMap<SpanId, Vec<usize>> = HashMap::with_capacity(spans.len());
    let mut keep = vec![true; spans.len()];
    for index in 0..spans.len() {
        let kept_with_same_id = kept_by_span_id.entry(spans[index].span_id).or_default();
        if kept_with_same_id.iter().any(|&kept| spans[kept] == spans[index]) {
            keep[index] = false;
        } else {
            kept_with_same_id.push(index);
        }
    }
    if keep.iter().all(|&kept| kept) {
        return;
    }
    let mut keep = keep.into_iter();
    spans.retain(|_| keep.next().unwrap_or(true));
}

/// Zipkin-style tracers (Envoy with `shared_span_context`) give a server span the id of the
/// client span that called it. A server span sharing its id with a client span gets a fresh id
/// unused in the trace, becomes the child of that client span, and the spans that named the
/// shared id as parent are re-parented to the server span's new id.
fn uniquify_shared_span_ids(spans: &mut [Span]) {
    let client_span_ids: HashSet<SpanId> =
        spans.iter().filter(|span| span.kind() == SpanKind::Client).map(|span| span.span_id).collect();
    let is_shared_server_span =
        |span: &Span| span.kind() == SpanKind::Server && client_span_ids.contains(&span.span_id);
    if !spans.iter().any(is_shared_server_span) {
        return;
    }
    let mut used_ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
    let mut next_candidate: u64 = 1;
    let mut new_id_of_shared_id: HashMap<SpanId, SpanId> = HashMap::new();
    for span in spans.iter_mut() {
        if !is_shared_server_span(span) {
            continue;
        }
        let Some(new_id) = next_unused_span_id(&used_ids, &mut next_candidate) else {
            span.warnings.push(WARNING_TOO_MANY_SPANS.to_owned());
            continue;
        };
        used_ids.insert(new_id);
        let shared_id = span.span_id;
        set_parent(span, shared_id);
        span.span_id = new_id;
        new_id_of_shared_id.insert(shared_id, new_id);
    }
    for span in spans.iter_mut() {
        let Some(parent_id) = span.parent_span_id() else { continue };
        if let Some(&new_parent_id) = new_id_of_shared_id.get(&parent_id) {
            if span.span_id != new_parent_id {
                set_parent(span, new_parent_id);
            }
        }
    }
}

fn next_unused_span_id(used_ids: &HashSet<SpanId>, next_candidate: &mut u64) -> Option<SpanId> {
    while *next_candidate < u64::MAX {
        let candidate = SpanId(*next_candidate);
        *next_candidate += 1;
        if !used_ids.contains(&candidate) {
            return Some(candidate);
        }
    }
    None
}

/// Points the span's parent reference (its first CHILD_OF in the same trace) at `parent_id`,
/// adding one in front when it has none.
fn set_parent(span: &mut Span, parent_id: SpanId) {
    let trace_id = span.trace_id;
    match span.references.iter_mut().find(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace_id) {
        Some(parent) => parent.span_id = parent_id,
        None => span.references.insert(0, SpanRef::child_of(trace_id, parent_id)),
    }
}

/// References without a trace or span id point nowhere (some converters emit them for "no parent").
fn drop_empty_references(spans: &mut [Span]) {
    for span in spans {
        span.references.retain(|r| !r.trace_id.is_zero() && !r.span_id.is_zero());
    }
}

#[derive(Clone, Copy)]
struct Skew {
    delta_nanos: i128,
    /// Interned host key; `None` when the process names no host.
    host: Option<u32>,
}

/// Jaeger's clock-skew adjuster: a child span from another host that does not fit in its parent
/// is shifted so that it does (network latency assumed split evenly), and its same-host
/// descendants move with it. Shifts larger than `max_delta` are not applied but reported in a
/// span warning; with `max_delta` zero every needed shift is only reported.
fn correct_clock_skew(spans: &mut [Span], max_delta: Duration) {
    let span_count = spans.len();
    let mut index_of_span_id: HashMap<SpanId, usize> = HashMap::with_capacity(span_count);
    let mut is_node = vec![false; span_count];
    for index in 0..span_count {
        match index_of_span_id.entry(spans[index].span_id) {
            Entry::Occupied(_) => spans[index].warnings.push(WARNING_DUPLICATE_SPAN_ID.to_owned()),
            Entry::Vacant(vacant) => {
                vacant.insert(index);
                is_node[index] = true;
            }
        }
    }

    let mut children: Vec<Vec<usize>> = vec![Vec::new(); span_count];
    let mut roots = Vec::new();
    for index in (0..span_count).filter(|&index| is_node[index]) {
        let parent_id = match spans[index].parent_span_id() {
            Some(parent_id) if !parent_id.is_zero() => parent_id,
            _ => {
                roots.push(index);
                continue;
            }
        };
        match index_of_span_id.get(&parent_id) {
            Some(&parent) => children[parent].push(index),
            None => {
                spans[index]
                    .warnings
                    .push(format!("parent span ID={parent_id} is not in the trace; skipping clock skew adjustment"));
                roots.push(index);
            }
        }
    }

    let hosts = intern_host_keys(spans);
    let max_delta_nanos = i128::try_from(max_delta.as_nanos()).unwrap_or(i128::MAX);
    // Depth-first without recursion: traces can be chains hundreds of thousands of spans deep.
    let mut stack: Vec<(usize, Option<usize>, Skew)> =
        roots.iter().rev().map(|&root| (root, None, Skew { delta_nanos: 0, host: hosts[root] })).collect();
    while let Some((node, parent, inherited)) = stack.pop() {
        let skew = match parent {
            Some(parent) if hosts[node] != inherited.host || hosts[node].is_none() => {
                Skew { delta_nanos: skew_against_parent(&spans[node], &spans[parent]), host: hosts[node] }
            }
            _ => inherited,
        };
        shift_timestamps(&mut spans[node], skew.delta_nanos, max_delta_nanos, max_delta);
        stack.extend(children[node].iter().rev().map(|&child| (child, Some(node), skew)));
    }
}

fn skew_against_parent(child: &Span, parent: &Span) -> i128 {
    let parent_start = i128::from(parent.start_time_unix_nano);
    let parent_duration = i128::from(parent.duration_nanos);
    let child_start = i128::from(child.start_time_unix_nano);
    let child_duration = i128::from(child.duration_nanos);
    if child_duration > parent_duration {
        // The child outlived its parent (async work, or the parent timed out): the only safe
        // correction is to make it not start before the parent.
        return if child_start < parent_start { parent_start - child_start } else { 0 };
    }
    let fits = child_start >= parent_start && child_start + child_duration <= parent_start + parent_duration;
    if fits {
        return 0;
    }
    let latency = (parent_duration - child_duration) / 2;
    parent_start + latency - child_start
}

fn shift_timestamps(span: &mut Span, delta_nanos: i128, max_delta_nanos: i128, max_delta: Duration) {
    if delta_nanos == 0 {
        return;
    }
    if delta_nanos.abs() > max_delta_nanos {
        let warning = if max_delta_nanos == 0 {
            format!("clock skew adjustment disabled; not applying calculated delta of {}", format_delta(delta_nanos))
        } else {
            format!(
                "max clock skew adjustment delta of {} exceeded; not applying calculated delta of {}",
                format_go_duration(max_delta),
                format_delta(delta_nanos)
            )
        };
        span.warnings.push(warning);
        return;
    }
    let shift = |timestamp: u64| (i128::from(timestamp) + delta_nanos).clamp(0, i128::from(u64::MAX)) as u64;
    span.start_time_unix_nano = shift(span.start_time_unix_nano);
    for log in &mut span.logs {
        log.timestamp_unix_nano = shift(log.timestamp_unix_nano);
    }
    span.warnings.push(format!("This span's timestamps were adjusted by {}", format_delta(delta_nanos)));
}

/// Go's `Duration.String()` of a signed nanosecond count.
fn format_delta(delta_nanos: i128) -> String {
    let magnitude = Duration::from_nanos(u64::try_from(delta_nanos.unsigned_abs()).unwrap_or(u64::MAX));
    let sign = if delta_nanos < 0 { "-" } else { "" };
    format!("{sign}{}", format_go_duration(magnitude))
}

/// One small integer per distinct host key, per span (computed once per shared process).
fn intern_host_keys(spans: &[Span]) -> Vec<Option<u32>> {
    let mut ids_of_keys: HashMap<String, u32> = HashMap::new();
    let mut host_of_process: HashMap<*const Process, Option<u32>> = HashMap::new();
    spans
        .iter()
        .map(|span| {
            *host_of_process.entry(Arc::as_ptr(&span.process)).or_insert_with(|| {
                let key = host_key(&span.process)?;
                let next_id = ids_of_keys.len() as u32;
                Some(*ids_of_keys.entry(key).or_insert(next_id))
            })
        })
        .collect()
}

fn host_key(process: &Process) -> Option<String> {
    let tag = HOST_KEY_TAGS.iter().find_map(|key| process.tags.iter().find(|kv| kv.key == *key))?;
    let key = match &tag.value {
        AttributeValue::Int64(packed) => Ipv4Addr::from(*packed as u32).to_string(),
        AttributeValue::Binary(bytes) if bytes.len() == 4 => {
            Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
        }
        AttributeValue::Binary(bytes) if bytes.len() == 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            Ipv6Addr::from(octets).to_canonical().to_string()
        }
        other => other.as_string().into_owned(),
    };
    (!key.is_empty()).then_some(key)
}

/// `ip` and `peer.ipv4` tags holding an IPv4 address packed into an integer become dotted strings,
/// on spans and on processes (each shared process is rewritten once).
fn normalize_ip_tags(spans: &mut [Span]) {
    // Keyed by the original process's address; the original is kept alive in the value so the
    // address cannot be reused by another allocation while the map exists.
    let mut rewritten: HashMap<*const Process, (Arc<Process>, Arc<Process>)> = HashMap::new();
    for span in spans {
        rewrite_packed_ipv4(&mut span.tags);
        if !span.process.tags.iter().any(is_packed_ipv4) {
            continue;
        }
        let original = Arc::clone(&span.process);
        let (_, replacement) = rewritten.entry(Arc::as_ptr(&original)).or_insert_with(|| {
            let mut process = (*original).clone();
            rewrite_packed_ipv4(&mut process.tags);
            (Arc::clone(&original), Arc::new(process))
        });
        span.process = Arc::clone(replacement);
    }
}

fn is_packed_ipv4(tag: &KeyValue) -> bool {
    matches!(tag.value, AttributeValue::Int64(_)) && PACKED_IPV4_TAGS.contains(&tag.key.as_str())
}

fn rewrite_packed_ipv4(tags: &mut [KeyValue]) {
    for tag in tags.iter_mut().filter(|tag| is_packed_ipv4(tag)) {
        if let AttributeValue::Int64(packed) = tag.value {
            tag.value = AttributeValue::String(Ipv4Addr::from(packed as u32).to_string());
        }
    }
}

/// Spans in start-time order (ties by span id, so the order does not depend on the backend).
fn sort_by_start_time(spans: &mut [Span]) {
    spans.sort_by_key(|span| (span.start_time_unix_nano, span.span_id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::{Log, TraceId};

    const TRACE: TraceId = TraceId::new(0, 0xabc);

    fn process(service: &str, ip: Option<&str>) -> Arc<Process> {
        let tags = ip.map(|ip| vec![KeyValue::string("ip", ip)]).unwrap_or_default();
        Arc::new(Process { service_name: service.into(), tags })
    }

    fn span(id: u64, parent: Option<u64>, kind: &str, start: u64, duration: u64, process: &Arc<Process>) -> Span {
        Span {
            trace_id: TRACE,
            span_id: SpanId(id),
            operation_name: format!("op-{id}"),
            references: parent.map(|p| vec![SpanRef::child_of(TRACE, SpanId(p))]).unwrap_or_default(),
            flags: 1,
            start_time_unix_nano: start,
            duration_nanos: duration,
            tags: if kind.is_empty() { vec![] } else { vec![KeyValue::string("span.kind", kind)] },
            logs: vec![],
            process: Arc::clone(process),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn by_operation<'a>(spans: &'a [Span], operation: &str) -> &'a Span {
        spans.iter().find(|s| s.operation_name == operation).expect("span present")
    }

    #[test]
    fn identical_spans_are_kept_once_but_different_spans_sharing_an_id_stay() {
        let p = process("svc", None);
        let original = span(1, None, "", 10, 5, &p);
        let mut different = original.clone();
        different.operation_name = "other".into();
        let mut spans = vec![original.clone(), original.clone(), different];
        drop_identical_spans(&mut spans);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0], original);
    }

    #[test]
    fn shared_server_span_gets_a_fresh_id_and_its_children_follow() {
        let p = process("svc", None);
        // Envoy: client 5 (parent 9) and server 5 (parent 9) share an id; 7 is the server's child.
        let mut spans = vec![
            span(9, None, "server", 0, 100, &p),
            span(5, Some(9), "client", 10, 50, &p),
            span(5, Some(9), "server", 12, 40, &p),
            span(7, Some(5), "client", 15, 10, &p),
        ];
        spans[1].operation_name = "client".into();
        spans[2].operation_name = "server".into();
        spans[3].operation_name = "grandchild".into();
        uniquify_shared_span_ids(&mut spans);

        let client = by_operation(&spans, "client");
        let server = by_operation(&spans, "server");
        let grandchild = by_operation(&spans, "grandchild");
        assert_eq!(client.span_id, SpanId(5));
        assert_eq!(client.parent_span_id(), Some(SpanId(9)));
        assert_eq!(server.span_id, SpanId(1), "lowest id unused in the trace");
        assert_eq!(server.parent_span_id(), Some(SpanId(5)));
        assert_eq!(grandchild.parent_span_id(), Some(SpanId(1)));
        assert!(spans.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn fresh_span_ids_skip_ids_already_in_the_trace() {
        let p = process("svc", None);
        let mut spans = vec![
            span(1, None, "", 0, 100, &p),
            span(2, Some(1), "client", 1, 10, &p),
            span(2, Some(1), "server", 2, 5, &p),
        ];
        uniquify_shared_span_ids(&mut spans);
        assert_eq!(spans[2].span_id, SpanId(3));
        assert_eq!(spans[2].parent_span_id(), Some(SpanId(2)));
    }

    #[test]
    fn server_span_without_parent_gets_the_client_as_parent() {
        let p = process("svc", None);
        let mut spans = vec![span(4, None, "client", 0, 10, &p), span(4, None, "server", 1, 5, &p)];
        uniquify_shared_span_ids(&mut spans);
        assert_eq!(spans[1].span_id, SpanId(1));
        assert_eq!(spans[1].parent_span_id(), Some(SpanId(4)));
    }

    #[test]
    fn two_server_spans_with_one_id_and_no_client_are_left_alone() {
        let p = process("svc", None);
        let mut spans = vec![span(4, None, "server", 0, 10, &p), span(4, None, "server", 1, 5, &p)];
        uniquify_shared_span_ids(&mut spans);
        assert!(spans.iter().all(|s| s.span_id == SpanId(4)));
    }

    #[test]
    fn empty_references_are_dropped() {
        let p = process("svc", None);
        let mut spans = vec![span(1, Some(0), "", 0, 10, &p)];
        spans[0].references.push(SpanRef::follows_from(TraceId::new(0, 0), SpanId(3)));
        drop_empty_references(&mut spans);
        assert!(spans[0].references.is_empty());
    }

    #[test]
    fn clock_skew_is_only_reported_when_adjustment_is_disabled() {
        let a = process("a", Some("10.0.0.1"));
        let b = process("b", Some("10.0.0.2"));
        // The child starts 1 s before its parent on another host.
        let mut spans =
            vec![span(1, None, "", 2_000_000_000, 100_000, &a), span(2, Some(1), "", 1_000_000_000, 50_000, &b)];
        correct_clock_skew(&mut spans, Duration::ZERO);
        assert_eq!(spans[1].start_time_unix_nano, 1_000_000_000);
        assert_eq!(
            spans[1].warnings,
            vec!["clock skew adjustment disabled; not applying calculated delta of 1.000025s".to_owned()]
        );
        assert!(spans[0].warnings.is_empty());
    }

    #[test]
    fn clock_skew_within_the_limit_moves_the_child_and_its_same_host_descendants() {
        let a = process("a", Some("10.0.0.1"));
        let b = process("b", Some("10.0.0.2"));
        let mut spans = vec![
            span(1, None, "", 2_000_000_000, 100_000, &a),
            span(2, Some(1), "", 1_000_000_000, 50_000, &b),
            span(3, Some(2), "", 1_000_010_000, 10_000, &b),
        ];
        spans[1].logs.push(Log { timestamp_unix_nano: 1_000_000_000, fields: vec![] });
        correct_clock_skew(&mut spans, Duration::from_secs(2));
        // Latency split evenly: the child starts 25 µs after its parent.
        assert_eq!(spans[1].start_time_unix_nano, 2_000_025_000);
        assert_eq!(spans[1].logs[0].timestamp_unix_nano, 2_000_025_000);
        assert_eq!(spans[2].start_time_unix_nano, 2_000_035_000);
        assert_eq!(spans[1].warnings, vec!["This span's timestamps were adjusted by 1.000025s".to_owned()]);
    }

    #[test]
    fn clock_skew_beyond_the_limit_is_reported_not_applied() {
        let a = process("a", Some("10.0.0.1"));
        let b = process("b", Some("10.0.0.2"));
        let mut spans =
            vec![span(1, None, "", 2_000_000_000, 100_000, &a), span(2, Some(1), "", 1_000_000_000, 50_000, &b)];
        correct_clock_skew(&mut spans, Duration::from_millis(500));
        assert_eq!(spans[1].start_time_unix_nano, 1_000_000_000);
        assert_eq!(
            spans[1].warnings,
            vec!["max clock skew adjustment delta of 500ms exceeded; not applying calculated delta of 1.000025s"
                .to_owned()]
        );
    }

    #[test]
    fn spans_on_the_same_host_are_not_compared_for_skew() {
        let a = process("a", Some("10.0.0.1"));
        let mut spans =
            vec![span(1, None, "", 2_000_000_000, 100_000, &a), span(2, Some(1), "", 1_000_000_000, 50_000, &a)];
        correct_clock_skew(&mut spans, Duration::from_secs(5));
        assert_eq!(spans[1].start_time_unix_nano, 1_000_000_000);
        assert!(spans[1].warnings.is_empty());
    }

    #[test]
    fn missing_parent_and_duplicate_ids_become_warnings() {
        let a = process("a", None);
        let mut spans =
            vec![span(1, Some(42), "", 0, 10, &a), span(2, None, "", 0, 10, &a), span(2, None, "", 5, 10, &a)];
        correct_clock_skew(&mut spans, Duration::ZERO);
        assert_eq!(
            spans[0].warnings,
            vec!["parent span ID=000000000000002a is not in the trace; skipping clock skew adjustment".to_owned()]
        );
        assert!(spans[1].warnings.is_empty());
        assert_eq!(spans[2].warnings, vec![WARNING_DUPLICATE_SPAN_ID.to_owned()]);
    }

    #[test]
    fn a_very_deep_trace_is_adjusted_without_recursion() {
        let a = process("a", None);
        let depth = 200_000u64;
        let mut spans: Vec<Span> =
            (1..=depth).map(|id| span(id, (id > 1).then(|| id - 1), "", id, 1_000_000 - id, &a)).collect();
        correct_clock_skew(&mut spans, Duration::from_secs(1));
        assert!(spans.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn packed_ipv4_tags_become_dotted_strings_on_spans_and_processes() {
        let packed = Arc::new(Process {
            service_name: "svc".into(),
            tags: vec![KeyValue::int64("ip", 0x0a01_0203), KeyValue::int64("other", 7)],
        });
        let mut spans = vec![span(1, None, "", 0, 10, &packed), span(2, None, "", 0, 10, &packed)];
        spans[0].tags.push(KeyValue::int64("peer.ipv4", 0xc0a8_0001));
        normalize_ip_tags(&mut spans);
        assert_eq!(spans[0].tag("peer.ipv4"), Some(&AttributeValue::String("192.168.0.1".into())));
        assert_eq!(spans[0].process.tags[0], KeyValue::string("ip", "10.1.2.3"));
        assert_eq!(spans[0].process.tags[1], KeyValue::int64("other", 7));
        assert!(Arc::ptr_eq(&spans[0].process, &spans[1].process), "a shared process stays shared");
    }

    #[test]
    fn host_keys_render_packed_and_binary_addresses() {
        let tags = |value| Process { service_name: "s".into(), tags: vec![KeyValue::new("ip", value)] };
        assert_eq!(host_key(&tags(AttributeValue::Int64(0x7f00_0001))), Some("127.0.0.1".into()));
        assert_eq!(host_key(&tags(AttributeValue::Binary(vec![10, 0, 0, 1]))), Some("10.0.0.1".into()));
        assert_eq!(host_key(&tags(AttributeValue::String(String::new()))), None);
        assert_eq!(host_key(&Process::default()), None);
    }

    #[test]
    fn spans_are_sorted_by_start_time_then_span_id() {
        let p = process("svc", None);
        let mut spans = vec![span(3, None, "", 20, 1, &p), span(2, None, "", 10, 1, &p), span(1, None, "", 20, 1, &p)];
        sort_by_start_time(&mut spans);
        let ids: Vec<u64> = spans.iter().map(|s| s.span_id.0).collect();
        assert_eq!(ids, vec![2, 1, 3]);
    }
}
