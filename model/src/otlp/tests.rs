use super::*;
use opentelemetry_proto::tonic::common::v1::KeyValueList;

const TRACE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const SPAN: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0x2a];

fn any(value: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn attr(key: &str, value: any_value::Value) -> OtlpKeyValue {
    OtlpKeyValue { key: key.into(), value: any(value), key_strindex: 0 }
}

fn text(key: &str, value: &str) -> OtlpKeyValue {
    attr(key, any_value::Value::StringValue(value.into()))
}

fn otlp_span() -> OtlpSpan {
    OtlpSpan {
        trace_id: TRACE.to_vec(),
        span_id: SPAN.to_vec(),
        name: "op".into(),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 3_500,
        ..Default::default()
    }
}

fn request(resource: Vec<OtlpKeyValue>, scope: InstrumentationScope, spans: Vec<OtlpSpan>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource { attributes: resource, ..Default::default() }),
        scope_spans: vec![ScopeSpans { scope: Some(scope), spans, schema_url: String::new() }],
        schema_url: String::new(),
    }]
}

fn convert_one(span: OtlpSpan) -> Span {
    let mut conversion = spans_from_otlp(request(vec![text("service.name", "svc")], Default::default(), vec![span]));
    assert_eq!(conversion.rejected, 0, "{:?}", conversion.errors);
    conversion.spans.remove(0)
}

#[test]
fn service_name_becomes_process_service_name_and_other_resource_attributes_become_tags() {
    let resource = vec![text("host.name", "h1"), text("service.name", "checkout"), text("k8s.pod.name", "p")];
    let conversion = spans_from_otlp(request(resource, Default::default(), vec![otlp_span()]));
    let process = &conversion.spans[0].process;
    assert_eq!(process.service_name, "checkout");
    assert_eq!(process.tags, [KeyValue::string("host.name", "h1"), KeyValue::string("k8s.pod.name", "p")]);
}

#[test]
fn missing_or_empty_service_name_becomes_otlp_resource_no_service_name() {
    let missing = spans_from_otlp(request(vec![text("host.name", "h1")], Default::default(), vec![otlp_span()]));
    assert_eq!(missing.spans[0].service_name(), NO_SERVICE_NAME);
    let empty = spans_from_otlp(request(vec![text("service.name", "")], Default::default(), vec![otlp_span()]));
    assert_eq!(empty.spans[0].service_name(), NO_SERVICE_NAME);
    let no_resource = spans_from_otlp(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans { spans: vec![otlp_span()], ..Default::default() }],
        ..Default::default()
    }]);
    assert_eq!(no_resource.spans[0].service_name(), NO_SERVICE_NAME);
}

#[test]
fn all_spans_of_a_resource_share_one_process() {
    let mut second = otlp_span();
    second.span_id = vec![0, 0, 0, 0, 0, 0, 0, 9];
    let conversion =
        spans_from_otlp(request(vec![text("service.name", "svc")], Default::default(), vec![otlp_span(), second]));
    assert!(Arc::ptr_eq(&conversion.spans[0].process, &conversion.spans[1].process));
}

#[test]
fn scope_name_and_version_become_the_first_tags() {
    let scope = InstrumentationScope { name: "io.grpc".into(), version: "1.2".into(), ..Default::default() };
    let mut span = otlp_span();
    span.attributes = vec![text("a", "b")];
    let conversion = spans_from_otlp(request(vec![], scope, vec![span]));
    assert_eq!(
        conversion.spans[0].tags,
        [
            KeyValue::string("otel.scope.name", "io.grpc"),
            KeyValue::string("otel.scope.version", "1.2"),
            KeyValue::string("a", "b")
        ]
    );
}

#[test]
fn span_kind_becomes_a_lowercase_tag_and_unspecified_adds_none() {
    let mut server = otlp_span();
    server.kind = OtlpSpanKind::Server as i32;
    assert_eq!(convert_one(server).tags, [KeyValue::string("span.kind", "server")]);
    let mut unspecified = otlp_span();
    unspecified.kind = OtlpSpanKind::Unspecified as i32;
    assert!(convert_one(unspecified).tags.is_empty());
    let mut unknown = otlp_span();
    unknown.kind = 77;
    assert!(convert_one(unknown).tags.is_empty());
}

