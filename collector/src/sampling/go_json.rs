//! A small JSON reader with the lexical rules of Go's `encoding/json`, for the strategies file:
//! object members stay in document order with duplicates kept (Go applies them in order), numbers
//! keep their text (Go only range-checks a number when it is decoded into a field), invalid UTF-8
//! inside strings becomes one U+FFFD per bad byte, and a `\u` surrogate that is not half of a
//! valid pair becomes U+FFFD. Syntax is strict RFC 8259 JSON, as in Go.
//!
//! Nesting deeper than [`MAX_DEPTH`] is refused (Go allows 10000; a strategies file has 4 levels).

use std::fmt;

/// Deepest nesting of objects and lists accepted.
pub const MAX_DEPTH: usize = 512;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// The number's text, valid JSON number syntax.
    Number(String),
    String(String),
    Array(Vec<JsonValue>),
    /// Members in document order, duplicates kept.
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// "a string", "an object", ... for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "a list",
            Self::Object(_) => "an object",
        }
    }
}

/// Where and why the text is not JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

/// Parses one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(bytes: &[u8]) -> Result<JsonValue, SyntaxError> {
    let mut parser = Parser { bytes, position: 0, depth: 0 };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.position < bytes.len() {
        return Err(parser.error("unexpected text after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> SyntaxError {
        let consumed = &self.bytes[..self.position.min(self.bytes.len())];
        let line = consumed.iter().filter(|byte| **byte == b'\n').count() + 1;
        let line_start = consumed.iter().rposition(|byte| *byte == b'\n').map_or(0, |index| index + 1);
        SyntaxError { line, column: self.position - line_start + 1, message }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8, message: &'static str) -> Result<(), SyntaxError> {
        if self.peek() != Some(byte) {
            return Err(self.error(message));
        }
        self.position += 1;
        Ok(())
    }

    fn value(&mut self) -> Result<JsonValue, SyntaxError> {
        match self.peek() {
            None => Err(self.error("unexpected end of JSON input")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(JsonValue::String(self.string()?)),
            Some(b't') => self.literal("true", JsonValue::Bool(true)),
            Some(b'f') => self.literal("false", JsonValue::Bool(false)),
            Some(b'n') => self.literal("null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("invalid character looking for the beginning of a value")),
        }
    }

    fn nested(&mut self, parse: fn(&mut Self) -> Result<JsonValue, SyntaxError>) -> Result<JsonValue, SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn literal(&mut self, word: &'static str, value: JsonValue) -> Result<JsonValue, SyntaxError> {
        if !self.bytes[self.position..].starts_with(word.as_bytes()) {
            return Err(self.error("invalid literal"));
        }
        self.position += word.len();
        Ok(value)
    }

    fn object(&mut self) -> Result<JsonValue, SyntaxError> {
        self.position += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':', "expected ':' after an object key")?;
            self.skip_whitespace();
            let value = self.value()?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(JsonValue::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' after an object member")),
            }
        }
    }

    fn array(&mut self) -> Result<JsonValue, SyntaxError> {
        self.position += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.position += 1;
            return Ok(JsonValue::Array(elements));
        }
        loop {
            self.skip_whitespace();
            elements.push(self.value()?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(JsonValue::Array(elements));
                }
                _ => return Err(self.error("expected ',' or ']' after a list element")),
            }
        }
    }

    fn number(&mut self) -> Result<JsonValue, SyntaxError> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek() {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.bytes[start..self.position]).map_err(|_| self.error("invalid number"))?;
        Ok(JsonValue::Number(text.to_owned()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.position += 1;
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.position += 1;
        let mut text = String::new();
        loop {
            let Some(byte) = self.peek() else { return Err(self.error("unexpected end of JSON input in a string")) };
            match byte {
                b'"' => {
                    self.position += 1;
                    return Ok(text);
                }
                b'\\' => {
                    self.position += 1;
                    self.escape(&mut text)?;
                }
                0..=0x1f => return Err(self.error("invalid control character in a string")),
                0x20..=0x7f => {
                    text.push(char::from(byte));
                    self.position += 1;
                }
                _ => {
                    let (character, width) = decode_utf8(&self.bytes[self.position..]);
                    text.push(character);
                    self.position += width;
                }
            }
        }
    }

    fn escape(&mut self, text: &mut String) -> Result<(), SyntaxError> {
        let Some(byte) = self.peek() else { return Err(self.error("unexpected end of JSON input in a string")) };
        self.position += 1;
        let unescaped = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                self.utf16_char(unit)
            }
            _ => return Err(self.error("invalid escape in a string")),
        };
        text.push(unescaped);
        Ok(())
    }

    /// `\uXXXX` already read as `unit`: a character, a surrogate pair when the next escape
    /// completes it, else U+FFFD (the next escape then stands alone), as Go decodes.
    fn utf16_char(&mut self, unit: u16) -> char {
        if let Some(character) = char::from_u32(u32::from(unit)) {
            return character;
        }
        let is_high = (0xD800..0xDC00).contains(&unit);
        if is_high && self.bytes[self.position..].starts_with(b"\\u") {
            let saved = self.position;
            self.position += 2;
            if let Ok(low) = self.hex4() {
                if (0xDC00..0xE000).contains(&low) {
                    let code = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    return char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                }
            }
            self.position = saved;
        }
        char::REPLACEMENT_CHARACTER
    }

    fn hex4(&mut self) -> Result<u16, SyntaxError> {
        let digits =
            self.bytes.get(self.position..self.position + 4).ok_or_else(|| self.error("invalid \\u escape"))?;
        let mut value: u16 = 0;
        for digit in digits {
            let nibble = char::from(*digit).to_digit(16).ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value << 4 | u16::try_from(nibble).unwrap_or(0);
        }
        self.position += 4;
        Ok(value)
    }
}

