//! Reading certificates, keys and CA bundles from PEM files into rustls types, and the crypto
//! provider a config allows. Errors name the file and what is wrong with it, never its content.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SupportedProtocolVersion};

use crate::config::{TlsServerConfig, TlsVersion};
use crate::error::TlsError;

/// The contents of one file, read once so that the change check and the parse see the same bytes.
pub(crate) struct FileBytes<'a> {
    pub path: &'a Path,
    pub bytes: Vec<u8>,
}

pub(crate) fn read<'a>(what: &'static str, path: &'a Path) -> Result<FileBytes<'a>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_owned(), source })?;
    Ok(FileBytes { path, bytes })
}

/// The protocol versions `config` allows, lowest first.
pub(crate) fn protocol_versions(config: &TlsServerConfig) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if config.min_version <= TlsVersion::Tls12 && config.max_version >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if config.max_version >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    versions
}

/// ring's provider with only the cipher suites `config` allows (all of ring's by default).
pub(crate) fn crypto_provider(config: &TlsServerConfig) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !config.cipher_suites.is_empty() {
        let mut unknown = Vec::new();
        let mut chosen = Vec::new();
        for wanted in &config.cipher_suites {
            match provider.cipher_suites.iter().find(|suite| suite_name_matches(&suite_name(suite), wanted)) {
                Some(suite) if !chosen.contains(suite) => chosen.push(*suite),
                Some(_) => {}
                None => unknown.push(wanted.as_str()),
            }
        }
        if !unknown.is_empty() {
            return Err(TlsError::Config(format!(
                "unknown or unsupported cipher suites {}; supported: {}",
                unknown.join(", "),
                supported_cipher_suite_names().join(", ")
            )));
        }
        provider.cipher_suites = chosen;
    }
    let versions = protocol_versions(config);
    let usable = provider.cipher_suites.iter().any(|suite| versions.iter().any(|version| suite.version() == *version));
    if !usable {
        return Err(TlsError::Config(format!(
            "no cipher suite left for TLS {}..{}; TLS 1.3 suites are {}",
            config.min_version,
            config.max_version,
            supported_cipher_suite_names()
                .iter()
                .filter(|n| !n.contains("_WITH_"))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Arc::new(provider))
}

/// The IANA names of the cipher suites Spoor can offer (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, ...).
pub fn supported_cipher_suite_names() -> Vec<String> {
    rustls::crypto::ring::default_provider().cipher_suites.iter().map(suite_name).collect()
}

/// IANA name: rustls spells the TLS 1.3 suites `TLS13_...`, IANA and Go `TLS_...`.
fn suite_name(suite: &rustls::SupportedCipherSuite) -> String {
    let rustls_name = format!("{:?}", suite.suite());
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls_name,
    }
}

/// Case-insensitive; also accepts rustls's `TLS13_` spelling and Go's ChaCha20 names without the
/// `_SHA256` suffix.
fn suite_name_matches(iana: &str, wanted: &str) -> bool {
    let wanted = wanted.trim().to_ascii_uppercase().replace("TLS13_", "TLS_");
    wanted == iana || (iana.ends_with("CHACHA20_POLY1305_SHA256") && format!("{wanted}_SHA256") == iana)
}

/// The certificate chain and the key, checked to belong together.
pub(crate) fn certified_key(
    cert: &FileBytes<'_>,
    key: &FileBytes<'_>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = certificates("certificate", cert)?;
    let invalid_key = |reason: String| TlsError::Invalid { what: "private key", path: key.path.to_owned(), reason };
    let private_key = PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|error| {
        invalid_key(match error {
            pem::Error::NoItemsFound => {
                "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found".into()
            }
            other => pem_problem(&other),
        })
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|_| invalid_key("unsupported private key type (use RSA, ECDSA P-256/P-384 or Ed25519)".into()))?;
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified_key),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::KeyMismatch { cert: cert.path.to_owned(), key: key.path.to_owned() })
        }
        Err(error) => Err(TlsError::Invalid {
            what: "certificate",
            path: cert.path.to_owned(),
            reason: format!("the first certificate cannot be parsed: {error}"),
        }),
    }
}

