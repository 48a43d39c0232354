//! Kafka client TLS and SASL from Jaeger's `--kafka.producer.*` / `--kafka.consumer.*` options, as
//! librdkafka properties. Files (CA, certificate, key) are read by librdkafka when the client starts.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::options::Settings;

/// The librdkafka properties for the client whose options start with `prefix`.
pub fn properties(settings: &Settings, prefix: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let key = |name: &str| format!("{prefix}.{name}");
    let optional = |name: &str| settings.optional_string(&key(name)).filter(|value| !value.trim().is_empty());
    let mut properties = BTreeMap::new();
    let authentication = settings.choice(&key("authentication"), &["none", "tls", "plaintext"])?;
    let tls = settings.bool(&key("tls.enabled"))? || authentication == "tls";
    if tls {
        if let Some(ca) = optional("tls.ca") {
            properties.insert("ssl.ca.location".to_owned(), ca);
        }
        if let Some(cert) = optional("tls.cert") {
            properties.insert("ssl.certificate.location".to_owned(), cert);
        }
        if let Some(private_key) = optional("tls.key") {
            properties.insert("ssl.key.location".to_owned(), private_key);
        }
        if settings.bool(&key("tls.skip-host-verify"))? {
            tracing::warn!(
                client = prefix,
                "Kafka broker certificates are NOT verified (--{prefix}.tls.skip-host-verify)"
            );
            properties.insert("enable.ssl.certificate.verification".to_owned(), "false".to_owned());
            properties.insert("ssl.endpoint.identification.algorithm".to_owned(), "none".to_owned());
        }
    }
    let protocol = match (authentication.as_str(), tls) {
        ("plaintext", true) => "sasl_ssl",
        ("plaintext", false) => "sasl_plaintext",
        (_, true) => "ssl",
        _ => "plaintext",
    };
    properties.insert("security.protocol".to_owned(), protocol.to_owned());
    if authentication == "plaintext" {
        let mechanism = settings.choice(&key("plaintext.mechanism"), &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])?;
        properties.insert("sasl.mechanisms".to_owned(), mechanism);
        let username = optional("plaintext.username").with_context(|| {
            format!("--{prefix}.plaintext.username is required with --{prefix}.authentication=plaintext")
        })?;
        properties.insert("sasl.username".to_owned(), username);
        let password_file = optional("plaintext.password-file").with_context(|| {
            format!("--{prefix}.plaintext.password-file is required with --{prefix}.authentication=plaintext")
        })?;
        // The content is a secret: only the file's name is ever reported.
        let password = std::fs::read_to_string(&password_file)
            .with_context(|| format!("cannot read --{prefix}.plaintext.password-file {password_file}"))?;
        properties.insert("sasl.password".to_owned(), password.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(properties)
}