#[test]
fn error_status_becomes_a_bool_error_tag_and_ok_becomes_status_code_tag() {
    let mut failed = otlp_span();
    failed.status = Some(Status { code: OtlpStatusCode::Error as i32, message: "boom".into() });
    assert_eq!(
        convert_one(failed).tags,
        [KeyValue::bool("error", true), KeyValue::string("otel.status_description", "boom")]
    );
    let mut fine = otlp_span();
    fine.status = Some(Status { code: OtlpStatusCode::Ok as i32, message: String::new() });
    assert_eq!(convert_one(fine).tags, [KeyValue::string("otel.status_code", "OK")]);
}

#[test]
fn trace_state_becomes_w3c_tracestate_tag() {
    let mut span = otlp_span();
    span.trace_state = "rojo=00f067aa0ba902b7".into();
    assert_eq!(convert_one(span).tags, [KeyValue::string("w3c.tracestate", "rojo=00f067aa0ba902b7")]);
}

#[test]
fn events_become_logs_with_an_event_field_holding_the_name() {
    let mut span = otlp_span();
    span.events = vec![
        Event {
            time_unix_nano: 2_000,
            name: "retry".into(),
            attributes: vec![text("attempt", "2")],
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nano: 2_100,
            name: "ignored".into(),
            attributes: vec![text("event", "own")],
            dropped_attributes_count: 0,
        },
        Event { time_unix_nano: 2_200, name: String::new(), attributes: vec![], dropped_attributes_count: 0 },
    ];
    let logs = convert_one(span).logs;
    assert_eq!(
        logs[0],
        Log {
            timestamp_unix_nano: 2_000,
            fields: vec![KeyValue::string("event", "retry"), KeyValue::string("attempt", "2")]
        }
    );
    assert_eq!(logs[1].fields, [KeyValue::string("event", "own")]);
    assert!(logs[2].fields.is_empty());
}

#[test]
fn parent_span_id_becomes_the_first_child_of_reference() {
    let mut span = otlp_span();
    span.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, 7];
    span.links = vec![Link { trace_id: TRACE.to_vec(), span_id: vec![0, 0, 0, 0, 0, 0, 0, 8], ..Default::default() }];
    let span = convert_one(span);
    assert_eq!(span.references[0].ref_type, RefType::ChildOf);
    assert_eq!(span.parent_span_id(), Some(SpanId(7)));
    assert_eq!(span.references.len(), 2);
}

#[test]
fn all_zero_parent_span_id_means_no_parent() {
    let mut span = otlp_span();
    span.parent_span_id = vec![0; 8];
    assert!(convert_one(span).references.is_empty());
}

#[test]
fn links_become_follows_from_references_with_their_attributes() {
    let mut span = otlp_span();
    span.links = vec![Link {
        trace_id: [9; 16].to_vec(),
        span_id: [3; 8].to_vec(),
        attributes: vec![text("kind", "batch"), attr("weight", any_value::Value::DoubleValue(0.5))],
        ..Default::default()
    }];
    let reference = convert_one(span).references.remove(0);
    assert_eq!(
        reference,
        SpanRef::follows_from(TraceId::from_u128(u128::from_be_bytes([9; 16])), SpanId(u64::from_be_bytes([3; 8])))
            .with_attributes(vec![KeyValue::string("kind", "batch"), KeyValue::float64("weight", 0.5)])
    );
}

#[test]
fn link_ref_type_attribute_is_held_by_the_reference_type_not_kept_as_an_attribute() {
    let mut span = otlp_span();
    span.links = vec![Link {
        trace_id: [9; 16].to_vec(),
        span_id: [3; 8].to_vec(),
        attributes: vec![text("opentracing.ref_type", "child_of"), attr("n", any_value::Value::IntValue(123))],
        ..Default::default()
    }];
    let reference = convert_one(span).references.remove(0);
    assert_eq!(reference.ref_type, RefType::ChildOf);
    assert_eq!(reference.attributes, [KeyValue::int64("n", 123)]);
}

