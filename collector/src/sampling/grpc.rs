//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` (Jaeger's `internal/sampling/grpc`), thin
//! over the [`StrategyStore`], for Jaeger's 5779 and the collector's 14250; and the grpc.health
//! status Jaeger registers beside it.

use std::sync::Arc;

use spoor_model::proto::jaeger::api_v2::sampling_manager_server::{SamplingManager, SamplingManagerServer};
use spoor_model::proto::jaeger::api_v2::{SamplingStrategyParameters, SamplingStrategyResponse};
use tonic::codec::CompressionEncoding;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::sampling::store::StrategyStore;

/// The grpc.health service name Jaeger reports for sampling.
pub const HEALTH_SERVICE_NAME: &str = "jaeger.api_v2.SamplingManager";

/// The `SamplingManager` implementation.
#[derive(Clone, Debug)]
pub struct SamplingGrpcHandler {
    store: Arc<StrategyStore>,
}

#[async_trait::async_trait]
impl SamplingManager for SamplingGrpcHandler {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<SamplingStrategyParameters>,
    ) -> Result<tonic::Response<SamplingStrategyResponse>, tonic::Status> {
        let strategy = self.store.strategy(&request.get_ref().service_name);
        self.store.metrics().record_grpc_request();
        Ok(tonic::Response::new(strategy))
    }
}

/// The tonic service to add to a `tonic::transport::Server` (this module's own, or the
/// collector's 14250 beside `CollectorService`). Gzip is accepted, and used for answers when the
/// client accepts it.
pub fn grpc_service(store: Arc<StrategyStore>) -> SamplingManagerServer<SamplingGrpcHandler> {
    SamplingManagerServer::new(SamplingGrpcHandler { store })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

/// Reports `jaeger.api_v2.SamplingManager` as `status` on a server's health service.
pub async fn set_health_status(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status(HEALTH_SERVICE_NAME, status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_name_is_the_grpc_service_name() {
        assert_eq!(
            <SamplingManagerServer<SamplingGrpcHandler> as tonic::server::NamedService>::NAME,
            HEALTH_SERVICE_NAME
        );
    }
}
