//! Jaeger's index templates (spec §4.4), installed at start-up when `create_index_templates` is on
//! and by `spoor es-rollover init`.
//!
//! * Elasticsearch 7 and OpenSearch: legacy `PUT /_template/<prefix->jaeger-span` with
//!   `index_patterns: "*<prefix->jaeger-span-*"` (Jaeger's leading `*`).
//! * Elasticsearch 8/9: composable `PUT /_index_template/<prefix->jaeger-span` with
//!   `{"index_patterns": "<prefix->jaeger-span-*", "priority": n, "template": {...}}`.
//!
//! The mappings are Jaeger's (`esclient/index_templates/*.json`) plus the fields Spoor adds to its
//! documents (see `documents.rs`): `startTimeNanos`, `durationNanos`, `logs.timestampNanos` (long),
//! `warnings` (keyword) in the span index and `spanKind` (keyword) in the service index. Jaeger's
//! span mapping already has `scopeTags`/`scopeTag` and `references.tags`, which Jaeger never
//! writes; Spoor writes OTLP scope attributes and link attributes there.

use serde_json::{json, Value};

use super::client::{EsClient, ServerVersion};
use super::config::EsTarget;
use super::indices::{IndexNames, DEPENDENCIES_BASE, SERVICE_BASE, SPAN_BASE};
use crate::api::StorageError;

/// One of the templates Spoor installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    Span,
    Service,
    Dependencies,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 3] = [TemplateKind::Span, TemplateKind::Service, TemplateKind::Dependencies];

    pub(crate) fn base(self) -> &'static str {
        match self {
            Self::Span => SPAN_BASE,
            Self::Service => SERVICE_BASE,
            Self::Dependencies => DEPENDENCIES_BASE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Span => "span",
            Self::Service => "service",
            Self::Dependencies => "dependencies",
        }
    }
}

/// Options that change a template beyond the target's settings: the read alias that `es-rollover
/// init` adds to every new index (`None` for periodic indices).
#[derive(Clone, Debug, Default)]
pub(crate) struct TemplateOptions {
    pub read_alias: bool,
}

/// The request that installs one template: method is always PUT.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TemplateRequest {
    pub path: String,
    pub body: Value,
}

