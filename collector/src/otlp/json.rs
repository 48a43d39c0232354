//! OTLP/JSON decoding of `ExportTraceServiceRequest`.
//!
//! opentelemetry-proto's `with-serde` derives handle most OTLP/JSON rules (hex ids, 64-bit
//! integers as strings or numbers, integer enums, base64 `bytesValue`, unknown fields ignored)
//! but refuse some valid proto3 JSON:
//! - `{"arrayValue": {}}`, `{"kvlistValue": {}}` (an omitted empty repeated field is a missing
//!   field to serde) and a `KeyValue` without `key`;
//! - `null` for any field (proto3 JSON: the default);
//! - 32-bit integers written as strings (`"droppedAttributesCount": "3"`).
//!
//! They also refuse, or worse silently ignore, what OTLP/JSON forbids but senders emit and the
//! OpenTelemetry Collector accepts: enum names (`"SPAN_KIND_SERVER"`), snake_case keys
//! (`"trace_id"`: ignored as unknown, so the span loses its id) and the pre-1.0
//! `instrumentationLibrarySpans`.
//!
//! So decoding takes two paths. The derives straight from the bytes: fast, and what nearly every
//! request takes. When that fails, or succeeds suspiciously (an empty resource or an id-less span
//! in a body that spells a field the old or snake_case way), the body is parsed into a
//! `serde_json::Value`, normalized (nulls removed, empty lists filled in, enum names, numeric
//! strings and old or snake_case keys rewritten) and decoded again. If that fails too, the first
//! error (with its line and column) is reported. Not handled: `"NaN"`/`"Infinity"` as
//! `doubleValue` (a `serde_json::Value` cannot hold them); such a request gets 400.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ReceiveError;

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, ReceiveError> {
    let first_error = match serde_json::from_slice::<ExportTraceServiceRequest>(body) {
        Ok(request) if !lost_renamed_fields(&request, body) => return Ok(request),
        Ok(_) => None,
        Err(error) => Some(error),
    };
    let malformed = |fallback: String| {
        ReceiveError::MalformedJson(first_error.as_ref().map(ToString::to_string).unwrap_or(fallback))
    };
    if first_error.as_ref().is_some_and(|error| error.is_syntax() || error.is_eof()) {
        return Err(malformed(String::new()));
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|error| malformed(error.to_string()))?;
    normalize(&mut value);
    ExportTraceServiceRequest::deserialize(value).map_err(|error| malformed(error.to_string()))
}

/// The derives ignore unknown keys, so a body written with snake_case keys or the pre-1.0
/// `instrumentationLibrarySpans` decodes "successfully" into empty resources or id-less spans.
/// Such a result is checked (cheaply: only when something is empty) for those spellings.
fn lost_renamed_fields(request: &ExportTraceServiceRequest, body: &[u8]) -> bool {
    let suspicious = request.resource_spans.is_empty()
        || request.resource_spans.iter().any(|resource_spans| {
            resource_spans.scope_spans.is_empty()
                || resource_spans
                    .scope_spans
                    .iter()
                    .flat_map(|scope_spans| &scope_spans.spans)
                    .any(|span| span.trace_id.is_empty() || span.span_id.is_empty())
        });
    suspicious
        && [&b"\"resource_spans\""[..], b"\"scope_spans\"", b"\"trace_id\"", b"\"instrumentationLibrarySpans\""]
            .iter()
            .any(|needle| body.windows(needle.len()).any(|window| window == *needle))
}

