//! Every Prometheus metric of the collector, declared here and registered into the registry the
//! binary passes in. Jaeger's names are kept where Jaeger has the metric (spec §7.1), so existing
//! dashboards work; prometheus-client appends `_total` to counters itself.
//!
//! The agent's UDP sockets have Jaeger's agent metrics (`jaeger_agent_thrift_udp_*`, labels
//! `model` and `protocol`), one [`UdpServerMetrics`] per socket.
//!
//! Labels are bounded: `svc` stops taking new values after [`MAX_SERVICE_LABELS`] distinct
//! service names (later ones are reported as `other-services`, as Jaeger does).

use std::collections::HashSet;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use spoor_model::{SpanBatch, FLAG_DEBUG};

use crate::pipeline::{Source, Transport};

/// Distinct service names reported in the `svc` label before new ones become `other-services`.
pub const MAX_SERVICE_LABELS: usize = 4000;
/// The `svc` label value once [`MAX_SERVICE_LABELS`] is reached.
pub const OTHER_SERVICES: &str = "other-services";
/// The `svc` label value for spans rejected before a service name was known.
pub const UNKNOWN_SERVICE: &str = "unknown-service";

/// Labels of Jaeger's per-span counters (`spans_received`, `spans_rejected`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanLabels {
    pub format: &'static str,
    pub transport: &'static str,
    pub svc: String,
    pub debug: &'static str,
}

/// Labels of Jaeger's `spans_saved_by_svc`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SavedLabels {
    pub debug: &'static str,
    pub result: &'static str,
    pub svc: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    pub transport: &'static str,
}

/// Labels of Jaeger's agent UDP server metrics: `model` is `jaeger` or `zipkin` (what the socket
/// is for), `protocol` is `compact` or `binary`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UdpServerLabels {
    pub model: &'static str,
    pub protocol: &'static str,
}

/// The metrics of one agent UDP socket. Every datagram read ends in exactly one of
/// `processed`, `dropped` or `handler_errors`; a failed read counts in `read_errors`.
#[derive(Clone, Debug, Default)]
pub struct UdpServerMetrics {
    /// Datagrams decoded and stored.
    pub packets_processed: Counter,
    /// Datagrams discarded undecoded because the socket's queue was full, or decoded but refused
    /// by the pipeline (overloaded, or the store failed): UDP cannot push back.
    pub packets_dropped: Counter,
    /// Socket reads that failed, and datagrams longer than the maximum packet size.
    pub read_errors: Counter,
    /// Datagrams that are not a decodable `emitBatch`/`emitZipkinBatch` message.
    pub handler_errors: Counter,
    /// Size of the last datagram read, in bytes.
    pub packet_size: Gauge,
    /// Datagrams waiting in the socket's queue.
    pub queue_size: Gauge,
}

/// The collector's metrics. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug)]
pub struct CollectorMetrics {
    spans_received: Family<SpanLabels, Counter>,
    spans_rejected: Family<SpanLabels, Counter>,
    spans_saved_by_svc: Family<SavedLabels, Counter>,
    spans_dropped: Counter,
    queue_length: Gauge,
    spans_bytes: Gauge,
    batch_size: Gauge,
    save_latency_seconds: Histogram,
    inflight_bytes: Gauge,
    max_inflight_bytes: Gauge,
    overload_rejections: Family<TransportLabels, Counter>,
    service_names: ServiceNameLabels,
    udp_packets_processed: Family<UdpServerLabels, Counter>,
    udp_packets_dropped: Family<UdpServerLabels, Counter>,
    udp_read_errors: Family<UdpServerLabels, Counter>,
    udp_handler_errors: Family<UdpServerLabels, Counter>,
    udp_packet_size: Family<UdpServerLabels, Gauge>,
    udp_queue_size: Family<UdpServerLabels, Gauge>,
}

