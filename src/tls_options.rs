//! The TLS options of every TCP listener (Jaeger's `--<listener>.tls.*` names where Jaeger has
//! them), and the [`ServerTls`] they build. A listener with `.tls.enabled=true` serves only TLS on
//! its port; no plaintext port is opened beside it.

use std::path::PathBuf;

use anyhow::Context;
use spoor_tls::{ServerTls, TlsServerConfig, TlsVersion};

use crate::options::{OptionSpec, Settings};

/// The eight options of one listener: `<prefix>.tls.enabled`, `.cert`, `.key`, `.client-ca`,
/// `.min-version`, `.max-version`, `.cipher-suites`, `.reload-interval`. With `jaeger`, the options
/// are Jaeger's (their unprefixed environment names are read too).
macro_rules! tls_options {
    ($prefix:literal, $what:literal $(, $jaeger:ident)?) => {
        [
            OptionSpec::new(
                concat!($prefix, ".tls.enabled"),
                Some("false"),
                concat!("Serve TLS on the ", $what, " (only TLS: the port then accepts no plaintext)"),
            )$(.$jaeger())?,
            OptionSpec::new(
                concat!($prefix, ".tls.cert"),
                None,
                concat!("PEM certificate chain of the ", $what, "; re-read when it changes"),
            )$(.$jaeger())?,
            OptionSpec::new(
                concat!($prefix, ".tls.key"),
                None,
                concat!("PEM private key of the ", $what, "'s certificate; re-read when it changes"),
            )$(.$jaeger())?,
            OptionSpec::new(
                concat!($prefix, ".tls.client-ca"),
                None,
                concat!("PEM CA bundle; when set the ", $what, " requires client certificates signed by it (mTLS)"),
            )$(.$jaeger())?,
            OptionSpec::new(concat!($prefix, ".tls.min-version"), Some("1.2"), "Lowest TLS version accepted: 1.2 or 1.3")$(.$jaeger())?,
            OptionSpec::new(concat!($prefix, ".tls.max-version"), Some("1.3"), "Highest TLS version accepted: 1.2 or 1.3")$(.$jaeger())?,
            OptionSpec::new(
                concat!($prefix, ".tls.cipher-suites"),
                Some(""),
                "Comma-separated cipher suites (IANA names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); empty: rustls's defaults, all AEAD with forward secrecy",
            )$(.$jaeger())?,
            OptionSpec::new(
                concat!($prefix, ".tls.reload-interval"),
                Some("2s"),
                "How often the certificate, key and client CA files are checked for changes (a broken new file is refused, the old one stays in use); 0s turns it off",
            )$(.$jaeger())?,
        ]
    };
}

const OTLP_GRPC: [OptionSpec; 8] = tls_options!("collector.otlp.grpc", "OTLP gRPC receiver", jaeger);
const OTLP_HTTP: [OptionSpec; 8] = tls_options!("collector.otlp.http", "OTLP HTTP receiver", jaeger);
const JAEGER_GRPC: [OptionSpec; 8] =
    tls_options!("collector.grpc", "Jaeger gRPC receiver (--collector.grpc-server.host-port)", jaeger);
const JAEGER_HTTP: [OptionSpec; 8] =
    tls_options!("collector.http", "Jaeger Thrift HTTP receiver (--collector.http-server.host-port)", jaeger);
const ZIPKIN: [OptionSpec; 8] = tls_options!("collector.zipkin", "Zipkin receiver", jaeger);
const SAMPLING_HTTP: [OptionSpec; 8] = tls_options!("sampling.http", "remote sampling HTTP server");
const SAMPLING_GRPC: [OptionSpec; 8] = tls_options!("sampling.grpc", "remote sampling gRPC server");
const QUERY_HTTP: [OptionSpec; 8] = tls_options!("query.http", "query HTTP server (API and UI)", jaeger);
const QUERY_GRPC: [OptionSpec; 8] = tls_options!("query.grpc", "query gRPC server", jaeger);
const REMOTE_STORAGE_GRPC: [OptionSpec; 8] = tls_options!("remote-storage.grpc", "remote-storage gRPC server");
const ADMIN_HTTP: [OptionSpec; 8] = tls_options!("admin.http", "admin server (health, metrics)", jaeger);

/// The TLS options of the receivers and sampling servers (`collector`, `all-in-one`).
pub fn collector_specs() -> Vec<OptionSpec> {
    [OTLP_GRPC, OTLP_HTTP, JAEGER_GRPC, JAEGER_HTTP, ZIPKIN, SAMPLING_HTTP, SAMPLING_GRPC].concat()
}

/// The TLS options of the query servers (`query`, `all-in-one`).
pub fn query_specs() -> Vec<OptionSpec> {
    [QUERY_HTTP, QUERY_GRPC, REMOTE_STORAGE_GRPC].concat()
}

/// The TLS options of the admin server (every role that runs one).
pub fn admin_specs() -> Vec<OptionSpec> {
    ADMIN_HTTP.to_vec()
}

/// Every TLS option (`all-in-one`, and for checking config files).
pub fn all_specs() -> Vec<OptionSpec> {
    [collector_specs(), query_specs(), admin_specs()].concat()
}

