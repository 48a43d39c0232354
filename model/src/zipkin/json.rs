//! The JSON reading shared by Zipkin v1 and v2: a top-level array whose failing element is known,
//! timestamps in every form tracers have sent, and tag maps that keep their order.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{ZipkinError, ZipkinFormat};

/// At most this many spans are reserved up front, whatever the input claims.
const MAX_PREALLOCATED_SPANS: usize = 1024;

/// Parses a JSON array of `T`. A type error inside element `i` is reported as `span i`; a syntax
/// error is reported for the body with its line and column.
pub(crate) fn parse_array<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
    format: ZipkinFormat,
) -> Result<Vec<T>, ZipkinError> {
    let failed_at = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = ArraySeed { failed_at: &failed_at, element: PhantomData }
        .deserialize(&mut deserializer)
        .and_then(|spans| deserializer.end().map(|()| spans));
    parsed.map_err(|error| match (error.classify(), failed_at.get()) {
        (serde_json::error::Category::Data, Some(index)) => {
            ZipkinError::InvalidSpan { index, problem: error.to_string() }
        }
        _ => ZipkinError::Malformed { format, message: error.to_string() },
    })
}

struct ArraySeed<'c, T> {
    failed_at: &'c Cell<Option<usize>>,
    element: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ArraySeed<'_, T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ArraySeed<'_, T> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array of spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOCATED_SPANS));
        loop {
            self.failed_at.set(Some(elements.len()));
            match seq.next_element()? {
                Some(element) => elements.push(element),
                None => break,
            }
        }
        self.failed_at.set(None);
        Ok(elements)
    }
}

/// Microseconds as tracers write them: an integer, a float with an exponent
/// (`1.58266276796031e+15`, Envoy 1.13) or a numeric string (`"1582662767960310"`, Envoy 1.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Micros(pub u64);

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MicrosVisitor)
    }
}

struct MicrosVisitor;

impl Visitor<'_> for MicrosVisitor {
    type Value = Micros;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("microseconds as a non-negative number or numeric string")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Micros, E> {
        Ok(Micros(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Micros, E> {
        u64::try_from(value)
            .map(Micros)
            .map_err(|_| E::custom(format!("microseconds must not be negative, got {value}")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Micros, E> {
        micros_from_float(value).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Micros, E> {
        let trimmed = text.trim();
        if let Ok(value) = trimmed.parse::<u64>() {
            return Ok(Micros(value));
        }
        match trimmed.parse::<f64>() {
            Ok(value) => micros_from_float(value).map_err(E::custom),
            Err(_) => Err(E::custom(format!("microseconds must be numeric, got {}", super::common::quoted(text)))),
        }
    }
}

fn micros_from_float(value: f64) -> Result<Micros, String> {
    // 2^64 as f64; anything at or above it does not fit.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if !value.is_finite() || !(0.0..LIMIT).contains(&value) {
        return Err(format!("microseconds must be a non-negative finite number below 2^64, got {value}"));
    }
    Ok(Micros(value.round() as u64))
}

/// A tag map in its written order. Values must be strings; numbers and booleans are accepted and
/// kept as the text they were written as. A repeated key keeps its last value.
#[derive(Debug, Default)]
pub(crate) struct OrderedTags(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedTags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedTagsVisitor)
    }
}

struct OrderedTagsVisitor;

impl<'de> Visitor<'de> for OrderedTagsVisitor {
    type Value = OrderedTags;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object of string tags")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedTags, A::Error> {
        let mut tags = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((key, TagText(value))) = map.next_entry::<String, TagText>()? {
            super::v2::put_tag(&mut tags, key, value);
        }
        Ok(OrderedTags(tags))
    }
}

/// A JSON object whose values are all strings, in written order (a repeated key keeps its last
/// value); anything else is an error. Zipkin v1 log annotations use it.
#[derive(Debug, Default)]
pub(crate) struct OrderedStringMap(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedStringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedStringMapVisitor)
    }
}

struct OrderedStringMapVisitor;

impl<'de> Visitor<'de> for OrderedStringMapVisitor {
    type Value = OrderedStringMap;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedStringMap, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            super::v2::put_tag(&mut fields, key, value);
        }
        Ok(OrderedStringMap(fields))
    }
}

/// A tag value: a string, or a number or boolean kept as its JSON text.
struct TagText(String);

impl<'de> Deserialize<'de> for TagText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TagTextVisitor)
    }
}

struct TagTextVisitor;

impl Visitor<'_> for TagTextVisitor {
    type Value = TagText;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string tag value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<TagText, E> {
        Ok(TagText(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<TagText, E> {
        Ok(TagText(text))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<TagText, E> {
        Ok(TagText(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<TagText, E> {
        Ok(TagText(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<TagText, E> {
        Ok(TagText(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<TagText, E> {
        Ok(TagText(crate::span::format_float(value)))
    }
}

/// The JSON form of an endpoint, shared by v1 and v2.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEndpoint {
    pub service_name: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub port: Option<i64>,
}

impl RawEndpoint {
    pub(crate) fn parse(self, field: &str) -> Result<super::common::Endpoint, String> {
        super::common::Endpoint::from_text(
            field,
            self.service_name,
            self.ipv4.as_deref(),
            self.ipv6.as_deref(),
            self.port,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(json: &str) -> Result<Micros, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn micros_accept_integers_exponents_and_numeric_strings() {
        assert_eq!(micros("1582662767960310").unwrap(), Micros(1_582_662_767_960_310));
        assert_eq!(micros("1.58266276796031e+15").unwrap(), Micros(1_582_662_767_960_310));
        assert_eq!(micros("\"1582662767960310\"").unwrap(), Micros(1_582_662_767_960_310));
        assert_eq!(micros("\"1.5e3\"").unwrap(), Micros(1_500));
        assert_eq!(micros("12.6").unwrap(), Micros(13));
        assert!(micros("-1").is_err());
        assert!(micros("\"soon\"").is_err());
        assert!(micros("1e30").is_err());
        assert!(micros("true").is_err());
    }

    #[test]
    fn tags_keep_their_order_and_the_last_of_a_repeated_key() {
        let tags: OrderedTags = serde_json::from_str(r#"{"b":"1","a":"2","b":"3","n":200,"f":true}"#).unwrap();
        let expected = [("b", "3"), ("a", "2"), ("n", "200"), ("f", "true")];
        let actual: Vec<_> = tags.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(actual, expected);
        assert!(serde_json::from_str::<OrderedTags>(r#"{"a":{"nested":1}}"#).is_err());
    }
}
