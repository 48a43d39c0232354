//! The agent's UDP receivers: `emitBatch` in compact (6831) and binary (6832), `emitZipkinBatch`,
//! undecodable and oversized datagrams, and drops (counted, never pushed back) when the queue is
//! full or the pipeline is overloaded. Sockets on loopback port 0, a `MemoryStore` behind them.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod receivers;

use std::net::SocketAddr;
use std::time::Duration;

use receivers::{
    assert_same_spans, expected_spans, fixture_trace_id, model_corpus, model_golden_hex, Options, Receivers,
};
use spoor_collector::{AgentConfig, PipelineConfig};
use spoor_model::thrift::{
    decode_agent_message, encode_agent_message, spans_from_thrift_batch, AgentMessage, Protocol, ThriftBatch,
};
use spoor_model::zipkin::decode_v1_thrift;
use spoor_model::{SpanBatch, TraceId};
use tokio::net::UdpSocket;

fn compact_datagram() -> Vec<u8> {
    model_golden_hex("thrift/trace.emit_batch.compact.hex")
}

fn binary_datagram() -> Vec<u8> {
    model_golden_hex("thrift/trace.emit_batch.binary.hex")
}

fn fixture_batch() -> ThriftBatch {
    match decode_agent_message(&binary_datagram(), Protocol::Binary).unwrap() {
        AgentMessage::EmitBatch(batch) => batch,
        other => panic!("expected emitBatch, got {other:?}"),
    }
}

/// The fixture batch moved to trace `(0, trace_low)`, as a compact datagram.
fn compact_datagram_for_trace(trace_low: i64) -> Vec<u8> {
    let mut batch = fixture_batch();
    for span in &mut batch.spans {
        span.trace_id_high = 0;
        span.trace_id_low = trace_low;
    }
    encode_agent_message(&AgentMessage::EmitBatch(batch), Protocol::Compact, 1).unwrap()
}

async fn send(to: SocketAddr, datagram: &[u8]) {
    let from = if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let socket = UdpSocket::bind(from).await.unwrap();
    socket.send_to(datagram, to).await.expect("send datagram");
}

