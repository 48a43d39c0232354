//! Request bodies of every HTTP receiver (OTLP/HTTP, Jaeger Thrift, Zipkin): read with a size
//! limit, decompressed (`Content-Encoding: gzip` or `deflate`) with the same limit on the output,
//! and decoded off the async workers when that takes long. Also the media type of
//! `Content-Type`, and the plain-text error answer of the Jaeger and Zipkin receivers.
//!
//! The limit holds twice: for the bytes as sent (a declared `Content-Length` over it is refused
//! before anything is read; a chunked body is cut off at it), and after decompression, so a small
//! gzip bomb cannot inflate past it. Either is a 413.

use std::io::Read;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ReceiveError;

/// Bodies at least this large (and every compressed one) are decompressed and decoded on the
/// blocking pool: inflating and decoding megabytes takes milliseconds.
pub const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

/// `Content-Encoding` of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Identity,
    Gzip,
    Deflate,
}

impl Compression {
    /// The body's compression; an encoding other than gzip and deflate is refused (400).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ReceiveError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else { return Ok(Self::Identity) };
        let text = String::from_utf8_lossy(value.as_bytes());
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            // Zipkin clients (and the OTel zipkin receiver) also say "zlib".
            "deflate" | "zlib" => Ok(Self::Deflate),
            _ => Err(ReceiveError::UnsupportedContentEncoding { found: text.into_owned() }),
        }
    }

    /// Decompresses `body`, refusing output larger than `limit` bytes.
    pub fn decompress(self, body: Bytes, limit: usize) -> Result<Bytes, ReceiveError> {
        match self {
            Self::Identity => Ok(body),
            Self::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(&body[..]), limit, "gzip"),
            // HTTP's "deflate" is zlib-wrapped, but some senders send raw deflate.
            Self::Deflate => read_bounded(flate2::read::ZlibDecoder::new(&body[..]), limit, "deflate")
                .or_else(|_| read_bounded(flate2::read::DeflateDecoder::new(&body[..]), limit, "deflate")),
        }
    }
}

fn read_bounded(reader: impl Read, limit: usize, encoding: &'static str) -> Result<Bytes, ReceiveError> {
    let mut decompressed = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(read_limit)
        .read_to_end(&mut decompressed)
        .map_err(|error| ReceiveError::Decompress { encoding, message: error.to_string() })?;
    if decompressed.len() > limit {
        return Err(ReceiveError::BodyTooLarge { limit_bytes: limit, decompressed: true });
    }
    Ok(decompressed.into())
}

/// Reads the whole body as sent (chunked or not), refusing more than `limit_bytes`.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit_bytes: usize) -> Result<Bytes, ReceiveError> {
    let too_large = ReceiveError::BodyTooLarge { limit_bytes, decompressed: false };
    let declared_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit_bytes as u64) {
        return Err(too_large);
    }
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
        Err(error) => Err(ReceiveError::BodyRead(error.to_string())),
    }
}

/// Reads the body within `limit_bytes`, decompresses it as its `Content-Encoding` says (again
/// within `limit_bytes`) and hands the bytes to `decode`, on the blocking pool when the body is
/// compressed or at least [`BLOCKING_DECODE_BYTES`].
pub async fn read_and_decode<T, F>(
    headers: &HeaderMap,
    body: Body,
    limit_bytes: usize,
    decode: F,
) -> Result<T, ReceiveError>
where
    T: Send + 'static,
    F: FnOnce(Bytes) -> Result<T, ReceiveError> + Send + 'static,
{
    let compression = Compression::from_headers(headers)?;
    let wire_bytes = read_limited(headers, body, limit_bytes).await?;
    let runs_long = compression != Compression::Identity || wire_bytes.len() >= BLOCKING_DECODE_BYTES;
    let work = move || decode(compression.decompress(wire_bytes, limit_bytes)?);
    if !runs_long {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ReceiveError::Internal(format!("decoding task failed: {error}")))?
}

