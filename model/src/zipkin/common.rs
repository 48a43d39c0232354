//! What every Zipkin format shares: id and timestamp parsing, endpoints, and the Jaeger rules
//! for turning endpoints into a process and peer tags.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::{AttributeValue, KeyValue, Process, SpanId, TraceId};

/// The service name Jaeger gives a span whose endpoints name no service.
pub const UNKNOWN_SERVICE_NAME: &str = "unknown-service-name";
/// Process tag holding the local endpoint's IPv4 address, packed into an `Int64` (Jaeger's
/// `IPTagName`; the query's IP adjuster shows it dotted).
pub const TAG_IP: &str = "ip";
/// Process tag holding the local endpoint's IPv6 address as text (Spoor's; Jaeger drops it).
pub const TAG_IPV6: &str = "ipv6";
/// Process tag holding the local endpoint's port (Spoor's; Jaeger drops it).
pub const TAG_PORT: &str = "port";
/// Span tag naming the remote service.
pub const TAG_PEER_SERVICE: &str = "peer.service";
/// Span tag holding the remote IPv4 address packed into an `Int64`.
pub const TAG_PEER_IPV4: &str = "peer.ipv4";
/// Span tag holding the remote IPv6 address as 16 `Binary` bytes.
pub const TAG_PEER_IPV6: &str = "peer.ipv6";
/// Span tag holding the remote port as `Int64`.
pub const TAG_PEER_PORT: &str = "peer.port";
/// Span tag set to bool `true` on a Zipkin v2 span marked `shared` (a server span that reuses its
/// client's span id), so the sharing stays visible after the query side gives it a new id.
pub const TAG_SHARED: &str = "zipkin.shared";
/// Span tag that Zipkin v1's `lc` (local component) binary annotation becomes.
pub const TAG_COMPONENT: &str = "component";
/// Log field holding an annotation's value.
pub const FIELD_EVENT: &str = "event";

const NANOS_PER_MICRO: u64 = 1_000;

/// Tags that describe the reporting process rather than the span; Jaeger moves them to the
/// process under these names (`processTagAnnotations` in Jaeger's Zipkin `to_domain.go`).
pub(crate) fn process_tag_name(key: &str) -> Option<&'static str> {
    match key {
        "jaegerClient" | "jaeger.version" => Some("jaeger.version"),
        "jaeger.hostname" => Some("hostname"),
        _ => None,
    }
}

/// Parses a Zipkin trace id: 1 to 32 hex characters, left-padded (`TraceId::from_hex`).
pub(crate) fn parse_trace_id(field: &str, text: &str) -> Result<TraceId, String> {
    let id =
        TraceId::from_hex(text).map_err(|_| format!("{field} must be 1 to 32 hex characters, got {}", quoted(text)))?;
    if id.is_zero() {
        return Err(format!("{field} must not be all zeros"));
    }
    Ok(id)
}

/// Parses a Zipkin span id: 1 to 16 hex characters, left-padded. Like Jaeger (`cutLongID`), 17 to
/// 32 characters are accepted and the last 16 kept, for tracers that pad span ids to 128 bits.
pub(crate) fn parse_span_id(field: &str, text: &str) -> Result<SpanId, String> {
    let kept = if text.len() > 16 && text.len() <= 32 && text.is_char_boundary(text.len() - 16) {
        &text[text.len() - 16..]
    } else {
        text
    };
    SpanId::from_hex(kept).map_err(|_| format!("{field} must be 16 hex characters or fewer, got {}", quoted(text)))
}

/// A value quoted for an error message, cut short when long.
pub(crate) fn quoted(text: &str) -> String {
    const LIMIT: usize = 40;
    if text.chars().count() <= LIMIT {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut:?}...")
}

pub(crate) fn micros_to_nanos(micros: u64) -> u64 {
    micros.saturating_mul(NANOS_PER_MICRO)
}

/// A Zipkin endpoint after parsing; zero addresses and ports are absent, as Jaeger treats them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses the JSON form: addresses as text, the port as a number.
    pub(crate) fn from_text(
        field: &str,
        service_name: Option<String>,
        ipv4: Option<&str>,
        ipv6: Option<&str>,
        port: Option<i64>,
    ) -> Result<Self, String> {
        let ipv4 = match ipv4.filter(|text| !text.is_empty()) {
            Some(text) => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| format!("{field}.ipv4 must be a dotted IPv4 address, got {}", quoted(text)))?,
            ),
            None => None,
        };
        let ipv6 = match ipv6.filter(|text| !text.is_empty()) {
            Some(text) => Some(
                text.parse::<Ipv6Addr>()
                    .map_err(|_| format!("{field}.ipv6 must be an IPv6 address, got {}", quoted(text)))?,
            ),
            None => None,
        };
        let port = match port {
            Some(number) => {
                Some(u16::try_from(number).map_err(|_| format!("{field}.port must be 0 to 65535, got {number}"))?)
            }
            None => None,
        };
        Ok(Self::new(service_name.unwrap_or_default(), ipv4, ipv6, port))
    }

    pub(crate) fn new(service_name: String, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>, port: Option<u16>) -> Self {
        Self {
            service_name,
            ipv4: ipv4.filter(|address| !address.is_unspecified()),
            ipv6: ipv6.filter(|address| !address.is_unspecified()),
            port: port.filter(|&port| port != 0),
        }
    }

    /// The span tags a remote endpoint becomes (Jaeger's `getPeerTags`): `peer.service`,
    /// `peer.ipv4` (packed, unsigned, `Int64`), `peer.ipv6` (16 `Binary` bytes), `peer.port`
    /// (`Int64`). Unlike Jaeger, an empty service name adds no `peer.service` tag.
    pub(crate) fn push_peer_tags(&self, tags: &mut Vec<KeyValue>) {
        if !self.service_name.is_empty() {
            tags.push(KeyValue::string(TAG_PEER_SERVICE, self.service_name.clone()));
        }
        if let Some(address) = self.ipv4 {
            tags.push(KeyValue::int64(TAG_PEER_IPV4, i64::from(u32::from(address))));
        }
        if let Some(address) = self.ipv6 {
            tags.push(KeyValue::binary(TAG_PEER_IPV6, address.octets().to_vec()));
        }
        if let Some(port) = self.port {
            tags.push(KeyValue::int64(TAG_PEER_PORT, i64::from(port)));
        }
    }

    /// The process tags a local endpoint adds: `ip` as Jaeger writes it (the address packed into
    /// a signed 32-bit integer, then widened, so `192.168.0.1` is negative), then Spoor's
    /// `ipv6` (text) and `port`, which Jaeger drops.
    pub(crate) fn push_process_tags(&self, tags: &mut Vec<KeyValue>) {
        if let Some(address) = self.ipv4 {
            tags.push(KeyValue::int64(TAG_IP, i64::from(u32::from(address) as i32)));
        }
        if let Some(address) = self.ipv6 {
            tags.push(KeyValue::string(TAG_IPV6, address.to_string()));
        }
        if let Some(port) = self.port {
            tags.push(KeyValue::int64(TAG_PORT, i64::from(port)));
        }
    }
}

