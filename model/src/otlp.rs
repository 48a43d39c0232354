//! OTLP traces to and from the span model, with Jaeger's mapping rules (spec §1.9).
//!
//! OTLP to model ([`spans_from_otlp_request`]) is the ingest hot path: it takes the request by
//! value and moves every string. A span whose own ids are unusable is rejected, not fatal: the
//! result counts and names it so an OTLP receiver can answer with `partial_success`. Smaller
//! problems (a negative duration, a malformed parent or link id) keep the span and are recorded
//! in [`Span::warnings`].
//!
//! Model to OTLP ([`spans_to_otlp`]) is the reverse mapping used by the api_v3 query service and
//! the Kafka `otlp_proto` encoding: it groups spans by process into resources and by
//! `otel.scope.*` tags and scope attributes into scopes, and turns the tags Jaeger derived from
//! OTLP fields back into those fields.
//!
//! Beyond Jaeger's mapping, scope attributes ([`Span::scope_attributes`]) and link attributes
//! ([`SpanRef::attributes`]) are kept, so they survive OTLP in, storage and OTLP out. Jaeger's
//! model drops both.

mod any_value_json;

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceRequest};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue as OtlpKeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind as OtlpSpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status, TracesData};

use crate::{AttributeValue, KeyValue, Log, Process, RefType, Span, SpanId, SpanKind, SpanRef, TraceId, FLAG_SAMPLED};

/// The service name Jaeger gives a resource without a `service.name` attribute.
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// The warning recorded on a span whose end time is before its start time.
pub const NEGATIVE_DURATION_WARNING: &str = "negative duration detected, end time before start time; duration set to 0";
/// At most this many rejection messages are kept in [`OtlpConversion::errors`]; the count in
/// [`OtlpConversion::rejected`] is always complete.
pub const MAX_ERROR_MESSAGES: usize = 10;

/// Resource attribute holding the service name.
pub const ATTR_SERVICE_NAME: &str = "service.name";
/// Span tag holding the instrumentation scope name.
pub const TAG_SCOPE_NAME: &str = "otel.scope.name";
/// Span tag holding the instrumentation scope version.
pub const TAG_SCOPE_VERSION: &str = "otel.scope.version";
/// Span tag holding the span kind (`client`, `server`, `producer`, `consumer`, `internal`).
pub const TAG_SPAN_KIND: &str = "span.kind";
/// Span tag set to bool `true` for status ERROR.
pub const TAG_ERROR: &str = "error";
/// Span tag holding the status code text (`OK`; `ERROR` is read too).
pub const TAG_STATUS_CODE: &str = "otel.status_code";
/// Span tag holding the status message.
pub const TAG_STATUS_DESCRIPTION: &str = "otel.status_description";
/// Span tag holding the W3C tracestate.
pub const TAG_W3C_TRACESTATE: &str = "w3c.tracestate";
/// Log field holding an OTLP event's name.
pub const FIELD_EVENT: &str = "event";
/// Link attribute naming the OpenTracing reference type (`child_of`, `follows_from`).
pub const ATTR_REF_TYPE: &str = "opentracing.ref_type";
/// Span attribute in which Jaeger v2 carries a span's warnings (a string array).
pub const ATTR_WARNINGS: &str = "@jaeger@warnings";

const STATUS_OK: &str = "OK";
const STATUS_ERROR: &str = "ERROR";
const REF_TYPE_CHILD_OF: &str = "child_of";
const REF_TYPE_FOLLOWS_FROM: &str = "follows_from";

/// The spans converted from one OTLP request, and the ones that could not be.
#[derive(Debug, Default, PartialEq)]
pub struct OtlpConversion {
    pub spans: Vec<Span>,
    /// How many spans were rejected (all of them, even past [`MAX_ERROR_MESSAGES`]).
    pub rejected: usize,
    /// One message per rejected span, such as `span 3 of scope "io.grpc" in resource 0:
    /// trace_id must be 16 bytes, got 5`; at most [`MAX_ERROR_MESSAGES`].
    pub errors: Vec<String>,
}