fn udp_metric(name: &str, protocol: &str, value: u64) -> String {
    format!(r#"jaeger_agent_thrift_udp_{name}_total{{model="jaeger",protocol="{protocol}"}} {value}"#)
}

#[tokio::test]
async fn compact_and_binary_emit_batch_store_the_fixture_trace() {
    for (protocol, datagram) in [("compact", compact_datagram()), ("binary", binary_datagram())] {
        let receivers = Receivers::start().await;
        let socket = if protocol == "compact" { receivers.agent_compact } else { receivers.agent_binary };
        send(socket.unwrap(), &datagram).await;
        let stored = receivers.stored_eventually(fixture_trace_id(), 3).await;
        assert_same_spans(&stored, &expected_spans("thrift/trace.model.json"), protocol);
        assert!(receivers.metric_eventually(&udp_metric("server_packets_processed", protocol, 1)).await, "{protocol}");
        assert!(receivers.metrics_text().contains(
            r#"jaeger_collector_spans_received_total{format="jaeger",transport="udp",svc="checkout",debug="false"} 3"#
        ));
        receivers.stop().await;
    }
}

#[tokio::test]
async fn emit_zipkin_batch_is_stored_as_zipkin_v1_on_every_socket() {
    let spans = decode_v1_thrift(&model_golden_hex("zipkin/trace.v1.thrift.hex")).unwrap();
    let expected = expected_spans("zipkin/trace.v1.model.json");
    let receivers = Receivers::start().await;
    for socket in [receivers.agent_zipkin_compact.unwrap(), receivers.agent_compact.unwrap()] {
        let datagram =
            encode_agent_message(&AgentMessage::EmitZipkinBatch(spans.clone()), Protocol::Compact, 3).unwrap();
        send(socket, &datagram).await;
    }
    let zipkin_processed =
        r#"jaeger_agent_thrift_udp_server_packets_processed_total{model="zipkin",protocol="compact"} 1"#;
    assert!(receivers.metric_eventually(zipkin_processed).await);
    assert!(receivers.metric_eventually(&udp_metric("server_packets_processed", "compact", 1)).await);
    // Both datagrams carry the same spans: idempotent writes keep one copy.
    assert_same_spans(&receivers.stored(fixture_trace_id()).await, &expected, "emitZipkinBatch");
    assert!(receivers.metrics_text().contains(r#"format="zipkin",transport="udp""#));
    receivers.stop().await;
}

#[tokio::test]
async fn undecodable_and_oversized_datagrams_are_counted_and_the_socket_keeps_serving() {
    let mut options = Options::local();
    options.agent = AgentConfig { max_packet_bytes: 2_000, ..options.agent };
    let receivers = Receivers::start_with(options).await;
    let compact = receivers.agent_compact.unwrap();
    send(compact, b"\x82\x21\x01\x09emitBatch\x1c\x1c").await; // truncated batch
    send(compact, &binary_datagram()).await; // the other protocol
    send(compact, b"").await;
    send(compact, &vec![0u8; 2_001]).await;
    send(compact, &compact_datagram()).await;
    assert_eq!(receivers.stored_eventually(fixture_trace_id(), 3).await.len(), 3, "still serving");
    assert!(receivers.metric_eventually(&udp_metric("t_processor_handler_errors", "compact", 3)).await);
    assert!(receivers.metric_eventually(&udp_metric("server_read_errors", "compact", 1)).await);
    assert!(receivers.metrics_text().contains(&udp_metric("server_packets_processed", "compact", 1)));
    receivers.stop().await;
}

#[tokio::test]
async fn every_datagram_of_the_malformed_corpus_is_a_counted_handler_error() {
    let receivers = Receivers::start().await;
    for (folder, socket, protocol) in [
        ("thrift_agent_compact", receivers.agent_compact.unwrap(), "compact"),
        ("thrift_agent_binary", receivers.agent_binary.unwrap(), "binary"),
    ] {
        let corpus = model_corpus(folder);
        for (_, datagram) in &corpus {
            send(socket, datagram).await;
        }
        let errors = udp_metric("t_processor_handler_errors", protocol, corpus.len() as u64);
        assert!(receivers.metric_eventually(&errors).await, "{folder}: {}", receivers.metrics_text());
    }
    send(receivers.agent_compact.unwrap(), &compact_datagram()).await;
    assert_eq!(receivers.stored_eventually(fixture_trace_id(), 3).await.len(), 3, "still serving");
    receivers.stop().await;
}

#[tokio::test]
async fn datagrams_the_overloaded_pipeline_refuses_are_dropped_and_counted() {
    let one_batch = SpanBatch::new(spans_from_thrift_batch(fixture_batch())).estimated_size();
    let mut options = Options::local();
    options.pipeline = PipelineConfig { max_inflight_bytes: one_batch * 3 / 2, ..PipelineConfig::default() };
    options.gate_open = false;
    let receivers = Receivers::start_with(options).await;
    let compact = receivers.agent_compact.unwrap();

    send(compact, &compact_datagram()).await;
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    send(compact, &compact_datagram_for_trace(9)).await;
    assert!(receivers.metric_eventually(&udp_metric("server_packets_dropped", "compact", 1)).await);
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_rejected_total{format="jaeger",transport="udp",svc="checkout",debug="false"} 3"#
    ));
    assert!(receivers.metrics_text().contains(r#"spoor_collector_overload_rejections_total{transport="udp"} 1"#));

    receivers.open_gate();
    assert_eq!(receivers.stored_eventually(fixture_trace_id(), 3).await.len(), 3);
    assert!(receivers.metric_eventually(&udp_metric("server_packets_processed", "compact", 1)).await);
    assert!(receivers.stored(TraceId::new(0, 9)).await.is_empty(), "the dropped datagram is gone");
    receivers.stop().await;
}

#[tokio::test]
async fn datagrams_beyond_the_queue_bytes_are_dropped_unread_and_counted() {
    let datagram = compact_datagram();
    let mut options = Options::local();
    options.agent = AgentConfig { queue_bytes: datagram.len(), workers: 1, ..options.agent };
    options.gate_open = false;
    let receivers = Receivers::start_with(options).await;
    let compact = receivers.agent_compact.unwrap();

    // The worker holds the first datagram (its write waits at the gate), so the queue is full.
    send(compact, &datagram).await;
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    send(compact, &compact_datagram_for_trace(11)).await;
    assert!(receivers.metric_eventually(&udp_metric("server_packets_dropped", "compact", 1)).await);
    assert!(receivers
        .metrics_text()
        .contains(r#"jaeger_agent_thrift_udp_server_queue_size{model="jaeger",protocol="compact"} 0"#));

    receivers.open_gate();
    assert_eq!(receivers.stored_eventually(fixture_trace_id(), 3).await.len(), 3);
    // Room again: the next datagram is taken.
    send(compact, &compact_datagram_for_trace(12)).await;
    assert_eq!(receivers.stored_eventually(TraceId::new(0, 12), 3).await.len(), 3);
    assert!(receivers.stored(TraceId::new(0, 11)).await.is_empty());
    receivers.stop().await;
}

#[tokio::test]
async fn datagrams_queued_at_shutdown_are_still_stored() {
    let mut options = Options::local();
    options.agent = AgentConfig { workers: 1, ..options.agent };
    options.gate_open = false;
    let mut receivers = Receivers::start_with(options).await;
    let binary = receivers.agent_binary.unwrap();
    // One datagram in the worker (waiting at the gate), one in the queue.
    send(binary, &binary_datagram()).await;
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut queued = fixture_batch();
    for span in &mut queued.spans {
        span.trace_id_high = 0;
        span.trace_id_low = 31;
    }
    send(binary, &encode_agent_message(&AgentMessage::EmitBatch(queued), Protocol::Binary, 2).unwrap()).await;
    let queue_size = r#"jaeger_agent_thrift_udp_server_queue_size{model="jaeger",protocol="binary"} 1"#;
    assert!(receivers.metric_eventually(queue_size).await);

    receivers.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(20)).await;
    receivers.open_gate();
    let store = std::sync::Arc::clone(&receivers.store);
    receivers.stop().await;
    for (trace_id, what) in [(fixture_trace_id(), "in the worker"), (TraceId::new(0, 31), "queued")] {
        let trace = spoor_storage::SpanReader::get_trace(
            &*store,
            &spoor_model::Namespace::default_namespace(),
            spoor_storage::GetTraceRequest::new(trace_id),
        )
        .await
        .unwrap();
        assert_eq!(trace.map(|trace| trace.spans.len()), Some(3), "the datagram {what} at shutdown");
    }
}

#[tokio::test]
async fn agent_udp_over_ipv6_loopback() {
    if !receivers::ipv6_loopback_available() {
        return;
    }
    let receivers = Receivers::start_with(Options::on("[::1]")).await;
    let compact = receivers.agent_compact.unwrap();
    let binary = receivers.agent_binary.unwrap();
    assert!(compact.is_ipv6() && binary.is_ipv6(), "{compact} {binary}");
    send(compact, &compact_datagram_for_trace(21)).await;
    send(binary, &binary_datagram()).await;
    assert_eq!(receivers.stored_eventually(TraceId::new(0, 21), 3).await.len(), 3);
    assert_eq!(receivers.stored_eventually(fixture_trace_id(), 3).await.len(), 3);
    receivers.stop().await;
}
