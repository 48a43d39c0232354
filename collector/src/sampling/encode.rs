//! The two JSON forms of a `SamplingStrategyResponse` Jaeger clients read, byte for byte.
//!
//! **Proto-JSON** (spec §2.3; Jaeger's `uimodel/converter/v1/json/sampling.go`): gogo `jsonpb` with
//! `EmitDefaults`, then the `null` top-level sub-objects stripped. So: fields in proto field order,
//! the enum as its name, zero numbers and empty lists (`[]`) emitted, absent top-level
//! sub-objects omitted, an operation's absent `probabilisticSampling` written as `null` (the
//! stripping only matches top-level keys). No whitespace, no trailing newline.
//!
//! **Legacy** (Jaeger's v1 agent `GET /`, `internal/sampling/http/handler.go` `encodeThriftLegacy`
//! up to v2.15): Go's `json.Marshal` of the Thrift struct with `strategyType` replaced by its number
//! (Thrift 0.9.2 clients). The layout is the proto-JSON one; Thrift's `maxTracesPerSecond` is an
//! `i16`, so a larger rate cannot be sent ([`LegacyEncodingError`]; below `i16::MIN` it wraps, as
//! Go's conversion does).
//!
//! Numbers are formatted as Go's `encoding/json` formats a float64 (ES6 style: `1`, `0.001`,
//! `1e-7`, `1e+21`) and strings escaped as it does (`<`, `>`, `&`, U+2028 and U+2029 as `\u`
//! escapes).

use std::fmt::Write as _;

use spoor_model::proto::jaeger::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy, SamplingStrategyResponse,
    SamplingStrategyType,
};

/// The strategy cannot be written in the legacy form.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LegacyEncodingError {
    #[error("maxTracesPerSecond {0} does not fit the legacy form's 16-bit field")]
    RateTooLarge(i32),
    #[error("strategy type {0} has no legacy code")]
    UnknownStrategyType(i32),
    #[error("{0} is not a JSON number")]
    NotFinite(f64),
}

/// The proto-JSON form served by `/sampling`, any path on 5778 (v2), and `/api/sampling`.
pub fn to_proto_json(response: &SamplingStrategyResponse) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"strategyType\":");
    match SamplingStrategyType::try_from(response.strategy_type) {
        Ok(known) => push_string(&mut out, known.as_str_name()),
        // jsonpb writes an unknown enum value as a bare number.
        Err(_) => {
            let _ = write!(out, "{}", response.strategy_type);
        }
    }
    push_sub_objects(&mut out, response, Form::ProtoJson);
    out.push('}');
    out
}

/// The legacy Thrift-JSON form with a numeric `strategyType`, served by `GET /` on 5778.
pub fn to_legacy_json(response: &SamplingStrategyResponse) -> Result<String, LegacyEncodingError> {
    let code = match SamplingStrategyType::try_from(response.strategy_type) {
        Ok(known) => known as i32,
        Err(_) => return Err(LegacyEncodingError::UnknownStrategyType(response.strategy_type)),
    };
    if let Some(rate_limiting) = &response.rate_limiting_sampling {
        if rate_limiting.max_traces_per_second > i32::from(i16::MAX) {
            return Err(LegacyEncodingError::RateTooLarge(rate_limiting.max_traces_per_second));
        }
    }
    if let Some(not_finite) = floats(response).find(|value| !value.is_finite()) {
        return Err(LegacyEncodingError::NotFinite(not_finite));
    }
    let mut out = String::with_capacity(128);
    let _ = write!(out, "{{\"strategyType\":{code}");
    push_sub_objects(&mut out, response, Form::Legacy);
    out.push('}');
    Ok(out)
}

/// Which of the two forms is written; they differ only in the enum and number details.
#[derive(Clone, Copy)]
enum Form {
    ProtoJson,
    Legacy,
}

impl Form {
    fn push_number(self, out: &mut String, value: f64) {
        match self {
            Self::ProtoJson => proto_json_number(out, value),
            // Checked finite before writing.
            Self::Legacy => out.push_str(&go_float(value)),
        }
    }
}

