//! The HTTP client of one target: the official `elasticsearch` crate's transport, with credentials
//! read from files and re-read when they change (the client is rebuilt and swapped atomically; a
//! broken new secret is logged and the previous client stays). A target with
//! `bearer_token_propagation` sends the bearer token of the query request being served
//! ([`crate::request_context`]) instead, when there is one.
//!
//! Every failure becomes a [`StorageError`]: connection failures, timeouts and 5xx are
//! `Unavailable`, 429 is `Overloaded`, 401/403 is `Unavailable` with "authentication failed" and
//! the target's URL (a fixed secret file heals it, so callers such as the Kafka ingester keep
//! their offsets and retry). Error texts are built from Elasticsearch's `error.type`/`reason` only,
//! cut short and with anything after "authorization" removed, so no credential is ever echoed.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use bytes::Bytes;
use elasticsearch::auth::{ClientCertificate, Credentials};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, AUTHORIZATION};
use elasticsearch::http::transport::{MultiNodeConnectionPool, SingleNodeConnectionPool, Transport, TransportBuilder};
use elasticsearch::http::{Method as EsMethod, Url};
use elasticsearch::Elasticsearch;
use serde_json::Value;
use tracing::{info, warn};

use super::config::EsTarget;
use crate::api::StorageError;
use crate::request_context::current_bearer_token;

/// The server's product and major version, which decide the template API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    pub major: u32,
    pub opensearch: bool,
}

impl ServerVersion {
    /// Jaeger's `version` setting: 7/8/9 Elasticsearch, 101/102/103 OpenSearch 1–3.
    pub fn from_setting(version: u32) -> Self {
        if version > 100 {
            Self { major: version - 100, opensearch: true }
        } else {
            Self { major: version, opensearch: false }
        }
    }

    /// Composable `_index_template` (ES 8/9) rather than legacy `_template` (ES 7, OpenSearch).
    pub fn uses_composable_templates(self) -> bool {
        !self.opensearch && self.major >= 8
    }

    /// `es8`, `es9`, `os2`: the label used in metrics and golden-file names.
    pub fn label(self) -> String {
        if self.opensearch {
            format!("os{}", self.major)
        } else {
            format!("es{}", self.major)
        }
    }
}

/// A cheap-to-clone handle on one target's client (public for the index tools in `lifecycle.rs`;
/// the store builds its own).
#[derive(Clone)]
pub struct EsClient {
    shared: Arc<Shared>,
}

struct Shared {
    current: ArcSwap<Elasticsearch>,
    /// The server URLs, for messages (never holds credentials: `EsTarget::validate` refuses them).
    endpoint: String,
    version: ServerVersion,
    /// Send the serving request's bearer token ([`current_bearer_token`]) instead of the configured
    /// credentials (the target's `bearer_token_propagation`).
    bearer_token_propagation: bool,
    /// Stops the secret reloader when the last handle is dropped.
    _reloader: Option<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for EsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the transport: its credentials derive Debug.
        f.debug_struct("EsClient")
            .field("endpoint", &self.shared.endpoint)
            .field("version", &self.shared.version)
            .finish()
    }
}