/// Rewrites a parsed OTLP/JSON document into the form the serde derives accept.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(object) => normalize_object(object),
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn normalize_object(object: &mut Map<String, Value>) {
    object.retain(|_, field| !field.is_null());
    if object.keys().any(|key| key.contains('_') || key.starts_with("instrumentationLibrary")) {
        let fields = std::mem::take(object);
        for (original_key, field) in fields {
            let camel_key = if original_key.contains('_') { lower_camel_case(&original_key) } else { original_key };
            // OTLP before 1.0 called scopes "instrumentation libraries".
            let key = match camel_key.as_str() {
                "instrumentationLibrarySpans" => "scopeSpans".to_owned(),
                "instrumentationLibrary" => "scope".to_owned(),
                _ => camel_key,
            };
            // An explicit camelCase key wins over its snake_case spelling.
            object.entry(key).or_insert(field);
        }
    }
    for (key, field) in object.iter_mut() {
        match key.as_str() {
            "kind" => enum_name_to_number(field, SPAN_KIND_NAMES),
            "code" => enum_name_to_number(field, STATUS_CODE_NAMES),
            "flags" | "droppedAttributesCount" | "droppedEventsCount" | "droppedLinksCount" => {
                if let Some(number) = field.as_str().and_then(|text| text.parse::<u32>().ok()) {
                    *field = Value::from(number);
                }
            }
            "arrayValue" | "kvlistValue" => {
                if let Value::Object(list) = field {
                    list.retain(|_, item| !item.is_null());
                    list.entry("values").or_insert_with(|| Value::Array(Vec::new()));
                }
            }
            "attributes" => {
                // Every KeyValue needs a key (an absent key is the empty string).
                if let Value::Array(items) = field {
                    for item in items.iter_mut() {
                        if let Value::Object(key_value) = item {
                            key_value.entry("key").or_insert_with(|| Value::String(String::new()));
                        }
                    }
                }
            }
            _ => {}
        }
        normalize(field);
    }
    // Key-value lists nested in AnyValue hold KeyValues under "values".
    if let Some(Value::Object(list)) = object.get_mut("kvlistValue") {
        if let Some(Value::Array(items)) = list.get_mut("values") {
            for item in items.iter_mut() {
                if let Value::Object(key_value) = item {
                    key_value.entry("key").or_insert_with(|| Value::String(String::new()));
                }
            }
        }
    }
}

const SPAN_KIND_NAMES: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODE_NAMES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// `"SPAN_KIND_SERVER"` becomes `2`, `"2"` becomes `2`; anything else is left for the decoder to
/// refuse.
fn enum_name_to_number(field: &mut Value, names: &[&str]) {
    let Value::String(text) = field else { return };
    if let Some(number) = names.iter().position(|name| name == text) {
        *field = Value::from(number);
    } else if let Ok(number) = text.parse::<i32>() {
        *field = Value::from(number);
    }
}