fn push_sub_objects(out: &mut String, response: &SamplingStrategyResponse, form: Form) {
    if let Some(probabilistic) = &response.probabilistic_sampling {
        out.push_str(",\"probabilisticSampling\":");
        push_probabilistic(out, probabilistic, form);
    }
    if let Some(rate_limiting) = &response.rate_limiting_sampling {
        let rate = rate_limiting.max_traces_per_second;
        let _ = match form {
            Form::ProtoJson => write!(out, ",\"rateLimitingSampling\":{{\"maxTracesPerSecond\":{rate}}}"),
            // Above i16::MAX was refused; below i16::MIN, Go's int16() wraps, and so does `as`.
            #[allow(clippy::cast_possible_truncation)]
            Form::Legacy => write!(out, ",\"rateLimitingSampling\":{{\"maxTracesPerSecond\":{}}}", rate as i16),
        };
    }
    if let Some(operations) = &response.operation_sampling {
        out.push_str(",\"operationSampling\":");
        push_operations(out, operations, form);
    }
}

fn push_operations(out: &mut String, operations: &PerOperationSamplingStrategies, form: Form) {
    out.push_str("{\"defaultSamplingProbability\":");
    form.push_number(out, operations.default_sampling_probability);
    out.push_str(",\"defaultLowerBoundTracesPerSecond\":");
    form.push_number(out, operations.default_lower_bound_traces_per_second);
    out.push_str(",\"perOperationStrategies\":[");
    for (index, operation) in operations.per_operation_strategies.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_operation(out, operation, form);
    }
    out.push_str("],\"defaultUpperBoundTracesPerSecond\":");
    form.push_number(out, operations.default_upper_bound_traces_per_second);
    out.push('}');
}

fn push_operation(out: &mut String, operation: &OperationSamplingStrategy, form: Form) {
    out.push_str("{\"operation\":");
    push_string(out, &operation.operation);
    out.push_str(",\"probabilisticSampling\":");
    match &operation.probabilistic_sampling {
        Some(probabilistic) => push_probabilistic(out, probabilistic, form),
        None => out.push_str("null"),
    }
    out.push('}');
}

fn push_probabilistic(out: &mut String, probabilistic: &ProbabilisticSamplingStrategy, form: Form) {
    out.push_str("{\"samplingRate\":");
    form.push_number(out, probabilistic.sampling_rate);
    out.push('}');
}

/// jsonpb writes non-finite doubles as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn proto_json_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("\"NaN\"");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
    } else {
        out.push_str(&go_float(value));
    }
}

fn floats(response: &SamplingStrategyResponse) -> impl Iterator<Item = f64> + '_ {
    let top = response.probabilistic_sampling.iter().map(|probabilistic| probabilistic.sampling_rate);
    let operations =
        response.operation_sampling.iter().flat_map(|operations| {
            [
                operations.default_sampling_probability,
                operations.default_lower_bound_traces_per_second,
                operations.default_upper_bound_traces_per_second,
            ]
            .into_iter()
            .chain(operations.per_operation_strategies.iter().filter_map(|operation| {
                operation.probabilistic_sampling.map(|probabilistic| probabilistic.sampling_rate)
            }))
        });
    top.chain(operations)
}

/// A finite float64 as Go's `encoding/json` writes it: the shortest digits that read back the same
/// value, in plain notation for magnitudes in [1e-6, 1e21) and zero, else `d.ddde±x` with at least
/// one exponent digit (`1e-7`, `1.5e+21`).
pub fn go_float(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        // Rust's Display is the shortest round-trip form and never uses an exponent.
        return format!("{value}");
    }
    let exponent_form = format!("{value:e}");
    match exponent_form.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
        _ => exponent_form,
    }
}

