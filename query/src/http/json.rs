//! JSON bytes as Go's `encoding/json` writes them, so responses match Jaeger's byte for byte:
//! `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c`-style sequences, floats in Go's shortest
//! form (`2` not `2.0`, `1e+21` not `1e21`), and `prettyPrint` indented with four spaces.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter, PrettyFormatter};

/// Serializes `value` like Go's `json.Marshal`, or `json.MarshalIndent(v, "", "    ")` when
/// `pretty`. Never ends with a newline.
pub(crate) fn to_go_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(256);
    if pretty {
        let formatter = GoFormatter(PrettyFormatter::with_indent(b"    "));
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut bytes, formatter))?;
    } else {
        let formatter = GoFormatter(CompactFormatter);
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut bytes, formatter))?;
    }
    Ok(bytes)
}

/// Wraps a layout formatter (compact or pretty) and changes only how strings and floats are written.
struct GoFormatter<F>(F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(format_go_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(format_go_float(f64::from(value)).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut unwritten_from = 0;
        for (at, character) in fragment.char_indices() {
            let escape: &[u8] = match character {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[unwritten_from..at])?;
            writer.write_all(escape)?;
            unwritten_from = at + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[unwritten_from..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(&mut self, writer: &mut W, char_escape: CharEscape) -> io::Result<()> {
        self.0.write_char_escape(writer, char_escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// Go's float encoding: plain decimal for 1e-6 <= |f| < 1e21, else exponent form with a signed,
/// at-least-one-digit exponent. Only finite values reach here (serde_json writes NaN/inf as null).
fn format_go_float(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        return format!("{value}");
    }
    let text = format!("{value:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_the_way_go_writes_them() {
        assert_eq!(format_go_float(2.0), "2");
        assert_eq!(format_go_float(72.5), "72.5");
        assert_eq!(format_go_float(-0.1), "-0.1");
        assert_eq!(format_go_float(0.0), "0");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1.5e-7), "1.5e-7");
        assert_eq!(format_go_float(123456789.0), "123456789");
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let bytes = to_go_json(&serde_json::json!({"k": "a<b>&c\u{2028}\"\n"}), false).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), r#"{"k":"a\u003cb\u003e\u0026c\u2028\"\n"}"#);
    }

    #[test]
    fn pretty_output_indents_with_four_spaces() {
        let bytes = to_go_json(&serde_json::json!({"a": [1, 2.0], "b": []}), true).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": []\n}"
        );
    }

    #[test]
    fn non_finite_floats_become_null() {
        let bytes = to_go_json(&[f64::NAN], false).unwrap();
        assert_eq!(bytes, b"[null]");
    }
}
