//! Jaeger's multi-tenancy (`multi_tenancy: {enabled, header, tenants}`): a request header names
//! the tenant, and the tenant is the namespace the request reads. HTTP and gRPC use the same
//! [`NamespaceSelector`] (gRPC metadata are HTTP/2 headers).
//!
//! Refusals are Jaeger's: no header is `missing tenant header` (HTTP 401, gRPC UNAUTHENTICATED);
//! a tenant not in the list is `unknown tenant` and a repeated header `extra tenant header` (HTTP
//! 401, gRPC PERMISSION_DENIED).
//!
//! The binary builds the selector once from the role's config and hands it to every server:
//!
//! ```
//! use spoor_model::Namespace;
//! use spoor_query::tenancy::{namespace_selector, TenancyConfig};
//!
//! let config = TenancyConfig { enabled: true, tenants: vec!["team-a".into()], ..TenancyConfig::default() };
//! config.validate().expect("valid tenancy config");
//! let namespaces = namespace_selector(&config, Namespace::default_namespace());
//! # let _ = namespaces;
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};
use spoor_model::Namespace;

use crate::error::QueryError;
use crate::http::{FixedNamespace, NamespaceSelector};

/// Jaeger's default tenant header.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant";

/// Tenancy of the query role (Jaeger's `multi_tenancy` / `--multi-tenancy.*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    /// Off (the default): every request reads the role's one namespace. On: the tenant header
    /// names the namespace, and requests without it are refused.
    pub enabled: bool,
    /// The request header (gRPC metadata key) carrying the tenant; empty means
    /// [`DEFAULT_TENANT_HEADER`].
    pub header: String,
    /// The tenants allowed; empty allows any tenant.
    pub tenants: Vec<String>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self { enabled: false, header: DEFAULT_TENANT_HEADER.to_owned(), tenants: Vec::new() }
    }
}

/// Why a [`TenancyConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyConfigError {
    #[error("tenancy header {0:?} is not a valid HTTP header name")]
    InvalidHeader(String),
    #[error("tenancy tenants must not contain an empty name")]
    EmptyTenant,
}

impl TenancyConfig {
    pub fn validate(&self) -> Result<(), TenancyConfigError> {
        tenant_header(&self.header)?;
        if self.tenants.iter().any(|tenant| tenant.is_empty()) {
            return Err(TenancyConfigError::EmptyTenant);
        }
        Ok(())
    }
}

/// The selector a role's servers use: the tenant header when tenancy is enabled, otherwise
/// `default_namespace` for every request. Call [`TenancyConfig::validate`] first: an invalid
/// header name falls back to [`DEFAULT_TENANT_HEADER`] with an error log.
pub fn namespace_selector(config: &TenancyConfig, default_namespace: Namespace) -> Arc<dyn NamespaceSelector> {
    if !config.enabled {
        return Arc::new(FixedNamespace(default_namespace));
    }
    let tenants = (!config.tenants.is_empty()).then(|| config.tenants.iter().cloned().collect());
    let selector = HeaderNamespaceSelector::new(&config.header, tenants).unwrap_or_else(|error| {
        tracing::error!(error = %error, "invalid tenancy header, using x-tenant");
        HeaderNamespaceSelector { header: HeaderName::from_static(DEFAULT_TENANT_HEADER), tenants: None }
    });
    tracing::info!(
        header = %selector.header,
        tenants = selector.tenants.as_ref().map_or(0, HashSet::len),
        "query tenancy enabled: the tenant header selects the namespace"
    );
    Arc::new(selector)
}

/// The namespace of a request is its tenant header's value.
#[derive(Clone, Debug)]
pub struct HeaderNamespaceSelector {
    header: HeaderName,
    /// `None` allows any tenant.
    tenants: Option<HashSet<String>>,
}

impl Default for HeaderNamespaceSelector {
    /// `x-tenant`, any tenant.
    fn default() -> Self {
        Self { header: HeaderName::from_static(DEFAULT_TENANT_HEADER), tenants: None }
    }
}

impl HeaderNamespaceSelector {
    /// Reads the tenant from `header` (empty means [`DEFAULT_TENANT_HEADER`]) and allows only
    /// `tenants` (`None`: any).
    pub fn new(header: &str, tenants: Option<HashSet<String>>) -> Result<Self, TenancyConfigError> {
        Ok(Self { header: tenant_header(header)?, tenants })
    }

    pub fn header(&self) -> &str {
        self.header.as_str()
    }
}

impl NamespaceSelector for HeaderNamespaceSelector {
    fn select(&self, headers: &HeaderMap) -> Result<Namespace, QueryError> {
        let mut values = headers.get_all(&self.header).iter();
        let Some(value) = values.next() else { return Err(QueryError::MissingTenant) };
        if values.next().is_some() {
            return Err(QueryError::ExtraTenantHeader);
        }
        let Ok(tenant) = value.to_str() else { return Err(QueryError::UnknownTenant) };
        if tenant.is_empty() {
            return Err(QueryError::MissingTenant);
        }
        if self.tenants.as_ref().is_some_and(|tenants| !tenants.contains(tenant)) {
            return Err(QueryError::UnknownTenant);
        }
        Ok(Namespace::new(tenant))
    }
}

