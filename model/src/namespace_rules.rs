//! Which namespace a span belongs to: an ordered list of rules, the first that yields a valid
//! namespace name wins, else the default namespace.
//!
//! The default order follows where the mesh puts the namespace:
//!
//! 1. `{ process_tag = "k8s.namespace.name" }`: the OTLP resource attribute (resource attributes
//!    are process tags in our model) set by the OpenTelemetry SDK's Kubernetes detectors and the
//!    collector's `k8sattributes` processor.
//! 2. `{ tag = "istio.namespace" }`: Istio's literal custom tag (maistra 2.1+). Envoy's Zipkin tracer
//!    sends it as a *span* tag (Zipkin has no process tags), so this rule reads the process tag first
//!    and then the span tag.
//! 3. `{ process_tag = "namespace" }`: the plain tag Jaeger clients and Grafana's trace-to-logs use.
//! 4. `{ service_suffix = true }`: the sidecar service name `<app>.<namespace>` (Istio's
//!    `--serviceCluster`, see integrations.md §1.2).
//!
//! A value counts only when it is a Kubernetes namespace name (a DNS-1123 label: at most 63
//! characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit); anything else
//! falls through to the next rule. Values are not lower-cased or trimmed: `Bookinfo` is not a
//! namespace Kubernetes could have created.
//!
//! The service-name rule is the risky one: `api.example.com` would name a namespace `com`. So by
//! default ([`NamespaceRulesConfig::service_suffix_known_only`] = true) the suffix counts only when
//! it is a *known* namespace: one listed in [`NamespaceRulesConfig::known_namespaces`] or given with
//! [`NamespaceRules::with_known_namespaces`] (the namespaces file's tables). Without any known
//! namespace, the rule never matches. Set it to false to accept any valid label after the last dot.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::namespace::Namespace;
use crate::span::{AttributeValue, KeyValue, Span};

/// The longest Kubernetes namespace name (a DNS-1123 label).
pub const MAX_NAMESPACE_NAME_LEN: usize = 63;

/// One way of finding a span's namespace. In TOML: `{ process_tag = "k8s.namespace.name" }`,
/// `{ span_tag = "..." }`, `{ tag = "istio.namespace" }`, `{ service_suffix = true }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NamespaceRule {
    /// The value of this process tag (an OTLP resource attribute).
    #[serde(alias = "resource_attribute")]
    ProcessTag(String),
    /// The value of this span tag.
    SpanTag(String),
    /// The value of this process tag, else of this span tag.
    Tag(String),
    /// `true`: the part of the service name after its last `.` (`reviews.bookinfo` -> `bookinfo`),
    /// when the part before is not empty. `false` disables the rule.
    ServiceSuffix(bool),
}

/// The rules as configured (the `[rules]` table of the namespaces file).
///
/// ```toml
/// [rules]
/// order = [
///   { process_tag = "k8s.namespace.name" },
///   { tag = "istio.namespace" },
///   { process_tag = "namespace" },
///   { service_suffix = true },
/// ]
/// default_namespace = "default"
/// service_suffix_known_only = true
/// known_namespaces = ["bookinfo"]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceRulesConfig {
    /// Tried in order; the first rule that yields a valid namespace name wins.
    pub order: Vec<NamespaceRule>,
    /// The namespace of spans no rule attributes. Default [`Namespace::DEFAULT_NAME`].
    pub default_namespace: String,
    /// The service-name rule only accepts a known namespace (see the module doc). Default true.
    pub service_suffix_known_only: bool,
    /// Namespaces known besides those the caller adds (the namespaces file adds its tables).
    pub known_namespaces: Vec<String>,
}

impl Default for NamespaceRulesConfig {
    fn default() -> Self {
        Self {
            order: vec![
                NamespaceRule::ProcessTag("k8s.namespace.name".to_owned()),
                NamespaceRule::Tag("istio.namespace".to_owned()),
                NamespaceRule::ProcessTag("namespace".to_owned()),
                NamespaceRule::ServiceSuffix(true),
            ],
            default_namespace: Namespace::DEFAULT_NAME.to_owned(),
            service_suffix_known_only: true,
            known_namespaces: Vec::new(),
        }
    }
}

