//! Server-side TLS for every Spoor listener: rustls (ring) with certificates re-read on rotation.
//!
//! - [`TlsServerConfig`] is what an operator configures for one listener: certificate, key,
//!   optional client CA (mTLS), TLS versions and cipher suites. Only file paths: no secret is ever
//!   held in a config, printed or logged.
//! - [`ServerTls`] loads it into a rustls `ServerConfig` and keeps it current: every
//!   `reload_interval` (2 s by default) it re-reads the files and, when their content changed,
//!   swaps in the new certificate (and, for a new client CA, a new client verifier). New
//!   connections use the new material; established ones are untouched. A broken or inconsistent
//!   new file is refused with one log line naming the file and the reason, and the old material
//!   stays in use.
//! - [`TlsListener`] accepts TCP connections and, when TLS is on, completes handshakes
//!   concurrently (a slow client never holds up the others). It is an `axum::serve` listener and a
//!   stream for tonic's `serve_with_incoming_shutdown`; without TLS it serves plain TCP, so one
//!   server code path covers both.
#![forbid(unsafe_code)]

mod config;
mod error;
mod listener;
mod material;
mod reload;
#[cfg(test)]
mod test_certs;

pub use config::{TlsServerConfig, TlsVersion, DEFAULT_RELOAD_INTERVAL};
pub use error::TlsError;
pub use listener::{MaybeTlsStream, TlsListener};
pub use material::{certificate_fingerprint, supported_cipher_suite_names};
pub use reload::ServerTls;