/// Builds processes and hands out one `Arc` per distinct process, as Jaeger's process hashtable
/// does, so the spans of one service in a batch share it.
#[derive(Default)]
pub(crate) struct Processes {
    by_content: HashMap<String, Arc<Process>>,
}

impl Processes {
    /// The process of `endpoint` (or [`UNKNOWN_SERVICE_NAME`] without one, with a warning),
    /// with `moved_tags` first and the endpoint's tags after.
    pub(crate) fn get(
        &mut self,
        endpoint: Option<&Endpoint>,
        moved_tags: Vec<KeyValue>,
        warnings: &mut Vec<String>,
    ) -> Arc<Process> {
        let mut tags = moved_tags;
        let service_name = match endpoint.filter(|endpoint| !endpoint.service_name.is_empty()) {
            Some(endpoint) => {
                endpoint.push_process_tags(&mut tags);
                endpoint.service_name.clone()
            }
            None => {
                warnings.push(format!("cannot find service name in Zipkin span; set to {UNKNOWN_SERVICE_NAME}"));
                UNKNOWN_SERVICE_NAME.to_owned()
            }
        };
        let process = Process { service_name, tags };
        let key = process_key(&process);
        Arc::clone(self.by_content.entry(key).or_insert_with(|| Arc::new(process)))
    }
}

fn process_key(process: &Process) -> String {
    let mut key = process.service_name.clone();
    for tag in &process.tags {
        key.push('\u{0}');
        key.push_str(&tag.key);
        key.push('\u{1}');
        key.push_str(tag.value.type_name());
        key.push('\u{1}');
        key.push_str(&tag.value.as_string());
    }
    key
}

/// A binary annotation's value as text, for the `lc` key (Jaeger takes the raw bytes as a
/// string whatever the declared type).
pub(crate) fn value_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => other.as_string().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_accept_short_padded_and_128_bit_forms() {
        assert_eq!(parse_span_id("id", "1"), Ok(SpanId(1)));
        assert_eq!(parse_span_id("id", "00000000000000ff"), Ok(SpanId(255)));
        assert_eq!(parse_span_id("id", "000000000000000a00000000000000ff"), Ok(SpanId(255)));
        assert_eq!(parse_span_id("id", "xyz"), Err("id must be 16 hex characters or fewer, got \"xyz\"".to_owned()));
        assert!(parse_span_id("id", "").is_err());
    }

    #[test]
    fn trace_ids_accept_64_and_128_bits_and_refuse_zero() {
        assert_eq!(parse_trace_id("traceId", "1"), Ok(TraceId::new(0, 1)));
        assert_eq!(parse_trace_id("traceId", "0000000000000002000000000000000a"), Ok(TraceId::new(2, 10)));
        assert_eq!(parse_trace_id("traceId", "0000"), Err("traceId must not be all zeros".to_owned()));
        assert!(parse_trace_id("traceId", &"a".repeat(33)).is_err());
    }

    #[test]
    fn local_ipv4_is_packed_signed_as_jaeger_does_and_peer_ipv4_unsigned() {
        let endpoint = Endpoint::new("svc".into(), Some(Ipv4Addr::new(192, 168, 0, 1)), None, Some(8080));
        let mut process_tags = Vec::new();
        endpoint.push_process_tags(&mut process_tags);
        assert_eq!(process_tags[0], KeyValue::int64("ip", -1_062_731_775));
        assert_eq!(process_tags[1], KeyValue::int64("port", 8080));
        let mut peer_tags = Vec::new();
        endpoint.push_peer_tags(&mut peer_tags);
        assert_eq!(peer_tags[1], KeyValue::int64("peer.ipv4", 3_232_235_521));
    }

    #[test]
    fn equal_processes_are_shared() {
        let endpoint = Endpoint::new("svc".into(), Some(Ipv4Addr::new(10, 0, 0, 1)), None, None);
        let mut processes = Processes::default();
        let mut warnings = Vec::new();
        let first = processes.get(Some(&endpoint), vec![], &mut warnings);
        let second = processes.get(Some(&endpoint), vec![], &mut warnings);
        let other = processes.get(None, vec![], &mut warnings);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(other.service_name, UNKNOWN_SERVICE_NAME);
        assert_eq!(warnings.len(), 1);
    }
}
