//! Parsing of the `/api/*` query parameters, with Jaeger's rules (`query_parser.go`) and messages
//! that name the offending parameter. An empty value counts as absent, as Go's `FormValue` does.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::Uri;
use base64::Engine;
use spoor_model::duration::parse_go_duration;
use spoor_model::{SpanKind, TraceId};
use spoor_storage::{DependencyQuery, TraceQuery};

use crate::error::QueryError;

/// How far back a search looks when `start` is not given (Jaeger's default lookback).
pub(crate) const DEFAULT_SEARCH_LOOKBACK: Duration = Duration::from_secs(48 * 3600);

/// The decoded query string, in order, repeated keys kept.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn from_uri(uri: &Uri) -> Result<Self, QueryError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|error| QueryError::invalid_argument(format!("malformed query string: {error}")))?;
        Ok(Self(pairs))
    }

    /// The first non-empty value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, value)| key == name && !value.is_empty()).map(|(_, value)| value.as_str())
    }

    /// Every non-empty value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(key, value)| key == name && !value.is_empty()).map(|(_, value)| value.as_str())
    }

    /// `prettyPrint`: any value except `false` indents the response.
    pub fn pretty_print(&self) -> bool {
        self.first("prettyPrint").is_some_and(|value| value != "false")
    }

    /// `raw=true` (any of Go's true spellings) skips the adjusters; anything else adjusts.
    pub fn raw(&self) -> bool {
        self.first("raw").and_then(parse_go_bool).unwrap_or(false)
    }

    /// `start` or `end`: microseconds since the epoch, as nanoseconds.
    pub fn micros_as_unix_nanos(&self, name: &str) -> Result<Option<u64>, QueryError> {
        let Some(text) = self.first(name) else { return Ok(None) };
        let micros = parse_go_int(name, text, i64::MIN, i64::MAX)?;
        Ok(Some(u64::try_from(micros).unwrap_or(0).saturating_mul(1_000)))
    }

    /// `minDuration` or `maxDuration` as nanoseconds; zero counts as absent. Accepts Go duration
    /// strings (`150ms`, `1.2s`, `10us`, `10µs`) and, as Kiali sends them, bare numbers of µs.
    pub fn duration_nanos(&self, name: &str) -> Result<Option<u64>, QueryError> {
        let Some(text) = self.first(name) else { return Ok(None) };
        let invalid =
            || QueryError::invalid_argument(format!("unable to parse param '{name}': time: invalid duration {text:?}"));
        let nanos = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let micros: f64 = text.parse().map_err(|_| invalid())?;
            let nanos = (micros * 1_000.0).round();
            if !(0.0..=u64::MAX as f64).contains(&nanos) {
                return Err(invalid());
            }
            nanos as u64
        } else {
            let duration = parse_go_duration(text).map_err(|_| invalid())?;
            u64::try_from(duration.as_nanos()).map_err(|_| invalid())?
        };
        Ok((nanos > 0).then_some(nanos))
    }

    /// `spanKind` of `/api/operations`; absent means every kind.
    pub fn span_kind(&self) -> Result<Option<SpanKind>, QueryError> {
        let Some(text) = self.first("spanKind") else { return Ok(None) };
        let kind = match text {
            "unspecified" => SpanKind::Unspecified,
            known => match SpanKind::parse(known) {
                SpanKind::Unspecified => {
                    return Err(QueryError::invalid_argument(format!(
                        "unable to parse param 'spanKind': unsupported span kind {text:?}"
                    )))
                }
                kind => kind,
            },
        };
        Ok(Some(kind))
    }
}

/// How far back `GET /api/dependencies` looks when `lookback` is not given (Jaeger's default).
pub(crate) const DEFAULT_DEPENDENCY_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// A parsed `GET /api/dependencies`.
#[derive(Debug, PartialEq)]
pub(crate) struct DependenciesRequest {
    pub query: DependencyQuery,
    /// `service`: only links whose parent or child is this service.
    pub service: Option<String>,
}