impl OtlpConversion {
    /// The messages joined for OTLP's `partial_success.error_message`, saying how many more
    /// were left out.
    pub fn error_message(&self) -> String {
        let mut message = self.errors.join("; ");
        let left_out = self.rejected.saturating_sub(self.errors.len());
        if left_out > 0 {
            message.push_str(&format!("; and {left_out} more rejected spans"));
        }
        message
    }

    /// OTLP's `partial_success`, or `None` when every span was accepted.
    pub fn partial_success(&self) -> Option<ExportTracePartialSuccess> {
        (self.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(self.rejected).unwrap_or(i64::MAX),
            error_message: self.error_message(),
        })
    }

    fn reject(&mut self, message: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.errors.len() < MAX_ERROR_MESSAGES {
            self.errors.push(message());
        }
    }
}

/// Why a span's own ids make it unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum InvalidSpan {
    #[error("trace_id must be 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("trace_id must not be all zeros")]
    ZeroTraceId,
    #[error("span_id must be 8 bytes, got {0}")]
    SpanIdLength(usize),
    #[error("span_id must not be all zeros")]
    ZeroSpanId,
}

/// Converts an OTLP export request (gRPC or HTTP, protobuf or JSON) into model spans.
pub fn spans_from_otlp_request(request: ExportTraceServiceRequest) -> OtlpConversion {
    spans_from_otlp(request.resource_spans)
}

/// Converts OTLP resource spans into model spans. All spans of one `ResourceSpans` share one
/// `Arc<Process>`.
pub fn spans_from_otlp(resource_spans: Vec<ResourceSpans>) -> OtlpConversion {
    let span_count = resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
    let mut conversion = OtlpConversion { spans: Vec::with_capacity(span_count), ..OtlpConversion::default() };
    for (resource_index, resource_spans) in resource_spans.into_iter().enumerate() {
        let process = Arc::new(process_from_resource(resource_spans.resource));
        for scope_spans in resource_spans.scope_spans {
            let ScopeSpans { scope, spans, .. } = scope_spans;
            let scope = scope.map(ScopeParts::from_otlp).unwrap_or_default();
            for (span_index, otlp_span) in spans.into_iter().enumerate() {
                match span_from_otlp(otlp_span, &process, &scope) {
                    Ok(span) => conversion.spans.push(span),
                    Err(problem) => conversion.reject(|| {
                        let scope_name = scope.tags.first().filter(|kv| kv.key == TAG_SCOPE_NAME);
                        let scope_name = scope_name.map(|kv| kv.value.as_string()).unwrap_or_default();
                        format!("span {span_index} of scope {scope_name:?} in resource {resource_index}: {problem}")
                    }),
                }
            }
        }
    }
    conversion
}

/// `service.name` becomes the service name (missing or empty: [`NO_SERVICE_NAME`]); every other
/// attribute becomes a process tag, in order.
fn process_from_resource(resource: Option<Resource>) -> Process {
    let attributes = resource.map(|resource| resource.attributes).unwrap_or_default();
    let mut service_name = None;
    let mut tags = Vec::with_capacity(attributes.len());
    for attribute in attributes {
        if attribute.key == ATTR_SERVICE_NAME && service_name.is_none() {
            service_name = Some(match attribute_value_from_otlp(attribute.value) {
                AttributeValue::String(text) => text,
                other => other.as_string().into_owned(),
            });
            continue;
        }
        tags.push(key_value_from_otlp(attribute));
    }
    let service_name = service_name.filter(|name| !name.is_empty()).unwrap_or_else(|| NO_SERVICE_NAME.to_owned());
    Process { service_name, tags }
}

/// What every span of one scope gets from it.
#[derive(Default)]
struct ScopeParts {
    /// The `otel.scope.name` and `otel.scope.version` tags (an empty name or version gives no
    /// tag, as in Jaeger).
    tags: Vec<KeyValue>,
    /// The scope's attributes, which Jaeger drops and Spoor keeps beside the tags.
    attributes: Vec<KeyValue>,
}