#[test]
fn scope_attributes_are_kept_on_every_span_of_the_scope() {
    let scope = InstrumentationScope {
        name: "lib".into(),
        attributes: vec![text("s", "v"), attr("blob", any_value::Value::BytesValue(vec![0, 0, 0x30, 0x39]))],
        ..Default::default()
    };
    let mut second = otlp_span();
    second.span_id = vec![0, 0, 0, 0, 0, 0, 0, 0x2b];
    let conversion = spans_from_otlp(request(vec![], scope, vec![otlp_span(), second]));
    assert_eq!(conversion.spans.len(), 2);
    for span in &conversion.spans {
        assert_eq!(span.tags, [KeyValue::string("otel.scope.name", "lib")], "attributes are not tags");
        assert_eq!(
            span.scope_attributes,
            [KeyValue::string("s", "v"), KeyValue::binary("blob", vec![0, 0, 0x30, 0x39])]
        );
    }
}

#[test]
fn link_with_child_of_ref_type_becomes_a_child_of_reference() {
    let mut span = otlp_span();
    span.links = vec![Link {
        trace_id: [9; 16].to_vec(),
        span_id: [3; 8].to_vec(),
        attributes: vec![text("opentracing.ref_type", "child_of")],
        ..Default::default()
    }];
    assert_eq!(convert_one(span).references[0].ref_type, RefType::ChildOf);
}

#[test]
fn malformed_parent_and_link_ids_are_dropped_with_warnings() {
    let mut span = otlp_span();
    span.parent_span_id = vec![1, 2, 3];
    span.links = vec![Link { trace_id: vec![1; 5], span_id: [3; 8].to_vec(), ..Default::default() }];
    let span = convert_one(span);
    assert!(span.references.is_empty());
    assert_eq!(
        span.warnings,
        [
            "parent_span_id must be 8 bytes, got 3; parent reference dropped",
            "link 0: trace_id must be 16 bytes, got 5; link dropped"
        ]
    );
}

#[test]
fn typed_attributes_keep_their_type_and_bytes_become_binary() {
    let mut span = otlp_span();
    span.attributes = vec![
        attr("s", any_value::Value::StringValue("x".into())),
        attr("b", any_value::Value::BoolValue(true)),
        attr("i", any_value::Value::IntValue(-7)),
        attr("d", any_value::Value::DoubleValue(1.5)),
        attr("bytes", any_value::Value::BytesValue(vec![0xca, 0xfe])),
        OtlpKeyValue { key: "empty".into(), value: None, key_strindex: 0 },
    ];
    assert_eq!(
        convert_one(span).tags,
        [
            KeyValue::string("s", "x"),
            KeyValue::bool("b", true),
            KeyValue::int64("i", -7),
            KeyValue::float64("d", 1.5),
            KeyValue::binary("bytes", vec![0xca, 0xfe]),
            KeyValue::string("empty", ""),
        ]
    );
}

