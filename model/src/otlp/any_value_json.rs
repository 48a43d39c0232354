//! The JSON text Jaeger stores for an OTLP array or key-value-list attribute. Jaeger renders
//! these with Go's `pcommon.Value.AsString()`, i.e. `encoding/json` over the raw value, so this
//! writer follows Go's rules: map keys sorted (a repeated key keeps its last value), bytes as
//! standard base64, floats in Go's shortest form (`1e+21`, `1e-7`), `<`, `>`, `&`, U+2028 and
//! U+2029 escaped as `\u` sequences, and an empty value as `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};

/// Appends the JSON text of `value` (an `AnyValue`'s content, `None` for an empty value).
pub(super) fn write_value(value: Option<&Value>, out: &mut String) {
    let Some(value) = value else {
        out.push_str("null");
        return;
    };
    match value {
        Value::StringValue(text) => write_string(text, out),
        Value::BoolValue(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::IntValue(number) => {
            let _ = write!(out, "{number}");
        }
        Value::DoubleValue(number) => write_float(*number, out),
        Value::BytesValue(bytes) => {
            out.push('"');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            out.push('"');
        }
        Value::ArrayValue(array) => {
            out.push('[');
            for (index, element) in array.values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(element.value.as_ref(), out);
            }
            out.push(']');
        }
        Value::KvlistValue(list) => {
            let sorted: BTreeMap<&str, Option<&AnyValue>> =
                list.values.iter().map(|kv| (kv.key.as_str(), kv.value.as_ref())).collect();
            out.push('{');
            for (index, (key, element)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(element.and_then(|any| any.value.as_ref()), out);
            }
            out.push('}');
        }
        // Only profiles use string tables; in a trace this index means nothing.
        Value::StringValueStrindex(_) => out.push_str("null"),
    }
}

/// Go's `encoding/json` float form: plain notation for 1e-6 <= |f| < 1e21, else exponent
/// notation with a signed exponent of at least one digit. NaN and infinities (which Go refuses
/// to encode) become `null`.
fn write_float(number: f64, out: &mut String) {
    if !number.is_finite() {
        out.push_str("null");
        return;
    }
    let magnitude = number.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        let _ = write!(out, "{number}");
        return;
    }
    let text = format!("{number:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            let _ = write!(out, "{mantissa}e+{exponent}");
        }
        _ => out.push_str(&text),
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            ch if u32::from(ch) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    fn any(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    fn render(value: Value) -> String {
        let mut out = String::new();
        write_value(Some(&value), &mut out);
        out
    }

    #[test]
    fn arrays_render_as_go_json() {
        let array = Value::ArrayValue(ArrayValue {
            values: vec![
                any(Value::StringValue("a".into())),
                any(Value::IntValue(-3)),
                any(Value::BoolValue(true)),
                any(Value::DoubleValue(2.0)),
                any(Value::BytesValue(vec![0xff, 0x00])),
                AnyValue { value: None },
            ],
        });
        assert_eq!(render(array), r#"["a",-3,true,2,"/wA=",null]"#);
    }

    #[test]
    fn maps_render_with_sorted_keys_and_last_duplicate_winning() {
        let kv = |key: &str, value: Value| KeyValue { key: key.into(), value: Some(any(value)), key_strindex: 0 };
        let map = Value::KvlistValue(KeyValueList {
            values: vec![
                kv("b", Value::IntValue(1)),
                kv("a", Value::StringValue("x".into())),
                kv("b", Value::IntValue(2)),
            ],
        });
        assert_eq!(render(map), r#"{"a":"x","b":2}"#);
    }

    #[test]
    fn floats_use_go_exponent_rules() {
        let cases =
            [(1.5, "1.5"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (-0.0, "-0"), (f64::NAN, "null")];
        for (number, expected) in cases {
            let mut out = String::new();
            write_float(number, &mut out);
            assert_eq!(out, expected, "{number}");
        }
    }

    #[test]
    fn strings_escape_like_go_html_safe_json() {
        let mut out = String::new();
        write_string("a\"b\\c\n<&>\u{1}\u{2028}é", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u003c\u0026\u003e\u0001\u2028é""#);
    }
}
