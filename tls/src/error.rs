use std::path::PathBuf;

/// Why TLS material could not be used. Messages name the file and the reason, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid TLS configuration: {0}")]
    Config(String),
    #[error("cannot read {what} file {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} file {path}: {reason}")]
    Invalid { what: &'static str, path: PathBuf, reason: String },
    #[error("certificate {cert} and key {key} do not belong together (the key is not the certificate's)")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}
