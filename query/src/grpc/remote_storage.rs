//! `jaeger.storage.v2.TraceReader` and `DependencyReader` (spec §6.2): Spoor's storage as a
//! Jaeger remote storage. Traces come back as stored: capped like every query, never adjusted
//! (the reading Jaeger runs its own adjusters). Traces are streamed as OTLP `TracesData`, one
//! message per trace.

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKeyValue;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use spoor_model::jaeger_proto::timestamp_from_nanos;
use spoor_model::otlp::{attribute_value_from_otlp, spans_to_otlp};
use spoor_model::proto::jaeger::storage::v2 as pb;
use spoor_model::proto::jaeger::storage::v2::dependency_reader_server::DependencyReader;
use spoor_model::proto::jaeger::storage::v2::trace_reader_server::TraceReader;
use spoor_storage::{OperationQuery, TraceQuery};
use tonic::{Request, Response, Status};

use crate::error::QueryError;
use crate::grpc::bearer::keep_bearer_token;
use crate::grpc::convert::{
    dependency_query, span_kind_filter, spans_with_trace_warnings, trace_id_from_bytes, trace_lookup, SearchFields,
};
use crate::grpc::summary::{count, summarize, TraceSummary};
use crate::grpc::GrpcContext;
use crate::service::QueryTrace;

/// Traces as stored: no adjusters.
const RAW: bool = true;

type TracesStream = Pin<Box<dyn Stream<Item = Result<TracesData, Status>> + Send>>;
type SummariesStream = Pin<Box<dyn Stream<Item = Result<pb::FindTraceSummariesResponse, Status>> + Send>>;

pub(crate) struct RemoteTraceReader {
    context: GrpcContext,
}

impl RemoteTraceReader {
    pub(crate) fn new(context: GrpcContext) -> Self {
        Self { context }
    }

    async fn search(&self, request: Request<Option<pb::TraceQueryParameters>>) -> Result<Vec<QueryTrace>, Status> {
        let namespace = self.context.namespace(&request)?;
        let query = trace_query(request.into_inner())?;
        Ok(self.context.service.find_traces(&namespace, &query, RAW).await?)
    }
}

#[tonic::async_trait]
impl TraceReader for RemoteTraceReader {
    type GetTracesStream = TracesStream;
    type FindTracesStream = TracesStream;
    type FindTraceSummariesStream = SummariesStream;