/// `endTs` (milliseconds since the epoch, default now), `lookback` (milliseconds, default 24 h)
/// and `service`, in Jaeger's order.
pub(crate) fn parse_dependencies(params: &QueryParams, now_unix_nano: u64) -> Result<DependenciesRequest, QueryError> {
    let end_time_unix_nano = match params.first("endTs") {
        Some(text) => {
            u64::try_from(parse_go_int("endTs", text, i64::MIN, i64::MAX)?).unwrap_or(0).saturating_mul(1_000_000)
        }
        None => now_unix_nano,
    };
    let lookback = match params.first("lookback") {
        Some(text) => {
            let millis = parse_go_int("lookback", text, i64::MIN, i64::MAX)?;
            let millis = u64::try_from(millis).map_err(|_| {
                QueryError::invalid_argument(format!("unable to parse param 'lookback': {text} is negative"))
            })?;
            Duration::from_millis(millis)
        }
        None => DEFAULT_DEPENDENCY_LOOKBACK,
    };
    Ok(DependenciesRequest {
        query: DependencyQuery { end_time_unix_nano, lookback },
        service: params.first("service").map(str::to_owned),
    })
}

/// A parsed `GET /api/traces`: either a search or a lookup of the given trace ids.
#[derive(Debug, PartialEq)]
pub(crate) struct SearchRequest {
    pub query: TraceQuery,
    /// `traceID` values; when any is given the search fields are ignored.
    pub trace_ids: Vec<TraceId>,
    /// `start`/`end` as given (not defaulted), the window for `traceID` lookups.
    pub start_unix_nano: Option<u64>,
    pub end_unix_nano: Option<u64>,
}