/// The `Content-Type` header as sent (lossy UTF-8, empty when absent) and its media type: the
/// part before any parameter, trimmed and in lower case (`application/json; charset=utf-8` is
/// `application/json`).
pub fn media_type(headers: &HeaderMap) -> (String, String) {
    let found = headers.get(CONTENT_TYPE).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let found = found.unwrap_or_default();
    let essence = found.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    (found, essence)
}

/// Adds `Retry-After` (whole seconds, at least 1) when `error` is retryable.
pub fn set_retry_after(response: &mut Response, error: &ReceiveError) {
    if let Some(delay) = error.retry_after() {
        let seconds = delay.as_secs().max(1);
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// The answer of the Jaeger and Zipkin HTTP receivers to a request they refuse: the error kind's
/// status, the message as `text/plain` (as Go's `http.Error` writes it, with a final newline),
/// and `Retry-After` when the sender may retry.
pub fn plain_text_error(error: &ReceiveError) -> Response {
    let status = error.kind().http_status();
    let body = format!("{error}\n");
    let mut response = (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    set_retry_after(&mut response, error);
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn unknown_content_encoding_is_refused() {
        let error = Compression::from_headers(&headers(&[(CONTENT_ENCODING, "br")])).unwrap_err();
        assert!(error.to_string().contains("\"br\""));
    }

    #[test]
    fn gzip_output_beyond_the_limit_is_too_large() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![0u8; 10_000]).unwrap();
        let compressed = Bytes::from(encoder.finish().unwrap());
        let error = Compression::Gzip.decompress(compressed.clone(), 9_999).unwrap_err();
        assert!(matches!(error, ReceiveError::BodyTooLarge { decompressed: true, .. }), "{error}");
        assert_eq!(Compression::Gzip.decompress(compressed, 10_000).unwrap().len(), 10_000);
    }

    #[test]
    fn deflate_accepts_zlib_and_raw_streams() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(b"hello").unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"hello").unwrap();
        for body in [zlib.finish().unwrap(), raw.finish().unwrap()] {
            assert_eq!(&Compression::Deflate.decompress(body.into(), 100).unwrap()[..], b"hello");
        }
    }

    #[test]
    fn corrupt_gzip_is_an_invalid_argument_naming_gzip() {
        let error = Compression::Gzip.decompress(Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert_eq!(error.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(error.to_string().contains("gzip"), "{error}");
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        let (found, essence) = media_type(&headers(&[(CONTENT_TYPE, "Application/X-Thrift; charset=binary")]));
        assert_eq!(found, "Application/X-Thrift; charset=binary");
        assert_eq!(essence, "application/x-thrift");
        assert_eq!(media_type(&HeaderMap::new()), (String::new(), String::new()));
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_before_reading() {
        let declared = headers(&[(CONTENT_LENGTH, "101")]);
        let error = read_limited(&declared, Body::from(vec![0u8; 10]), 100).await.unwrap_err();
        assert!(matches!(error, ReceiveError::BodyTooLarge { decompressed: false, .. }), "{error}");
    }

    #[tokio::test]
    async fn compressed_bodies_are_decoded_on_the_blocking_pool_within_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"spans").unwrap();
        let gzip = headers(&[(CONTENT_ENCODING, "gzip")]);
        let body = Body::from(encoder.finish().unwrap());
        let decoded = read_and_decode(&gzip, body, 100, |bytes| Ok(bytes.to_vec())).await.unwrap();
        assert_eq!(decoded, b"spans");
    }

    #[test]
    fn plain_text_errors_carry_the_status_and_retry_after() {
        use crate::error::SubmitError;
        let overloaded = ReceiveError::Submit(SubmitError::Overloaded {
            batch_bytes: 1,
            inflight_bytes: 1,
            max_inflight_bytes: 1,
            retry_after: std::time::Duration::from_secs(3),
        });
        let response = plain_text_error(&overloaded);
        assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        let invalid = plain_text_error(&ReceiveError::BodyRead("reset".into()));
        assert_eq!(invalid.status(), http::StatusCode::BAD_REQUEST);
        assert!(invalid.headers().get(RETRY_AFTER).is_none());
    }
}