impl CollectorMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "jaeger_collector_spans_received",
            "Spans received by a receiver, before they are stored",
            metrics.spans_received.clone(),
        );
        registry.register(
            "jaeger_collector_spans_rejected",
            "Spans refused: invalid, over the in-flight limit, or not stored (the sender was told)",
            metrics.spans_rejected.clone(),
        );
        registry.register(
            "jaeger_collector_spans_saved_by_svc",
            "Spans the writer was asked to store, by result (ok or err)",
            metrics.spans_saved_by_svc.clone(),
        );
        registry.register(
            "jaeger_collector_spans_dropped",
            "Spans refused with a permanent error after they were decoded: the sender must not retry them",
            metrics.spans_dropped.clone(),
        );
        registry.register(
            "jaeger_collector_queue_length",
            "Spans in flight: accepted by the pipeline and not yet stored",
            metrics.queue_length.clone(),
        );
        registry.register(
            "jaeger_collector_spans_bytes",
            "Estimated in-memory bytes of all spans received so far",
            metrics.spans_bytes.clone(),
        );
        registry.register(
            "jaeger_collector_batch_size",
            "Spans in the last batch submitted",
            metrics.batch_size.clone(),
        );
        registry.register(
            "jaeger_collector_save_latency",
            "Seconds the writer took to store a batch",
            metrics.save_latency_seconds.clone(),
        );
        registry.register(
            "spoor_collector_inflight_bytes",
            "Estimated bytes of spans in flight (the pipeline's bounded budget in use)",
            metrics.inflight_bytes.clone(),
        );
        registry.register(
            "spoor_collector_max_inflight_bytes",
            "The configured in-flight byte budget",
            metrics.max_inflight_bytes.clone(),
        );
        registry.register(
            "spoor_collector_overload_rejections",
            "Requests refused because the in-flight byte budget was used up (429 / RESOURCE_EXHAUSTED)",
            metrics.overload_rejections.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_server_packets_processed",
            "Agent UDP datagrams decoded and stored",
            metrics.udp_packets_processed.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_server_packets_dropped",
            "Agent UDP datagrams dropped: the socket's queue was full, or the pipeline refused the spans",
            metrics.udp_packets_dropped.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_server_read_errors",
            "Agent UDP socket reads that failed, and datagrams over the maximum packet size",
            metrics.udp_read_errors.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_t_processor_handler_errors",
            "Agent UDP datagrams that are not a decodable emitBatch or emitZipkinBatch message",
            metrics.udp_handler_errors.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_server_packet_size",
            "Size in bytes of the last agent UDP datagram read",
            metrics.udp_packet_size.clone(),
        );
        registry.register(
            "jaeger_agent_thrift_udp_server_queue_size",
            "Agent UDP datagrams waiting in the socket's queue",
            metrics.udp_queue_size.clone(),
        );
        metrics
    }

    /// Creates metrics that no registry exports (benches, tools).
    pub fn unregistered() -> Self {
        Self {
            spans_received: Family::default(),
            spans_rejected: Family::default(),
            spans_saved_by_svc: Family::default(),
            spans_dropped: Counter::default(),
            queue_length: Gauge::default(),
            spans_bytes: Gauge::default(),
            batch_size: Gauge::default(),
            // 1 ms .. ~16 s.
            save_latency_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            inflight_bytes: Gauge::default(),
            max_inflight_bytes: Gauge::default(),
            overload_rejections: Family::default(),
            service_names: ServiceNameLabels::new(MAX_SERVICE_LABELS),
            udp_packets_processed: Family::default(),
            udp_packets_dropped: Family::default(),
            udp_read_errors: Family::default(),
            udp_handler_errors: Family::default(),
            udp_packet_size: Family::default(),
            udp_queue_size: Family::default(),
        }
    }

    /// The metrics of the agent UDP socket for `model` (`jaeger`, `zipkin`) and `protocol`
    /// (`compact`, `binary`). Sockets with equal labels share their counters.
    pub fn udp_server(&self, model: &'static str, protocol: &'static str) -> UdpServerMetrics {
        let labels = UdpServerLabels { model, protocol };
        UdpServerMetrics {
            packets_processed: self.udp_packets_processed.get_or_create(&labels).clone(),
            packets_dropped: self.udp_packets_dropped.get_or_create(&labels).clone(),
            read_errors: self.udp_read_errors.get_or_create(&labels).clone(),
            handler_errors: self.udp_handler_errors.get_or_create(&labels).clone(),
            packet_size: self.udp_packet_size.get_or_create(&labels).clone(),
            queue_size: self.udp_queue_size.get_or_create(&labels).clone(),
        }
    }

    /// Counts the spans of a batch per (service, debug) once; the counts feed every per-span
    /// counter of this batch.
    pub fn span_counts(&self, source: Source, batch: &SpanBatch) -> SpanCounts {
        let mut groups: Vec<(SpanLabels, u64)> = Vec::new();
        for span in &batch.spans {
            let debug = if span.flags & FLAG_DEBUG != 0 { "true" } else { "false" };
            let service = span.service_name();
            match groups.iter_mut().find(|(labels, _)| labels.debug == debug && labels.svc == service) {
                Some((_, count)) => *count += 1,
                None => groups.push((self.span_labels(source, service, debug), 1)),
            }
        }
        // Different service names may have collapsed into `other-services`; that only means two
        // entries with equal labels, which add up in the counter.
        SpanCounts { groups }
    }

    fn span_labels(&self, source: Source, service: &str, debug: &'static str) -> SpanLabels {
        SpanLabels {
            format: source.format.as_str(),
            transport: source.transport.as_str(),
            svc: self.service_names.label(service),
            debug,
        }
    }

    pub fn record_received(&self, counts: &SpanCounts, batch_bytes: usize) {
        for (labels, count) in &counts.groups {
            self.spans_received.get_or_create(labels).inc_by(*count);
        }
        self.spans_bytes.inc_by(i64::try_from(batch_bytes).unwrap_or(i64::MAX));
        self.batch_size.set(i64::try_from(counts.total()).unwrap_or(i64::MAX));
    }

    /// Spans refused; `permanent` when the sender must not retry them (they are also counted
    /// as dropped).
    pub fn record_rejected(&self, counts: &SpanCounts, permanent: bool) {
        for (labels, count) in &counts.groups {
            self.spans_rejected.get_or_create(labels).inc_by(*count);
        }
        if permanent {
            self.spans_dropped.inc_by(counts.total());
        }
    }

    /// Spans a receiver could not turn into model spans (bad ids, ...): received, rejected and
    /// dropped, with `svc="unknown-service"`.
    pub fn record_invalid_spans(&self, source: Source, count: u64) {
        if count == 0 {
            return;
        }
        let labels = SpanLabels {
            format: source.format.as_str(),
            transport: source.transport.as_str(),
            svc: UNKNOWN_SERVICE.to_owned(),
            debug: "false",
        };
        self.spans_received.get_or_create(&labels).inc_by(count);
        self.spans_rejected.get_or_create(&labels).inc_by(count);
        self.spans_dropped.inc_by(count);
    }

    pub fn record_saved(&self, counts: &SpanCounts, ok: bool, latency: Duration) {
        let result = if ok { "ok" } else { "err" };
        for (labels, count) in &counts.groups {
            let saved = SavedLabels { debug: labels.debug, result, svc: labels.svc.clone() };
            self.spans_saved_by_svc.get_or_create(&saved).inc_by(*count);
        }
        self.save_latency_seconds.observe(latency.as_secs_f64());
    }

    pub fn record_overload(&self, transport: Transport) {
        self.overload_rejections.get_or_create(&TransportLabels { transport: transport.as_str() }).inc();
    }

    pub fn add_inflight(&self, bytes: usize, spans: usize) {
        self.inflight_bytes.inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.queue_length.inc_by(i64::try_from(spans).unwrap_or(i64::MAX));
    }

    pub fn remove_inflight(&self, bytes: usize, spans: usize) {
        self.inflight_bytes.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.queue_length.dec_by(i64::try_from(spans).unwrap_or(i64::MAX));
    }

    pub fn set_max_inflight_bytes(&self, bytes: usize) {
        self.max_inflight_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The number of overload rejections so far for `transport` (for tests and health checks).
    pub fn overload_rejections(&self, transport: Transport) -> u64 {
        self.overload_rejections.get_or_create(&TransportLabels { transport: transport.as_str() }).get()
    }
}

