//! What an operator configures for one TLS listener.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::TlsError;

/// How often certificate, key and client CA files are checked for changes by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The TLS settings of one listener (Jaeger's `--<listener>.tls.*` options). Holds file paths
/// only, so it can be printed and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// Serve TLS; when false the other fields are ignored.
    pub enabled: bool,
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub key: Option<PathBuf>,
    /// PEM CA bundle: when set, every client must present a certificate signed by one of these
    /// CAs (mTLS), or the handshake fails.
    pub client_ca: Option<PathBuf>,
    /// Lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// Highest TLS version accepted.
    pub max_version: TlsVersion,
    /// Cipher suites allowed (IANA or rustls names, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`,
    /// `TLS_AES_128_GCM_SHA256`); empty means rustls's defaults, which are all AEAD with forward
    /// secrecy.
    pub cipher_suites: Vec<String>,
    /// How often the files are checked for changes; zero turns reloading off.
    pub reload_interval: Duration,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cert: None,
            key: None,
            client_ca: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }
}

impl TlsServerConfig {
    /// TLS with this certificate and key, and the defaults for everything else.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self { enabled: true, cert: Some(cert.into()), key: Some(key.into()), ..Self::default() }
    }

    /// Requires client certificates signed by the CAs in `client_ca` (mTLS).
    pub fn with_client_ca(mut self, client_ca: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(client_ca.into());
        self
    }

    /// Checks what can be checked without reading the files: an enabled config names a certificate
    /// and a key, the versions are in order, and the cipher suites are known.
    pub fn validate(&self) -> Result<(), TlsError> {
        if !self.enabled {
            return Ok(());
        }
        if self.cert.is_none() || self.key.is_none() {
            return Err(TlsError::Config("TLS is enabled but the certificate or the key file is not set".into()));
        }
        if self.min_version > self.max_version {
            return Err(TlsError::Config(format!(
                "the minimum TLS version {} is above the maximum {}",
                self.min_version, self.max_version
            )));
        }
        crate::material::crypto_provider(self).map(|_| ())
    }
}

/// A TLS protocol version rustls implements. 1.0 and 1.1 are not offered: they are deprecated
/// (RFC 8996).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tls12 => "1.2",
            Self::Tls13 => "1.3",
        })
    }
}

impl FromStr for TlsVersion {
    type Err = TlsError;

    /// `1.2` or `1.3` (Jaeger's spelling), also `TLS1.2`, `tls13`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normalized: String =
            text.trim().to_ascii_lowercase().trim_start_matches("tls").chars().filter(|c| *c != '.').collect();
        match normalized.trim_start_matches(['v', ' ']) {
            "12" => Ok(Self::Tls12),
            "13" => Ok(Self::Tls13),
            "10" | "11" => {
                Err(TlsError::Config(format!("TLS version {text:?} is not supported (deprecated); use 1.2 or 1.3")))
            }
            _ => Err(TlsError::Config(format!("unknown TLS version {text:?}; expected 1.2 or 1.3"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_jaegers_spelling_and_others() {
        assert_eq!("1.2".parse::<TlsVersion>().unwrap(), TlsVersion::Tls12);
        assert_eq!("1.3".parse::<TlsVersion>().unwrap(), TlsVersion::Tls13);
        assert_eq!("TLS1.3".parse::<TlsVersion>().unwrap(), TlsVersion::Tls13);
        assert_eq!("tls12".parse::<TlsVersion>().unwrap(), TlsVersion::Tls12);
        let old = "1.1".parse::<TlsVersion>().unwrap_err().to_string();
        assert!(old.contains("not supported"), "{old}");
        assert!("2.0".parse::<TlsVersion>().is_err());
    }

    #[test]
    fn enabled_config_needs_a_certificate_and_a_key() {
        let config = TlsServerConfig { enabled: true, cert: Some("c.pem".into()), ..TlsServerConfig::default() };
        assert!(config.validate().unwrap_err().to_string().contains("key"));
        assert!(TlsServerConfig::default().validate().is_ok(), "a disabled config is valid");
        assert!(TlsServerConfig::new("c.pem", "k.pem").validate().is_ok());
    }

    #[test]
    fn versions_out_of_order_are_refused() {
        let config = TlsServerConfig {
            min_version: TlsVersion::Tls13,
            max_version: TlsVersion::Tls12,
            ..TlsServerConfig::new("c", "k")
        };
        assert!(config.validate().unwrap_err().to_string().contains("above the maximum"));
    }

    #[test]
    fn unknown_cipher_suites_are_refused_with_the_known_ones() {
        let config = TlsServerConfig {
            cipher_suites: vec!["TLS_RSA_WITH_RC4_128_MD5".into()],
            ..TlsServerConfig::new("c", "k")
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("TLS_RSA_WITH_RC4_128_MD5") && error.contains("TLS_AES_128_GCM_SHA256"), "{error}");
    }

    #[test]
    fn cipher_suites_must_cover_the_allowed_versions() {
        let config = TlsServerConfig {
            min_version: TlsVersion::Tls13,
            cipher_suites: vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()],
            ..TlsServerConfig::new("c", "k")
        };
        assert!(config.validate().unwrap_err().to_string().contains("no cipher suite"));
        let config = TlsServerConfig {
            cipher_suites: vec!["TLS_AES_128_GCM_SHA256".into(), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()],
            ..TlsServerConfig::new("c", "k")
        };
        config.validate().unwrap();
    }
}
