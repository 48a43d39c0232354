//! A rustls `ServerConfig` kept current with the files it was loaded from.
//!
//! The certificate is served by a resolver that reads an `ArcSwap<CertifiedKey>`: a new
//! certificate and key replace the old ones for every handshake that starts afterwards, while the
//! `ServerConfig` (and its session cache) stays. A new client CA builds a new `ServerConfig` with
//! a new verifier; that also drops the session cache, so no client resumes a session its
//! certificate would no longer be accepted for.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SupportedProtocolVersion;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsServerConfig;
use crate::error::TlsError;
use crate::material::{self, FileBytes};

/// ALPN: HTTP/2 first (gRPC requires it), then HTTP/1.1 for the HTTP servers.
const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The TLS material of one listener, re-read from its files while the listener runs. Cheap to
/// clone; the file watch stops once every clone is dropped.
#[derive(Clone)]
pub struct ServerTls {
    shared: Arc<Shared>,
}

struct Shared {
    /// The listener's name in log lines (`query.http`).
    listener: String,
    config: TlsServerConfig,
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static SupportedProtocolVersion>,
    /// Read by [`CurrentCertificate`] on every handshake.
    certified_key: Arc<ArcSwap<CertifiedKey>>,
    server_config: ArcSwap<rustls::ServerConfig>,
    /// Hashes of the file contents last tried, loaded or refused: a file is parsed again only
    /// when it changes, and a broken file is reported once.
    seen: Mutex<Seen>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    cert_and_key: u64,
    client_ca: u64,
}

/// Names the listener, the certificate file and its fingerprint; never key material.
impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("listener", &self.shared.listener)
            .field("cert", &self.shared.config.cert)
            .field("fingerprint", &self.certificate_fingerprint())
            .field("client_ca", &self.shared.config.client_ca)
            .finish()
    }
}