impl ScopeParts {
    fn from_otlp(scope: InstrumentationScope) -> Self {
        let mut tags = Vec::with_capacity(2);
        if !scope.name.is_empty() {
            tags.push(KeyValue::string(TAG_SCOPE_NAME, scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(KeyValue::string(TAG_SCOPE_VERSION, scope.version));
        }
        Self { tags, attributes: scope.attributes.into_iter().map(key_value_from_otlp).collect() }
    }
}

fn span_from_otlp(otlp: OtlpSpan, process: &Arc<Process>, scope: &ScopeParts) -> Result<Span, InvalidSpan> {
    let trace_id = otlp_trace_id(&otlp.trace_id)?;
    let span_id = otlp_span_id(&otlp.span_id)?;

    // Tag order follows Jaeger: scope, attributes, kind, status, status message, tracestate.
    let mut tags = Vec::with_capacity(scope.tags.len() + otlp.attributes.len() + 4);
    tags.extend_from_slice(&scope.tags);
    let mut warnings = Vec::new();
    for attribute in otlp.attributes {
        if attribute.key == ATTR_WARNINGS {
            if let Some(AnyValue { value: Some(any_value::Value::ArrayValue(list)) }) = &attribute.value {
                if let Some(carried) = strings_of(list) {
                    warnings.extend(carried);
                    continue;
                }
            }
        }
        tags.push(key_value_from_otlp(attribute));
    }
    if let Some(kind) = span_kind_from_otlp(otlp.kind) {
        tags.push(KeyValue::string(TAG_SPAN_KIND, kind.as_str()));
    }
    let status = otlp.status.unwrap_or_default();
    match OtlpStatusCode::try_from(status.code) {
        Ok(OtlpStatusCode::Error) => tags.push(KeyValue::bool(TAG_ERROR, true)),
        Ok(OtlpStatusCode::Ok) => tags.push(KeyValue::string(TAG_STATUS_CODE, STATUS_OK)),
        Ok(OtlpStatusCode::Unset) | Err(_) => {}
    }
    if !status.message.is_empty() {
        tags.push(KeyValue::string(TAG_STATUS_DESCRIPTION, status.message));
    }
    if !otlp.trace_state.is_empty() {
        tags.push(KeyValue::string(TAG_W3C_TRACESTATE, otlp.trace_state));
    }

    let references = references_from_otlp(trace_id, &otlp.parent_span_id, otlp.links, &mut warnings);
    let duration_nanos = otlp.end_time_unix_nano.checked_sub(otlp.start_time_unix_nano).unwrap_or_else(|| {
        warnings.push(NEGATIVE_DURATION_WARNING.to_owned());
        0
    });

    Ok(Span {
        trace_id,
        span_id,
        operation_name: otlp.name,
        references,
        flags: FLAG_SAMPLED,
        start_time_unix_nano: otlp.start_time_unix_nano,
        duration_nanos,
        tags,
        logs: otlp.events.into_iter().map(log_from_event).collect(),
        process: Arc::clone(process),
        warnings,
        scope_attributes: scope.attributes.clone(),
    })
}

fn otlp_trace_id(bytes: &[u8]) -> Result<TraceId, InvalidSpan> {
    let array: [u8; 16] = bytes.try_into().map_err(|_| InvalidSpan::TraceIdLength(bytes.len()))?;
    let trace_id = TraceId::from_u128(u128::from_be_bytes(array));
    if trace_id.is_zero() {
        return Err(InvalidSpan::ZeroTraceId);
    }
    Ok(trace_id)
}

fn otlp_span_id(bytes: &[u8]) -> Result<SpanId, InvalidSpan> {
    let span_id = SpanId::from_bytes(bytes).map_err(|_| InvalidSpan::SpanIdLength(bytes.len()))?;
    if span_id.is_zero() {
        return Err(InvalidSpan::ZeroSpanId);
    }
    Ok(span_id)
}

fn span_kind_from_otlp(kind: i32) -> Option<SpanKind> {
    match OtlpSpanKind::try_from(kind).ok()? {
        OtlpSpanKind::Unspecified => None,
        OtlpSpanKind::Internal => Some(SpanKind::Internal),
        OtlpSpanKind::Server => Some(SpanKind::Server),
        OtlpSpanKind::Client => Some(SpanKind::Client),
        OtlpSpanKind::Producer => Some(SpanKind::Producer),
        OtlpSpanKind::Consumer => Some(SpanKind::Consumer),
    }
}

/// The parent becomes the first reference (CHILD_OF); each link follows, FOLLOWS_FROM unless its
/// `opentracing.ref_type` attribute is `child_of`. A link's other attributes are kept on the
/// reference (Jaeger drops them); `opentracing.ref_type` itself is not, because the reference type
/// holds it and writing it back comes from there. A link's tracestate, flags and dropped-attribute
/// count have no place in the model and are dropped, as in Jaeger. Malformed ids drop that
/// reference with a warning.
fn references_from_otlp(
    trace_id: TraceId,
    parent_span_id: &[u8],
    links: Vec<Link>,
    warnings: &mut Vec<String>,
) -> Vec<SpanRef> {
    let mut references = Vec::with_capacity(links.len() + 1);
    match parent_span_id.len() {
        0 => {}
        8 => {
            let parent = SpanId::from_bytes(parent_span_id).unwrap_or_default();
            if !parent.is_zero() {
                references.push(SpanRef::child_of(trace_id, parent));
            }
        }
        length => warnings.push(format!("parent_span_id must be 8 bytes, got {length}; parent reference dropped")),
    }
    for (link_index, link) in links.into_iter().enumerate() {
        let (link_trace_id, link_span_id) = match link_ids(&link) {
            Ok(ids) => ids,
            Err(problem) => {
                warnings.push(format!("link {link_index}: {problem}; link dropped"));
                continue;
            }
        };
        let ref_type =
            if link_ref_type_is_child_of(&link.attributes) { RefType::ChildOf } else { RefType::FollowsFrom };
        let attributes =
            link.attributes.into_iter().filter(|kv| kv.key != ATTR_REF_TYPE).map(key_value_from_otlp).collect();
        references.push(SpanRef::new(ref_type, link_trace_id, link_span_id).with_attributes(attributes));
    }
    references
}

/// A link's ids need the right lengths only: Jaeger keeps all-zero links (its query adjuster
/// removes them on read).
fn link_ids(link: &Link) -> Result<(TraceId, SpanId), InvalidSpan> {
    let trace_id: [u8; 16] =
        link.trace_id.as_slice().try_into().map_err(|_| InvalidSpan::TraceIdLength(link.trace_id.len()))?;
    let span_id = SpanId::from_bytes(&link.span_id).map_err(|_| InvalidSpan::SpanIdLength(link.span_id.len()))?;
    Ok((TraceId::from_u128(u128::from_be_bytes(trace_id)), span_id))
}

fn link_ref_type_is_child_of(attributes: &[OtlpKeyValue]) -> bool {
    attributes.iter().find(|kv| kv.key == ATTR_REF_TYPE).is_some_and(|kv| {
        matches!(&kv.value, Some(AnyValue { value: Some(any_value::Value::StringValue(text)) }) if text == REF_TYPE_CHILD_OF)
    })
}

/// An event becomes a log: an `event` field with the name (unless the event has an `event`
/// attribute, or no name), then the attributes.
fn log_from_event(event: Event) -> Log {
    let has_event_attribute = event.attributes.iter().any(|kv| kv.key == FIELD_EVENT);
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && !has_event_attribute {
        fields.push(KeyValue::string(FIELD_EVENT, event.name));
    }
    fields.extend(event.attributes.into_iter().map(key_value_from_otlp));
    Log { timestamp_unix_nano: event.time_unix_nano, fields }
}

/// Converts one OTLP attribute, moving its key and value.
pub fn key_value_from_otlp(attribute: OtlpKeyValue) -> KeyValue {
    KeyValue { key: attribute.key, value: attribute_value_from_otlp(attribute.value) }
}

/// Strings, bools, ints and doubles keep their type; bytes become binary; arrays and key-value
/// lists become their JSON text (as Go's `encoding/json` writes it); an empty value becomes an
/// empty string.
pub fn attribute_value_from_otlp(value: Option<AnyValue>) -> AttributeValue {
    match value.and_then(|any| any.value) {
        Some(any_value::Value::StringValue(text)) => AttributeValue::String(text),
        Some(any_value::Value::BoolValue(flag)) => AttributeValue::Bool(flag),
        Some(any_value::Value::IntValue(number)) => AttributeValue::Int64(number),
        Some(any_value::Value::DoubleValue(number)) => AttributeValue::Float64(number),
        Some(any_value::Value::BytesValue(bytes)) => AttributeValue::Binary(bytes),
        Some(nested @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            let mut text = String::new();
            any_value_json::write_value(Some(&nested), &mut text);
            AttributeValue::String(text)
        }
        Some(any_value::Value::StringValueStrindex(_)) | None => AttributeValue::String(String::new()),
    }
}

/// The strings of an array that holds nothing else.
fn strings_of(array: &ArrayValue) -> Option<Vec<String>> {
    array
        .values
        .iter()
        .map(|any| match &any.value {
            Some(any_value::Value::StringValue(text)) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Model to OTLP

/// Converts model spans to OTLP `TracesData` (wire-identical to `ExportTraceServiceRequest`).
pub fn spans_to_otlp(spans: Vec<Span>) -> TracesData {
    TracesData { resource_spans: spans_to_resource_spans(spans) }
}

/// Groups spans into one `ResourceSpans` per distinct process (the same `Arc`, or an equal
/// process) and, within it, one `ScopeSpans` per distinct scope (`otel.scope.name`,
/// `otel.scope.version` and scope attributes), both in order of first appearance.
pub fn spans_to_resource_spans(spans: Vec<Span>) -> Vec<ResourceSpans> {
    struct ScopeGroup {
        scope: ScopeKey,
        spans: Vec<OtlpSpan>,
    }
    struct ResourceGroup {
        process: Arc<Process>,
        scopes: Vec<ScopeGroup>,
    }
    let mut groups: Vec<ResourceGroup> = Vec::new();
    for span in spans {
        let (process, scope, otlp_span) = span_to_otlp(span);
        let same_arc = groups.iter().rposition(|group| Arc::ptr_eq(&group.process, &process));
        let group_index = match same_arc.or_else(|| groups.iter().position(|group| *group.process == *process)) {
            Some(index) => index,
            None => {
                groups.push(ResourceGroup { process, scopes: Vec::new() });
                groups.len() - 1
            }
        };
        let scopes = &mut groups[group_index].scopes;
        match scopes.iter_mut().find(|group| group.scope == scope) {
            Some(group) => group.spans.push(otlp_span),
            None => scopes.push(ScopeGroup { scope, spans: vec![otlp_span] }),
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let process = Arc::try_unwrap(group.process).unwrap_or_else(|shared| (*shared).clone());
            let scope_spans = group
                .scopes
                .into_iter()
                .map(|ScopeGroup { scope, spans }| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.name,
                        version: scope.version,
                        attributes: scope.attributes.into_iter().map(key_value_to_otlp).collect(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                })
                .collect();
            ResourceSpans { resource: Some(resource_from_process(process)), scope_spans, schema_url: String::new() }
        })
        .collect()
}

/// `service.name` first (the [`NO_SERVICE_NAME`] placeholder included, as Jaeger returns it),
/// then the process tags.
fn resource_from_process(process: Process) -> Resource {
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    attributes.push(otlp_key_value(ATTR_SERVICE_NAME, any_value::Value::StringValue(process.service_name)));
    attributes.extend(process.tags.into_iter().map(key_value_to_otlp));
    Resource { attributes, ..Default::default() }
}

/// What makes two spans' scopes one `ScopeSpans`.
#[derive(PartialEq)]
struct ScopeKey {
    name: String,
    version: String,
    attributes: Vec<KeyValue>,
}

/// What the tags Jaeger derived from OTLP fields give back.
#[derive(Default)]
struct SpanFields {
    kind: Option<SpanKind>,
    error: bool,
    status_code: Option<OtlpStatusCode>,
    status_description: Option<String>,
    trace_state: Option<String>,
}

fn span_to_otlp(span: Span) -> (Arc<Process>, ScopeKey, OtlpSpan) {
    let Span {
        trace_id,
        span_id,
        operation_name,
        references,
        flags,
        start_time_unix_nano,
        duration_nanos,
        tags,
        logs,
        process,
        warnings,
        scope_attributes,
    } = span;

    let mut scope_name = None;
    let mut scope_version = None;
    let mut fields = SpanFields::default();
    let mut attributes = Vec::with_capacity(tags.len() + 1);
    // Only the first occurrence of a special tag is taken; text that does not parse (an Envoy
    // `error="true"`, an unknown kind) stays an attribute so nothing is lost.
    for tag in tags {
        match (tag.key.as_str(), tag.value) {
            (TAG_SCOPE_NAME, AttributeValue::String(name)) if scope_name.is_none() => scope_name = Some(name),
            (TAG_SCOPE_VERSION, AttributeValue::String(version)) if scope_version.is_none() => {
                scope_version = Some(version);
            }
            (TAG_SPAN_KIND, AttributeValue::String(text))
                if fields.kind.is_none() && SpanKind::parse(&text) != SpanKind::Unspecified =>
            {
                fields.kind = Some(SpanKind::parse(&text));
            }
            (TAG_ERROR, AttributeValue::Bool(true)) if !fields.error => fields.error = true,
            (TAG_STATUS_CODE, AttributeValue::String(text))
                if fields.status_code.is_none() && (text == STATUS_OK || text == STATUS_ERROR) =>
            {
                fields.status_code = Some(if text == STATUS_OK { OtlpStatusCode::Ok } else { OtlpStatusCode::Error });
            }
            (TAG_STATUS_DESCRIPTION, AttributeValue::String(text)) if fields.status_description.is_none() => {
                fields.status_description = Some(text);
            }
            (TAG_W3C_TRACESTATE, AttributeValue::String(text)) if fields.trace_state.is_none() => {
                fields.trace_state = Some(text);
            }
            (_, value) => attributes.push(otlp_key_value_from(tag.key, value)),
        }
    }
    // The `error` tag is the final word on an error; otherwise `otel.status_code` decides.
    let status_code = if fields.error { Some(OtlpStatusCode::Error) } else { fields.status_code };
    let status = match (status_code, fields.status_description) {
        (Some(code), message) => Some(Status { code: code as i32, message: message.unwrap_or_default() }),
        (None, Some(message)) => {
            attributes.push(otlp_key_value(TAG_STATUS_DESCRIPTION, any_value::Value::StringValue(message)));
            None
        }
        (None, None) => None,
    };
    if !warnings.is_empty() {
        let values = warnings.into_iter().map(|w| AnyValue { value: Some(any_value::Value::StringValue(w)) });
        attributes
            .push(otlp_key_value(ATTR_WARNINGS, any_value::Value::ArrayValue(ArrayValue { values: values.collect() })));
    }

    // The parent is Jaeger's `ParentSpanID()`. A link that this promotes to the parent (a CHILD_OF
    // link in the span's own trace, with no parent span id beside it) loses its attributes here,
    // as OTLP's parent span id has none; the stored span keeps them.
    let parent_index = references.iter().position(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace_id);
    let parent_span_id = parent_index.map(|index| references[index].span_id.to_bytes().to_vec()).unwrap_or_default();
    let links = references
        .into_iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != parent_index)
        .map(|(_, reference)| link_from_reference(reference))
        .collect();

    let otlp_span = OtlpSpan {
        trace_id: trace_id.to_bytes().to_vec(),
        span_id: span_id.to_bytes().to_vec(),
        trace_state: fields.trace_state.unwrap_or_default(),
        parent_span_id,
        flags: flags & FLAG_SAMPLED,
        name: operation_name,
        kind: span_kind_to_otlp(fields.kind.unwrap_or_default()) as i32,
        start_time_unix_nano,
        end_time_unix_nano: start_time_unix_nano.saturating_add(duration_nanos),
        attributes,
        dropped_attributes_count: 0,
        events: logs.into_iter().map(event_from_log).collect(),
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status,
    };
    let scope = ScopeKey {
        name: scope_name.unwrap_or_default(),
        version: scope_version.unwrap_or_default(),
        attributes: scope_attributes,
    };
    (process, scope, otlp_span)
}

fn span_kind_to_otlp(kind: SpanKind) -> OtlpSpanKind {
    match kind {
        SpanKind::Unspecified => OtlpSpanKind::Unspecified,
        SpanKind::Internal => OtlpSpanKind::Internal,
        SpanKind::Server => OtlpSpanKind::Server,
        SpanKind::Client => OtlpSpanKind::Client,
        SpanKind::Producer => OtlpSpanKind::Producer,
        SpanKind::Consumer => OtlpSpanKind::Consumer,
    }
}

/// Every link carries `opentracing.ref_type` first, so the reference type survives the round
/// trip, then the link's own attributes.
fn link_from_reference(reference: SpanRef) -> Link {
    let ref_type = match reference.ref_type {
        RefType::ChildOf => REF_TYPE_CHILD_OF,
        RefType::FollowsFrom => REF_TYPE_FOLLOWS_FROM,
    };
    let mut attributes = Vec::with_capacity(1 + reference.attributes.len());
    attributes.push(otlp_key_value(ATTR_REF_TYPE, any_value::Value::StringValue(ref_type.to_owned())));
    attributes.extend(reference.attributes.into_iter().map(key_value_to_otlp));
    Link {
        trace_id: reference.trace_id.to_bytes().to_vec(),
        span_id: reference.span_id.to_bytes().to_vec(),
        attributes,
        ..Default::default()
    }
}

/// A log becomes an event: its first string `event` field is the name, the rest are attributes.
fn event_from_log(log: Log) -> Event {
    let mut name = None;
    let mut attributes = Vec::with_capacity(log.fields.len());
    for field in log.fields {
        match (field.key.as_str(), field.value) {
            (FIELD_EVENT, AttributeValue::String(text)) if name.is_none() => name = Some(text),
            (_, value) => attributes.push(otlp_key_value_from(field.key, value)),
        }
    }
    Event {
        time_unix_nano: log.timestamp_unix_nano,
        name: name.unwrap_or_default(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// Converts one model tag to an OTLP attribute, moving its key and value.
pub fn key_value_to_otlp(key_value: KeyValue) -> OtlpKeyValue {
    otlp_key_value_from(key_value.key, key_value.value)
}

/// The OTLP value of a model value (JSON text of an array stays a string).
pub fn attribute_value_to_otlp(value: AttributeValue) -> AnyValue {
    let value = match value {
        AttributeValue::String(text) => any_value::Value::StringValue(text),
        AttributeValue::Bool(flag) => any_value::Value::BoolValue(flag),
        AttributeValue::Int64(number) => any_value::Value::IntValue(number),
        AttributeValue::Float64(number) => any_value::Value::DoubleValue(number),
        AttributeValue::Binary(bytes) => any_value::Value::BytesValue(bytes),
    };
    AnyValue { value: Some(value) }
}

fn otlp_key_value_from(key: String, value: AttributeValue) -> OtlpKeyValue {
    OtlpKeyValue { key, value: Some(attribute_value_to_otlp(value)), key_strindex: 0 }
}

fn otlp_key_value(key: &str, value: any_value::Value) -> OtlpKeyValue {
    OtlpKeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

#[cfg(test)]
mod tests;
