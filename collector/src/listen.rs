//! Jaeger-style `host:port` listen addresses, for every server of Spoor (receivers, query, admin).
//!
//! - `:4317` is every interface, dual-stack: one `[::]` socket with `IPV6_V6ONLY` off, so IPv4
//!   clients reach it too; where IPv6 is unavailable, `0.0.0.0`.
//! - `host:port` binds what `host` resolves to (the first address that binds).
//! - `127.0.0.1:4317` and `[::1]:4317` bind exactly that address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

/// Pending connections the kernel queues per listener.
const BACKLOG: i32 = 1024;

/// A parsed listen address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:port`: every interface, IPv4 and IPv6.
    AllInterfaces { port: u16 },
    /// A literal IP address and port.
    Socket(SocketAddr),
    /// A host name to resolve, and a port.
    Host { host: String, port: u16 },
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid listen address {text:?}: {reason} (expected host:port, :port or [ipv6]:port)")]
    InvalidHostPort { text: String, reason: &'static str },
    #[error("cannot resolve listen host {host:?}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: io::Error },
}

/// Parses `:port`, `host:port`, `ipv4:port` or `[ipv6]:port`.
pub fn parse_host_port(text: &str) -> Result<ListenAddress, ListenError> {
    let invalid = |reason| ListenError::InvalidHostPort { text: text.to_owned(), reason };
    let trimmed = text.trim();
    if let Ok(address) = trimmed.parse::<SocketAddr>() {
        return Ok(ListenAddress::Socket(address));
    }
    let (host, port_text) = trimmed.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
    let port: u16 = port_text.parse().map_err(|_| invalid("port is not a number from 0 to 65535"))?;
    if host.is_empty() {
        return Ok(ListenAddress::AllInterfaces { port });
    }
    if host.starts_with('[') || host.contains(':') {
        return Err(invalid("IPv6 addresses must be written in brackets, e.g. [::1]:4317"));
    }
    Ok(ListenAddress::Host { host: host.to_owned(), port })
}

/// Parses `host_port` and binds a listening socket for it.
pub async fn bind(host_port: &str) -> Result<TcpListener, ListenError> {
    bind_with(host_port, bind_socket).await
}

/// Parses `host_port` and binds a UDP socket for it, with the same address rules as [`bind`].
/// `receive_buffer_bytes` sets `SO_RCVBUF` when not 0 (0 keeps the system default).
pub async fn bind_udp(host_port: &str, receive_buffer_bytes: usize) -> Result<UdpSocket, ListenError> {
    bind_with(host_port, |address| bind_udp_socket(address, receive_buffer_bytes)).await
}

async fn bind_with<T>(
    host_port: &str,
    bind_one: impl Fn(SocketAddr) -> Result<T, ListenError>,
) -> Result<T, ListenError> {
    match parse_host_port(host_port)? {
        ListenAddress::AllInterfaces { port } => bind_all_interfaces(port, bind_one),
        ListenAddress::Socket(address) => bind_one(address),
        ListenAddress::Host { host, port } => {
            let resolved = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|source| ListenError::Resolve { host: host.clone(), source })?;
            let mut last_error = None;
            for address in resolved {
                match bind_one(address) {
                    Ok(listener) => return Ok(listener),
                    Err(error) => last_error = Some(error),
                }
            }
            Err(last_error.unwrap_or_else(|| ListenError::Resolve {
                host,
                source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            }))
        }
    }
}

/// `[::]:port` with IPv4 mapped in; `0.0.0.0:port` when the host has no IPv6.
fn bind_all_interfaces<T>(
    port: u16,
    bind_one: impl Fn(SocketAddr) -> Result<T, ListenError>,
) -> Result<T, ListenError> {
    let dual_stack = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    match bind_one(dual_stack) {
        Ok(listener) => Ok(listener),
        Err(ListenError::Bind { source, .. }) if ipv6_unavailable(&source) => {
            tracing::info!(port, error = %source, "IPv6 unavailable, listening on IPv4 only");
            bind_one(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
        }
        Err(error) => Err(error),
    }
}

fn ipv6_unavailable(error: &io::Error) -> bool {
    // EAFNOSUPPORT (no IPv6 in the kernel) and EADDRNOTAVAIL (IPv6 disabled on every interface).
    matches!(error.kind(), io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported)
        || matches!(error.raw_os_error(), Some(97) | Some(99))
}

fn bind_socket(address: SocketAddr) -> Result<TcpListener, ListenError> {
    let bind_error = |source| ListenError::Bind { address: address.to_string(), source };
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP)).map_err(bind_error)?;
    if address.is_ipv6() {
        // Only the unspecified address can usefully be dual-stack; a specific IPv6 address keeps
        // the system default.
        if address.ip().is_unspecified() {
            socket.set_only_v6(false).map_err(bind_error)?;
        }
    }
    socket.set_reuse_address(true).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&address.into()).map_err(bind_error)?;
    socket.listen(BACKLOG).map_err(bind_error)?;
    TcpListener::from_std(socket.into()).map_err(bind_error)
}

fn bind_udp_socket(address: SocketAddr, receive_buffer_bytes: usize) -> Result<UdpSocket, ListenError> {
    let bind_error = |source| ListenError::Bind { address: address.to_string(), source };
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP)).map_err(bind_error)?;
    if address.is_ipv6() && address.ip().is_unspecified() {
        socket.set_only_v6(false).map_err(bind_error)?;
    }
    if receive_buffer_bytes > 0 {
        socket.set_recv_buffer_size(receive_buffer_bytes).map_err(bind_error)?;
    }
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&address.into()).map_err(bind_error)?;
    UdpSocket::from_std(socket.into()).map_err(bind_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_port_means_every_interface() {
        assert_eq!(parse_host_port(":4317").unwrap(), ListenAddress::AllInterfaces { port: 4317 });
    }

    #[test]
    fn literal_addresses_and_host_names_are_parsed() {
        assert_eq!(
            parse_host_port("127.0.0.1:4318").unwrap(),
            ListenAddress::Socket("127.0.0.1:4318".parse().unwrap())
        );
        assert_eq!(parse_host_port("[::1]:4317").unwrap(), ListenAddress::Socket("[::1]:4317".parse().unwrap()));
        assert_eq!(
            parse_host_port("localhost:16686").unwrap(),
            ListenAddress::Host { host: "localhost".into(), port: 16686 }
        );
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_reason() {
        for text in ["4317", "host:", "host:http", ":70000", "::1:4317"] {
            let error = parse_host_port(text).unwrap_err().to_string();
            assert!(error.contains(text), "{error}");
        }
    }

    #[tokio::test]
    async fn all_interfaces_listener_accepts_ipv4_clients() {
        let listener = bind(":0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        accept.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn all_interfaces_udp_socket_receives_ipv4_datagrams() {
        let socket = bind_udp(":0", 0).await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        let mut buffer = [0u8; 16];
        let (length, _) = socket.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..length], b"ping");
    }

    #[tokio::test]
    async fn binding_a_port_in_use_names_the_address() {
        let first = bind("127.0.0.1:0").await.unwrap();
        let taken = first.local_addr().unwrap().to_string();
        let error = bind(&taken).await.unwrap_err().to_string();
        assert!(error.contains(&taken), "{error}");
    }
}
