//! Which bearer token a query request carries, for Jaeger's `--es.bearer-token-propagation`: one
//! set of rules for HTTP headers and gRPC metadata (gRPC metadata are HTTP/2 headers). The HTTP
//! middleware is `http/bearer.rs`, the gRPC layer `grpc/bearer.rs`; both hand the token to
//! [`spoor_storage::request_context`]. The token is a secret: nothing here logs it, and no error
//! carries it.

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::error::QueryError;

/// The header an OAuth proxy puts the token in when `Authorization` is absent.
const FORWARDED_ACCESS_TOKEN: &str = "x-forwarded-access-token";

/// The gRPC metadata key Jaeger's own clients send the token in, without a scheme (Jaeger's
/// `bearertoken.Key`): a Jaeger reading Spoor as its remote storage forwards its caller's token
/// this way.
const GRPC_BEARER_TOKEN_KEY: &str = "bearer.token";

/// Jaeger's HTTP rules (`internal/auth/bearertoken/http.go`): `Authorization: Bearer <t>` gives
/// `t`, a single-word value is the token itself, any other scheme (`Basic ...`) gives none; without
/// an `Authorization` header, `X-Forwarded-Access-Token`.
pub(crate) fn http_bearer_token(headers: &HeaderMap) -> Option<String> {
    let Some(authorization) = headers.get(AUTHORIZATION) else {
        let forwarded = headers.get(FORWARDED_ACCESS_TOKEN)?.to_str().ok()?;
        return Some(forwarded.to_owned()).filter(|token| !token.is_empty());
    };
    let authorization = authorization.to_str().ok()?;
    let words: Vec<&str> = authorization.split(' ').collect();
    match words.as_slice() {
        [scheme, token] if scheme.eq_ignore_ascii_case("bearer") => Some((*token).to_owned()),
        [token] => Some((*token).to_owned()),
        _ => None,
    }
    .filter(|token| !token.is_empty())
}

/// The token of a gRPC call: Jaeger's `bearer.token` metadata (the raw token; more than one value
/// is refused with Jaeger's message, as its interceptor does), else the HTTP rules
/// ([`http_bearer_token`]), so a client sending `authorization: Bearer <t>` is served too.
pub(crate) fn grpc_bearer_token(metadata: &HeaderMap) -> Result<Option<String>, QueryError> {
    let mut values = metadata.get_all(GRPC_BEARER_TOKEN_KEY).iter();
    let Some(first) = values.next() else {
        return Ok(http_bearer_token(metadata));
    };
    if values.next().is_some() {
        return Err(QueryError::invalid_argument("malformed token: multiple tokens found"));
    }
    let token = first.to_str().map_err(|_| QueryError::invalid_argument("malformed token: not visible ASCII"))?;
    Ok(Some(token.to_owned()).filter(|token| !token.is_empty()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn http_tokens_follow_jaegers_header_rules() {
        assert_eq!(http_bearer_token(&headers(&[("authorization", "Bearer abc")])).as_deref(), Some("abc"));
        assert_eq!(http_bearer_token(&headers(&[("authorization", "bearer abc")])).as_deref(), Some("abc"));
        assert_eq!(http_bearer_token(&headers(&[("authorization", "abc")])).as_deref(), Some("abc"));
        assert_eq!(http_bearer_token(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(http_bearer_token(&headers(&[("authorization", "Bearer a b")])), None);
        assert_eq!(http_bearer_token(&headers(&[("x-forwarded-access-token", "xyz")])).as_deref(), Some("xyz"));
        let both = headers(&[("authorization", "Basic abc"), ("x-forwarded-access-token", "xyz")]);
        assert_eq!(http_bearer_token(&both), None);
        assert_eq!(http_bearer_token(&headers(&[])), None);
    }

    #[test]
    fn grpc_tokens_come_from_jaegers_key_first_then_the_http_rules() {
        let token = |pairs| grpc_bearer_token(&headers(pairs)).expect("well-formed metadata");
        assert_eq!(token(&[("bearer.token", "abc")]).as_deref(), Some("abc"));
        let both = [("bearer.token", "from-jaeger"), ("authorization", "Bearer from-client")];
        assert_eq!(token(&both).as_deref(), Some("from-jaeger"));
        assert_eq!(token(&[("authorization", "Bearer abc")]).as_deref(), Some("abc"));
        assert_eq!(token(&[("x-forwarded-access-token", "xyz")]).as_deref(), Some("xyz"));
        assert_eq!(token(&[("bearer.token", "")]), None);
        assert_eq!(token(&[]), None);
    }

    #[test]
    fn grpc_call_with_two_tokens_is_refused_without_echoing_them() {
        let error = grpc_bearer_token(&headers(&[("bearer.token", "secret-a"), ("bearer.token", "secret-b")]))
            .expect_err("two tokens are ambiguous");
        assert_eq!(error.kind(), crate::ErrorKind::InvalidArgument);
        assert_eq!(error.to_string(), "malformed token: multiple tokens found");
    }
}