#[test]
fn array_and_map_attributes_become_their_json_text() {
    let mut span = otlp_span();
    let array = ArrayValue {
        values: vec![
            AnyValue { value: Some(any_value::Value::IntValue(1)) },
            AnyValue { value: Some(any_value::Value::StringValue("two".into())) },
        ],
    };
    let map = KeyValueList { values: vec![text("z", "last"), attr("a", any_value::Value::ArrayValue(array.clone()))] };
    span.attributes =
        vec![attr("list", any_value::Value::ArrayValue(array)), attr("map", any_value::Value::KvlistValue(map))];
    assert_eq!(
        convert_one(span).tags,
        [KeyValue::string("list", r#"[1,"two"]"#), KeyValue::string("map", r#"{"a":[1,"two"],"z":"last"}"#)]
    );
}

#[test]
fn negative_duration_becomes_zero_with_a_warning() {
    let mut span = otlp_span();
    span.start_time_unix_nano = 5_000;
    span.end_time_unix_nano = 4_000;
    let span = convert_one(span);
    assert_eq!(span.duration_nanos, 0);
    assert_eq!(span.start_time_unix_nano, 5_000);
    assert_eq!(span.warnings, [NEGATIVE_DURATION_WARNING]);
}

#[test]
fn times_stay_in_nanoseconds_and_spans_are_marked_sampled() {
    let span = convert_one(otlp_span());
    assert_eq!((span.start_time_unix_nano, span.duration_nanos, span.flags), (1_000, 2_500, FLAG_SAMPLED));
}

#[test]
fn spans_with_unusable_ids_are_rejected_and_named() {
    let mut short = otlp_span();
    short.trace_id = vec![1; 5];
    let mut zero = otlp_span();
    zero.span_id = vec![0; 8];
    let mut missing = otlp_span();
    missing.span_id.clear();
    let scope = InstrumentationScope { name: "io.grpc".into(), ..Default::default() };
    let conversion = spans_from_otlp(request(vec![], scope, vec![otlp_span(), short, zero, missing]));
    assert_eq!(conversion.spans.len(), 1);
    assert_eq!(conversion.rejected, 3);
    assert_eq!(
        conversion.errors,
        [
            r#"span 1 of scope "io.grpc" in resource 0: trace_id must be 16 bytes, got 5"#,
            r#"span 2 of scope "io.grpc" in resource 0: span_id must not be all zeros"#,
            r#"span 3 of scope "io.grpc" in resource 0: span_id must be 8 bytes, got 0"#,
        ]
    );
    let partial = conversion.partial_success().unwrap();
    assert_eq!(partial.rejected_spans, 3);
    assert!(partial.error_message.starts_with("span 1 of scope"));
}

#[test]
fn only_the_first_error_messages_are_kept_but_all_rejections_are_counted() {
    let bad = OtlpSpan { trace_id: vec![1], ..otlp_span() };
    let conversion = spans_from_otlp(request(vec![], Default::default(), vec![bad; MAX_ERROR_MESSAGES + 5]));
    assert_eq!(conversion.rejected, MAX_ERROR_MESSAGES + 5);
    assert_eq!(conversion.errors.len(), MAX_ERROR_MESSAGES);
    assert!(conversion.error_message().ends_with("; and 5 more rejected spans"));
    assert_eq!(spans_from_otlp(vec![]).partial_success(), None);
}

#[test]
fn jaeger_warnings_attribute_becomes_span_warnings() {
    let mut span = otlp_span();
    let warnings = ArrayValue { values: vec![AnyValue { value: Some(any_value::Value::StringValue("w1".into())) }] };
    span.attributes = vec![attr(ATTR_WARNINGS, any_value::Value::ArrayValue(warnings))];
    span.end_time_unix_nano = 0;
    let span = convert_one(span);
    assert!(span.tags.is_empty());
    assert_eq!(span.warnings, ["w1", NEGATIVE_DURATION_WARNING]);
}

// ---- model to OTLP

fn model_span(process: &Arc<Process>, span_id: u64, tags: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TraceId::new(1, 2),
        span_id: SpanId(span_id),
        operation_name: "op".into(),
        references: vec![],
        flags: FLAG_SAMPLED,
        start_time_unix_nano: 10,
        duration_nanos: 5,
        tags,
        logs: vec![],
        process: Arc::clone(process),
        warnings: vec![],
        scope_attributes: Vec::new(),
    }
}

#[test]
fn model_spans_are_grouped_by_process_then_by_scope() {
    let a = Arc::new(Process { service_name: "a".into(), tags: vec![] });
    let a_again = Arc::new(Process { service_name: "a".into(), tags: vec![] });
    let b = Arc::new(Process { service_name: "b".into(), tags: vec![KeyValue::int64("pid", 1)] });
    let scope_x = || vec![KeyValue::string("otel.scope.name", "x")];
    let spans = vec![
        model_span(&a, 1, scope_x()),
        model_span(&b, 2, vec![]),
        model_span(&a_again, 3, vec![]),
        model_span(&a, 4, scope_x()),
    ];
    let resources = spans_to_resource_spans(spans);
    assert_eq!(resources.len(), 2);
    let a_resource = &resources[0];
    assert_eq!(a_resource.resource.as_ref().unwrap().attributes, [text("service.name", "a")]);
    let scopes: Vec<_> = a_resource
        .scope_spans
        .iter()
        .map(|ss| (ss.scope.as_ref().unwrap().name.as_str(), ss.spans.iter().map(|s| s.span_id[7]).collect::<Vec<_>>()))
        .collect();
    assert_eq!(scopes, [("x", vec![1, 4]), ("", vec![3])]);
    assert!(a_resource.scope_spans.iter().all(|ss| ss.scope.as_ref().unwrap().attributes.is_empty()));
    assert_eq!(
        resources[1].resource.as_ref().unwrap().attributes,
        [text("service.name", "b"), attr("pid", any_value::Value::IntValue(1))]
    );
}

#[test]
fn scopes_with_one_name_and_version_but_different_attributes_are_two_scopes() {
    let process = Arc::new(Process::default());
    let scope_x = || vec![KeyValue::string("otel.scope.name", "x"), KeyValue::string("otel.scope.version", "1")];
    let mut spans = vec![model_span(&process, 1, scope_x()), model_span(&process, 2, scope_x())];
    spans.push(model_span(&process, 3, scope_x()));
    spans[1].scope_attributes = vec![KeyValue::int64("shard", 2)];
    spans[2].scope_attributes = vec![KeyValue::int64("shard", 2)];
    let scopes = spans_to_resource_spans(spans).remove(0).scope_spans;
    let summary: Vec<_> = scopes
        .iter()
        .map(|ss| {
            let scope = ss.scope.as_ref().unwrap();
            (scope.name.as_str(), scope.version.as_str(), scope.attributes.clone(), ss.spans.len())
        })
        .collect();
    assert_eq!(summary, [("x", "1", vec![], 1), ("x", "1", vec![attr("shard", any_value::Value::IntValue(2))], 2)]);
}

#[test]
fn link_attributes_follow_the_ref_type_attribute() {
    let process = Arc::new(Process::default());
    let mut span = model_span(&process, 1, vec![]);
    span.references = vec![SpanRef::child_of(TraceId::new(0, 0xff), SpanId(0xff))
        .with_attributes(vec![KeyValue::bool("b", true), KeyValue::binary("blob", vec![1, 2])])];
    let otlp = spans_to_otlp(vec![span]).resource_spans.remove(0).scope_spans.remove(0).spans.remove(0);
    assert!(otlp.parent_span_id.is_empty(), "a link in another trace is not the parent");
    assert_eq!(
        otlp.links[0].attributes,
        [
            text("opentracing.ref_type", "child_of"),
            attr("b", any_value::Value::BoolValue(true)),
            attr("blob", any_value::Value::BytesValue(vec![1, 2])),
        ]
    );
}

#[test]
fn derived_tags_become_otlp_fields_again() {
    let process = Arc::new(Process::default());
    let mut span = model_span(
        &process,
        1,
        vec![
            KeyValue::string("otel.scope.name", "lib"),
            KeyValue::string("otel.scope.version", "2"),
            KeyValue::string("http.method", "GET"),
            KeyValue::string("span.kind", "client"),
            KeyValue::bool("error", true),
            KeyValue::string("otel.status_description", "boom"),
            KeyValue::string("w3c.tracestate", "k=v"),
        ],
    );
    span.references =
        vec![SpanRef::follows_from(TraceId::new(0, 9), SpanId(9)), SpanRef::child_of(TraceId::new(1, 2), SpanId(7))];
    span.logs = vec![Log {
        timestamp_unix_nano: 12,
        fields: vec![KeyValue::string("a", "b"), KeyValue::string("event", "retry")],
    }];
    let resource = spans_to_resource_spans(vec![span]).remove(0);
    let scope_spans = &resource.scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().map(|s| (s.name.as_str(), s.version.as_str())), Some(("lib", "2")));
    let otlp = &scope_spans.spans[0];
    assert_eq!(otlp.attributes, [text("http.method", "GET")]);
    assert_eq!(otlp.kind, OtlpSpanKind::Client as i32);
    assert_eq!(otlp.status, Some(Status { code: OtlpStatusCode::Error as i32, message: "boom".into() }));
    assert_eq!(otlp.trace_state, "k=v");
    assert_eq!(otlp.parent_span_id, 7u64.to_be_bytes());
    assert_eq!(otlp.links.len(), 1);
    assert_eq!(otlp.links[0].attributes, [text("opentracing.ref_type", "follows_from")]);
    assert_eq!(otlp.end_time_unix_nano, 15);
    assert_eq!(otlp.flags, 1);
    assert_eq!(otlp.events[0].name, "retry");
    assert_eq!(otlp.events[0].attributes, [text("a", "b")]);
}