/// Why a [`NamespaceRulesConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceRulesError {
    #[error("default namespace {0:?} is not a valid namespace name (a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters)")]
    InvalidDefaultNamespace(String),
    #[error("known namespace {0:?} is not a valid namespace name (a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters)")]
    InvalidKnownNamespace(String),
    #[error("namespace rule {0} has an empty tag key")]
    EmptyTagKey(usize),
}

/// True when `name` is a Kubernetes namespace name: a DNS-1123 label, 1 to 63 characters of
/// `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
pub fn is_valid_namespace_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    bytes.len() <= MAX_NAMESPACE_NAME_LEN
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[derive(Clone, Debug)]
enum CompiledRule {
    ProcessTag(String),
    SpanTag(String),
    Tag(String),
    ServiceSuffix,
}

/// The compiled rules. Cheap to share (`Arc`); [`NamespaceRules::namespace_of`] does not allocate
/// for known namespaces and the default.
#[derive(Clone, Debug)]
pub struct NamespaceRules {
    rules: Vec<CompiledRule>,
    default_namespace: Namespace,
    service_suffix_known_only: bool,
    /// Known namespaces (and the default), interned.
    known: HashMap<String, Namespace>,
}

impl Default for NamespaceRules {
    /// [`NamespaceRulesConfig::default`] without known namespaces.
    fn default() -> Self {
        Self::from_config(&NamespaceRulesConfig::default()).expect("the default rules are valid")
    }
}

impl NamespaceRules {
    pub fn from_config(config: &NamespaceRulesConfig) -> Result<Self, NamespaceRulesError> {
        if !is_valid_namespace_name(&config.default_namespace) {
            return Err(NamespaceRulesError::InvalidDefaultNamespace(config.default_namespace.clone()));
        }
        let mut rules = Vec::with_capacity(config.order.len());
        for (index, rule) in config.order.iter().enumerate() {
            let compiled = match rule {
                NamespaceRule::ProcessTag(key) | NamespaceRule::SpanTag(key) | NamespaceRule::Tag(key)
                    if key.is_empty() =>
                {
                    return Err(NamespaceRulesError::EmptyTagKey(index));
                }
                NamespaceRule::ProcessTag(key) => CompiledRule::ProcessTag(key.clone()),
                NamespaceRule::SpanTag(key) => CompiledRule::SpanTag(key.clone()),
                NamespaceRule::Tag(key) => CompiledRule::Tag(key.clone()),
                NamespaceRule::ServiceSuffix(true) => CompiledRule::ServiceSuffix,
                NamespaceRule::ServiceSuffix(false) => continue,
            };
            rules.push(compiled);
        }
        let default_namespace = Namespace::new(&config.default_namespace);
        let mut known = HashMap::new();
        known.insert(config.default_namespace.clone(), default_namespace.clone());
        let mut this =
            Self { rules, default_namespace, service_suffix_known_only: config.service_suffix_known_only, known };
        this = this.with_known_namespaces(&config.known_namespaces)?;
        Ok(this)
    }

