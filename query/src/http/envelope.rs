//! Jaeger's response envelope (`structuredResponse`) and the one place where query error kinds
//! become HTTP statuses.
//!
//! Success: `200`, `Content-Type: application/json`, body
//! `{"data":..,"total":..,"limit":0,"offset":0,"errors":null}` (all five keys always).
//! Failure: Go's `http.Error`: the status, `Content-Type: text/plain; charset=utf-8`, and the same
//! envelope with `data` null and one error, followed by a newline.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ErrorKind, QueryError};
use crate::http::json::to_go_json;

#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T> {
    pub data: Option<T>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<StructuredError>>,
}

impl<T> Envelope<T> {
    pub fn data(data: T) -> Self {
        Self { data: Some(data), total: 0, limit: 0, offset: 0, errors: None }
    }

    pub fn with_total(mut self, total: usize) -> Self {
        self.total = total;
        self
    }

    /// Sets `errors`; an empty list stays `null`, as Go's nil slice.
    pub fn with_errors(mut self, errors: Vec<StructuredError>) -> Self {
        self.errors = (!errors.is_empty()).then_some(errors);
        self
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct StructuredError {
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
    pub msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

/// The HTTP status of each error kind. The only such mapping in the crate.
pub(crate) fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied => StatusCode::UNAUTHORIZED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A `200 application/json` response carrying `envelope`, indented when `pretty`.
pub(crate) fn json_response<T: Serialize>(envelope: &Envelope<T>, pretty: bool) -> Response {
    match to_go_json(envelope, pretty) {
        Ok(body) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
        Err(error) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, format!("failed writing HTTP response: {error}"))
        }
    }
}

/// Go's `http.Error(w, <envelope JSON>, status)`.
pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    let envelope: Envelope<()> = Envelope {
        data: None,
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(vec![StructuredError { code: status.as_u16(), msg: message, trace_id: String::new() }]),
    };
    let mut body = to_go_json(&envelope, false).unwrap_or_default();
    body.push(b'\n');
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (status, headers, body).into_response()
}

/// A handler's failure, rendered as Jaeger renders it.
#[derive(Debug)]
pub(crate) struct ApiError(pub QueryError);

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        Self(error)
    }
}

impl IntoResponse for ApiError {
    /// Jaeger's envelope, except for tenancy refusals, which Jaeger's tenancy middleware writes
    /// as the bare message (`missing tenant header`) before any handler runs.
    fn into_response(self) -> Response {
        let status = status_for(self.0.kind());
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.0, "query request failed");
        }
        if self.0.is_tenancy_refusal() {
            let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
            return (status, [(header::CONTENT_TYPE, content_type)], self.0.to_string()).into_response();
        }
        error_response(status, self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_envelope_has_all_five_keys() {
        let body = to_go_json(&Envelope::data(vec!["a", "b"]).with_total(2), false).unwrap();
        assert_eq!(body, br#"{"data":["a","b"],"total":2,"limit":0,"offset":0,"errors":null}"#);
    }

    #[test]
    fn trace_errors_carry_a_trace_id_and_no_code() {
        let errors =
            vec![StructuredError { code: 0, msg: "trace not found".into(), trace_id: "00000000000000aa".into() }];
        let body = to_go_json(&Envelope::data(Vec::<u8>::new()).with_errors(errors), false).unwrap();
        assert_eq!(
            body,
            br#"{"data":[],"total":0,"limit":0,"offset":0,"errors":[{"msg":"trace not found","traceID":"00000000000000aa"}]}"#
        );
    }

    #[test]
    fn every_error_kind_has_a_status() {
        assert_eq!(status_for(ErrorKind::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_for(ErrorKind::Internal), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_for(ErrorKind::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_for(ErrorKind::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(status_for(ErrorKind::PermissionDenied), StatusCode::UNAUTHORIZED);
    }
}