fn lower_camel_case(snake: &str) -> String {
    let mut camel = String::with_capacity(snake.len());
    let mut upper_next = false;
    for character in snake.chars() {
        if character == '_' {
            upper_next = !camel.is_empty();
        } else if upper_next {
            camel.extend(character.to_uppercase());
            upper_next = false;
        } else {
            camel.push(character);
        }
    }
    camel
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;

    use super::*;

    fn decode(json: &str) -> ExportTraceServiceRequest {
        decode_json(json.as_bytes()).unwrap_or_else(|error| panic!("{error}"))
    }

    fn one_span(span_json: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},
                "scopeSpans":[{{"scope":{{"name":"lib"}},"spans":[{span_json}]}}]}}]}}"#
        )
    }

    const IDS: &str = r#""traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174""#;

    #[test]
    fn accepts_the_otlp_specification_example() {
        let request = decode(&one_span(&format!(
            r#"{{{IDS},"parentSpanId":"EEE19B7EC3C1B173","name":"I'm a server span",
                "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","kind":2,
                "attributes":[{{"key":"my.span.attr","value":{{"stringValue":"some value"}}}}]}}"#
        )));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[0], 0x5b);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    }

    #[test]
    fn accepts_64_bit_integers_as_strings_or_numbers() {
        let request = decode(&one_span(&format!(
            r#"{{{IDS},"name":"n","startTimeUnixNano":1544712660000000000,"endTimeUnixNano":"1544712661000000000",
                "attributes":[{{"key":"a","value":{{"intValue":"-42"}}}},{{"key":"b","value":{{"intValue":7}}}}]}}"#
        )));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.attributes[0].value.as_ref().unwrap().value, Some(OtlpValue::IntValue(-42)));
        assert_eq!(span.attributes[1].value.as_ref().unwrap().value, Some(OtlpValue::IntValue(7)));
    }

    #[test]
    fn accepts_empty_array_and_kvlist_values() {
        let request = decode(&one_span(&format!(
            r#"{{{IDS},"name":"n","attributes":[{{"key":"a","value":{{"arrayValue":{{}}}}}},
                {{"key":"b","value":{{"kvlistValue":{{}}}}}}]}}"#
        )));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert!(
            matches!(&span.attributes[0].value.as_ref().unwrap().value, Some(OtlpValue::ArrayValue(a)) if a.values.is_empty())
        );
        assert!(
            matches!(&span.attributes[1].value.as_ref().unwrap().value, Some(OtlpValue::KvlistValue(l)) if l.values.is_empty())
        );
    }

    #[test]
    fn accepts_nulls_as_defaults() {
        let request = decode(&one_span(&format!(
            r#"{{{IDS},"name":"n","parentSpanId":null,"status":null,"attributes":null,"events":[{{"name":null,"timeUnixNano":"5"}}]}}"#
        )));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.events[0].time_unix_nano, 5);
    }

    #[test]
    fn accepts_enum_names_and_snake_case_keys_that_otlp_json_forbids_but_senders_use() {
        let request = decode(&one_span(
            r#"{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"eee19b7ec3c1b174","name":"n",
                "kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR","message":"boom"},
                "start_time_unix_nano":"10"}"#,
        ));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 3);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(span.start_time_unix_nano, 10);
        assert_eq!(span.trace_id.len(), 16);
    }

    #[test]
    fn accepts_bytes_as_base64_and_nested_values() {
        let request = decode(&one_span(&format!(
            r#"{{{IDS},"name":"n","attributes":[{{"key":"b","value":{{"bytesValue":"AQI="}}}},
                {{"key":"l","value":{{"arrayValue":{{"values":[{{"stringValue":"x"}},{{"kvlistValue":{{"values":[{{"key":"k","value":{{"boolValue":true}}}}]}}}}]}}}}}}]}}"#
        )));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.attributes[0].value.as_ref().unwrap().value, Some(OtlpValue::BytesValue(vec![1, 2])));
    }

    #[test]
    fn accepts_the_pre_1_0_instrumentation_library_spelling() {
        let body = format!(
            r#"{{"resourceSpans":[{{"instrumentationLibrarySpans":[{{"instrumentationLibrary":{{"name":"old"}},
                "spans":[{{{IDS},"name":"n"}}]}}]}}]}}"#
        );
        let request = decode(&body);
        let scope_spans = &request.resource_spans[0].scope_spans[0];
        assert_eq!(scope_spans.scope.as_ref().unwrap().name, "old");
        assert_eq!(scope_spans.spans[0].name, "n");
    }

    #[test]
    fn accepts_32_bit_integers_as_strings() {
        let request = decode(&one_span(&format!(r#"{{{IDS},"name":"n","droppedAttributesCount":"3","flags":"1"}}"#)));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((span.dropped_attributes_count, span.flags), (3, 1));
    }

    #[test]
    fn derives_alone_refuse_what_normalization_fixes() {
        // If this starts failing, opentelemetry-proto fixed its derives and the slow path may go.
        for span in [
            format!(r#"{{{IDS},"attributes":[{{"key":"a","value":{{"arrayValue":{{}}}}}}]}}"#),
            format!(r#"{{{IDS},"name":null}}"#),
            format!(r#"{{{IDS},"kind":"SPAN_KIND_SERVER"}}"#),
        ] {
            assert!(serde_json::from_str::<ExportTraceServiceRequest>(&one_span(&span)).is_err(), "{span}");
            decode(&one_span(&span));
        }
    }

    #[test]
    fn ignores_unknown_fields() {
        let request = decode(&one_span(&format!(r#"{{{IDS},"name":"n","futureField":{{"x":1}}}}"#)));
        assert_eq!(request.resource_spans[0].scope_spans[0].spans[0].name, "n");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let error = decode_json(b"{\"resourceSpans\": [}").unwrap_err().to_string();
        assert!(error.contains("line 1 column"), "{error}");
    }

    #[test]
    fn invalid_hex_ids_are_refused_with_the_reason() {
        let error = decode_json(one_span(r#"{"traceId":"xyz","name":"n"}"#).as_bytes()).unwrap_err().to_string();
        assert!(error.contains("malformed OTLP/JSON"), "{error}");
    }

    #[test]
    fn snake_case_becomes_lower_camel_case() {
        assert_eq!(lower_camel_case("start_time_unix_nano"), "startTimeUnixNano");
        assert_eq!(lower_camel_case("trace_id"), "traceId");
        assert_eq!(lower_camel_case("_x"), "x");
    }
}
