//! The namespace a span belongs to: the unit of storage isolation (own cluster, index prefix and
//! credentials). Every storage call names one explicitly.

use std::fmt;
use std::sync::Arc;

/// A Kubernetes-style namespace name. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Arc<str>);

impl Namespace {
    /// The namespace used when no rule attributes a span and for single-tenant deployments.
    pub const DEFAULT_NAME: &'static str = "default";

    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    pub fn default_namespace() -> Self {
        Self::new(Self::DEFAULT_NAME)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::default_namespace()
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({})", &self.0)
    }
}