/// Go's `utf8.DecodeRune`: the character starting `bytes` and its width, or U+FFFD and width 1
/// when the bytes there are not valid UTF-8.
fn decode_utf8(bytes: &[u8]) -> (char, usize) {
    let width = match bytes[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (char::REPLACEMENT_CHARACTER, 1),
    };
    match bytes.get(..width).and_then(|candidate| std::str::from_utf8(candidate).ok()) {
        Some(text) => (text.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER), width),
        None => (char::REPLACEMENT_CHARACTER, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Vec<(String, JsonValue)> {
        match parse(text.as_bytes()).unwrap() {
            JsonValue::Object(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn members_keep_document_order_and_duplicates() {
        let members = object(r#"{"b": 1, "a": [true, null], "b": {"c": "d"}}"#);
        let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(members[0].1, JsonValue::Number("1".into()));
        assert_eq!(members[1].1, JsonValue::Array(vec![JsonValue::Bool(true), JsonValue::Null]));
    }

    #[test]
    fn numbers_keep_their_text() {
        assert_eq!(parse(b" -0 ").unwrap(), JsonValue::Number("-0".into()));
        assert_eq!(parse(b"1e400").unwrap(), JsonValue::Number("1e400".into()));
        assert_eq!(parse(b"999999999999999900000").unwrap(), JsonValue::Number("999999999999999900000".into()));
        for bad in ["01", "1.", ".5", "-", "1e", "+1", "0x10", "NaN"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_decode_escapes_and_replace_what_go_replaces() {
        assert_eq!(
            parse(br#""a\"\\\/\b\f\n\r\t\u00e9""#).unwrap(),
            JsonValue::String("a\"\\/\u{8}\u{c}\n\r\t\u{e9}".into())
        );
        assert_eq!(parse(br#""\ud83d\ude00""#).unwrap(), JsonValue::String("\u{1F600}".into()));
        assert_eq!(
            parse(br#""a\ud800b\udc00c\ud800\u0041""#).unwrap(),
            JsonValue::String("a\u{FFFD}b\u{FFFD}c\u{FFFD}A".into())
        );
        // Go replaces each invalid byte on its own: E2 82 before 'A' is two replacements.
        assert_eq!(
            parse(b"\"\xe2\x82A\xff\xc3\xa9\"").unwrap(),
            JsonValue::String("\u{FFFD}\u{FFFD}A\u{FFFD}\u{e9}".into())
        );
        assert!(parse(b"\"tab\there\"").is_err());
        assert!(parse(br#""\x""#).is_err());
    }

    #[test]
    fn syntax_errors_name_the_line_and_column() {
        let error = parse(b"{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!((error.line, error.column), (3, 7));
        assert_eq!(error.to_string(), "expected ':' after an object key at line 3 column 7");
        assert!(parse(b"").is_err());
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"[1,]").is_err());
        assert!(parse(b"{\"a\":1,}").is_err());
        assert!(parse(b"\xef\xbb\xbf{}").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().message, "nesting too deep");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(fine.as_bytes()).is_ok());
    }
}
