//! Configuration of the two gRPC servers: the query APIs (Jaeger's port 16685) and the
//! remote-storage read API (Jaeger's port 17271).

use serde::{Deserialize, Serialize};

/// Jaeger's query gRPC port.
pub const DEFAULT_QUERY_GRPC_HOST_PORT: &str = "0.0.0.0:16685";
/// Jaeger's remote-storage gRPC port.
pub const DEFAULT_REMOTE_STORAGE_HOST_PORT: &str = "0.0.0.0:17271";

/// The gRPC query server: `jaeger.api_v2.QueryService`, `jaeger.api_v3.QueryService` and
/// `grpc.health.v1.Health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryGrpcConfig {
    /// Address to listen on (Jaeger's `--query.grpc-server.host-port`). `:16685` means every
    /// interface.
    pub host_port: String,
    /// The namespace every request reads from. Tenancy by request metadata is the
    /// [`crate::http::NamespaceSelector`] seam, shared with the HTTP API.
    pub namespace: String,
    /// Hand each call's bearer token (`bearer.token` or `authorization: Bearer <t>` metadata) to
    /// the storage reads it makes (Jaeger's `--es.bearer-token-propagation`); only
    /// Elasticsearch targets with `bearer_token_propagation` send it.
    pub bearer_token_propagation: bool,
}

impl Default for QueryGrpcConfig {
    fn default() -> Self {
        Self {
            host_port: DEFAULT_QUERY_GRPC_HOST_PORT.to_owned(),
            namespace: spoor_model::Namespace::DEFAULT_NAME.to_owned(),
            bearer_token_propagation: false,
        }
    }
}

/// The remote-storage gRPC server: `jaeger.storage.v2.TraceReader`,
/// `jaeger.storage.v2.DependencyReader` and `grpc.health.v1.Health`, so a Jaeger (or anything
/// speaking that API) can read Spoor's storage. Reads return traces as stored (no adjusters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteStorageGrpcConfig {
    /// Address to listen on. `:17271` means every interface.
    pub host_port: String,
    /// The namespace every request reads from (see [`QueryGrpcConfig::namespace`]).
    pub namespace: String,
    /// See [`QueryGrpcConfig::bearer_token_propagation`].
    pub bearer_token_propagation: bool,
}

impl Default for RemoteStorageGrpcConfig {
    fn default() -> Self {
        Self {
            host_port: DEFAULT_REMOTE_STORAGE_HOST_PORT.to_owned(),
            namespace: spoor_model::Namespace::DEFAULT_NAME.to_owned(),
            bearer_token_propagation: false,
        }
    }
}

/// Why a gRPC server config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcConfigError {
    #[error("{server} host_port must not be empty")]
    EmptyHostPort { server: &'static str },
    #[error("{server} namespace must not be empty")]
    EmptyNamespace { server: &'static str },
}

impl QueryGrpcConfig {
    pub fn validate(&self) -> Result<(), GrpcConfigError> {
        validate("query grpc", &self.host_port, &self.namespace)
    }

    /// `host_port` with Go's `:port` shorthand expanded to every interface.
    pub fn listen_address(&self) -> String {
        listen_address(&self.host_port)
    }
}

impl RemoteStorageGrpcConfig {
    pub fn validate(&self) -> Result<(), GrpcConfigError> {
        validate("remote storage grpc", &self.host_port, &self.namespace)
    }

    /// `host_port` with Go's `:port` shorthand expanded to every interface.
    pub fn listen_address(&self) -> String {
        listen_address(&self.host_port)
    }
}

fn validate(server: &'static str, host_port: &str, namespace: &str) -> Result<(), GrpcConfigError> {
    if host_port.trim().is_empty() {
        return Err(GrpcConfigError::EmptyHostPort { server });
    }
    if namespace.trim().is_empty() {
        return Err(GrpcConfigError::EmptyNamespace { server });
    }
    Ok(())
}

fn listen_address(host_port: &str) -> String {
    match host_port.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => host_port.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_jaegers_ports_in_the_default_namespace() {
        let query = QueryGrpcConfig::default();
        assert_eq!(query.listen_address(), "0.0.0.0:16685");
        assert_eq!(query.namespace, "default");
        assert_eq!(query.validate(), Ok(()));
        let remote = RemoteStorageGrpcConfig::default();
        assert_eq!(remote.listen_address(), "0.0.0.0:17271");
        assert_eq!(remote.validate(), Ok(()));
    }

    #[test]
    fn go_style_port_shorthand_listens_everywhere() {
        let config = QueryGrpcConfig { host_port: ":17000".into(), ..Default::default() };
        assert_eq!(config.listen_address(), "0.0.0.0:17000");
    }

    #[test]
    fn empty_address_or_namespace_is_rejected() {
        let config = QueryGrpcConfig { host_port: " ".into(), ..Default::default() };
        assert_eq!(config.validate(), Err(GrpcConfigError::EmptyHostPort { server: "query grpc" }));
        let config = RemoteStorageGrpcConfig { namespace: String::new(), ..Default::default() };
        assert_eq!(config.validate(), Err(GrpcConfigError::EmptyNamespace { server: "remote storage grpc" }));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let parsed: Result<QueryGrpcConfig, _> = serde_json::from_str(r#"{"host_port": ":1", "hostport": ":2"}"#);
        assert!(parsed.is_err());
        let parsed: Result<RemoteStorageGrpcConfig, _> = serde_json::from_str(r#"{"tenant": "a"}"#);
        assert!(parsed.is_err());
        let parsed: RemoteStorageGrpcConfig = serde_json::from_str(r#"{"namespace": "team-a"}"#).unwrap();
        assert_eq!(parsed.namespace, "team-a");
        assert_eq!(parsed.host_port, DEFAULT_REMOTE_STORAGE_HOST_PORT);
    }
}
