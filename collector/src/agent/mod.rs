//! The agent's UDP receivers (spec §1.6): Thrift compact on 6831, binary on 6832 (and, when
//! configured, v1's Zipkin socket, 5775), one oneway `emitBatch` or `emitZipkinBatch` message per
//! datagram. Each socket has a queue bounded in bytes and worker tasks ([`udp`]); what cannot be
//! queued or stored is dropped and counted in Jaeger's `jaeger_agent_thrift_udp_server_*` metrics.

pub mod udp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use tokio::net::UdpSocket;

pub use self::udp::AgentEndpoint;
use crate::config::AgentConfig;
use crate::listen::{self, ListenError};
use crate::pipeline::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum AgentServeError {
    #[error("agent UDP receiver ({model}, {protocol}): {source}")]
    Listen { model: &'static str, protocol: &'static str, source: ListenError },
}

/// The agent's UDP sockets, bound, not yet serving. Binding first lets the caller learn the
/// ports (`:0` in tests) and fail start-up before anything serves.
pub struct AgentServer {
    sockets: Vec<(AgentEndpoint, UdpSocket)>,
    limits: udp::UdpLimits,
    pipeline: Arc<Pipeline>,
}

impl AgentServer {
    /// Binds the configured sockets; an empty `host_port` leaves that socket off.
    pub async fn bind(config: AgentConfig, pipeline: Arc<Pipeline>) -> Result<Self, AgentServeError> {
        let wanted = [
            (AgentEndpoint::JAEGER_COMPACT, &config.thrift_compact_host_port),
            (AgentEndpoint::JAEGER_BINARY, &config.thrift_binary_host_port),
            (AgentEndpoint::ZIPKIN_COMPACT, &config.zipkin_thrift_compact_host_port),
        ];
        let mut sockets = Vec::new();
        for (endpoint, host_port) in wanted {
            if host_port.trim().is_empty() {
                continue;
            }
            let socket = listen::bind_udp(host_port, config.socket_buffer_bytes).await.map_err(|source| {
                AgentServeError::Listen { model: endpoint.model, protocol: endpoint.protocol.as_str(), source }
            })?;
            sockets.push((endpoint, socket));
        }
        let limits = udp::UdpLimits {
            max_packet_bytes: config.max_packet_bytes,
            queue_bytes: config.queue_bytes,
            workers: config.workers,
        };
        Ok(Self { sockets, limits, pipeline })
    }

    /// The address of the socket for `endpoint`, when it is on.
    pub fn local_addr(&self, endpoint: AgentEndpoint) -> Option<SocketAddr> {
        self.sockets.iter().find(|(bound, _)| *bound == endpoint).and_then(|(_, socket)| socket.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops reading and lets the workers handle what is
    /// already queued. Returns when every socket stopped.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shutdown = shutdown.shared();
        let runs = self.sockets.into_iter().map(|(endpoint, socket)| {
            udp::run(socket, endpoint, self.limits, Arc::clone(&self.pipeline), shutdown.clone())
        });
        futures::future::join_all(runs).await;
    }
}

/// Binds and serves the agent's UDP sockets until `shutdown` completes (see [`AgentServer`]).
pub async fn serve_agent(
    config: AgentConfig,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentServeError> {
    AgentServer::bind(config, pipeline).await?.serve(shutdown).await;
    Ok(())
}
