//! A TCP listener that completes TLS handshakes before handing connections to a server: an
//! `axum::serve` [`Listener`](axum::serve::Listener) and a connection stream for tonic's
//! `serve_with_incoming_shutdown`. Without TLS it hands out plain TCP connections, so servers
//! have one code path for both.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::reload::ServerTls;

/// A client that has not finished its handshake by then is disconnected.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; beyond it new connections wait in the kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// How long to wait after an accept error that is not about one connection (e.g. out of file
/// descriptors), as axum and hyper do.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

type Handshake =
    Pin<Box<dyn Future<Output = (SocketAddr, io::Result<tokio_rustls::server::TlsStream<TcpStream>>)> + Send>>;

/// Accepts connections on a bound socket, through TLS when it has a [`ServerTls`].
pub struct TlsListener {
    tcp: TcpListener,
    tls: Option<ServerTls>,
    handshakes: FuturesUnordered<Handshake>,
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl From<TcpListener> for TlsListener {
    /// A plain TCP listener.
    fn from(tcp: TcpListener) -> Self {
        Self::new(tcp, None)
    }
}

impl TlsListener {
    /// Serves TLS on `tcp` when `tls` is set, plain TCP otherwise.
    pub fn new(tcp: TcpListener, tls: Option<ServerTls>) -> Self {
        Self { tcp, tls, handshakes: FuturesUnordered::new(), backoff: None }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The TLS material, when this listener serves TLS.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// `https` or `http`, for log lines.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The next connection ready to serve: plain as soon as accepted, TLS once its handshake
    /// completed. Failed handshakes are logged at debug level and skipped; never fails.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(MaybeTlsStream, SocketAddr)> {
        loop {
            while let Poll::Ready(Some((peer, result))) = self.handshakes.poll_next_unpin(cx) {
                match result {
                    Ok(stream) => return Poll::Ready((MaybeTlsStream::Tls(Box::new(stream)), peer)),
                    Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                }
            }
            if let Some(backoff) = self.backoff.as_mut() {
                if backoff.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
            }
            if self.handshakes.len() >= MAX_PENDING_HANDSHAKES {
                return Poll::Pending;
            }
            match self.tcp.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, peer))) => {
                    // Requests and responses are written whole: no reason to let Nagle delay them.
                    let _ = stream.set_nodelay(true);
                    let Some(tls) = &self.tls else { return Poll::Ready((MaybeTlsStream::Plain(stream), peer)) };
                    let accept = tls.acceptor().accept(stream);
                    self.handshakes.push(Box::pin(async move {
                        let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await.unwrap_or_else(|_| {
                            Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))
                        });
                        (peer, result)
                    }));
                }
                Poll::Ready(Err(error)) if is_connection_error(&error) => {}
                Poll::Ready(Err(error)) => {
                    tracing::error!(%error, "accept error; retrying in 1s");
                    self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_ERROR_BACKOFF)));
                }
            }
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

impl axum::serve::Listener for TlsListener {
    type Io = MaybeTlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// For tonic's `Server::serve_with_incoming_shutdown`: never ends, never yields an error.
impl Stream for TlsListener {
    type Item = io::Result<MaybeTlsStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(|(stream, _)| Some(Ok(stream)))
    }
}

/// An accepted connection, plain or TLS.
pub enum MaybeTlsStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(stream) => stream,
            Self::Tls(stream) => stream.get_ref().0,
        }
    }

    /// The client's certificate chain, when it presented one (mTLS).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(stream) => stream.get_ref().1.peer_certificates(),
        }
    }
}

