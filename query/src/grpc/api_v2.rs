//! `jaeger.api_v2.QueryService` (spec §5.3): traces are streamed as `SpansResponseChunk`s of at
//! most [`MAX_SPANS_PER_CHUNK`] spans, all of one trace, each span carrying its process.

use std::pin::Pin;

use futures::Stream;
use spoor_model::jaeger_proto::span_to_proto;
use spoor_model::proto::jaeger::api_v2 as pb;
use spoor_model::proto::jaeger::api_v2::query_service_server::QueryService as ApiV2QueryService;
use spoor_storage::OperationQuery;
use tonic::{Request, Response, Status};

use crate::error::QueryError;
use crate::grpc::convert::{
    dependency_query, span_kind_filter, spans_with_trace_warnings, trace_id_from_bytes, trace_lookup, SearchFields,
};
use crate::grpc::status::status_with_context;
use crate::grpc::GrpcContext;
use crate::service::QueryTrace;

/// Jaeger's chunk size.
pub(crate) const MAX_SPANS_PER_CHUNK: usize = 10;

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::SpansResponseChunk, Status>> + Send>>;

pub(crate) struct ApiV2 {
    context: GrpcContext,
}

impl ApiV2 {
    pub(crate) fn new(context: GrpcContext) -> Self {
        Self { context }
    }
}

#[tonic::async_trait]
impl ApiV2QueryService for ApiV2 {
    type GetTraceStream = ChunkStream;
    type FindTracesStream = ChunkStream;

    async fn get_trace(&self, request: Request<pb::GetTraceRequest>) -> Result<Response<ChunkStream>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let trace_id = trace_id_from_bytes(&request.trace_id)?;
        let lookup = trace_lookup(trace_id, request.start_time.as_ref(), request.end_time.as_ref());
        let trace = self.context.service.get_trace(&namespace, lookup, request.raw_traces).await?;
        Ok(Response::new(chunk_stream(vec![trace])))
    }

    /// Copies the trace into archive storage. Not found is NOT_FOUND `trace not found`; any other
    /// failure (no archive storage configured included) is reported as Jaeger does, INTERNAL
    /// `failed to archive trace: <reason>`, unless the caller's request was at fault.
    async fn archive_trace(
        &self,
        request: Request<pb::ArchiveTraceRequest>,
    ) -> Result<Response<pb::ArchiveTraceResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let trace_id = trace_id_from_bytes(&request.trace_id)?;
        let lookup = trace_lookup(trace_id, request.start_time.as_ref(), request.end_time.as_ref());
        match self.context.service.archive_trace(&namespace, lookup).await {
            Ok(()) => Ok(Response::new(pb::ArchiveTraceResponse {})),
            Err(error) => Err(status_with_context(error, "failed to archive trace")),
        }
    }

    async fn find_traces(&self, request: Request<pb::FindTracesRequest>) -> Result<Response<ChunkStream>, Status> {
        let namespace = self.context.namespace(&request)?;
        let Some(query) = request.into_inner().query else {
            return Err(QueryError::invalid_argument("missing query").into());
        };
        let raw = query.raw_traces;
        let fields = SearchFields {
            service_name: query.service_name,
            operation_name: query.operation_name,
            tags: query.tags.into_iter().collect(),
            start_time_min: query.start_time_min.as_ref(),
            start_time_max: query.start_time_max.as_ref(),
            duration_min: query.duration_min.as_ref(),
            duration_max: query.duration_max.as_ref(),
            search_depth: query.search_depth,
        };
        let trace_query = fields.into_trace_query()?;
        let traces = self.context.service.find_traces(&namespace, &trace_query, raw).await?;
        Ok(Response::new(chunk_stream(traces)))
    }

    async fn get_services(
        &self,
        request: Request<pb::GetServicesRequest>,
    ) -> Result<Response<pb::GetServicesResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let services = self.context.service.services(&namespace).await?;
        Ok(Response::new(pb::GetServicesResponse { services }))
    }

    /// `operationNames` lists each name once (the deprecated field old clients read);
    /// `operations` lists every (name, span kind) pair.
    async fn get_operations(
        &self,
        request: Request<pb::GetOperationsRequest>,
    ) -> Result<Response<pb::GetOperationsResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let query = OperationQuery { service_name: request.service, span_kind: span_kind_filter(&request.span_kind)? };
        let operations = self.context.service.operations(&namespace, &query).await?;
        let mut operation_names: Vec<String> = operations.iter().map(|operation| operation.name.clone()).collect();
        operation_names.dedup();
        let operations = operations
            .into_iter()
            .map(|operation| pb::Operation { name: operation.name, span_kind: operation.span_kind.as_str().to_owned() })
            .collect();
        Ok(Response::new(pb::GetOperationsResponse { operation_names, operations }))
    }

    /// Links of spans starting in `[start_time, end_time]`, computed from the stored spans.
    async fn get_dependencies(
        &self,
        request: Request<pb::GetDependenciesRequest>,
    ) -> Result<Response<pb::GetDependenciesResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let query = dependency_query(request.start_time.as_ref(), request.end_time.as_ref())?;
        let links = self.context.service.dependencies(&namespace, &query).await?;
        let dependencies = links
            .into_iter()
            .map(|link| pb::DependencyLink {
                parent: link.parent,
                child: link.child,
                call_count: link.call_count,
                source: link.source,
            })
            .collect();
        Ok(Response::new(pb::GetDependenciesResponse { dependencies }))
    }
}

/// The traces as chunks, each span converted only when its chunk is sent.
fn chunk_stream(traces: Vec<QueryTrace>) -> ChunkStream {
    let chunks = traces.into_iter().flat_map(|trace| {
        let mut spans = spans_with_trace_warnings(trace).into_iter();
        std::iter::from_fn(move || {
            let chunk: Vec<pb::Span> = spans.by_ref().take(MAX_SPANS_PER_CHUNK).map(span_to_proto).collect();
            (!chunk.is_empty()).then_some(pb::SpansResponseChunk { spans: chunk })
        })
    });
    Box::pin(futures::stream::iter(chunks.map(Ok)))
}
