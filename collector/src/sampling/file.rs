//! The strategies file as Jaeger reads it (`samplingstrategy/file/strategy.go`, spec §2.4), decoded
//! with the rules of Go's `encoding/json`, so a file Jaeger accepts means the same here:
//!
//! - keys match field names case-insensitively (an exact match is not required); unknown keys are
//!   ignored;
//! - a missing key or `null` leaves a string or number at its zero value (`""`, `0`); `null` for an
//!   object or a list means "absent";
//! - a value of the wrong JSON type (`"param": "0.5"`) makes the whole file invalid;
//! - a key given twice is decoded onto the earlier value: the later one wins field by field;
//! - invalid UTF-8 in strings becomes U+FFFD ([`go_json`] has the lexical rules);
//! - a number too large for a float64 is an error where it is read, ignored in unknown keys.
//!
//! Where Jaeger would crash (a `null` entry inside `service_strategies` or `operation_strategies`
//! dereferences a nil pointer), the file is refused as invalid instead.

use crate::sampling::go_json::{self, JsonValue};

/// `{"type": ..., "param": ...}`: Jaeger's `strategy`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategySpec {
    /// `probabilistic` or `ratelimiting`; anything else is an unknown type.
    pub strategy_type: String,
    /// The sampling probability, or the traces per second.
    pub param: f64,
}

/// One entry of `operation_strategies`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OperationSpec {
    pub operation: String,
    pub strategy: StrategySpec,
}

/// `default_strategy` or one entry of `service_strategies`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSpec {
    /// Ignored in `default_strategy`.
    pub service: String,
    pub strategy: StrategySpec,
    /// `None` when the key is missing or `null`.
    pub operation_strategies: Option<Vec<OperationSpec>>,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategiesFile {
    pub default_strategy: Option<ServiceSpec>,
    /// `None` when the key is missing or `null`.
    pub service_strategies: Option<Vec<ServiceSpec>>,
}

/// Why a strategies file cannot be used. The message names where in the file the problem is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileFormatError {
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("{path}: expected {expected}, found {found}")]
    WrongType { path: String, expected: &'static str, found: &'static str },
    #[error("{path}: number {number} is out of range for a 64-bit float")]
    NumberOutOfRange { path: String, number: String },
    #[error("{path}: an entry must be an object, not null")]
    NullEntry { path: String },
}

/// Decodes a strategies file. `Ok(None)` is a file holding just `null`, which Jaeger treats as
/// "no strategies" (the defaults apply).
pub fn decode(bytes: &[u8]) -> Result<Option<StrategiesFile>, FileFormatError> {
    let document = go_json::parse(bytes).map_err(|error| FileFormatError::Syntax(error.to_string()))?;
    let members = match &document {
        JsonValue::Null => return Ok(None),
        JsonValue::Object(members) => members,
        other => return Err(wrong_type("the file", "an object", other)),
    };
    let mut file = StrategiesFile::default();
    for (key, value) in members {
        match field_name(key, &["default_strategy", "service_strategies"]) {
            Some("default_strategy") => {
                decode_optional_object(&mut file.default_strategy, value, "default_strategy", decode_service)?
            }
            Some("service_strategies") => {
                decode_list(&mut file.service_strategies, value, "service_strategies", decode_service)?
            }
            _ => {}
        }
    }
    Ok(Some(file))
}

fn decode_service(
    service: &mut ServiceSpec,
    members: &[(String, JsonValue)],
    path: &str,
) -> Result<(), FileFormatError> {
    for (key, value) in members {
        let field_path = || format!("{path}.{}", key);
        match field_name(key, &["service", "operation_strategies", "type", "param"]) {
            Some("service") => decode_string(&mut service.service, value, &field_path())?,
            Some("operation_strategies") => {
                decode_list(&mut service.operation_strategies, value, &field_path(), decode_operation)?
            }
            Some("type") => decode_string(&mut service.strategy.strategy_type, value, &field_path())?,
            Some("param") => decode_number(&mut service.strategy.param, value, &field_path())?,
            _ => {}
        }
    }
    Ok(())
}