/// Parses the search parameters in Jaeger's order, so the same request gets the same error.
pub(crate) fn parse_search(params: &QueryParams, now_unix_nano: u64) -> Result<SearchRequest, QueryError> {
    let start_unix_nano = params.micros_as_unix_nanos("start")?;
    let end_unix_nano = params.micros_as_unix_nanos("end")?;
    let tags = parse_tags(params)?;
    let limit = match params.first("limit") {
        Some(text) => usize::try_from(parse_go_int("limit", text, 0, i64::from(i32::MAX))?).unwrap_or(0),
        None => 0,
    };
    let duration_min_nanos = params.duration_nanos("minDuration")?;
    let duration_max_nanos = params.duration_nanos("maxDuration")?;
    let trace_ids = params
        .all("traceID")
        .map(|text| {
            parse_trace_id(text)
                .map_err(|error| QueryError::invalid_argument(format!("cannot parse traceID param: {error}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let service_name = params.first("service").map(str::to_owned);
    if trace_ids.is_empty() && service_name.is_none() {
        return Err(QueryError::invalid_argument("parameter 'service' is required"));
    }
    if let (Some(min), Some(max)) = (duration_min_nanos, duration_max_nanos) {
        if max < min {
            return Err(QueryError::invalid_argument("'maxDuration' should be greater than 'minDuration'"));
        }
    }
    let lookback_nanos = u64::try_from(DEFAULT_SEARCH_LOOKBACK.as_nanos()).unwrap_or(u64::MAX);
    let query = TraceQuery {
        service_name,
        operation_name: params.first("operation").map(str::to_owned),
        tags,
        start_time_min_unix_nano: start_unix_nano.unwrap_or(now_unix_nano.saturating_sub(lookback_nanos)),
        start_time_max_unix_nano: end_unix_nano.unwrap_or(now_unix_nano),
        duration_min_nanos,
        duration_max_nanos,
        limit,
    };
    Ok(SearchRequest { query, trace_ids, start_unix_nano, end_unix_nano })
}

/// `tag=key:value` (repeatable; the value may contain `:`) and `tags={"k":"v"}` (repeatable JSON
/// maps), merged; `tags` wins on a clash, as in Jaeger. JSON numbers and booleans are taken as
/// their text (Jaeger refuses them; accepting is harmless and Grafana users type them).
fn parse_tags(params: &QueryParams) -> Result<BTreeMap<String, String>, QueryError> {
    let mut tags = BTreeMap::new();
    for tag in params.all("tag") {
        let Some((key, value)) = tag.split_once(':') else {
            return Err(QueryError::invalid_argument(format!(
                "malformed 'tag' parameter, expecting key:value, received: {tag}"
            )));
        };
        tags.insert(key.to_owned(), value.to_owned());
    }
    for json in params.all("tags") {
        let malformed = |reason: String| {
            QueryError::invalid_argument(format!("malformed 'tags' parameter, cannot unmarshal JSON: {reason}"))
        };
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|error| malformed(error.to_string()))?;
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                other => return Err(malformed(format!("value of {key:?} is not a string: {other}"))),
            };
            tags.insert(key, text);
        }
    }
    Ok(tags)
}

/// A trace id in a path or `traceID` parameter: 1 to 32 hex characters, or base64 (standard or
/// URL alphabet, padded or not, at most 24 characters) of 8 or 16 bytes.
pub(crate) fn parse_trace_id(text: &str) -> Result<TraceId, String> {
    if text.is_empty() {
        return Err("trace id is empty".to_owned());
    }
    if text.len() <= 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return TraceId::from_hex(text).map_err(|error| error.to_string());
    }
    let not_an_id = || format!("{text:?} is neither 1 to 32 hex characters nor base64 of 8 or 16 bytes");
    if text.len() > 24 {
        return Err(not_an_id());
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(not_an_id)?;
    TraceId::from_bytes(&bytes).map_err(|error| error.to_string())
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt` with its error texts, then a range check.
fn parse_go_int(name: &str, text: &str, min: i64, max: i64) -> Result<i64, QueryError> {
    let error = |reason: &str| {
        QueryError::invalid_argument(format!(
            "unable to parse param '{name}': strconv.ParseInt: parsing {text:?}: {reason}"
        ))
    };
    let value: i64 = text.parse().map_err(|parse_error: std::num::ParseIntError| match parse_error.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => error("value out of range"),
        _ => error("invalid syntax"),
    })?;
    if value < min || value > max {
        return Err(error("value out of range"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> QueryParams {
        QueryParams::from_uri(&format!("/api/traces?{query}").parse::<Uri>().unwrap()).unwrap()
    }

    fn error_message(result: Result<SearchRequest, QueryError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    const NOW: u64 = 1_700_000_000_000_000_000;

    fn dependencies_params(query: &str) -> QueryParams {
        QueryParams::from_uri(&format!("/api/dependencies?{query}").parse::<Uri>().unwrap()).unwrap()
    }

    #[test]
    fn dependencies_default_to_the_last_day_up_to_now() {
        let request = parse_dependencies(&dependencies_params(""), NOW).unwrap();
        assert_eq!(request.query.end_time_unix_nano, NOW);
        assert_eq!(request.query.lookback, Duration::from_secs(86_400));
        assert_eq!(request.service, None);
    }

    #[test]
    fn dependency_times_are_milliseconds() {
        let request =
            parse_dependencies(&dependencies_params("endTs=1700000000000&lookback=3600000&service=cart"), NOW).unwrap();
        assert_eq!(request.query.end_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(request.query.lookback, Duration::from_secs(3600));
        assert_eq!(request.service.as_deref(), Some("cart"));
    }

    #[test]
    fn malformed_dependency_times_name_the_parameter() {
        let message = |query| parse_dependencies(&dependencies_params(query), NOW).unwrap_err().to_string();
        assert_eq!(
            message("endTs=soon"),
            r#"unable to parse param 'endTs': strconv.ParseInt: parsing "soon": invalid syntax"#
        );
        assert_eq!(
            message("lookback=1h"),
            r#"unable to parse param 'lookback': strconv.ParseInt: parsing "1h": invalid syntax"#
        );
        assert_eq!(message("lookback=-5"), "unable to parse param 'lookback': -5 is negative");
    }

    #[test]
    fn search_defaults_to_the_last_two_days_and_limit_zero() {
        let request = parse_search(&params("service=frontend"), NOW).unwrap();
        assert_eq!(request.query.start_time_max_unix_nano, NOW);
        assert_eq!(request.query.start_time_min_unix_nano, NOW - 48 * 3600 * 1_000_000_000);
        assert_eq!(request.query.limit, 0);
        assert_eq!(request.query.effective_limit(), 100);
        assert_eq!(request.query.service_name.as_deref(), Some("frontend"));
    }

    #[test]
    fn start_and_end_are_microseconds() {
        let request = parse_search(&params("service=s&start=1000&end=2000"), NOW).unwrap();
        assert_eq!(request.query.start_time_min_unix_nano, 1_000_000);
        assert_eq!(request.query.start_time_max_unix_nano, 2_000_000);
        assert_eq!((request.start_unix_nano, request.end_unix_nano), (Some(1_000_000), Some(2_000_000)));
    }

    #[test]
    fn service_is_required_unless_trace_ids_are_given() {
        assert_eq!(error_message(parse_search(&params(""), NOW)), "parameter 'service' is required");
        assert_eq!(error_message(parse_search(&params("service="), NOW)), "parameter 'service' is required");
        let request = parse_search(&params("traceID=abc&traceID=AAAAAAAAAAIAAAAAAAAAAQ=="), NOW).unwrap();
        assert_eq!(request.trace_ids, vec![TraceId::new(0, 0xabc), TraceId::new(2, 1)]);
    }

    #[test]
    fn durations_accept_go_units_fractions_and_bare_microseconds() {
        let cases = [
            ("1.2s", 1_200_000_000),
            ("150ms", 150_000_000),
            ("10us", 10_000),
            ("10%C2%B5s", 10_000),
            ("7ns", 7),
            ("2m", 120_000_000_000),
            ("1h", 3_600_000_000_000),
            ("5000", 5_000_000),
            ("1.5", 1_500),
        ];
        for (text, nanos) in cases {
            let request = parse_search(&params(&format!("service=s&minDuration={text}")), NOW).unwrap();
            assert_eq!(request.query.duration_min_nanos, Some(nanos), "{text}");
        }
        let zero = parse_search(&params("service=s&minDuration=0"), NOW).unwrap();
        assert_eq!(zero.query.duration_min_nanos, None);
    }

    #[test]
    fn bad_parameters_are_named_in_the_error() {
        let cases = [
            (
                "service=s&start=yesterday",
                r#"unable to parse param 'start': strconv.ParseInt: parsing "yesterday": invalid syntax"#,
            ),
            ("service=s&end=1.5", r#"unable to parse param 'end': strconv.ParseInt: parsing "1.5": invalid syntax"#),
            (
                "service=s&limit=-1",
                r#"unable to parse param 'limit': strconv.ParseInt: parsing "-1": value out of range"#,
            ),
            ("service=s&minDuration=1x", r#"unable to parse param 'minDuration': time: invalid duration "1x""#),
            ("service=s&maxDuration=abc", r#"unable to parse param 'maxDuration': time: invalid duration "abc""#),
            ("service=s&minDuration=2s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"),
            ("service=s&tag=novalue", "malformed 'tag' parameter, expecting key:value, received: novalue"),
        ];
        for (query, message) in cases {
            assert_eq!(error_message(parse_search(&params(query), NOW)), message, "{query}");
        }
        let tags_error = error_message(parse_search(&params("service=s&tags=notjson"), NOW));
        assert!(tags_error.starts_with("malformed 'tags' parameter, cannot unmarshal JSON: "), "{tags_error}");
        let trace_id_error = error_message(parse_search(&params("traceID=xyz"), NOW));
        assert!(trace_id_error.starts_with("cannot parse traceID param: "), "{trace_id_error}");
    }

    #[test]
    fn tag_and_tags_are_merged_and_values_may_contain_colons() {
        let request = parse_search(
            &params("service=s&tag=http.url:http://x:8080/a&tag=k:1&tags=%7B%22error%22%3A%22true%22%7D&tags=%7B%22k%22%3A2%7D"),
            NOW,
        )
        .unwrap();
        let expected: BTreeMap<String, String> = [("http.url", "http://x:8080/a"), ("k", "2"), ("error", "true")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(request.query.tags, expected);
    }

    #[test]
    fn trace_ids_parse_from_hex_and_base64() {
        assert_eq!(parse_trace_id("00000000000000ab"), Ok(TraceId::new(0, 0xab)));
        assert_eq!(parse_trace_id("00000000000000020000000000000001"), Ok(TraceId::new(2, 1)));
        assert_eq!(parse_trace_id("AAAAAAAAAAIAAAAAAAAAAQ=="), Ok(TraceId::new(2, 1)));
        assert_eq!(parse_trace_id("AAAAAAAAAAIAAAAAAAAAAQ"), Ok(TraceId::new(2, 1)));
        assert_eq!(parse_trace_id("AAAAAAAAAKs="), Ok(TraceId::new(0, 0xab)));
        assert!(parse_trace_id(&"a".repeat(33)).is_err());
        assert!(parse_trace_id("AAAAAA==").is_err(), "4 bytes is no trace id");
        assert!(parse_trace_id("").is_err());
    }

    #[test]
    fn raw_and_pretty_print_follow_go_rules() {
        assert!(params("raw=true").raw());
        assert!(params("raw=1").raw());
        assert!(!params("raw=yes").raw());
        assert!(!params("").raw());
        assert!(params("prettyPrint=1").pretty_print());
        assert!(params("prettyPrint=anything").pretty_print());
        assert!(!params("prettyPrint=false").pretty_print());
        assert!(!params("prettyPrint=").pretty_print());
    }

    #[test]
    fn span_kind_accepts_known_kinds_only() {
        assert_eq!(params("spanKind=server").span_kind().unwrap(), Some(SpanKind::Server));
        assert_eq!(params("spanKind=").span_kind().unwrap(), None);
        assert!(params("spanKind=sideways").span_kind().is_err());
    }
}
