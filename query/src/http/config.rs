//! Configuration of the HTTP query API.

use serde::{Deserialize, Serialize};

/// The HTTP query API (Jaeger's port 16686).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryHttpConfig {
    /// Address to listen on (Jaeger's `--query.http-server.host-port`). `:16686` means every
    /// interface.
    pub host_port: String,
    /// Prefix of every route, e.g. `/jaeger` (Jaeger's `--query.base-path`). `/` means none.
    /// With a prefix the API is served both under it and at the root, because Grafana's Go
    /// backend drops the data source's path and always asks for `/api/traces`.
    pub base_path: String,
    /// The namespace every request reads from when tenancy is off (see
    /// [`crate::tenancy::TenancyConfig`]).
    pub namespace: String,
    /// Hand the `Authorization: Bearer <token>` of each API request to the storage reads it makes
    /// (Jaeger's `--es.bearer-token-propagation`); only Elasticsearch targets with
    /// `bearer_token_propagation` send it.
    pub bearer_token_propagation: bool,
}

/// Jaeger's query HTTP port.
pub const DEFAULT_QUERY_HTTP_HOST_PORT: &str = "0.0.0.0:16686";

impl Default for QueryHttpConfig {
    fn default() -> Self {
        Self {
            host_port: DEFAULT_QUERY_HTTP_HOST_PORT.to_owned(),
            base_path: "/".to_owned(),
            namespace: spoor_model::Namespace::DEFAULT_NAME.to_owned(),
            bearer_token_propagation: false,
        }
    }
}

/// Why a [`QueryHttpConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryHttpConfigError {
    #[error("query base_path {0:?} must start with '/' and must not contain '{{', '}}', '*', '?' or '#'")]
    InvalidBasePath(String),
    #[error("query namespace must not be empty")]
    EmptyNamespace,
}

impl QueryHttpConfig {
    pub fn validate(&self) -> Result<(), QueryHttpConfigError> {
        let base_path = self.base_path.trim();
        let forbidden = ['{', '}', '*', '?', '#'];
        if !(base_path.is_empty() || base_path.starts_with('/')) || base_path.contains(forbidden) {
            return Err(QueryHttpConfigError::InvalidBasePath(self.base_path.clone()));
        }
        if self.namespace.trim().is_empty() {
            return Err(QueryHttpConfigError::EmptyNamespace);
        }
        Ok(())
    }

    /// The route prefix without a trailing slash, or `None` for the root.
    pub fn route_prefix(&self) -> Option<String> {
        let trimmed = self.base_path.trim().trim_end_matches('/');
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// `host_port` with Go's `:port` shorthand expanded to every interface.
    pub fn listen_address(&self) -> String {
        match self.host_port.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => self.host_port.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_16686_at_the_root_of_the_default_namespace() {
        let config = QueryHttpConfig::default();
        assert_eq!(config.listen_address(), "0.0.0.0:16686");
        assert_eq!(config.route_prefix(), None);
        assert_eq!(config.namespace, "default");
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn base_path_loses_its_trailing_slash() {
        let config = QueryHttpConfig { base_path: "/jaeger/".into(), ..Default::default() };
        assert_eq!(config.route_prefix().as_deref(), Some("/jaeger"));
    }

    #[test]
    fn base_path_must_be_absolute_and_plain() {
        for bad in ["jaeger", "/{x}", "/a*"] {
            let config = QueryHttpConfig { base_path: bad.into(), ..Default::default() };
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn go_style_port_shorthand_listens_everywhere() {
        let config = QueryHttpConfig { host_port: ":17000".into(), ..Default::default() };
        assert_eq!(config.listen_address(), "0.0.0.0:17000");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let parsed: Result<QueryHttpConfig, _> = serde_json::from_str(r#"{"base_path": "/j", "basepath": "/k"}"#);
        assert!(parsed.is_err());
    }
}