#[derive(Debug)]
struct CurrentCertificate(Arc<ArcSwap<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

impl ServerTls {
    /// [`ServerTls::new`] when `config.enabled`, `None` otherwise.
    pub fn from_config(listener: impl Into<String>, config: &TlsServerConfig) -> Result<Option<Self>, TlsError> {
        if config.enabled {
            Self::new(listener, config).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Loads the certificate, key and client CA of `config` (any problem fails here, so a
    /// misconfigured listener fails start-up) and, when called inside a Tokio runtime with a
    /// non-zero `reload_interval`, starts checking the files for changes.
    pub fn new(listener: impl Into<String>, config: &TlsServerConfig) -> Result<Self, TlsError> {
        let listener = listener.into();
        config.validate()?;
        if !config.enabled {
            return Err(TlsError::Config("TLS is not enabled".into()));
        }
        let provider = material::crypto_provider(config)?;
        let (cert_path, key_path) = cert_and_key_paths(config)?;
        let (cert, key) = (material::read("certificate", cert_path)?, material::read("private key", key_path)?);
        let certified_key = Arc::new(ArcSwap::from_pointee(material::certified_key(&cert, &key, &provider)?));
        let mut seen = Seen { cert_and_key: stamp(&[Ok(&cert), Ok(&key)]), client_ca: 0 };
        let verifier = match &config.client_ca {
            Some(path) => {
                let ca = material::read("client CA", path)?;
                seen.client_ca = stamp(&[Ok(&ca)]);
                Some(material::client_verifier(&ca, &provider)?)
            }
            None => None,
        };
        let versions = material::protocol_versions(config);
        let server_config = build_server_config(&provider, &versions, &certified_key, verifier)?;
        let shared = Arc::new(Shared {
            listener,
            config: config.clone(),
            provider,
            versions,
            certified_key,
            server_config: ArcSwap::from_pointee(server_config),
            seen: Mutex::new(seen),
        });
        let tls = Self { shared };
        tracing::info!(
            listener = %tls.shared.listener,
            certificate = %cert_path.display(),
            fingerprint = %tls.certificate_fingerprint(),
            client_certificates = if tls.requires_client_certificate() { "required" } else { "not requested" },
            min_version = %config.min_version,
            "TLS enabled"
        );
        tls.watch();
        Ok(tls)
    }

    /// The configuration new connections use now.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.shared.server_config.load_full()
    }

    /// An acceptor with the configuration new connections use now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// SHA-256 fingerprint of the certificate served now (see [`crate::certificate_fingerprint`]).
    pub fn certificate_fingerprint(&self) -> String {
        let current = self.shared.certified_key.load();
        current.cert.first().map(|leaf| material::certificate_fingerprint(leaf)).unwrap_or_default()
    }

    /// Whether clients must present a certificate (a client CA is configured).
    pub fn requires_client_certificate(&self) -> bool {
        self.shared.config.client_ca.is_some()
    }

    /// The listener name this material was loaded for.
    pub fn listener(&self) -> &str {
        &self.shared.listener
    }

    /// Re-reads the files now. `Ok(true)`: new material is in use; `Ok(false)`: nothing changed;
    /// `Err`: a file changed but was refused (logged once), and the previous material stays in use.
    pub fn reload_now(&self) -> Result<bool, TlsError> {
        let shared = &self.shared;
        let mut seen = shared.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reloaded = false;
        let mut refused = None;

        let (cert_path, key_path) = cert_and_key_paths(&shared.config)?;
        let cert = material::read("certificate", cert_path);
        let key = material::read("private key", key_path);
        let cert_and_key = stamp(&[cert.as_ref(), key.as_ref()]);
        if cert_and_key != seen.cert_and_key {
            seen.cert_and_key = cert_and_key;
            match cert.and_then(|cert| key.and_then(|key| material::certified_key(&cert, &key, &shared.provider))) {
                Ok(certified_key) => {
                    shared.certified_key.store(Arc::new(certified_key));
                    reloaded = true;
                    tracing::info!(
                        listener = %shared.listener,
                        fingerprint = %self.certificate_fingerprint(),
                        "TLS certificate reloaded; new connections use it"
                    );
                }
                Err(error) => {
                    tracing::warn!(
                        listener = %shared.listener,
                        error = %error,
                        "new TLS certificate or key refused; still serving the previous one"
                    );
                    refused = Some(error);
                }
            }
        }

        if let Some(ca_path) = &shared.config.client_ca {
            let ca = material::read("client CA", ca_path);
            let client_ca = stamp(&[ca.as_ref()]);
            if client_ca != seen.client_ca {
                seen.client_ca = client_ca;
                let rebuilt = ca.and_then(|ca| material::client_verifier(&ca, &shared.provider)).and_then(|verifier| {
                    build_server_config(&shared.provider, &shared.versions, &shared.certified_key, Some(verifier))
                });
                match rebuilt {
                    Ok(server_config) => {
                        shared.server_config.store(Arc::new(server_config));
                        reloaded = true;
                        tracing::info!(listener = %shared.listener, client_ca = %ca_path.display(), "TLS client CA reloaded; new connections are verified with it");
                    }
                    Err(error) => {
                        tracing::warn!(
                            listener = %shared.listener,
                            error = %error,
                            "new TLS client CA refused; still verifying clients with the previous one"
                        );
                        refused.get_or_insert(error);
                    }
                }
            }
        }
        match refused {
            Some(error) => Err(error),
            None => Ok(reloaded),
        }
    }

    /// Checks the files every `reload_interval` until every clone of `self` is dropped.
    fn watch(&self) {
        let interval = self.shared.config.reload_interval;
        if interval.is_zero() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(listener = %self.shared.listener, "not in a Tokio runtime: TLS files will not be re-read");
            return;
        };
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        runtime.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(shared) = shared.upgrade() else { return };
                // Refusals are logged by reload_now.
                let _ = ServerTls { shared }.reload_now();
            }
        });
    }
}

fn cert_and_key_paths(config: &TlsServerConfig) -> Result<(&Path, &Path), TlsError> {
    match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        _ => Err(TlsError::Config("TLS is enabled but the certificate or the key file is not set".into())),
    }
}

fn build_server_config(
    provider: &Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    certified_key: &Arc<ArcSwap<CertifiedKey>>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(provider)).with_protocol_versions(versions)?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(CurrentCertificate(Arc::clone(certified_key))));
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(config)
}