/// tonic's connection info: the same [`TcpConnectInfo`] as for plain TCP, so
/// `Request::remote_addr` works either way.
impl Connected for MaybeTlsStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        TcpConnectInfo { local_addr: self.tcp().local_addr().ok(), remote_addr: self.tcp().peer_addr().ok() }
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::IntoFuture;
    use std::path::PathBuf;
    use std::sync::Arc;

    use axum::routing::get;
    use axum::Router;

    use super::*;
    use crate::config::{TlsServerConfig, TlsVersion};
    use crate::test_certs::{self, client_config, connect, TestCa, TestCert};

    const ALL_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12, &rustls::version::TLS13];

    struct Server {
        address: SocketAddr,
        _dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        tls: Option<ServerTls>,
    }

    async fn serve(
        ca: &TestCa,
        leaf: &TestCert,
        configure: impl FnOnce(TlsServerConfig, &std::path::Path) -> TlsServerConfig,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
        let config = configure(
            TlsServerConfig { reload_interval: Duration::ZERO, ..TlsServerConfig::new(&cert, &key) },
            dir.path(),
        );
        let tls = ServerTls::new("test", &config).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let router = Router::new().route("/hello", get(|| async { "hello over tls" }));
        tokio::spawn(axum::serve(TlsListener::new(tcp, Some(tls.clone())), router).into_future());
        Server { address, _dir: dir, cert, key, tls: Some(tls) }
    }

    #[tokio::test]
    async fn serves_https_to_a_client_trusting_the_ca() {
        let ca = TestCa::new("CA");
        let server = serve(&ca, &ca.server_cert("localhost"), |config, _| config).await;
        let mut stream = connect(server.address, client_config(&ca, None, ALL_VERSIONS)).await.unwrap();
        let response = test_certs::get(&mut stream, "/hello").await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("hello over tls"), "{response}");
    }

    #[tokio::test]
    async fn plain_listener_serves_plain_tcp() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let router = Router::new().route("/hello", get(|| async { "plain" }));
        tokio::spawn(axum::serve(TlsListener::from(tcp), router).into_future());
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert!(test_certs::get(&mut stream, "/hello").await.unwrap().ends_with("plain"));
    }

    #[tokio::test]
    async fn mtls_refuses_clients_without_a_certificate_or_with_one_from_another_ca() {
        let (ca, other_ca) = (TestCa::new("CA"), TestCa::new("other CA"));
        let server =
            serve(&ca, &ca.server_cert("localhost"), |config, dir| config.with_client_ca(dir.join("ca.pem"))).await;

        for identity in [None, Some(other_ca.client_cert("intruder"))] {
            // With TLS 1.3 the client learns of the refusal on its first read.
            let outcome = match connect(server.address, client_config(&ca, identity.as_ref(), ALL_VERSIONS)).await {
                Ok(mut stream) => test_certs::get(&mut stream, "/hello").await,
                Err(error) => Err(error),
            };
            assert!(outcome.is_err(), "a client with {:?} got in: {outcome:?}", identity.is_some());
        }

        let identity = ca.client_cert("client");
        let mut stream = connect(server.address, client_config(&ca, Some(&identity), ALL_VERSIONS)).await.unwrap();
        assert!(test_certs::get(&mut stream, "/hello").await.unwrap().starts_with("HTTP/1.1 200"));
        assert_eq!(stream.get_ref().1.peer_certificates().map(<[_]>::len), Some(1));
    }

    #[tokio::test]
    async fn minimum_version_13_refuses_a_tls12_client() {
        let ca = TestCa::new("CA");
        let server = serve(&ca, &ca.server_cert("localhost"), |config, _| TlsServerConfig {
            min_version: TlsVersion::Tls13,
            ..config
        })
        .await;
        let tls12_only = client_config(&ca, None, &[&rustls::version::TLS12]);
        assert!(connect(server.address, tls12_only).await.is_err());
        assert!(connect(server.address, client_config(&ca, None, ALL_VERSIONS)).await.is_ok());
    }

    #[tokio::test]
    async fn a_stalled_handshake_does_not_hold_up_other_clients() {
        let ca = TestCa::new("CA");
        let server = serve(&ca, &ca.server_cert("localhost"), |config, _| config).await;
        let _silent = TcpStream::connect(server.address).await.unwrap();
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            connect(server.address, client_config(&ca, None, ALL_VERSIONS)),
        )
        .await;
        assert!(matches!(connected, Ok(Ok(_))));
    }

    #[tokio::test]
    async fn rotation_serves_the_new_certificate_to_new_connections_and_keeps_open_ones() {
        let ca = TestCa::new("CA");
        let (first, second) = (ca.server_cert("localhost"), ca.server_cert("localhost"));
        let server = serve(&ca, &first, |config, _| config).await;
        let client = client_config(&ca, None, ALL_VERSIONS);
        let mut open = connect(server.address, Arc::clone(&client)).await.unwrap();
        test_certs::get(&mut open, "/hello").await.unwrap();

        std::fs::write(&server.cert, &second.cert_pem).unwrap();
        std::fs::write(&server.key, &second.key_pem).unwrap();
        assert!(server.tls.as_ref().unwrap().reload_now().unwrap());

        let fresh = connect(server.address, Arc::clone(&client)).await.unwrap();
        let served = fresh.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        assert_eq!(served, second.cert_der, "a new connection gets the new certificate");
        assert!(
            test_certs::get(&mut open, "/hello").await.unwrap().ends_with("hello over tls"),
            "the open connection still works"
        );
        assert_eq!(open.get_ref().1.peer_certificates().unwrap()[0].to_vec(), first.cert_der);
    }
}