#[test]
fn envoy_string_error_tag_and_unknown_kind_stay_attributes() {
    let process = Arc::new(Process::default());
    let span = model_span(&process, 1, vec![KeyValue::string("error", "true"), KeyValue::string("span.kind", "rpc")]);
    let otlp = spans_to_otlp(vec![span]).resource_spans.remove(0).scope_spans.remove(0).spans.remove(0);
    assert_eq!(otlp.attributes, [text("error", "true"), text("span.kind", "rpc")]);
    assert_eq!(otlp.kind, OtlpSpanKind::Unspecified as i32);
    assert_eq!(otlp.status, None);
}

#[test]
fn status_description_without_a_status_stays_an_attribute() {
    let process = Arc::new(Process::default());
    let span = model_span(&process, 1, vec![KeyValue::string("otel.status_description", "why")]);
    let otlp = spans_to_otlp(vec![span]).resource_spans.remove(0).scope_spans.remove(0).spans.remove(0);
    assert_eq!(otlp.attributes, [text("otel.status_description", "why")]);
    assert_eq!(otlp.status, None);
}

#[test]
fn model_survives_otlp_round_trip() {
    let process = Arc::new(Process { service_name: "svc".into(), tags: vec![KeyValue::binary("b", vec![1])] });
    let mut span = model_span(
        &process,
        1,
        vec![
            KeyValue::string("otel.scope.name", "lib"),
            KeyValue::float64("f", 0.5),
            KeyValue::string("span.kind", "server"),
            KeyValue::string("otel.status_code", "OK"),
            KeyValue::string("otel.status_description", "fine"),
        ],
    );
    span.references = vec![
        SpanRef::child_of(TraceId::new(1, 2), SpanId(7)),
        SpanRef::child_of(TraceId::new(0, 3), SpanId(4)).with_attributes(vec![
            KeyValue::string("s", "v"),
            KeyValue::int64("i", 123),
            KeyValue::float64("d", 72.5),
            KeyValue::bool("b", true),
            KeyValue::binary("blob", vec![0, 0, 0x30, 0x39]),
        ]),
        SpanRef::follows_from(TraceId::new(1, 2), SpanId(5)),
    ];
    span.scope_attributes = vec![KeyValue::string("s", "v"), KeyValue::binary("blob", vec![0, 0, 0x30, 0x39])];
    span.logs =
        vec![Log { timestamp_unix_nano: 11, fields: vec![KeyValue::string("event", "e"), KeyValue::int64("n", 1)] }];
    span.warnings = vec!["w".into()];
    let back = spans_from_otlp(spans_to_otlp(vec![span.clone()]).resource_spans);
    assert_eq!(back.rejected, 0);
    assert_eq!(back.spans, [span]);
}