/// A verifier requiring client certificates signed by a CA of `ca`.
pub(crate) fn client_verifier(
    ca: &FileBytes<'_>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let invalid = |reason: String| TlsError::Invalid { what: "client CA", path: ca.path.to_owned(), reason };
    let mut roots = RootCertStore::empty();
    for certificate in certificates("client CA", ca)? {
        roots.add(certificate).map_err(|error| invalid(format!("a CA certificate cannot be used: {error}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|error| invalid(format!("cannot build the client verifier: {error}")))
}

fn certificates(what: &'static str, file: &FileBytes<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let invalid = |reason: String| TlsError::Invalid { what, path: file.path.to_owned(), reason };
    let chain = CertificateDer::pem_slice_iter(&file.bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(pem_problem(&error)))?;
    if chain.is_empty() {
        return Err(invalid("no PEM CERTIFICATE found".into()));
    }
    Ok(chain)
}

/// What is wrong with a PEM file, without quoting it (it may be a key).
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line (truncated file?)".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        pem::Error::NoItemsFound => "no PEM section of the expected type found".into(),
        pem::Error::SectionTooLarge => "a PEM section is too large".into(),
        _ => "not a valid PEM file".into(),
    }
}

/// The SHA-256 fingerprint of a certificate, as `openssl x509 -fingerprint -sha256` prints it
/// (`AB:CD:...`). Certificates are public: logging the fingerprint lets an operator check which
/// one is served.
pub fn certificate_fingerprint(certificate: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate);
    digest.as_ref().iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_certs::TestCa;

    fn file<'a>(path: &'a Path, bytes: impl Into<Vec<u8>>) -> FileBytes<'a> {
        FileBytes { path, bytes: bytes.into() }
    }

    fn provider() -> Arc<CryptoProvider> {
        crypto_provider(&TlsServerConfig::default()).unwrap()
    }

    #[test]
    fn loads_a_matching_certificate_and_key() {
        let ca = TestCa::new("test CA");
        let leaf = ca.server_cert("localhost");
        let key = certified_key(
            &file(Path::new("c.pem"), leaf.cert_pem.clone()),
            &file(Path::new("k.pem"), leaf.key_pem.clone()),
            &provider(),
        )
        .unwrap();
        assert_eq!(key.cert.len(), 1);
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let ca = TestCa::new("test CA");
        let (one, other) = (ca.server_cert("localhost"), ca.server_cert("localhost"));
        let error = certified_key(
            &file(Path::new("c.pem"), one.cert_pem),
            &file(Path::new("k.pem"), other.key_pem),
            &provider(),
        )
        .err()
        .unwrap();
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
    }

    #[test]
    fn errors_about_a_broken_key_never_quote_it() {
        let ca = TestCa::new("test CA");
        let leaf = ca.server_cert("localhost");
        // A truncated key: the base64 body is there, the END line is not.
        let truncated = &leaf.key_pem[..leaf.key_pem.len() / 2];
        let body_line = truncated.lines().nth(1).unwrap().to_owned();
        for broken in [truncated.to_owned(), leaf.key_pem.replace(&body_line, &format!("{body_line}!!"))] {
            let error = certified_key(
                &file(Path::new("c.pem"), leaf.cert_pem.clone()),
                &file(Path::new("/etc/spoor/k.pem"), broken),
                &provider(),
            )
            .err()
            .unwrap()
            .to_string();
            assert!(error.contains("/etc/spoor/k.pem"), "{error}");
            assert!(!error.contains(&body_line[..20]), "the key's content leaked: {error}");
        }
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let error = certificates("certificate", &file(Path::new("c.pem"), "hello\n")).unwrap_err().to_string();
        assert!(error.contains("no PEM CERTIFICATE"), "{error}");
    }

    #[test]
    fn fingerprint_is_openssl_style_sha256() {
        let fingerprint = certificate_fingerprint(b"abc");
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        assert!(fingerprint.starts_with("BA:78:16:BF"), "{fingerprint}");
    }

    #[test]
    fn cipher_suite_names_are_iana_and_accept_other_spellings() {
        let names = supported_cipher_suite_names();
        assert!(names.contains(&"TLS_AES_128_GCM_SHA256".to_owned()), "{names:?}");
        assert!(names.contains(&"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()), "{names:?}");
        assert!(suite_name_matches("TLS_AES_128_GCM_SHA256", "tls13_aes_128_gcm_sha256"));
        assert!(suite_name_matches(
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
        ));
    }
}
