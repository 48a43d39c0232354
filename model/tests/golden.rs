//! Golden-file tests of the codecs. The fixture `golden/otlp_request.json` is hand-written
//! OTLP/JSON; every other file in `golden/` is an expected output. Rerun with `SPOOR_BLESS=1` to
//! rewrite the outputs, then review the diff.

mod support;

use serde_json::json;
use spoor_model::jaeger_proto::{encode_span, span_to_proto};
use spoor_model::otlp::{spans_from_otlp_request, spans_to_otlp};
use spoor_model::Span;
use support::{assert_golden, check_golden, load_otlp_request, pretty, render_span};

const OTLP_FIXTURE: &str = "otlp_request.json";

fn fixture_spans() -> Vec<Span> {
    let conversion = spans_from_otlp_request(load_otlp_request(OTLP_FIXTURE));
    assert_eq!(conversion.rejected, 1, "the fixture has exactly one span with a truncated trace id");
    conversion.spans
}

#[test]
fn otlp_request_converts_to_the_golden_model_spans() {
    let conversion = spans_from_otlp_request(load_otlp_request(OTLP_FIXTURE));
    let rendered = json!({
        "rejected": conversion.rejected,
        "errors": conversion.errors,
        "partialSuccessMessage": conversion.error_message(),
        "spans": conversion.spans,
    });
    assert_golden("otlp_request.model.json", &pretty(&rendered));
}

#[test]
fn model_spans_convert_to_the_golden_jaeger_proto_spans() {
    let rendered: Vec<_> = fixture_spans().into_iter().map(|span| render_span(&span_to_proto(span))).collect();
    assert_golden("otlp_request.jaeger_proto.json", &pretty(&rendered));
}

#[test]
fn model_spans_convert_back_to_the_golden_otlp_json() {
    let traces = spans_to_otlp(fixture_spans());
    assert_golden("otlp_request.otlp_out.json", &pretty(&traces));
}

#[test]
fn kafka_protobuf_bytes_of_a_span_are_stable() {
    let spans = fixture_spans();
    let mut text = String::new();
    for span in &spans {
        let bytes = encode_span(span);
        for line in bytes.chunks(32) {
            text.push_str(&hex::encode(line));
            text.push('\n');
        }
        text.push('\n');
    }
    assert_golden("otlp_request.api_v2.pb.hex", &text);
}

#[test]
fn a_missing_golden_file_fails_instead_of_passing() {
    let outcome = check_golden("no-such-golden-file.json", "{}", false);
    let message = outcome.expect_err("a missing golden file must fail the comparison");
    assert!(message.contains("SPOOR_BLESS=1"), "{message}");
    assert!(!support::golden_path("no-such-golden-file.json").exists());
}

#[test]
fn a_differing_golden_file_fails_with_the_line() {
    let outcome = check_golden(OTLP_FIXTURE, "{}\n", false);
    assert!(outcome.expect_err("a changed output must fail").contains("first difference at line 1"));
}

#[test]
fn jsonpb_times_use_rfc3339_with_grouped_fractions() {
    assert_eq!(support::rfc3339(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(support::rfc3339(1_700_000_000, 123_000_000), "2023-11-14T22:13:20.123Z");
    assert_eq!(support::rfc3339(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
}
