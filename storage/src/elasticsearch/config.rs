//! Configuration of one Elasticsearch/OpenSearch target: one table of the namespaces TOML file, and
//! also what the single-cluster `--es.*` flags build.
//!
//! Secrets never live in this struct: it holds only the *paths* of the files they are read from,
//! so `Debug`, error messages and config dumps cannot leak them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::StorageError;

/// One Elasticsearch or OpenSearch cluster and how Spoor writes to it. Unknown keys are rejected;
/// every field but `server_urls` has a default (Jaeger's where Jaeger has the setting).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsTarget {
    /// Node URLs (`http://host:9200`); requests go round-robin over them. Credentials in the URL
    /// are rejected: use `username` + `password_file`.
    pub server_urls: Vec<String>,
    /// Index name prefix, joined as Jaeger does: `prod` → `prod-jaeger-span-…`, `prod-` → the same.
    #[serde(default)]
    pub index_prefix: String,
    /// Basic authentication user; the password is read from `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A file holding an encoded API key (the base64 `id:key` Elasticsearch returns), sent as
    /// `Authorization: ApiKey <content>`.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// A file holding a bearer token, sent as `Authorization: Bearer <content>`.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Reads made while serving a query request that carried `Authorization: Bearer <token>` send
    /// that token instead of the credentials above (Jaeger's `--es.bearer-token-propagation`).
    /// Only targets that set this ever see a request's token.
    #[serde(default)]
    pub bearer_token_propagation: bool,
    #[serde(default)]
    pub tls: EsTlsConfig,
    /// Write to `<prefix-><base>-write` and read from `<prefix-><base>-read` aliases (created by
    /// `spoor es-rollover init`) instead of daily indices.
    #[serde(default)]
    pub use_aliases: bool,
    /// Install the span/service/dependencies index templates at start-up (Jaeger's
    /// `create_mappings`).
    #[serde(default = "default_true")]
    pub create_index_templates: bool,
    /// `index.number_of_shards` of the templates.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// `index.number_of_replicas` of the templates.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// `priority` of the composable span template (ES 8/9 only).
    #[serde(default)]
    pub span_template_priority: i64,
    /// `priority` of the composable service template (ES 8/9 only).
    #[serde(default)]
    pub service_template_priority: i64,
    /// `priority` of the composable dependencies template (ES 8/9 only).
    #[serde(default)]
    pub dependencies_template_priority: i64,
    /// How far back reads look for a trace by id and for services (Jaeger's `max_span_age`).
    #[serde(default = "default_max_span_age", with = "duration_text")]
    pub max_span_age: Duration,
    /// How far around a search's time range the spans of a found trace are read.
    #[serde(default = "default_max_trace_duration", with = "duration_text")]
    pub max_trace_duration: Duration,
    /// `size` of searches (Jaeger's `max_doc_count`).
    #[serde(default = "default_max_doc_count")]
    pub max_doc_count: usize,
    #[serde(default)]
    pub bulk: EsBulkConfig,
    /// Server version: 7, 8 or 9 for Elasticsearch, 101, 102 or 103 for OpenSearch 1–3 (Jaeger's
    /// numbering). `None` detects it at start-up.
    #[serde(default)]
    pub version: Option<u32>,
    /// Timeout of one HTTP request.
    #[serde(default = "default_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// How often the secret files are re-read; a changed secret rebuilds the client.
    #[serde(default = "default_secret_reload_interval", with = "duration_text")]
    pub secret_reload_interval: Duration,
    /// How long a written (service, operation, kind) is remembered so it is not written again.
    #[serde(default = "default_service_cache_ttl", with = "duration_text")]
    pub service_cache_ttl: Duration,
    /// How many (service, operation, kind) entries are remembered.
    #[serde(default = "default_service_cache_capacity")]
    pub service_cache_capacity: usize,
    /// Separator of the date parts in index names (Jaeger's `index_date_separator`).
    #[serde(default = "default_date_separator")]
    pub index_date_separator: String,
    /// A new span/service index every day (`2006-01-02`) or every hour (`2006-01-02-15`).
    #[serde(default)]
    pub rollover_frequency: RolloverFrequency,
    /// Gzip request bodies (Jaeger's `http_compression`, default on).
    #[serde(default = "default_true")]
    pub http_compression: bool,
    /// Tags stored as object fields (`tag.<key>`) instead of nested `tags` entries.
    #[serde(default)]
    pub tags_as_fields: EsTagsAsFields,
    /// Remote clusters also searched (`cluster:index` read names).
    #[serde(default)]
    pub remote_read_clusters: Vec<String>,
}

/// TLS settings of a target. TLS is used when a URL is `https://`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsTlsConfig {
    /// PEM file of the certificate authorities to trust (in addition to the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against instead of the URL's host. Not supported by
    /// the Elasticsearch client Spoor uses: setting it is refused at start-up rather than ignored.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Accept any server certificate. Insecure: only as an explicit opt-in, logged as a warning.
    #[serde(default)]
    pub skip_host_verify: bool,
}