#[cfg(test)]
impl TemplateRequest {
    /// `{"method": "PUT", "path": ..., "body": ...}`, pretty, as Jaeger's golden files.
    pub(crate) fn to_golden(&self) -> String {
        let mut text = serde_json::to_string_pretty(&json!({ "method": "PUT", "path": self.path, "body": self.body }))
            .unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The request installing `kind` for this target and server.
pub(crate) fn template_request(
    kind: TemplateKind,
    target: &EsTarget,
    names: &IndexNames,
    version: ServerVersion,
    options: &TemplateOptions,
) -> TemplateRequest {
    let name = names.base_name(kind.base());
    let settings = json!({
        "index.number_of_shards": target.shards,
        "index.number_of_replicas": target.replicas,
        "index.mapping.nested_fields.limit": 50,
        "index.requests.cache.enable": true,
    });
    let mappings = match kind {
        TemplateKind::Span => span_mappings(),
        TemplateKind::Service => service_mappings(),
        TemplateKind::Dependencies => json!({}),
    };
    let mut template = json!({ "settings": settings, "mappings": mappings });
    if options.read_alias {
        template["aliases"] = json!({ format!("{name}-read"): {} });
    }
    if version.uses_composable_templates() {
        let priority = match kind {
            TemplateKind::Span => target.span_template_priority,
            TemplateKind::Service => target.service_template_priority,
            TemplateKind::Dependencies => target.dependencies_template_priority,
        };
        TemplateRequest {
            path: format!("/_index_template/{name}"),
            body: json!({ "index_patterns": format!("{name}-*"), "priority": priority, "template": template }),
        }
    } else {
        template["index_patterns"] = json!(format!("*{name}-*"));
        TemplateRequest { path: format!("/_template/{name}"), body: template }
    }
}

/// Installs the span, service and dependencies templates (idempotent: PUT replaces).
pub(crate) async fn install(
    client: &EsClient,
    target: &EsTarget,
    names: &IndexNames,
    options: &TemplateOptions,
) -> Result<(), StorageError> {
    for kind in TemplateKind::ALL {
        let request = template_request(kind, target, names, client.server_version(), options);
        let body = serde_json::to_vec(&request.body).map_err(|error| StorageError::Backend(error.to_string()))?;
        let (status, response) = client.send(http::Method::PUT, &request.path, Some(body)).await?;
        if !(200..300).contains(&status) {
            return Err(client.status_error(status, &response, &format!("installing the {} template", kind.name())));
        }
    }
    Ok(())
}

fn keyword() -> Value {
    json!({ "type": "keyword", "ignore_above": 256 })
}

/// `{key, value, type}` keyword fields of a nested key/value list.
fn key_value_nested() -> Value {
    json!({
        "type": "nested",
        "dynamic": false,
        "properties": { "key": keyword(), "value": keyword(), "type": keyword() }
    })
}

fn tag_dynamic_templates(with_scope: bool) -> Value {
    let entry = |name: &str, path: &str| json!({ name: { "mapping": keyword(), "path_match": path } });
    let mut templates = vec![entry("span_tags_map", "tag.*"), entry("process_tags_map", "process.tag.*")];
    if with_scope {
        templates.push(entry("scope_tags_map", "scopeTag.*"));
    }
    Value::Array(templates)
}

fn span_mappings() -> Value {
    json!({
        "dynamic_templates": tag_dynamic_templates(true),
        "properties": {
            "traceID": keyword(),
            "parentSpanID": keyword(),
            "spanID": keyword(),
            "operationName": keyword(),
            "startTime": { "type": "long" },
            "startTimeMillis": { "type": "date", "format": "epoch_millis" },
            "duration": { "type": "long" },
            "flags": { "type": "integer" },
            "logs": {
                "type": "nested",
                "dynamic": false,
                "properties": {
                    "timestamp": { "type": "long" },
                    "timestampNanos": { "type": "long" },
                    "fields": key_value_nested(),
                }
            },
            "process": {
                "properties": {
                    "serviceName": keyword(),
                    "tag": { "type": "object" },
                    "tags": key_value_nested(),
                }
            },
            "references": {
                "type": "nested",
                "dynamic": false,
                "properties": {
                    "refType": keyword(),
                    "traceID": keyword(),
                    "spanID": keyword(),
                    "traceState": keyword(),
                    "flags": { "type": "integer" },
                    "tags": key_value_nested(),
                }
            },
            "tag": { "type": "object" },
            "tags": key_value_nested(),
            "scopeTag": { "type": "object" },
            "scopeTags": key_value_nested(),
            "startTimeNanos": { "type": "long" },
            "durationNanos": { "type": "long" },
            "warnings": keyword(),
        }
    })
}

fn service_mappings() -> Value {
    json!({
        "dynamic_templates": tag_dynamic_templates(false),
        "properties": {
            "serviceName": keyword(),
            "operationName": keyword(),
            "spanKind": keyword(),
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Server versions Spoor is tested against, with their golden directory.
    pub(crate) const GOLDEN_VERSIONS: [(&str, ServerVersion); 3] = [
        ("es8", ServerVersion { major: 8, opensearch: false }),
        ("es9", ServerVersion { major: 9, opensearch: false }),
        ("os2", ServerVersion { major: 2, opensearch: true }),
    ];

    pub(crate) fn golden_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/elasticsearch").join(name)
    }

    /// Compares with the golden file, or rewrites it when `SPOOR_BLESS` is set (then review the
    /// diff).
    pub(crate) fn assert_golden(name: &str, actual: &str) {
        let path = golden_path(name);
        let bless = std::env::var_os("SPOOR_BLESS").is_some_and(|value| !value.is_empty() && value != "0");
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("golden file {} is unreadable ({error}); create it with SPOOR_BLESS=1", path.display())
        });
        assert!(
            expected == actual,
            "golden file {} differs; review and rerun with SPOOR_BLESS=1 to accept\n--- actual ---\n{actual}",
            path.display()
        );
    }

    fn golden_target() -> (EsTarget, IndexNames) {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.index_prefix = "test".into();
        target.shards = 3;
        target.replicas = 3;
        target.span_template_priority = 500;
        target.service_template_priority = 501;
        target.dependencies_template_priority = 502;
        let names = IndexNames::new(&target);
        (target, names)
    }

    #[test]
    fn templates_match_their_golden_files_per_server_version() {
        let (target, names) = golden_target();
        for (label, version) in GOLDEN_VERSIONS {
            for kind in TemplateKind::ALL {
                let request = template_request(kind, &target, &names, version, &TemplateOptions::default());
                assert_golden(&format!("{label}/{}_template.json", kind.name()), &request.to_golden());
            }
        }
    }

    #[test]
    fn legacy_templates_have_jaegers_leading_wildcard() {
        let (target, names) = golden_target();
        let request = template_request(
            TemplateKind::Span,
            &target,
            &names,
            ServerVersion::from_setting(7),
            &TemplateOptions::default(),
        );
        assert_eq!(request.path, "/_template/test-jaeger-span");
        assert_eq!(request.body["index_patterns"], "*test-jaeger-span-*");
        assert!(request.body.get("aliases").is_none());
    }

    #[test]
    fn composable_templates_wrap_the_body_with_a_priority() {
        let (target, names) = golden_target();
        let options = TemplateOptions { read_alias: true };
        let request =
            template_request(TemplateKind::Service, &target, &names, ServerVersion::from_setting(9), &options);
        assert_eq!(request.path, "/_index_template/test-jaeger-service");
        assert_eq!(request.body["index_patterns"], "test-jaeger-service-*");
        assert_eq!(request.body["priority"], 501);
        assert_eq!(request.body["template"]["aliases"], json!({"test-jaeger-service-read": {}}));
        assert_eq!(request.body["template"]["settings"]["index.number_of_shards"], 3);
    }

    #[test]
    fn span_mapping_covers_jaegers_fields() {
        let mappings = span_mappings();
        for field in [
            "traceID",
            "spanID",
            "operationName",
            "startTime",
            "startTimeMillis",
            "duration",
            "tags",
            "logs",
            "references",
        ] {
            assert!(mappings["properties"].get(field).is_some(), "{field}");
        }
        assert_eq!(mappings["properties"]["startTimeMillis"]["format"], "epoch_millis");
        assert_eq!(mappings["properties"]["process"]["properties"]["tags"]["type"], "nested");
        // Where scope attributes and link attributes are written and searched.
        assert_eq!(mappings["properties"]["scopeTags"]["type"], "nested");
        assert_eq!(mappings["properties"]["scopeTag"]["type"], "object");
        assert_eq!(mappings["properties"]["references"]["properties"]["tags"]["type"], "nested");
    }
}
