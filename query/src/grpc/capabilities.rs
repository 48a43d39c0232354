//! `jaeger.storage.v2.Capabilities` (spec §6.2): what the remote storage can search. Jaeger's
//! query service asks it before a search without a service name (and for its UI's
//! `searchWithoutServiceName`); an error, UNIMPLEMENTED included, makes Jaeger assume the least
//! capable backend and refuse such searches.

use spoor_model::proto::jaeger::storage::v2 as pb;
use spoor_model::proto::jaeger::storage::v2::capabilities_server::{Capabilities, CapabilitiesServer};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::grpc::GrpcContext;

pub(crate) struct RemoteCapabilities {
    context: GrpcContext,
}

/// The `Capabilities` service, gzip in and out like the other remote-storage services.
pub(crate) fn server(context: GrpcContext) -> CapabilitiesServer<RemoteCapabilities> {
    CapabilitiesServer::new(RemoteCapabilities { context })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl Capabilities for RemoteCapabilities {
    /// `without_service_name` is the store's own answer. `same_span_conjunction` is true: the
    /// storage contract (`spoor_storage::TraceQuery`) has every condition match within one span.
    /// `filter` is unset: Spoor evaluates no structured filter.
    async fn get_capabilities(
        &self,
        request: Request<pb::GetCapabilitiesRequest>,
    ) -> Result<Response<pb::GetCapabilitiesResponse>, Status> {
        // Refuse what tenancy refuses, as every other remote-storage call does.
        self.context.namespace(&request)?;
        let capabilities = self.context.service.storage_capabilities();
        let search = pb::SearchCapabilities {
            without_service_name: capabilities.search_without_service,
            same_span_conjunction: true,
            filter: None,
        };
        Ok(Response::new(pb::GetCapabilitiesResponse { search: Some(search) }))
    }
}