/// Per-(service, debug) span counts of one batch, computed once by [`CollectorMetrics::span_counts`].
#[derive(Clone, Debug, Default)]
pub struct SpanCounts {
    groups: Vec<(SpanLabels, u64)>,
}

impl SpanCounts {
    pub fn total(&self) -> u64 {
        self.groups.iter().map(|(_, count)| count).sum()
    }
}

/// Bounds the `svc` label: the first `max` distinct names are reported as they are, later ones as
/// [`OTHER_SERVICES`].
#[derive(Debug)]
struct ServiceNameLabels {
    seen: RwLock<HashSet<String>>,
    max: usize,
}

impl ServiceNameLabels {
    fn new(max: usize) -> Self {
        Self { seen: RwLock::new(HashSet::new()), max }
    }

    fn label(&self, service: &str) -> String {
        if self.seen.read().contains(service) {
            return service.to_owned();
        }
        let mut seen = self.seen.write();
        if seen.contains(service) {
            return service.to_owned();
        }
        if seen.len() >= self.max {
            return OTHER_SERVICES.to_owned();
        }
        seen.insert(service.to_owned());
        service.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn service_label_reports_other_services_after_the_limit() {
        let labels = ServiceNameLabels::new(2);
        assert_eq!(labels.label("a"), "a");
        assert_eq!(labels.label("b"), "b");
        assert_eq!(labels.label("c"), OTHER_SERVICES);
        assert_eq!(labels.label("a"), "a");
    }

    #[test]
    fn registered_metrics_use_jaeger_names() {
        let mut registry = Registry::default();
        let metrics = CollectorMetrics::register(&mut registry);
        metrics.record_invalid_spans(Source::otlp(Transport::Http), 2);
        metrics.record_overload(Transport::Grpc);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            r#"jaeger_collector_spans_received_total{format="otlp",transport="http",svc="unknown-service",debug="false"} 2"#
        ));
        assert!(text.contains("jaeger_collector_spans_dropped_total 2"));
        assert!(text.contains(r#"spoor_collector_overload_rejections_total{transport="grpc"} 1"#));
        assert!(text.contains("jaeger_collector_save_latency_bucket"));
        assert!(text.contains("jaeger_collector_queue_length 0"));
    }

    #[test]
    fn udp_server_metrics_use_jaeger_agent_names_and_labels() {
        let mut registry = Registry::default();
        let metrics = CollectorMetrics::register(&mut registry);
        let socket = metrics.udp_server("jaeger", "compact");
        socket.packets_dropped.inc();
        socket.packets_processed.inc_by(2);
        metrics.udp_server("jaeger", "compact").handler_errors.inc();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"jaeger_agent_thrift_udp_server_packets_dropped_total{model="jaeger",protocol="compact"} 1"#,
            r#"jaeger_agent_thrift_udp_server_packets_processed_total{model="jaeger",protocol="compact"} 2"#,
            r#"jaeger_agent_thrift_udp_t_processor_handler_errors_total{model="jaeger",protocol="compact"} 1"#,
            r#"jaeger_agent_thrift_udp_server_read_errors_total{model="jaeger",protocol="compact"} 0"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