fn tenant_header(name: &str) -> Result<HeaderName, TenancyConfigError> {
    let name = if name.trim().is_empty() { DEFAULT_TENANT_HEADER } else { name.trim() };
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| TenancyConfigError::InvalidHeader(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn allowing(tenants: &[&str]) -> HeaderNamespaceSelector {
        HeaderNamespaceSelector::new("x-tenant", Some(tenants.iter().map(|t| (*t).to_owned()).collect())).unwrap()
    }

    #[test]
    fn the_tenant_header_names_the_namespace() {
        let selector = HeaderNamespaceSelector::default();
        assert_eq!(selector.select(&headers(&[("x-tenant", "team-a")])).unwrap(), Namespace::new("team-a"));
    }

    #[test]
    fn a_missing_or_empty_header_is_missing_tenant_header() {
        let selector = HeaderNamespaceSelector::default();
        for request in [headers(&[]), headers(&[("x-tenant", "")]), headers(&[("x-other", "team-a")])] {
            let error = selector.select(&request).unwrap_err();
            assert_eq!(error.to_string(), "missing tenant header");
            assert_eq!(error.kind(), crate::ErrorKind::Unauthenticated);
        }
    }

    #[test]
    fn a_tenant_outside_the_list_is_unknown_tenant() {
        let selector = allowing(&["team-a"]);
        assert_eq!(selector.select(&headers(&[("x-tenant", "team-a")])).unwrap(), Namespace::new("team-a"));
        let error = selector.select(&headers(&[("x-tenant", "team-b")])).unwrap_err();
        assert_eq!(error.to_string(), "unknown tenant");
        assert_eq!(error.kind(), crate::ErrorKind::PermissionDenied);
    }

    #[test]
    fn two_tenant_headers_are_refused() {
        let error = HeaderNamespaceSelector::default()
            .select(&headers(&[("x-tenant", "team-a"), ("x-tenant", "team-b")]))
            .unwrap_err();
        assert_eq!(error.to_string(), "extra tenant header");
        assert_eq!(error.kind(), crate::ErrorKind::PermissionDenied);
    }

    #[test]
    fn header_names_are_case_insensitive_and_default_to_x_tenant() {
        let selector = HeaderNamespaceSelector::new("X-Org-ID", None).unwrap();
        assert_eq!(selector.header(), "x-org-id");
        assert_eq!(selector.select(&headers(&[("x-org-id", "acme")])).unwrap(), Namespace::new("acme"));
        assert_eq!(HeaderNamespaceSelector::new("", None).unwrap().header(), "x-tenant");
        assert!(HeaderNamespaceSelector::new("bad header", None).is_err());
    }

    #[test]
    fn disabled_tenancy_reads_the_default_namespace_whatever_the_headers() {
        let selector = namespace_selector(&TenancyConfig::default(), Namespace::new("shop"));
        assert_eq!(selector.select(&headers(&[])).unwrap(), Namespace::new("shop"));
        assert_eq!(selector.select(&headers(&[("x-tenant", "team-a")])).unwrap(), Namespace::new("shop"));
    }

    #[test]
    fn enabled_tenancy_with_an_empty_list_allows_any_tenant() {
        let config = TenancyConfig { enabled: true, ..TenancyConfig::default() };
        let selector = namespace_selector(&config, Namespace::new("shop"));
        assert_eq!(selector.select(&headers(&[("x-tenant", "anyone")])).unwrap(), Namespace::new("anyone"));
        assert_eq!(selector.select(&headers(&[])).unwrap_err().to_string(), "missing tenant header");
    }

    #[test]
    fn config_rejects_unknown_keys_bad_headers_and_empty_tenants() {
        let parsed: TenancyConfig = toml_like(r#"{"enabled": true, "tenants": ["a", "b"]}"#).unwrap();
        assert_eq!(parsed.header, "x-tenant");
        assert_eq!(parsed.tenants, vec!["a".to_owned(), "b".to_owned()]);
        assert!(toml_like(r#"{"enabled": true, "tenant": ["a"]}"#).is_err());
        let bad_header = TenancyConfig { header: "x tenant".into(), ..TenancyConfig::default() };
        assert_eq!(bad_header.validate(), Err(TenancyConfigError::InvalidHeader("x tenant".into())));
        let empty_tenant = TenancyConfig { tenants: vec![String::new()], ..TenancyConfig::default() };
        assert_eq!(empty_tenant.validate(), Err(TenancyConfigError::EmptyTenant));
        assert_eq!(TenancyConfig::default().validate(), Ok(()));
    }

    fn toml_like(json: &str) -> Result<TenancyConfig, serde_json::Error> {
        serde_json::from_str(json)
    }
}
