//! Every receiver of the collector, bound from the options: OTLP, Jaeger gRPC/Thrift HTTP (with
//! remote sampling on the same ports, as Jaeger's collector), Zipkin, agent UDP, and the sampling
//! servers. Used by every role that collects spans.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use spoor_collector::sampling::{self, SamplingConfig, SamplingMetrics, SamplingServer, StrategyStore};
use spoor_collector::{
    AgentConfig, AgentServer, JaegerConfig, JaegerServer, OtlpConfig, OtlpServer, Pipeline, ZipkinConfig, ZipkinServer,
};

use crate::options::Settings;
use crate::shutdown::Shutdown;
use crate::tls_options::server_tls;

/// The receivers with their sockets bound (so a port conflict fails start-up), not yet serving.
pub struct Receivers {
    otlp: OtlpServer,
    jaeger: JaegerServer,
    zipkin: ZipkinServer,
    agent: AgentServer,
    sampling: SamplingServer,
}

fn size(settings: &Settings, key: &str) -> anyhow::Result<usize> {
    Ok(usize::try_from(settings.bytes(key)?).unwrap_or(usize::MAX))
}

/// `host:port` of a receiver, or empty (off) when its protocol family is turned off.
fn host_port(settings: &Settings, enabled: bool, key: &str) -> anyhow::Result<String> {
    Ok(if enabled { settings.string(key)? } else { String::new() })
}

impl Receivers {
    pub async fn bind(settings: &Settings, pipeline: Arc<Pipeline>, registry: &mut Registry) -> anyhow::Result<Self> {
        let grpc_max = size(settings, "collector.grpc-server.max-message-size")?;
        let http_max = size(settings, "collector.http-server.max-request-size")?;

        let otlp_enabled = settings.bool("collector.otlp.enabled")?;
        let otlp_config = OtlpConfig {
            grpc_host_port: host_port(settings, otlp_enabled, "collector.otlp.grpc.host-port")?,
            http_host_port: host_port(settings, otlp_enabled, "collector.otlp.http.host-port")?,
            grpc_max_message_bytes: grpc_max,
            http_max_request_bytes: http_max,
            ..OtlpConfig::default()
        };
        let otlp = OtlpServer::bind(otlp_config, pipeline.clone())
            .await
            .context("starting the OTLP receivers")?
            .with_grpc_tls(server_tls(settings, "collector.otlp.grpc")?)
            .with_http_tls(server_tls(settings, "collector.otlp.http")?);

        let sampling_config = SamplingConfig {
            strategies_file: settings
                .optional_string("sampling.strategies-file")
                .filter(|file| !file.trim().is_empty())
                .map(PathBuf::from),
            default_sampling_probability: settings.parse("sampling.default-sampling-probability")?,
            reload_interval: settings.duration("sampling.strategies-reload-interval")?,
            http_host_port: settings.string("sampling.http.host-port")?,
            grpc_host_port: settings.string("sampling.grpc.host-port")?,
        };
        let sampling_metrics = Arc::new(SamplingMetrics::register(registry));
        let strategies = StrategyStore::open_with_metrics(&sampling_config, sampling_metrics)
            .context("invalid value for option --sampling.strategies-file")?;

        let jaeger_config = JaegerConfig {
            grpc_host_port: settings.string("collector.grpc-server.host-port")?,
            thrift_http_host_port: settings.string("collector.http-server.host-port")?,
            grpc_max_message_bytes: grpc_max,
            http_max_request_bytes: http_max,
        };
        // Jaeger's collector also answers sampling on its gRPC (14250) and HTTP (14268) ports.
        let jaeger = JaegerServer::bind(jaeger_config, pipeline.clone())
            .await
            .context("starting the Jaeger receivers")?
            .with_grpc_tls(server_tls(settings, "collector.grpc")?)
            .with_http_tls(server_tls(settings, "collector.http")?)
            .with_grpc_service(sampling::grpc_service(strategies.clone()))
            .with_http_router(sampling::api_sampling_router(strategies.clone()));

        let zipkin_config = ZipkinConfig {
            http_host_port: settings.string("collector.zipkin.host-port")?,
            http_max_request_bytes: http_max,
        };
        let zipkin = ZipkinServer::bind(zipkin_config, pipeline.clone())
            .await
            .context("starting the Zipkin receiver")?
            .with_tls(server_tls(settings, "collector.zipkin")?);

        let agent_config = AgentConfig {
            thrift_compact_host_port: settings.string("processor.jaeger-compact.server-host-port")?,
            thrift_binary_host_port: settings.string("processor.jaeger-binary.server-host-port")?,
            ..AgentConfig::default()
        };
        let agent = AgentServer::bind(agent_config, pipeline).await.context("starting the agent UDP receivers")?;

        let sampling = SamplingServer::bind(&sampling_config, strategies)
            .await
            .context("starting the sampling servers")?
            .with_http_tls(server_tls(settings, "sampling.http")?)
            .with_grpc_tls(server_tls(settings, "sampling.grpc")?);
        Ok(Self { otlp, jaeger, zipkin, agent, sampling })
    }

    /// Serves until shutdown; a receiver that fails triggers shutdown of the rest.
    pub async fn serve(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let stop_on_error = |result: anyhow::Result<()>| {
            if result.is_err() {
                shutdown.trigger();
            }
            result
        };
        let (otlp, jaeger, zipkin, (), sampling) = tokio::join!(
            async { stop_on_error(self.otlp.serve(shutdown.stopped()).await.context("OTLP receivers failed")) },
            async { stop_on_error(self.jaeger.serve(shutdown.stopped()).await.context("Jaeger receivers failed")) },
            async { stop_on_error(self.zipkin.serve(shutdown.stopped()).await.context("Zipkin receiver failed")) },
            self.agent.serve(shutdown.stopped()),
            async { stop_on_error(self.sampling.serve(shutdown.stopped()).await.context("sampling servers failed")) },
        );
        otlp.and(jaeger).and(zipkin).and(sampling)
    }
}