/// How the writer groups spans into `_bulk` requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsBulkConfig {
    /// A bulk request is sent once its body reaches this many bytes.
    #[serde(default = "default_bulk_max_bytes")]
    pub max_bytes: usize,
    /// A bulk request is sent once it holds this many documents.
    #[serde(default = "default_bulk_max_actions")]
    pub max_actions: usize,
    /// The longest a document waits for more to join its bulk request while other bulk requests
    /// are in flight. With none in flight a bulk request is sent at once (group commit).
    #[serde(default = "default_bulk_flush_interval", with = "duration_text")]
    pub flush_interval: Duration,
    /// Bulk requests in flight at once.
    #[serde(default = "default_bulk_workers")]
    pub workers: usize,
    /// Retries of a document rejected with 429/5xx (or of a failed request) before the write
    /// fails with a retryable error.
    #[serde(default = "default_bulk_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubled on every retry up to `retry_max_backoff`.
    #[serde(default = "default_bulk_retry_initial_backoff", with = "duration_text")]
    pub retry_initial_backoff: Duration,
    #[serde(default = "default_bulk_retry_max_backoff", with = "duration_text")]
    pub retry_max_backoff: Duration,
}

/// How often span and service indices roll over in periodic (non-alias) mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloverFrequency {
    #[default]
    Day,
    Hour,
}

/// Jaeger's `tags_as_fields`: which tags go to the `tag`/`process.tag` objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsTagsAsFields {
    /// Every non-binary tag.
    #[serde(default)]
    pub all: bool,
    /// These tag keys.
    #[serde(default)]
    pub include: Vec<String>,
    /// What replaces `.` in a key stored as a field (`http.method` → `http@method`).
    #[serde(default = "default_dot_replacement")]
    pub dot_replacement: String,
}

impl Default for EsTagsAsFields {
    fn default() -> Self {
        Self { all: false, include: Vec::new(), dot_replacement: default_dot_replacement() }
    }
}

impl Default for EsBulkConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_bulk_max_bytes(),
            max_actions: default_bulk_max_actions(),
            flush_interval: default_bulk_flush_interval(),
            workers: default_bulk_workers(),
            max_retries: default_bulk_max_retries(),
            retry_initial_backoff: default_bulk_retry_initial_backoff(),
            retry_max_backoff: default_bulk_retry_max_backoff(),
        }
    }
}

impl Default for EsTarget {
    fn default() -> Self {
        Self::new(vec!["http://127.0.0.1:9200".to_owned()])
    }
}

impl EsTarget {
    /// The defaults, for these node URLs.
    pub fn new(server_urls: Vec<String>) -> Self {
        Self {
            server_urls,
            index_prefix: String::new(),
            username: None,
            password_file: None,
            api_key_file: None,
            bearer_token_file: None,
            bearer_token_propagation: false,
            tls: EsTlsConfig::default(),
            use_aliases: false,
            create_index_templates: true,
            shards: default_shards(),
            replicas: default_replicas(),
            span_template_priority: 0,
            service_template_priority: 0,
            dependencies_template_priority: 0,
            max_span_age: default_max_span_age(),
            max_trace_duration: default_max_trace_duration(),
            max_doc_count: default_max_doc_count(),
            bulk: EsBulkConfig::default(),
            version: None,
            timeout: default_timeout(),
            secret_reload_interval: default_secret_reload_interval(),
            service_cache_ttl: default_service_cache_ttl(),
            service_cache_capacity: default_service_cache_capacity(),
            index_date_separator: default_date_separator(),
            rollover_frequency: RolloverFrequency::Day,
            http_compression: true,
            tags_as_fields: EsTagsAsFields::default(),
            remote_read_clusters: Vec::new(),
        }
    }

    /// Checks what serde cannot: URLs, one authentication method, complete client certificates,
    /// non-zero bulk limits. The message names the offending setting, never a secret.
    pub fn validate(&self) -> Result<(), StorageError> {
        let invalid = |message: String| Err(StorageError::InvalidQuery(format!("elasticsearch config: {message}")));
        if self.server_urls.is_empty() {
            return invalid("server_urls is empty".into());
        }
        for url in &self.server_urls {
            let parsed = match elasticsearch::http::Url::parse(url) {
                Ok(parsed) => parsed,
                Err(error) => return invalid(format!("server url {url:?} is not a URL: {error}")),
            };
            if !matches!(parsed.scheme(), "http" | "https") {
                return invalid(format!("server url {url:?} must be http:// or https://"));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                // Do not echo the URL: it holds a credential.
                return invalid("a server url holds credentials; use username and password_file instead".into());
            }
        }
        let methods = [self.password_file.is_some(), self.api_key_file.is_some(), self.bearer_token_file.is_some()];
        if methods.iter().filter(|&&set| set).count() > 1 {
            return invalid("set at most one of password_file, api_key_file and bearer_token_file".into());
        }
        if self.password_file.is_some() != self.username.is_some() {
            return invalid("username and password_file go together".into());
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return invalid("tls.cert_file and tls.key_file go together".into());
        }
        if self.tls.server_name.is_some() {
            return invalid(
                "tls.server_name is not supported by the elasticsearch client; use a URL whose host matches the certificate"
                    .into(),
            );
        }
        if self.bulk.workers == 0 || self.bulk.max_actions == 0 || self.bulk.max_bytes == 0 {
            return invalid("bulk.workers, bulk.max_actions and bulk.max_bytes must be at least 1".into());
        }
        if self.secret_reload_interval.is_zero() {
            return invalid("secret_reload_interval must be positive".into());
        }
        if let Some(version) = self.version {
            if !matches!(version, 7..=9 | 101..=103) {
                return invalid(format!("version {version} is not 7, 8, 9, 101, 102 or 103"));
            }
        }
        if self.tags_as_fields.dot_replacement.contains('.') {
            return invalid("tags_as_fields.dot_replacement must not contain '.'".into());
        }
        Ok(())
    }