    /// Adds known namespaces: the service-name rule accepts them when `service_suffix_known_only`
    /// is set, and they are interned.
    pub fn with_known_namespaces<I, S>(mut self, names: I) -> Result<Self, NamespaceRulesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in names {
            let name = name.as_ref();
            if !is_valid_namespace_name(name) {
                return Err(NamespaceRulesError::InvalidKnownNamespace(name.to_owned()));
            }
            self.known.entry(name.to_owned()).or_insert_with(|| Namespace::new(name));
        }
        Ok(self)
    }

    /// The namespace of spans no rule attributes.
    pub fn default_namespace(&self) -> &Namespace {
        &self.default_namespace
    }

    /// The known namespaces (the default included), sorted.
    pub fn known_namespaces(&self) -> Vec<Namespace> {
        let mut names: Vec<Namespace> = self.known.values().cloned().collect();
        names.sort();
        names
    }

    /// The span's namespace: the first rule's valid answer, else the default namespace.
    pub fn namespace_of(&self, span: &Span) -> Namespace {
        self.namespace_for_name(self.namespace_name_of(span))
    }

    /// The name [`NamespaceRules::namespace_of`] returns, borrowed from the span or the rules
    /// (no allocation), for callers that group spans.
    pub fn namespace_name_of<'a>(&'a self, span: &'a Span) -> &'a str {
        for rule in &self.rules {
            let found = match rule {
                CompiledRule::ProcessTag(key) => namespace_tag(&span.process.tags, key),
                CompiledRule::SpanTag(key) => namespace_tag(&span.tags, key),
                CompiledRule::Tag(key) => {
                    namespace_tag(&span.process.tags, key).or_else(|| namespace_tag(&span.tags, key))
                }
                CompiledRule::ServiceSuffix => self.service_suffix(span.service_name()),
            };
            if let Some(name) = found {
                return name;
            }
        }
        self.default_namespace.as_str()
    }

    /// The interned [`Namespace`] for a name [`NamespaceRules::namespace_name_of`] returned.
    pub fn namespace_for_name(&self, name: &str) -> Namespace {
        match self.known.get(name) {
            Some(namespace) => namespace.clone(),
            None => Namespace::new(name),
        }
    }

    fn service_suffix<'a>(&self, service_name: &'a str) -> Option<&'a str> {
        let (app, suffix) = service_name.rsplit_once('.')?;
        if app.is_empty() || !is_valid_namespace_name(suffix) {
            return None;
        }
        if self.service_suffix_known_only && !self.known.contains_key(suffix) {
            return None;
        }
        Some(suffix)
    }
}