impl EsClient {
    /// Reads the secrets, builds the client, detects the server version (unless configured) and
    /// starts the secret reloader.
    pub async fn connect(target: &EsTarget) -> Result<Self, StorageError> {
        target.validate()?;
        let endpoint = target.server_urls.join(",");
        if target.tls.skip_host_verify {
            warn!(
                endpoint = %endpoint,
                "elasticsearch TLS certificate verification is DISABLED (tls.skip_host_verify = true): \
                 the connection can be intercepted; use tls.ca_file instead"
            );
        }
        let secrets = Secrets::read(target).map_err(|message| {
            StorageError::Unavailable(format!("elasticsearch {endpoint}: cannot read credentials: {message}"))
        })?;
        let client = build_client(target, &secrets)
            .map_err(|message| StorageError::Unavailable(format!("elasticsearch {endpoint}: {message}")))?;
        let version = match target.version {
            Some(setting) => ServerVersion::from_setting(setting),
            None => detect_version(&client, &endpoint).await?,
        };
        info!(endpoint = %endpoint, version = %version.label(), "elasticsearch client ready");
        let has_secrets = !target.secret_files().is_empty();
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let reloader = has_secrets
                .then(|| AbortOnDrop(tokio::spawn(reload_secrets(weak.clone(), target.clone(), secrets.fingerprint))));
            Shared {
                current: ArcSwap::from_pointee(client),
                endpoint,
                version,
                bearer_token_propagation: target.bearer_token_propagation,
                _reloader: reloader,
            }
        });
        Ok(Self { shared })
    }

    pub fn server_version(&self) -> ServerVersion {
        self.shared.version
    }

    /// The server URLs, for messages.
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// `POST <indices>/_search?ignore_unavailable=true&rest_total_hits_as_int=true`.
    pub(crate) async fn search(&self, indices: &[String], body: &Value) -> Result<Value, StorageError> {
        if indices.is_empty() {
            return Err(StorageError::InvalidQuery("elasticsearch search without indices".into()));
        }
        let path = format!("/{}/_search?ignore_unavailable=true&rest_total_hits_as_int=true", index_list(indices));
        let body = serde_json::to_vec(body).map_err(|error| StorageError::Backend(format!("search body: {error}")))?;
        self.json_request(http::Method::POST, &path, Some(body)).await
    }

    /// `POST /_msearch?rest_total_hits_as_int=true` with an NDJSON body (one header and one body
    /// line per search; headers should say `"ignore_unavailable": true`).
    pub(crate) async fn msearch(&self, ndjson: String) -> Result<Value, StorageError> {
        self.json_request(http::Method::POST, "/_msearch?rest_total_hits_as_int=true", Some(ndjson.into_bytes())).await
    }

    /// `POST /_bulk` with an NDJSON body; the caller checks every item of the answer.
    pub(crate) async fn bulk(&self, ndjson: Bytes) -> Result<Value, StorageError> {
        let (status, body) = self.send_bytes(http::Method::POST, "/_bulk", Some(ndjson)).await?;
        if !(200..300).contains(&status) {
            return Err(self.status_error(status, &body, "bulk request"));
        }
        parse_json(&body)
    }

    /// A raw request (`path` may carry a query string). Connection failures, 401/403, 408, 429 and
    /// 5xx are errors; every other status is returned with the body for the caller to judge (404
    /// is often fine).
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), StorageError> {
        self.send_bytes(method, path, body.map(Bytes::from)).await
    }

    async fn json_request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, StorageError> {
        let (status, response) = self.send(method, path, body).await?;
        if !(200..300).contains(&status) {
            return Err(self.status_error(status, &response, path));
        }
        parse_json(&response)
    }

    async fn send_bytes(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), StorageError> {
        let method = es_method(&method)?;
        let client = self.shared.current.load_full();
        let response = client
            .transport()
            .send(method, path, self.request_headers()?, None::<&()>, body, None)
            .await
            .map_err(|error| self.transport_error(&error))?;
        let status = response.status_code().as_u16();
        let bytes = response.bytes().await.map_err(|error| self.transport_error(&error))?;
        if is_retryable_or_auth_status(status) {
            return Err(self.status_error(status, &bytes, path));
        }
        Ok((status, bytes))
    }

    /// The per-request headers: `Authorization: Bearer <token>` of the query request being served
    /// when this target propagates bearer tokens (it replaces the configured credentials), none
    /// otherwise. The header is marked sensitive and the error never holds the token.
    fn request_headers(&self) -> Result<HeaderMap, StorageError> {
        let mut headers = HeaderMap::new();
        if !self.shared.bearer_token_propagation {
            return Ok(headers);
        }
        let Some(token) = current_bearer_token() else { return Ok(headers) };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| StorageError::InvalidQuery("the request's bearer token is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(headers)
    }

    fn transport_error(&self, error: &elasticsearch::Error) -> StorageError {
        let what = if error.is_timeout() { "request timed out" } else { "cannot reach the cluster" };
        StorageError::Unavailable(format!(
            "elasticsearch {}: {what}: {}",
            self.shared.endpoint,
            redact(&error.to_string())
        ))
    }

    /// The error of a non-2xx answer: retryable kinds for 401/403/408/429/5xx, otherwise
    /// `InvalidQuery` (400) or `Backend`.
    pub(crate) fn status_error(&self, status: u16, body: &[u8], what: &str) -> StorageError {
        let endpoint = &self.shared.endpoint;
        let reason = error_reason(body);
        match status {
            401 | 403 => StorageError::Unavailable(format!(
                "elasticsearch {endpoint}: authentication failed (HTTP {status}{}); check the credentials files",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            429 => StorageError::Overloaded(format!(
                "elasticsearch {endpoint}: too many requests (HTTP 429){}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            408 | 500..=599 => StorageError::Unavailable(format!(
                "elasticsearch {endpoint}: {what} failed with HTTP {status}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            400 => StorageError::InvalidQuery(format!(
                "elasticsearch {endpoint}: {what} rejected (HTTP 400){}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            _ => StorageError::Backend(format!(
                "elasticsearch {endpoint}: {what} failed with HTTP {status}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
        }
    }
}

fn is_retryable_or_auth_status(status: u16) -> bool {
    matches!(status, 401 | 403 | 408 | 429 | 500..=599)
}

fn es_method(method: &http::Method) -> Result<EsMethod, StorageError> {
    Ok(match *method {
        http::Method::GET => EsMethod::Get,
        http::Method::PUT => EsMethod::Put,
        http::Method::POST => EsMethod::Post,
        http::Method::DELETE => EsMethod::Delete,
        http::Method::HEAD => EsMethod::Head,
        ref other => return Err(StorageError::Backend(format!("elasticsearch client cannot send {other}"))),
    })
}

/// Index names joined with `,`, with `:` (remote clusters) escaped so the URL join does not read
/// it as a scheme.
pub(crate) fn index_list(indices: &[String]) -> String {
    indices.iter().map(|index| index.replace(':', "%3A")).collect::<Vec<_>>().join(",")
}

fn parse_json(body: &[u8]) -> Result<Value, StorageError> {
    serde_json::from_slice(body)
        .map_err(|error| StorageError::Backend(format!("elasticsearch answered with invalid JSON: {error}")))
}

/// `error.root_cause[0]`'s or `error`'s `type: reason`, at most 300 characters, redacted.
pub(crate) fn error_reason(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = match error {
        Value::String(text) => text.clone(),
        Value::Object(_) => {
            let cause = error.get("root_cause").and_then(|causes| causes.get(0)).unwrap_or(error);
            let kind = cause.get("type").and_then(Value::as_str).unwrap_or("error");
            let reason = cause.get("reason").and_then(Value::as_str).unwrap_or("");
            format!("{kind}: {reason}")
        }
        other => other.to_string(),
    };
    Some(redact(&text))
}

/// Cuts a text to 300 characters and removes everything from an "authorization" or credential
/// scheme mention on, so no header value is ever echoed.
pub(crate) fn redact(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let cut = ["authorization", "basic ", "bearer ", "apikey "].iter().filter_map(|needle| lower.find(needle)).min();
    let mut kept: String = match cut {
        Some(at) => format!("{}[redacted]", &text[..at]),
        None => text.to_owned(),
    };
    if kept.chars().count() > 300 {
        kept = kept.chars().take(300).collect::<String>() + "…";
    }
    kept
}

/// What the client needs from the secret files. Debug prints nothing of them.
struct Secrets {
    password: Option<String>,
    api_key: Option<String>,
    bearer_token: Option<String>,
    /// Client certificate and key, concatenated PEM.
    identity_pem: Option<Vec<u8>>,
    ca_pem: Option<Vec<u8>>,
    /// xxh3 of every secret's bytes, to notice a change without keeping a second copy.
    fingerprint: u64,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Reads every configured secret file. The error names the file and the problem, never the
    /// content.
    fn read(target: &EsTarget) -> Result<Self, String> {
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        let mut read = |path: &Option<std::path::PathBuf>, what: &str| -> Result<Option<Vec<u8>>, String> {
            let Some(path) = path else { return Ok(None) };
            let bytes = read_secret_file(path, what)?;
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            Ok(Some(bytes))
        };
        let text = |bytes: Option<Vec<u8>>, what: &str| -> Result<Option<String>, String> {
            bytes
                .map(|bytes| {
                    String::from_utf8(bytes)
                        .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                        .map_err(|_| format!("{what} is not UTF-8"))
                })
                .transpose()
        };
        let password = text(read(&target.password_file, "password_file")?, "password_file")?;
        let api_key = text(read(&target.api_key_file, "api_key_file")?, "api_key_file")?;
        let bearer_token = text(read(&target.bearer_token_file, "bearer_token_file")?, "bearer_token_file")?;
        let cert = read(&target.tls.cert_file, "tls.cert_file")?;
        let key = read(&target.tls.key_file, "tls.key_file")?;
        let ca_pem = read(&target.tls.ca_file, "tls.ca_file")?;
        let identity_pem = match (cert, key) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                Some(cert)
            }
            _ => None,
        };
        for (value, what) in
            [(&password, "password_file"), (&api_key, "api_key_file"), (&bearer_token, "bearer_token_file")]
        {
            if value.as_deref().is_some_and(str::is_empty) {
                return Err(format!("{what} is empty"));
            }
        }
        Ok(Self { password, api_key, bearer_token, identity_pem, ca_pem, fingerprint: hasher.digest() })
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{what} {}: {}", path.display(), error.kind()))
}

/// Builds the client from the target and its secrets. The error text holds no secret.
fn build_client(target: &EsTarget, secrets: &Secrets) -> Result<Elasticsearch, String> {
    let urls: Vec<Url> = target
        .server_urls
        .iter()
        .map(|url| Url::parse(url).map_err(|error| format!("server url {url:?}: {error}")))
        .collect::<Result<_, _>>()?;
    let mut builder = match urls.as_slice() {
        [single] => TransportBuilder::new(SingleNodeConnectionPool::new(single.clone())),
        _ => TransportBuilder::new(MultiNodeConnectionPool::round_robin(urls, None)),
    };
    builder =
        builder.timeout(target.timeout).enable_meta_header(false).request_body_compression(target.http_compression);
    if target.tls.skip_host_verify {
        builder = builder.cert_validation(CertificateValidation::None);
    } else if let Some(ca) = &secrets.ca_pem {
        let certificate =
            Certificate::from_pem(ca).map_err(|_| "tls.ca_file holds no valid PEM certificate".to_owned())?;
        builder = builder.cert_validation(CertificateValidation::Full(certificate));
    }
    if let Some(identity) = &secrets.identity_pem {
        builder = builder.auth(Credentials::Certificate(ClientCertificate::Pem(identity.clone())));
    }
    let transport: Transport = builder.build().map_err(|error| {
        format!(
            "cannot build the HTTP client (check tls.cert_file/tls.key_file/tls.ca_file): {}",
            redact(&error.to_string())
        )
    })?;
    // A client certificate lives in the HTTP client itself; the header credentials are set after.
    if let (Some(username), Some(password)) = (&target.username, &secrets.password) {
        transport.set_auth(Credentials::Basic(username.clone(), password.clone()));
    } else if let Some(api_key) = &secrets.api_key {
        transport.set_auth(Credentials::EncodedApiKey(api_key.clone()));
    } else if let Some(token) = &secrets.bearer_token {
        transport.set_auth(Credentials::Bearer(token.clone()));
    }
    Ok(Elasticsearch::new(transport))
}

/// `GET /` (version.number, OpenSearch's `distribution`/tagline); when that is refused (the
/// integration-test Elasticsearch answers 405), `GET /_nodes/_local`, where a major version below 5
/// can only be OpenSearch (1–3).
async fn detect_version(client: &Elasticsearch, endpoint: &str) -> Result<ServerVersion, StorageError> {
    let probe = EsClient {
        shared: Arc::new(Shared {
            current: ArcSwap::from_pointee(client.clone()),
            endpoint: endpoint.to_owned(),
            version: ServerVersion { major: 0, opensearch: false },
            bearer_token_propagation: false,
            _reloader: None,
        }),
    };
    let (status, body) = probe.send(http::Method::GET, "/", None).await?;
    if (200..300).contains(&status) {
        let root: Value = parse_json(&body)?;
        let number = root.pointer("/version/number").and_then(Value::as_str).unwrap_or_default();
        let opensearch = root.pointer("/version/distribution").and_then(Value::as_str) == Some("opensearch")
            || root.get("tagline").and_then(Value::as_str).is_some_and(|tagline| tagline.contains("OpenSearch"));
        if let Some(major) = major_of(number) {
            return Ok(ServerVersion { major, opensearch });
        }
    }
    let (status, body) =
        probe.send(http::Method::GET, "/_nodes/_local?filter_path=nodes.*.version,nodes.*.build_flavor", None).await?;
    if !(200..300).contains(&status) {
        return Err(probe.status_error(status, &body, "version detection"));
    }
    let nodes: Value = parse_json(&body)?;
    let node = nodes.get("nodes").and_then(Value::as_object).and_then(|nodes| nodes.values().next());
    let number = node.and_then(|node| node.get("version")).and_then(Value::as_str).unwrap_or_default();
    let major = major_of(number)
        .ok_or_else(|| StorageError::Backend(format!("elasticsearch {endpoint}: cannot read the server version")))?;
    Ok(ServerVersion { major, opensearch: major < 5 })
}

fn major_of(number: &str) -> Option<u32> {
    number.split('.').next()?.parse().ok()
}

/// Every `interval`, re-reads the secret files; when their content changed, rebuilds the client
/// and swaps it in. A broken or missing new secret is logged once per distinct state and the
/// previous client stays.
async fn reload_secrets(shared: Weak<Shared>, target: EsTarget, mut applied: u64) {
    let mut last_failure: Option<String> = None;
    let endpoint = target.server_urls.join(",");
    loop {
        tokio::time::sleep(target.secret_reload_interval).await;
        let Some(shared) = shared.upgrade() else { return };
        let outcome = Secrets::read(&target).and_then(|secrets| {
            if secrets.fingerprint == applied {
                return Ok(None);
            }
            build_client(&target, &secrets).map(|client| Some((client, secrets.fingerprint)))
        });
        match outcome {
            Ok(None) => last_failure = None,
            Ok(Some((client, fingerprint))) => {
                shared.current.store(Arc::new(client));
                applied = fingerprint;
                last_failure = None;
                info!(endpoint = %endpoint, "elasticsearch credentials changed; client rebuilt");
            }
            Err(message) => {
                if last_failure.as_deref() != Some(message.as_str()) {
                    warn!(endpoint = %endpoint, error = %message, "elasticsearch credentials could not be reloaded; keeping the previous ones");
                    last_failure = Some(message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_context::with_bearer_token;

    #[test]
    fn version_settings_follow_jaegers_numbering() {
        assert_eq!(ServerVersion::from_setting(8), ServerVersion { major: 8, opensearch: false });
        assert_eq!(ServerVersion::from_setting(102), ServerVersion { major: 2, opensearch: true });
        assert!(ServerVersion::from_setting(9).uses_composable_templates());
        assert!(!ServerVersion::from_setting(7).uses_composable_templates());
        assert!(!ServerVersion::from_setting(103).uses_composable_templates());
    }

    #[test]
    fn error_reasons_never_echo_authorization_headers() {
        let body = br#"{"error":{"type":"security_exception","reason":"unable to authenticate with Authorization: Basic ZWxhc3RpYzpodW50ZXIy"}}"#;
        let reason = error_reason(body).unwrap();
        assert!(!reason.contains("ZWxhc3RpYzpodW50ZXIy"), "{reason}");
        assert!(reason.starts_with("security_exception: unable to authenticate with"), "{reason}");
    }

    #[test]
    fn error_reasons_prefer_the_root_cause_and_are_short() {
        let long = "x".repeat(1000);
        let body = format!(
            r#"{{"error":{{"root_cause":[{{"type":"mapper_parsing_exception","reason":"{long}"}}],"type":"outer"}}}}"#
        );
        let reason = error_reason(body.as_bytes()).unwrap();
        assert!(reason.starts_with("mapper_parsing_exception: xxx"));
        assert!(reason.chars().count() <= 301);
        assert_eq!(error_reason(b"not json"), None);
    }

    #[test]
    fn remote_cluster_names_are_escaped_in_paths() {
        assert_eq!(index_list(&["east:a".into(), "b".into()]), "east%3Aa,b");
    }

    /// A one-route HTTP server answering `{}` to everything; yields each request's `Authorization`
    /// header (or `None`).
    async fn header_recording_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Option<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0_u8; 4096];
                    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request).into_owned();
                    let authorization = head.lines().find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("authorization").then(|| value.trim().to_owned())
                    });
                    let _ = sender.send(authorization);
                    let response = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, receiver)
    }

    async fn authorization_sent(
        client: &EsClient,
        receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
    ) -> Option<String> {
        let (status, _) = client.send(http::Method::GET, "/", None).await.unwrap();
        assert_eq!(status, 200);
        receiver.recv().await.unwrap()
    }

    #[tokio::test]
    async fn request_bearer_token_replaces_credentials_only_on_targets_that_opted_in() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "configured-token\n").unwrap();
        let (url, mut receiver) = header_recording_server().await;
        let mut target = EsTarget::new(vec![url]);
        target.version = Some(8);
        target.bearer_token_file = Some(token_file);

        let plain = EsClient::connect(&target).await.unwrap();
        target.bearer_token_propagation = true;
        let propagating = EsClient::connect(&target).await.unwrap();

        let configured = Some("Bearer configured-token".to_owned());
        let propagated = Some("Bearer request-token".to_owned());
        assert_eq!(authorization_sent(&propagating, &mut receiver).await, configured);
        assert_eq!(authorization_sent(&plain, &mut receiver).await, configured);
        let (from_propagating, from_plain) = with_bearer_token(Some("request-token".into()), async {
            let from_propagating = authorization_sent(&propagating, &mut receiver).await;
            let from_plain = authorization_sent(&plain, &mut receiver).await;
            (from_propagating, from_plain)
        })
        .await;
        assert_eq!(from_propagating, propagated);
        assert_eq!(from_plain, configured);
        assert!(!format!("{propagating:?}").contains("request-token"));
    }

    #[tokio::test]
    async fn an_invalid_request_token_is_refused_without_echoing_it() {
        let (url, _receiver) = header_recording_server().await;
        let mut target = EsTarget::new(vec![url]);
        target.version = Some(8);
        target.bearer_token_propagation = true;
        let client = EsClient::connect(&target).await.unwrap();
        let error =
            with_bearer_token(Some("bad\ntoken".into()), client.send(http::Method::GET, "/", None)).await.unwrap_err();
        assert!(!error.to_string().contains("bad"), "{error}");
    }

    #[test]
    fn secret_errors_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.username = Some("elastic".into());
        target.password_file = Some(dir.path().join("missing"));
        let message = Secrets::read(&target).unwrap_err();
        assert!(message.contains("password_file") && message.contains("missing"), "{message}");
        let file = dir.path().join("password");
        std::fs::write(&file, "hunter2\n").unwrap();
        target.password_file = Some(file);
        let secrets = Secrets::read(&target).unwrap();
        assert_eq!(secrets.password.as_deref(), Some("hunter2"));
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }
}
