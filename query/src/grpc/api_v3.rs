//! `jaeger.api_v3.QueryService` (spec §5.4): traces are streamed as OTLP `TracesData`, one
//! message per trace.

use std::pin::Pin;

use futures::Stream;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use spoor_model::otlp::spans_to_otlp;
use spoor_model::proto::jaeger::api_v3 as pb;
use spoor_model::proto::jaeger::api_v3::query_service_server::QueryService as ApiV3QueryService;
use spoor_storage::OperationQuery;
use tonic::{Request, Response, Status};

use crate::error::QueryError;
use crate::grpc::convert::{
    dependency_query, span_kind_filter, spans_with_trace_warnings, trace_id_from_hex, trace_lookup, SearchFields,
};
use crate::grpc::summary::{count, summarize, TraceSummary};
use crate::grpc::GrpcContext;
use crate::service::QueryTrace;

type TracesStream = Pin<Box<dyn Stream<Item = Result<TracesData, Status>> + Send>>;
type SummariesStream = Pin<Box<dyn Stream<Item = Result<pb::FindTraceSummariesResponse, Status>> + Send>>;

pub(crate) struct ApiV3 {
    context: GrpcContext,
}

impl ApiV3 {
    pub(crate) fn new(context: GrpcContext) -> Self {
        Self { context }
    }

    async fn search(
        &self,
        request: Request<Option<pb::TraceQueryParameters>>,
        force_adjusted: bool,
    ) -> Result<Vec<QueryTrace>, Status> {
        let namespace = self.context.namespace(&request)?;
        let Some(query) = request.into_inner() else {
            return Err(QueryError::invalid_argument("missing query").into());
        };
        let raw = query.raw_traces && !force_adjusted;
        let fields = SearchFields {
            service_name: query.service_name,
            operation_name: query.operation_name,
            tags: query.attributes.into_iter().collect(),
            start_time_min: query.start_time_min.as_ref(),
            start_time_max: query.start_time_max.as_ref(),
            duration_min: query.duration_min.as_ref(),
            duration_max: query.duration_max.as_ref(),
            search_depth: query.search_depth,
        };
        let trace_query = fields.into_trace_query()?;
        Ok(self.context.service.find_traces(&namespace, &trace_query, raw).await?)
    }
}

#[tonic::async_trait]
impl ApiV3QueryService for ApiV3 {
    type GetTraceStream = TracesStream;
    type FindTracesStream = TracesStream;
    type FindTraceSummariesStream = SummariesStream;

    async fn get_trace(&self, request: Request<pb::GetTraceRequest>) -> Result<Response<TracesStream>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let trace_id = trace_id_from_hex(&request.trace_id)?;
        let lookup = trace_lookup(trace_id, request.start_time.as_ref(), request.end_time.as_ref());
        let trace = self.context.service.get_trace(&namespace, lookup, request.raw_traces).await?;
        Ok(Response::new(traces_stream(vec![trace])))
    }

    /// No matching trace is an empty stream, not an error.
    async fn find_traces(&self, request: Request<pb::FindTracesRequest>) -> Result<Response<TracesStream>, Status> {
        let traces = self.search(request.map(|request| request.query), false).await?;
        Ok(Response::new(traces_stream(traces)))
    }

    async fn get_services(
        &self,
        request: Request<pb::GetServicesRequest>,
    ) -> Result<Response<pb::GetServicesResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let services = self.context.service.services(&namespace).await?;
        Ok(Response::new(pb::GetServicesResponse { services }))
    }

    /// Operations without a span kind carry an empty `span_kind` (the HTTP gateway's `internal`
    /// substitution is not made on gRPC, as in Jaeger).
    async fn get_operations(
        &self,
        request: Request<pb::GetOperationsRequest>,
    ) -> Result<Response<pb::GetOperationsResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let request = request.into_inner();
        let query = OperationQuery { service_name: request.service, span_kind: span_kind_filter(&request.span_kind)? };
        let operations = self.context.service.operations(&namespace, &query).await?;
        let operations = operations
            .into_iter()
            .map(|operation| pb::Operation { name: operation.name, span_kind: operation.span_kind.as_str().to_owned() })
            .collect();
        Ok(Response::new(pb::GetOperationsResponse { operations }))
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
            .map(|link| pb::Dependency { parent: link.parent, child: link.child, call_count: link.call_count })
            .collect();
        Ok(Response::new(pb::GetDependenciesResponse { dependencies }))
    }

    /// One message with the summaries of every matching trace (none when nothing matches). The
    /// traces are adjusted first whatever `raw_traces` says, as Jaeger's gateway does, so counts
    /// do not include the duplicates the adjusters remove.
    async fn find_trace_summaries(
        &self,
        request: Request<pb::FindTraceSummariesRequest>,
    ) -> Result<Response<SummariesStream>, Status> {
        let traces = self.search(request.map(|request| request.query), true).await?;
        let summaries: Vec<pb::TraceSummary> =
            traces.iter().filter_map(|trace| summarize(&trace.spans)).map(summary_to_proto).collect();
        let messages = (!summaries.is_empty()).then_some(Ok(pb::FindTraceSummariesResponse { summaries }));
        Ok(Response::new(Box::pin(futures::stream::iter(messages))))
    }
}

/// One `TracesData` per trace, each converted only when it is sent.
fn traces_stream(traces: Vec<QueryTrace>) -> TracesStream {
    let messages = traces.into_iter().map(|trace| Ok(spans_to_otlp(spans_with_trace_warnings(trace))));
    Box::pin(futures::stream::iter(messages))
}

fn summary_to_proto(summary: TraceSummary) -> pb::TraceSummary {
    pb::TraceSummary {
        trace_id: summary.trace_id.to_hex32(),
        root_service_name: summary.root_service_name,
        root_operation_name: summary.root_operation_name,
        min_start_time_unix_nano: summary.min_start_time_unix_nano,
        max_end_time_unix_nano: summary.max_end_time_unix_nano,
        span_count: count(summary.span_count),
        error_span_count: count(summary.error_span_count),
        orphan_span_count: count(summary.orphan_span_count),
        services: summary
            .services
            .into_iter()
            .map(|service| pb::ServiceSummary {
                name: service.name,
                span_count: count(service.span_count),
                error_span_count: count(service.error_span_count),
            })
            .collect(),
    }
}