    /// The files secrets are read from (password, API key, bearer token, client key), for the
    /// reloader.
    pub(crate) fn secret_files(&self) -> Vec<&PathBuf> {
        [
            &self.password_file,
            &self.api_key_file,
            &self.bearer_token_file,
            &self.tls.key_file,
            &self.tls.cert_file,
            &self.tls.ca_file,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn default_true() -> bool {
    true
}
fn default_shards() -> u32 {
    5
}
fn default_replicas() -> u32 {
    1
}
fn default_max_span_age() -> Duration {
    Duration::from_secs(72 * 3600)
}
fn default_max_trace_duration() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_max_doc_count() -> usize {
    10_000
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_secret_reload_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_service_cache_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_service_cache_capacity() -> usize {
    100_000
}
fn default_date_separator() -> String {
    "-".to_owned()
}
fn default_dot_replacement() -> String {
    "@".to_owned()
}
fn default_bulk_max_bytes() -> usize {
    5_000_000
}
fn default_bulk_max_actions() -> usize {
    1_000
}
fn default_bulk_flush_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_bulk_workers() -> usize {
    1
}
fn default_bulk_max_retries() -> u32 {
    8
}
fn default_bulk_retry_initial_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_bulk_retry_max_backoff() -> Duration {
    Duration::from_secs(5)
}

/// Durations as humantime text (`72h`, `200ms`, `1h 30m`).
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*duration).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim()).map_err(|error| serde::de::Error::custom(format!("{text:?}: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EsTarget, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn only_server_urls_is_required_and_defaults_are_jaegers() {
        let target = parse(r#"server_urls = ["http://es:9200"]"#).unwrap();
        assert_eq!(target.shards, 5);
        assert_eq!(target.replicas, 1);
        assert_eq!(target.max_span_age, Duration::from_secs(72 * 3600));
        assert_eq!(target.bulk.max_bytes, 5_000_000);
        assert_eq!(target.bulk.flush_interval, Duration::from_millis(200));
        assert_eq!(target.bulk.workers, 1);
        assert!(target.create_index_templates);
        assert!(target.validate().is_ok());
    }

    #[test]
    fn durations_are_humantime_text() {
        let target = parse(
            r#"
            server_urls = ["http://es:9200"]
            max_span_age = "3d"
            secret_reload_interval = "1s"
            [bulk]
            flush_interval = "50ms"
            workers = 4
            "#,
        )
        .unwrap();
        assert_eq!(target.max_span_age, Duration::from_secs(3 * 86_400));
        assert_eq!(target.secret_reload_interval, Duration::from_secs(1));
        assert_eq!(target.bulk.flush_interval, Duration::from_millis(50));
        assert_eq!(target.bulk.workers, 4);
    }

    #[test]
    fn rejects_unknown_keys() {
        assert!(parse("server_urls = [\"http://es:9200\"]\npassword = \"hunter2\"").is_err());
        assert!(parse("server_urls = [\"http://es:9200\"]\n[tls]\nca = \"x\"").is_err());
    }

    #[test]
    fn rejects_credentials_in_urls_without_echoing_them() {
        let target = EsTarget::new(vec!["http://elastic:hunter2@es:9200".into()]);
        let message = target.validate().unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn rejects_two_authentication_methods() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.username = Some("elastic".into());
        target.password_file = Some("/run/secrets/password".into());
        target.bearer_token_file = Some("/run/secrets/token".into());
        assert!(target.validate().is_err());
    }

    #[test]
    fn rejects_half_a_client_certificate_and_unknown_versions() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.tls.cert_file = Some("/tls/cert.pem".into());
        assert!(target.validate().is_err());
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.version = Some(6);
        assert!(target.validate().is_err());
    }

    #[test]
    fn debug_output_holds_paths_only() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.username = Some("elastic".into());
        target.password_file = Some("/run/secrets/es-password".into());
        let debug = format!("{target:?}");
        assert!(debug.contains("/run/secrets/es-password"));
    }
}