    /// The traces that exist, in the order asked for; an id without spans is left out (not an
    /// error). Each trace is read when the previous one has been sent, so the stream keeps the
    /// call's bearer token for those reads.
    async fn get_traces(&self, request: Request<pb::GetTracesRequest>) -> Result<Response<TracesStream>, Status> {
        let namespace = self.context.namespace(&request)?;
        let lookups = request
            .into_inner()
            .query
            .into_iter()
            .map(|params| {
                let trace_id = trace_id_from_bytes(&params.trace_id)?;
                Ok(trace_lookup(trace_id, params.start_time.as_ref(), params.end_time.as_ref()))
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        let service = std::sync::Arc::clone(&self.context.service);
        let traces = futures::stream::iter(lookups).filter_map(move |lookup| {
            let service = std::sync::Arc::clone(&service);
            let namespace = namespace.clone();
            async move {
                match service.get_primary_trace(&namespace, lookup, RAW).await {
                    Ok(trace) => Some(Ok(traces_data(trace))),
                    Err(QueryError::TraceNotFound) => None,
                    Err(error) => Some(Err(Status::from(error))),
                }
            }
        });
        Ok(Response::new(Box::pin(keep_bearer_token(Box::pin(traces)))))
    }

    async fn get_services(
        &self,
        request: Request<pb::GetServicesRequest>,
    ) -> Result<Response<pb::GetServicesResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let services = self.context.service.services(&namespace).await?;
        Ok(Response::new(pb::GetServicesResponse { services }))
    }

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

    /// No matching trace is an empty stream, not an error.
    async fn find_traces(&self, request: Request<pb::FindTracesRequest>) -> Result<Response<TracesStream>, Status> {
        let traces = self.search(request.map(|request| request.query)).await?;
        Ok(Response::new(Box::pin(futures::stream::iter(traces.into_iter().map(|trace| Ok(traces_data(trace)))))))
    }

    /// Ids (16 bytes) with the start-time range of the spans the search saw, most recent first.
    async fn find_trace_i_ds(
        &self,
        request: Request<pb::FindTraceIDsRequest>,
    ) -> Result<Response<pb::FindTraceIDsResponse>, Status> {
        let namespace = self.context.namespace(&request)?;
        let query = trace_query(request.into_inner().query)?;
        let found = self.context.service.find_trace_ids(&namespace, &query).await?;
        let trace_ids = found
            .into_iter()
            .map(|found| pb::FoundTraceId {
                trace_id: found.trace_id.to_bytes().to_vec(),
                start: Some(timestamp_from_nanos(found.start_time_min_unix_nano)),
                end: Some(timestamp_from_nanos(found.start_time_max_unix_nano)),
            })
            .collect();
        Ok(Response::new(pb::FindTraceIDsResponse { trace_ids }))
    }

    /// One message with the summaries of every matching trace (none when nothing matches),
    /// computed over the traces as stored.
    async fn find_trace_summaries(
        &self,
        request: Request<pb::FindTraceSummariesRequest>,
    ) -> Result<Response<SummariesStream>, Status> {
        let traces = self.search(request.map(|request| request.query)).await?;
        let summaries: Vec<pb::TraceSummary> =
            traces.iter().filter_map(|trace| summarize(&trace.spans)).map(summary_to_proto).collect();
        let messages = (!summaries.is_empty()).then_some(Ok(pb::FindTraceSummariesResponse { summaries }));
        Ok(Response::new(Box::pin(futures::stream::iter(messages))))
    }
}

/// `DependencyReader`: links computed from the stored spans.
pub(crate) struct RemoteDependencyReader {
    context: GrpcContext,
}

impl RemoteDependencyReader {
    pub(crate) fn new(context: GrpcContext) -> Self {
        Self { context }
    }
}

#[tonic::async_trait]
impl DependencyReader for RemoteDependencyReader {
    /// Links of spans starting in `[start_time, end_time]`, each with its `source`.
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
            .map(|link| pb::Dependency {
                parent: link.parent,
                child: link.child,
                call_count: link.call_count,
                source: link.source,
            })
            .collect();
        Ok(Response::new(pb::GetDependenciesResponse { dependencies }))
    }
}

fn trace_query(query: Option<pb::TraceQueryParameters>) -> Result<TraceQuery, QueryError> {
    let Some(query) = query else {
        return Err(QueryError::invalid_argument("missing query"));
    };
    let fields = SearchFields {
        service_name: query.service_name,
        operation_name: query.operation_name,
        tags: tags_from_attributes(query.attributes),
        start_time_min: query.start_time_min.as_ref(),
        start_time_max: query.start_time_max.as_ref(),
        duration_min: query.duration_min.as_ref(),
        duration_max: query.duration_max.as_ref(),
        search_depth: query.search_depth,
    };
    fields.into_trace_query()
}

/// Typed query attributes as the text the storage matches tags by (`true`, `42`, `0.5`, arrays
/// and maps as their JSON); an attribute without a value is skipped, as Jaeger does.
fn tags_from_attributes(attributes: Vec<OtlpKeyValue>) -> BTreeMap<String, String> {
    attributes
        .into_iter()
        .filter(|attribute| attribute.value.as_ref().is_some_and(|value| value.value.is_some()))
        .map(|attribute| {
            let text = attribute_value_from_otlp(attribute.value).as_string().into_owned();
            (attribute.key, text)
        })
        .collect()
}

fn traces_data(trace: QueryTrace) -> TracesData {
    spans_to_otlp(spans_with_trace_warnings(trace))
}

fn summary_to_proto(summary: TraceSummary) -> pb::TraceSummary {
    pb::TraceSummary {
        trace_id: summary.trace_id.to_bytes().to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

    fn attribute(key: &str, value: Option<any_value::Value>) -> OtlpKeyValue {
        OtlpKeyValue { key: key.to_owned(), value: Some(AnyValue { value }), key_strindex: 0 }
    }

    #[test]
    fn typed_attributes_become_the_text_tags_match_by() {
        let tags = tags_from_attributes(vec![
            attribute("http.status_code", Some(any_value::Value::IntValue(503))),
            attribute("error", Some(any_value::Value::BoolValue(true))),
            attribute("peer.service", Some(any_value::Value::StringValue("db".into()))),
            attribute("empty", None),
        ]);
        let expected: BTreeMap<String, String> =
            [("error", "true"), ("http.status_code", "503"), ("peer.service", "db")]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
        assert_eq!(tags, expected);
    }
}