fn decode_operation(
    operation: &mut OperationSpec,
    members: &[(String, JsonValue)],
    path: &str,
) -> Result<(), FileFormatError> {
    for (key, value) in members {
        let field_path = || format!("{path}.{}", key);
        match field_name(key, &["operation", "type", "param"]) {
            Some("operation") => decode_string(&mut operation.operation, value, &field_path())?,
            Some("type") => decode_string(&mut operation.strategy.strategy_type, value, &field_path())?,
            Some("param") => decode_number(&mut operation.strategy.param, value, &field_path())?,
            _ => {}
        }
    }
    Ok(())
}

type DecodeStruct<T> = fn(&mut T, &[(String, JsonValue)], &str) -> Result<(), FileFormatError>;

/// A pointer to a struct: `null` clears it, an object is decoded onto it (onto the earlier value
/// when the key came before).
fn decode_optional_object<T: Default>(
    target: &mut Option<T>,
    value: &JsonValue,
    path: &str,
    decode_struct: DecodeStruct<T>,
) -> Result<(), FileFormatError> {
    match value {
        JsonValue::Null => {
            *target = None;
            Ok(())
        }
        JsonValue::Object(members) => decode_struct(target.get_or_insert_with(T::default), members, path),
        other => Err(wrong_type(path, "an object", other)),
    }
}

/// A list of pointers to structs: `null` clears it; an array replaces its length, each element
/// decoded onto the element already at that index, as Go does.
fn decode_list<T: Default>(
    target: &mut Option<Vec<T>>,
    value: &JsonValue,
    path: &str,
    decode_struct: DecodeStruct<T>,
) -> Result<(), FileFormatError> {
    let elements = match value {
        JsonValue::Null => {
            *target = None;
            return Ok(());
        }
        JsonValue::Array(elements) => elements,
        other => return Err(wrong_type(path, "a list", other)),
    };
    let list = target.get_or_insert_with(Vec::new);
    list.truncate(elements.len());
    for (index, element) in elements.iter().enumerate() {
        let element_path = format!("{path}[{index}]");
        let members = match element {
            JsonValue::Object(members) => members,
            JsonValue::Null => return Err(FileFormatError::NullEntry { path: element_path }),
            other => return Err(wrong_type(&element_path, "an object", other)),
        };
        if index == list.len() {
            list.push(T::default());
        }
        decode_struct(&mut list[index], members, &element_path)?;
    }
    Ok(())
}

fn decode_string(target: &mut String, value: &JsonValue, path: &str) -> Result<(), FileFormatError> {
    match value {
        JsonValue::Null => Ok(()),
        JsonValue::String(text) => {
            text.clone_into(target);
            Ok(())
        }
        other => Err(wrong_type(path, "a string", other)),
    }
}

fn decode_number(target: &mut f64, value: &JsonValue, path: &str) -> Result<(), FileFormatError> {
    match value {
        JsonValue::Null => Ok(()),
        // Go range-checks a number only when it is decoded into a field: too large is an error,
        // too small reads as 0. Rust's parse is correctly rounded, as Go's ParseFloat is.
        JsonValue::Number(text) => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => {
                *target = number;
                Ok(())
            }
            _ => Err(FileFormatError::NumberOutOfRange { path: path.to_owned(), number: text.clone() }),
        },
        other => Err(wrong_type(path, "a number", other)),
    }
}

fn wrong_type(path: &str, expected: &'static str, found: &JsonValue) -> FileFormatError {
    FileFormatError::WrongType { path: path.to_owned(), expected, found: found.kind() }
}