/// The first tag named `key` whose value is a string holding a valid namespace name.
fn namespace_tag<'a>(tags: &'a [KeyValue], key: &str) -> Option<&'a str> {
    tags.iter().filter(|kv| kv.key == key).find_map(|kv| match &kv.value {
        AttributeValue::String(value) if is_valid_namespace_name(value) => Some(value.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Process, SpanId, TraceId};

    fn span(service: &str, process_tags: Vec<KeyValue>, span_tags: Vec<KeyValue>) -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(2),
            operation_name: "op".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_000,
            duration_nanos: 10,
            tags: span_tags,
            logs: vec![],
            process: Arc::new(Process { service_name: service.into(), tags: process_tags }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn rules_knowing(names: &[&str]) -> NamespaceRules {
        NamespaceRules::default().with_known_namespaces(names).unwrap()
    }

    #[test]
    fn validates_dns_1123_labels() {
        for good in ["a", "bookinfo", "istio-system", "ns1", "1ns", &"a".repeat(63)] {
            assert!(is_valid_namespace_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "Bookinfo", "a.b", "a_b", " a", "ns ", &"a".repeat(64), "ä"] {
            assert!(!is_valid_namespace_name(bad), "{bad}");
        }
    }

    #[test]
    fn resource_attribute_k8s_namespace_comes_first() {
        let rules = rules_knowing(&["bookinfo"]);
        let s = span(
            "reviews.bookinfo",
            vec![KeyValue::string("namespace", "other"), KeyValue::string("k8s.namespace.name", "shop")],
            vec![KeyValue::string("istio.namespace", "mesh")],
        );
        assert_eq!(rules.namespace_of(&s), Namespace::new("shop"));
    }

    #[test]
    fn istio_namespace_is_read_from_process_then_span_tags() {
        let rules = NamespaceRules::default();
        let on_span = span("reviews", vec![], vec![KeyValue::string("istio.namespace", "bookinfo")]);
        assert_eq!(rules.namespace_of(&on_span).as_str(), "bookinfo");
        let on_process = span(
            "reviews",
            vec![KeyValue::string("istio.namespace", "proc-ns")],
            vec![KeyValue::string("istio.namespace", "span-ns")],
        );
        assert_eq!(rules.namespace_of(&on_process).as_str(), "proc-ns");
    }

    #[test]
    fn plain_namespace_process_tag_is_the_third_rule() {
        let rules = NamespaceRules::default();
        let s = span("svc", vec![KeyValue::string("namespace", "team-a")], vec![]);
        assert_eq!(rules.namespace_of(&s).as_str(), "team-a");
        // a span tag `namespace` is not a process tag
        let s = span("svc", vec![], vec![KeyValue::string("namespace", "team-a")]);
        assert_eq!(rules.namespace_of(&s).as_str(), "default");
    }

    #[test]
    fn invalid_values_fall_through_to_the_next_rule() {
        let rules = rules_knowing(&["bookinfo"]);
        let s = span(
            "reviews.bookinfo",
            vec![KeyValue::string("k8s.namespace.name", "Not_A_Label"), KeyValue::int64("namespace", 7)],
            vec![KeyValue::string("istio.namespace", "")],
        );
        assert_eq!(rules.namespace_of(&s).as_str(), "bookinfo");
    }

    #[test]
    fn a_second_tag_with_the_same_key_is_tried_when_the_first_is_invalid() {
        let rules = NamespaceRules::default();
        let s = span(
            "svc",
            vec![KeyValue::string("k8s.namespace.name", "BAD"), KeyValue::string("k8s.namespace.name", "good")],
            vec![],
        );
        assert_eq!(rules.namespace_of(&s).as_str(), "good");
    }

    #[test]
    fn sidecar_service_name_suffix_names_a_known_namespace() {
        let rules = rules_knowing(&["bookinfo"]);
        assert_eq!(rules.namespace_of(&span("reviews.bookinfo", vec![], vec![])).as_str(), "bookinfo");
        // the namespace is after the last dot; the app label may hold dots
        assert_eq!(rules.namespace_of(&span("my.app.bookinfo", vec![], vec![])).as_str(), "bookinfo");
    }

    #[test]
    fn hostname_like_service_names_do_not_create_namespaces_by_default() {
        let rules = rules_knowing(&["bookinfo"]);
        for service in ["api.example.com", "reviews.unknown", "istio-ingressgateway", ".bookinfo", "reviews."] {
            assert_eq!(rules.namespace_of(&span(service, vec![], vec![])).as_str(), "default", "{service}");
        }
        // without any known namespace the rule never matches
        assert_eq!(
            NamespaceRules::default().namespace_of(&span("reviews.bookinfo", vec![], vec![])).as_str(),
            "default"
        );
    }

    #[test]
    fn any_valid_suffix_counts_when_known_only_is_off() {
        let config = NamespaceRulesConfig { service_suffix_known_only: false, ..NamespaceRulesConfig::default() };
        let rules = NamespaceRules::from_config(&config).unwrap();
        assert_eq!(rules.namespace_of(&span("reviews.bookinfo", vec![], vec![])).as_str(), "bookinfo");
        assert_eq!(rules.namespace_of(&span("api.example.com", vec![], vec![])).as_str(), "com");
        assert_eq!(rules.namespace_of(&span("svc.Upper", vec![], vec![])).as_str(), "default");
    }

    #[test]
    fn known_namespaces_from_the_config_count_for_the_suffix_rule() {
        let config = NamespaceRulesConfig { known_namespaces: vec!["shop".into()], ..NamespaceRulesConfig::default() };
        let rules = NamespaceRules::from_config(&config).unwrap();
        assert_eq!(rules.namespace_of(&span("cart.shop", vec![], vec![])).as_str(), "shop");
        assert_eq!(rules.known_namespaces(), vec![Namespace::new("default"), Namespace::new("shop")]);
    }

    #[test]
    fn unattributed_spans_get_the_configured_default() {
        let config =
            NamespaceRulesConfig { default_namespace: "unattributed".into(), ..NamespaceRulesConfig::default() };
        let rules = NamespaceRules::from_config(&config).unwrap();
        assert_eq!(rules.namespace_of(&span("svc", vec![], vec![])).as_str(), "unattributed");
        assert_eq!(rules.default_namespace().as_str(), "unattributed");
    }

    #[test]
    fn rules_apply_in_the_configured_order() {
        let config = NamespaceRulesConfig {
            order: vec![
                NamespaceRule::SpanTag("tenant".into()),
                NamespaceRule::ProcessTag("k8s.namespace.name".into()),
            ],
            ..NamespaceRulesConfig::default()
        };
        let rules = NamespaceRules::from_config(&config).unwrap();
        let s = span(
            "svc",
            vec![KeyValue::string("k8s.namespace.name", "from-resource")],
            vec![KeyValue::string("tenant", "from-span")],
        );
        assert_eq!(rules.namespace_of(&s).as_str(), "from-span");
        // a disabled service-suffix rule and an empty order leave only the default
        let config = NamespaceRulesConfig {
            order: vec![NamespaceRule::ServiceSuffix(false)],
            service_suffix_known_only: false,
            ..NamespaceRulesConfig::default()
        };
        let rules = NamespaceRules::from_config(&config).unwrap();
        assert_eq!(rules.namespace_of(&span("reviews.bookinfo", vec![], vec![])).as_str(), "default");
    }

    #[test]
    fn rejects_invalid_configs() {
        let bad_default =
            NamespaceRulesConfig { default_namespace: "Default".into(), ..NamespaceRulesConfig::default() };
        assert_eq!(
            NamespaceRules::from_config(&bad_default).unwrap_err(),
            NamespaceRulesError::InvalidDefaultNamespace("Default".into())
        );
        let bad_known =
            NamespaceRulesConfig { known_namespaces: vec!["a.b".into()], ..NamespaceRulesConfig::default() };
        assert!(matches!(
            NamespaceRules::from_config(&bad_known),
            Err(NamespaceRulesError::InvalidKnownNamespace(name)) if name == "a.b"
        ));
        let empty_key =
            NamespaceRulesConfig { order: vec![NamespaceRule::Tag(String::new())], ..NamespaceRulesConfig::default() };
        assert_eq!(NamespaceRules::from_config(&empty_key).unwrap_err(), NamespaceRulesError::EmptyTagKey(0));
    }

    #[test]
    fn known_namespaces_are_interned() {
        let rules = rules_knowing(&["bookinfo"]);
        let a = rules.namespace_of(&span("reviews.bookinfo", vec![], vec![]));
        let b = rules.namespace_of(&span("details.bookinfo", vec![], vec![]));
        assert!(std::ptr::eq(a.as_str().as_ptr(), b.as_str().as_ptr()));
    }

    #[test]
    fn config_reads_from_json_in_the_toml_shape() {
        // The model crate has no TOML parser; serde_json shows the same externally tagged shape
        // (`{ process_tag = "..." }` in TOML is `{"process_tag": "..."}` here).
        let config: NamespaceRulesConfig = serde_json::from_str(
            r#"{"order": [{"resource_attribute": "k8s.namespace.name"}, {"tag": "istio.namespace"},
                          {"service_suffix": true}],
                "service_suffix_known_only": false}"#,
        )
        .unwrap();
        assert_eq!(
            config.order,
            vec![
                NamespaceRule::ProcessTag("k8s.namespace.name".into()),
                NamespaceRule::Tag("istio.namespace".into()),
                NamespaceRule::ServiceSuffix(true)
            ]
        );
        assert_eq!(config.default_namespace, "default");
        assert!(serde_json::from_str::<NamespaceRulesConfig>(r#"{"oder": []}"#).is_err());
        assert!(serde_json::from_str::<NamespaceRulesConfig>(r#"{"order": [{"host": "x"}]}"#).is_err());
    }
}