/// A JSON string as Go's `encoding/json` escapes it (HTML-safe by default).
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(character));
            }
            control if u32::from(control) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(control));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::proto::jaeger::api_v2::RateLimitingSamplingStrategy;

    fn probabilistic(rate: f64) -> SamplingStrategyResponse {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::Probabilistic as i32,
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: rate }),
            rate_limiting_sampling: None,
            operation_sampling: None,
        }
    }

    fn rate_limiting(rate: i32) -> SamplingStrategyResponse {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            probabilistic_sampling: None,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy { max_traces_per_second: rate }),
            operation_sampling: None,
        }
    }

    #[test]
    fn floats_are_written_as_go_writes_them() {
        let cases = [
            (0.001, "0.001"),
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.42, "0.42"),
            (11.2, "11.2"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (value, expected) in cases {
            assert_eq!(go_float(value), expected, "{value}");
        }
    }

    #[test]
    fn strings_are_escaped_html_safe_as_go_does() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c<d>&\u{2028}\u{1}\n\u{7f}é");
        assert_eq!(out, r#""a\"b\\c\u003cd\u003e\u0026\u2028\u0001\n"#.to_owned() + "\u{7f}é\"");
    }

    #[test]
    fn proto_json_of_the_simple_shapes_matches_jaeger() {
        assert_eq!(
            to_proto_json(&probabilistic(0.42)),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.42}}"#
        );
        assert_eq!(
            to_proto_json(&rate_limiting(42)),
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#
        );
    }

    #[test]
    fn proto_json_of_operation_sampling_emits_zero_bounds_in_field_order() {
        // Jaeger's sampling_test.go "operationSampling" case: no top-level strategy, bounds set.
        let response = SamplingStrategyResponse {
            strategy_type: 0,
            probabilistic_sampling: None,
            rate_limiting_sampling: None,
            operation_sampling: Some(PerOperationSamplingStrategies {
                default_sampling_probability: 0.42,
                default_lower_bound_traces_per_second: 2.0,
                per_operation_strategies: vec![
                    OperationSamplingStrategy {
                        operation: "foo".into(),
                        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: 0.42 }),
                    },
                    OperationSamplingStrategy { operation: "bar".into(), probabilistic_sampling: None },
                ],
                default_upper_bound_traces_per_second: 11.2,
            }),
        };
        assert_eq!(
            to_proto_json(&response),
            concat!(
                r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.42,"#,
                r#""defaultLowerBoundTracesPerSecond":2,"perOperationStrategies":[{"operation":"foo","#,
                r#""probabilisticSampling":{"samplingRate":0.42}},{"operation":"bar","probabilisticSampling":null}],"#,
                r#""defaultUpperBoundTracesPerSecond":11.2}}"#
            )
        );
        let empty = SamplingStrategyResponse {
            operation_sampling: Some(PerOperationSamplingStrategies::default()),
            ..probabilistic(1.0)
        };
        assert_eq!(
            to_proto_json(&empty),
            concat!(
                r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1},"operationSampling":"#,
                r#"{"defaultSamplingProbability":0,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[],"#,
                r#""defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
    }

    #[test]
    fn proto_json_writes_unknown_enum_values_and_non_finite_numbers_as_jsonpb_does() {
        let response = SamplingStrategyResponse { strategy_type: 7, ..probabilistic(f64::NAN) };
        assert_eq!(to_proto_json(&response), r#"{"strategyType":7,"probabilisticSampling":{"samplingRate":"NaN"}}"#);
    }

    #[test]
    fn legacy_json_uses_numeric_strategy_types() {
        assert_eq!(
            to_legacy_json(&rate_limiting(42)).unwrap(),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}"#
        );
        assert_eq!(
            to_legacy_json(&probabilistic(0.5)).unwrap(),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#
        );
    }

    #[test]
    fn legacy_json_refuses_what_thrift_cannot_carry() {
        assert_eq!(to_legacy_json(&rate_limiting(40_000)), Err(LegacyEncodingError::RateTooLarge(40_000)));
        assert!(to_legacy_json(&rate_limiting(i32::from(i16::MAX))).is_ok());
        let unknown = SamplingStrategyResponse { strategy_type: -1, ..probabilistic(0.5) };
        assert_eq!(to_legacy_json(&unknown), Err(LegacyEncodingError::UnknownStrategyType(-1)));
        assert!(matches!(to_legacy_json(&probabilistic(f64::NAN)), Err(LegacyEncodingError::NotFinite(_))));
        // Below the i16 range Go's int16() wraps rather than failing.
        assert_eq!(
            to_legacy_json(&rate_limiting(-40_000)).unwrap(),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":25536}}"#
        );
    }
}
