//! The HTTP sampling endpoints (spec §2.1), thin over the [`StrategyStore`].
//!
//! Which path answers in which form was decided from Jaeger's code:
//!
//! | Jaeger | path | form |
//! |---|---|---|
//! | v1 agent 5778 (`v1.67.0` `cmd/agent/app/httpserver/srv.go`, gorilla routes) | `GET /` | legacy, numeric `strategyType` |
//! | | `GET /sampling` | proto-JSON |
//! | v2 `remote_sampling` 5778 up to v2.15 (`RegisterRoutesWithHTTP`, `ServeMux` `/`) | any path | legacy |
//! | v2 from v2.16 (jaeger#8014) | any path | proto-JSON |
//! | v1 collector 14268 (`cmd/collector/app/server/http.go`, base path `/api`) | `GET /api/sampling` | proto-JSON |
//!
//! [`http_router`] (5778) serves **the root path `/` in the legacy form and every other path in
//! proto-JSON**, any method. That is what the v1 agent served on both of its paths, what every v2
//! release serves on every path but `/`, and on `/` what v2 served until v2.15. Clients that read
//! the v2.16+ root answer parse it with `jsonpb`/`protojson`, which accept numeric enums too
//! (the reason Jaeger gave for the change), so the legacy root breaks none of them, while old
//! Thrift 0.9.2 clients need it.
//!
//! [`api_sampling_router`] (14268) serves `GET /api/sampling` in proto-JSON.
//!
//! Both: the query must carry `service` exactly once (decoded as Go's `url.ParseQuery` does),
//! else 400 with Jaeger's text; success is 200 `application/json` with the body and nothing else.
//! Errors are written as Go's `http.Error` writes them (`text/plain; charset=utf-8`, `nosniff`,
//! the message and a newline).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Uri};

use crate::sampling::encode::{to_legacy_json, to_proto_json};
use crate::sampling::error::SamplingRequestError;
use crate::sampling::metrics::HttpEncoding;
use crate::sampling::store::StrategyStore;

/// The collector's sampling path on its HTTP port (14268).
pub const API_SAMPLING_PATH: &str = "/api/sampling";

/// The handler for Jaeger's sampling HTTP port (5778): every path and method (see the module
/// documentation for the forms). It is a fallback, so it can be merged into a router whose own
/// routes take precedence.
pub fn http_router(store: Arc<StrategyStore>) -> Router {
    Router::new().fallback(serve_any_path).with_state(store)
}

/// Just `GET /api/sampling?service=`, for the collector's HTTP port (14268).
pub fn api_sampling_router(store: Arc<StrategyStore>) -> Router {
    Router::new().route(API_SAMPLING_PATH, get(serve_api_sampling)).with_state(store)
}

async fn serve_any_path(State(store): State<Arc<StrategyStore>>, uri: Uri) -> Response {
    let encoding = if uri.path() == "/" { HttpEncoding::Legacy } else { HttpEncoding::ProtoJson };
    answer(&store, uri.query(), encoding)
}

async fn serve_api_sampling(State(store): State<Arc<StrategyStore>>, uri: Uri) -> Response {
    answer(&store, uri.query(), HttpEncoding::ProtoJson)
}

fn answer(store: &StrategyStore, query: Option<&str>, encoding: HttpEncoding) -> Response {
    match strategy_json(store, query.unwrap_or(""), encoding) {
        Ok(json) => {
            store.metrics().record_http_served(encoding);
            ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
        }
        Err(error) => {
            match &error {
                SamplingRequestError::ServiceParameter => store.metrics().record_http_bad_request(),
                SamplingRequestError::Encoding(cause) => {
                    tracing::debug!(error = %cause, "sampling strategy cannot be sent in the legacy form");
                    store.metrics().record_http_encoding_failed(encoding);
                }
            }
            go_http_error(&error)
        }
    }
}

fn strategy_json(store: &StrategyStore, query: &str, encoding: HttpEncoding) -> Result<String, SamplingRequestError> {
    let service = single_service(query)?;
    // A name that is not UTF-8 matches no service (the file's names are UTF-8).
    let service = String::from_utf8(service).unwrap_or_default();
    let strategy = store.strategy(&service);
    match encoding {
        HttpEncoding::ProtoJson => Ok(to_proto_json(&strategy)),
        HttpEncoding::Legacy => to_legacy_json(&strategy).map_err(SamplingRequestError::Encoding),
    }
}

/// The one `service` value of the query.
fn single_service(query: &str) -> Result<Vec<u8>, SamplingRequestError> {
    let mut values = query_values(query, "service");
    match (values.next(), values.next()) {
        (Some(service), None) => Ok(service),
        _ => Err(SamplingRequestError::ServiceParameter),
    }
}

/// Go's `http.Error`: the message and a newline as plain text, not to be sniffed.
fn go_http_error(error: &SamplingRequestError) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (error.kind().http_status(), headers, format!("{error}\n")).into_response()
}

/// The values of `name` in a raw query, decoded as Go's `url.ParseQuery` decodes them: pairs split
/// on `&`; a pair containing `;` or with an invalid `%` escape is skipped; `+` is a space.
fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = Vec<u8>> + 'a {
    query.split('&').filter(|pair| !pair.is_empty() && !pair.contains(';')).filter_map(move |pair| {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = query_unescape(raw_key)?;
        let value = query_unescape(raw_value)?;
        (key == name.as_bytes()).then_some(value)
    })
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape is an error (`None`).
fn query_unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let high = hex_value(*bytes.get(index + 1)?)?;
                let low = hex_value(*bytes.get(index + 2)?)?;
                decoded.push(high << 4 | low);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            other => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    Some(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(query: &str) -> Vec<String> {
        query_values(query, "service").map(|value| String::from_utf8_lossy(&value).into_owned()).collect()
    }

    #[test]
    fn query_values_are_decoded_as_go_decodes_them() {
        assert_eq!(services("service=foo"), ["foo"]);
        assert_eq!(services("service=a+b%2Fc&x=1"), ["a b/c"]);
        assert_eq!(services("service"), [""]);
        assert_eq!(services("service=&service=b"), ["", "b"]);
        assert_eq!(services("se%72vice=foo"), ["foo"]);
        assert_eq!(services("service=foo;x=1"), Vec::<String>::new());
        assert_eq!(services("service=%zz&service=ok"), ["ok"]);
        assert_eq!(services("&&service=x&"), ["x"]);
        assert_eq!(services("Service=x"), Vec::<String>::new());
    }

    #[test]
    fn service_must_be_given_exactly_once() {
        assert_eq!(single_service("service=foo").unwrap(), b"foo");
        assert!(matches!(single_service(""), Err(SamplingRequestError::ServiceParameter)));
        assert!(matches!(single_service("service=a&service=a"), Err(SamplingRequestError::ServiceParameter)));
    }
}