/// The TLS material of the listener whose options start with `prefix` (`query.http`), loaded and
/// watched for rotation; `None` when its TLS is off or the role has no such options. Fails when
/// TLS is on without a certificate and key, when they cannot be loaded, and when certificate
/// options are given while TLS is off (so a typo never leaves a listener in plaintext by surprise).
pub fn server_tls(settings: &Settings, prefix: &str) -> anyhow::Result<Option<ServerTls>> {
    let key = |name: &str| format!("{prefix}.tls.{name}");
    if settings.optional_string(&key("enabled")).is_none() {
        return Ok(None);
    }
    let enabled = settings.bool(&key("enabled"))?;
    let path = |name: &str| {
        settings
            .optional_string(&key(name))
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    let (cert, private_key, client_ca) = (path("cert"), path("key"), path("client-ca"));
    if !enabled {
        let set = [("cert", &cert), ("key", &private_key), ("client-ca", &client_ca)];
        if let Some((name, _)) = set.iter().find(|(_, value)| value.is_some()) {
            anyhow::bail!(
                "option --{} is set but --{} is false: set --{}=true to serve TLS, or remove the --{prefix}.tls.* options",
                key(name),
                key("enabled"),
                key("enabled")
            );
        }
        return Ok(None);
    }
    if cert.is_none() || private_key.is_none() {
        anyhow::bail!(
            "option --{} is true but --{} and --{} are not both set",
            key("enabled"),
            key("cert"),
            key("key")
        );
    }
    let config = TlsServerConfig {
        enabled,
        cert,
        key: private_key,
        client_ca,
        min_version: settings.parse::<TlsVersion>(&key("min-version"))?,
        max_version: settings.parse::<TlsVersion>(&key("max-version"))?,
        cipher_suites: settings
            .string(&key("cipher-suites"))?
            .split(',')
            .map(str::trim)
            .filter(|suite| !suite.is_empty())
            .map(str::to_owned)
            .collect(),
        reload_interval: settings.duration(&key("reload-interval"))?,
    };
    let tls = ServerTls::new(prefix, &config).with_context(|| format!("invalid --{prefix}.tls.* options"))?;
    Ok(Some(tls))
}

/// The `--<prefix>.tls.*` option groups of every listener; a role has only some of them.
const LISTENER_PREFIXES: &[&str] = &[
    "admin.http",
    "collector.otlp.grpc",
    "collector.otlp.http",
    "collector.grpc",
    "collector.http",
    "collector.zipkin",
    "sampling.http",
    "sampling.grpc",
    "query.http",
    "query.grpc",
    "remote-storage.grpc",
];

/// Checks the TLS options of every listener the role has, loading their files, before anything
/// binds. Called outside the runtime, so it starts no file watcher; the listeners load their
/// material again when they bind.
pub fn check_listeners(settings: &Settings) -> anyhow::Result<()> {
    for prefix in LISTENER_PREFIXES {
        server_tls(settings, prefix)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Command;

    use super::*;
    use crate::options::add_to_command;

    fn settings(args: &[&str]) -> Settings {
        let specs = all_specs();
        let command = add_to_command(Command::new("t"), &specs);
        let matches = command.try_get_matches_from(std::iter::once("t").chain(args.iter().copied())).unwrap();
        let keys: Vec<&str> = specs.iter().map(|spec| spec.key).collect();
        Settings::resolve(&specs, &keys, &matches, &HashMap::new()).unwrap()
    }

    #[test]
    fn every_listener_has_the_eight_options_with_jaegers_names() {
        let keys: Vec<&str> = all_specs().iter().map(|spec| spec.key).collect();
        assert_eq!(keys.len(), 11 * 8);
        for key in [
            "collector.grpc.tls.enabled",
            "collector.http.tls.cert",
            "collector.otlp.grpc.tls.key",
            "collector.otlp.http.tls.client-ca",
            "collector.zipkin.tls.min-version",
            "query.http.tls.enabled",
            "query.grpc.tls.cipher-suites",
            "admin.http.tls.reload-interval",
            "remote-storage.grpc.tls.enabled",
            "sampling.grpc.tls.enabled",
        ] {
            assert!(keys.contains(&key), "{key}");
        }
        let query_http = all_specs().into_iter().find(|spec| spec.key == "query.http.tls.cert").unwrap();
        assert!(query_http.jaeger && query_http.env_name() == "SPOOR_QUERY_HTTP_TLS_CERT");
    }

    #[test]
    fn tls_off_by_default_and_for_roles_without_the_options() {
        assert!(server_tls(&settings(&[]), "query.http").unwrap().is_none());
        assert!(server_tls(&settings(&[]), "no-such-listener").unwrap().is_none());
    }

    #[test]
    fn a_certificate_without_enabled_is_refused_rather_than_served_in_plaintext() {
        let error = server_tls(&settings(&["--query.http.tls.cert", "/tmp/c.pem"]), "query.http").unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("--query.http.tls.cert is set but --query.http.tls.enabled is false"), "{message}");
    }

    #[test]
    fn enabled_without_a_key_is_refused() {
        let error = server_tls(
            &settings(&["--admin.http.tls.enabled=true", "--admin.http.tls.cert", "/tmp/c.pem"]),
            "admin.http",
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("--admin.http.tls.key"), "{error:#}");
    }

    #[test]
    fn a_missing_certificate_file_fails_naming_the_options_and_the_file() {
        let args = [
            "--query.grpc.tls.enabled",
            "true",
            "--query.grpc.tls.cert",
            "/nonexistent/c.pem",
            "--query.grpc.tls.key",
            "/nonexistent/k.pem",
        ];
        let message = format!("{:#}", server_tls(&settings(&args), "query.grpc").unwrap_err());
        assert!(message.contains("--query.grpc.tls.*") && message.contains("/nonexistent/c.pem"), "{message}");
    }

    #[test]
    fn a_bad_version_names_the_option() {
        let args = [
            "--query.grpc.tls.enabled",
            "true",
            "--query.grpc.tls.cert",
            "c",
            "--query.grpc.tls.key",
            "k",
            "--query.grpc.tls.min-version",
            "1.0",
        ];
        let message = format!("{:#}", server_tls(&settings(&args), "query.grpc").unwrap_err());
        assert!(message.contains("--query.grpc.tls.min-version"), "{message}");
    }
}