/// A hash of the files' contents (or of why they could not be read), to notice changes.
fn stamp(files: &[Result<&FileBytes<'_>, &TlsError>]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        match file {
            Ok(file) => file.bytes.hash(&mut hasher),
            Err(TlsError::Read { source, .. }) => format!("unreadable: {}", source.kind()).hash(&mut hasher),
            Err(other) => other.to_string().hash(&mut hasher),
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::test_certs::{TestCa, TestCert};

    struct Files {
        _dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        ca: PathBuf,
    }

    impl Files {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let (cert, key, ca) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("ca.pem"));
            Self { _dir: dir, cert, key, ca }
        }

        fn write(&self, leaf: &TestCert) {
            std::fs::write(&self.cert, &leaf.cert_pem).unwrap();
            std::fs::write(&self.key, &leaf.key_pem).unwrap();
        }

        fn config(&self) -> TlsServerConfig {
            TlsServerConfig {
                reload_interval: std::time::Duration::ZERO,
                ..TlsServerConfig::new(&self.cert, &self.key)
            }
        }
    }

    #[test]
    fn swaps_to_a_valid_new_certificate() {
        let ca = TestCa::new("CA");
        let (first, second) = (ca.server_cert("localhost"), ca.server_cert("localhost"));
        let files = Files::new();
        files.write(&first);
        let tls = ServerTls::new("test", &files.config()).unwrap();
        assert_eq!(tls.certificate_fingerprint(), material::certificate_fingerprint(&first.cert_der));
        assert!(!tls.reload_now().unwrap(), "nothing changed yet");

        files.write(&second);
        assert!(tls.reload_now().unwrap());
        assert_eq!(tls.certificate_fingerprint(), material::certificate_fingerprint(&second.cert_der));
    }

    #[test]
    fn keeps_the_old_certificate_when_the_new_file_is_broken() {
        let ca = TestCa::new("CA");
        let (first, second) = (ca.server_cert("localhost"), ca.server_cert("localhost"));
        let files = Files::new();
        files.write(&first);
        let tls = ServerTls::new("test", &files.config()).unwrap();
        let before = tls.certificate_fingerprint();

        std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
        assert!(tls.reload_now().is_err());
        assert_eq!(tls.certificate_fingerprint(), before);
        assert!(!tls.reload_now().unwrap(), "the same broken file is reported once");

        // Half-way through a rotation: the new certificate is there, its key is not yet.
        std::fs::write(&files.cert, &second.cert_pem).unwrap();
        let error = tls.reload_now().unwrap_err();
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
        assert_eq!(tls.certificate_fingerprint(), before);

        std::fs::write(&files.key, &second.key_pem).unwrap();
        assert!(tls.reload_now().unwrap());
        assert_eq!(tls.certificate_fingerprint(), material::certificate_fingerprint(&second.cert_der));
    }

    #[test]
    fn a_deleted_file_keeps_the_old_material() {
        let ca = TestCa::new("CA");
        let files = Files::new();
        files.write(&ca.server_cert("localhost"));
        let tls = ServerTls::new("test", &files.config()).unwrap();
        let before = tls.certificate_fingerprint();
        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(tls.reload_now(), Err(TlsError::Read { .. })));
        assert_eq!(tls.certificate_fingerprint(), before);
    }

    #[test]
    fn a_new_client_ca_builds_a_new_server_config() {
        let (ca, other_ca) = (TestCa::new("CA"), TestCa::new("other CA"));
        let files = Files::new();
        files.write(&ca.server_cert("localhost"));
        std::fs::write(&files.ca, &ca.cert_pem).unwrap();
        let tls = ServerTls::new("test", &files.config().with_client_ca(&files.ca)).unwrap();
        assert!(tls.requires_client_certificate());
        let before = tls.server_config();

        std::fs::write(&files.ca, "garbage").unwrap();
        assert!(tls.reload_now().is_err());
        assert!(Arc::ptr_eq(&before, &tls.server_config()), "a broken CA file changes nothing");

        std::fs::write(&files.ca, &other_ca.cert_pem).unwrap();
        assert!(tls.reload_now().unwrap());
        assert!(!Arc::ptr_eq(&before, &tls.server_config()));
    }

    #[test]
    fn start_up_fails_on_missing_or_broken_files_naming_them() {
        let files = Files::new();
        let error = ServerTls::new("test", &files.config()).err().unwrap().to_string();
        assert!(error.contains("cert.pem"), "{error}");
        std::fs::write(&files.cert, "x").unwrap();
        std::fs::write(&files.key, "x").unwrap();
        let error = ServerTls::new("test", &files.config()).err().unwrap().to_string();
        assert!(error.contains("cert.pem") && error.contains("no PEM CERTIFICATE"), "{error}");
    }

    #[test]
    fn disabled_config_gives_no_tls() {
        assert!(ServerTls::from_config("test", &TlsServerConfig::default()).unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watch_picks_up_a_rotation_and_stops_with_the_last_clone() {
        let ca = TestCa::new("CA");
        let (first, second) = (ca.server_cert("localhost"), ca.server_cert("localhost"));
        let files = Files::new();
        files.write(&first);
        let config = TlsServerConfig { reload_interval: std::time::Duration::from_secs(2), ..files.config() };
        let tls = ServerTls::new("test", &config).unwrap();
        files.write(&second);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(tls.certificate_fingerprint(), material::certificate_fingerprint(&second.cert_der));
        let weak = Arc::downgrade(&tls.shared);
        drop(tls);
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        assert!(weak.upgrade().is_none());
    }
}