/// The field a JSON key sets, Go's way: the field whose name equals the key, ignoring case.
/// Go folds case with Unicode simple folding; for the ASCII field names here that adds only
/// `ſ` (U+017F, folds to `s`) and the Kelvin sign (U+212A, folds to `k`).
fn field_name(key: &str, fields: &[&'static str]) -> Option<&'static str> {
    fields.iter().copied().find(|field| key == *field).or_else(|| {
        fields.iter().copied().find(|field| {
            key.chars().count() == field.len()
                && key.chars().zip(field.bytes()).all(|(key_char, field_byte)| {
                    let folded = match key_char {
                        '\u{17F}' => 's',
                        '\u{212A}' => 'k',
                        other => other.to_ascii_lowercase(),
                    };
                    folded == char::from(field_byte)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_ok(text: &str) -> StrategiesFile {
        decode(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn reads_default_service_and_operation_strategies() {
        let file = decode_ok(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [{"service": "foo", "type": "ratelimiting", "param": 5,
                  "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]}]}"#,
        );
        let default = file.default_strategy.unwrap();
        assert_eq!(default.strategy, StrategySpec { strategy_type: "probabilistic".into(), param: 0.5 });
        assert_eq!(default.operation_strategies, None);
        let services = file.service_strategies.unwrap();
        assert_eq!(services[0].service, "foo");
        assert_eq!(services[0].strategy.param, 5.0);
        let operations = services[0].operation_strategies.as_ref().unwrap();
        assert_eq!(operations[0].operation, "op1");
        assert_eq!(operations[0].strategy.strategy_type, "probabilistic");
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_are_ignored() {
        let file = decode_ok(
            r#"{"Default_Strategy": {"TYPE": "probabilistic", "Param": 0.3, "extra": [1, {}]}, "note": "x"}"#,
        );
        assert_eq!(file.default_strategy.unwrap().strategy.param, 0.3);
        let kelvin = decode_ok("{\"default_strategy\": {\"type\": \"ratelimiting\", \"param\": 1}, \"service_strategies\": [{\"\u{17F}ervice\": \"a\"}]}");
        assert_eq!(kelvin.service_strategies.unwrap()[0].service, "a");
    }

    #[test]
    fn null_and_missing_scalars_are_zero_values() {
        let file = decode_ok(r#"{"service_strategies": [{"service": null, "type": null}], "default_strategy": null}"#);
        assert_eq!(file.default_strategy, None);
        assert_eq!(file.service_strategies.unwrap()[0], ServiceSpec::default());
    }

    #[test]
    fn a_file_holding_null_means_no_strategies() {
        assert_eq!(decode(b"null").unwrap(), None);
    }

    #[test]
    fn later_duplicate_keys_win_field_by_field() {
        let file = decode_ok(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.1},
                "default_strategy": {"param": 0.7},
                "service_strategies": [{"service": "a"}, {"service": "b"}],
                "service_strategies": [{"param": 2}]}"#,
        );
        assert_eq!(
            file.default_strategy.unwrap().strategy,
            StrategySpec { strategy_type: "probabilistic".into(), param: 0.7 }
        );
        let services = file.service_strategies.unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!((services[0].service.as_str(), services[0].strategy.param), ("a", 2.0));
    }

    #[test]
    fn wrong_json_types_invalidate_the_file_naming_the_place() {
        let error = decode(br#"{"service_strategies": [{"service": "a", "param": "0.5"}]}"#).unwrap_err();
        assert_eq!(error.to_string(), "service_strategies[0].param: expected a number, found a string");
        let error = decode(br#""nonsense""#).unwrap_err();
        assert_eq!(error.to_string(), "the file: expected an object, found a string");
        let error = decode(br#"{"default_strategy": {"operation_strategies": {}}}"#).unwrap_err();
        assert!(error.to_string().contains("expected a list"), "{error}");
    }

    #[test]
    fn null_entries_are_refused_where_jaeger_would_crash() {
        let error = decode(br#"{"service_strategies": [null]}"#).unwrap_err();
        assert_eq!(error, FileFormatError::NullEntry { path: "service_strategies[0]".into() });
    }

    #[test]
    fn syntax_errors_and_empty_files_are_refused() {
        assert!(matches!(decode(b"").unwrap_err(), FileFormatError::Syntax(_)));
        assert!(matches!(decode(b"{\"default_strategy\": ").unwrap_err(), FileFormatError::Syntax(_)));
        assert!(matches!(decode(b"{} {}").unwrap_err(), FileFormatError::Syntax(_)));
    }

    #[test]
    fn numbers_too_large_are_an_error_only_where_they_are_read() {
        let error = decode(br#"{"default_strategy": {"param": 1e400}}"#).unwrap_err();
        assert_eq!(error.to_string(), "default_strategy.param: number 1e400 is out of range for a 64-bit float");
        let file = decode_ok(r#"{"default_strategy": {"extra": 1e400, "param": 1e-400}}"#);
        assert_eq!(file.default_strategy.unwrap().strategy.param, 0.0);
    }

    #[test]
    fn invalid_utf8_in_strings_becomes_the_replacement_character() {
        let raw = b"{\"service_strategies\": [{\"service\": \"a\xff\"}]}";
        assert_eq!(decode(raw).unwrap().unwrap().service_strategies.unwrap()[0].service, "a\u{FFFD}");
    }
}
