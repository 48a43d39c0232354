//! TLS and mTLS on Spoor's listeners, through the real binary: HTTPS query, OTLP and Jaeger gRPC
//! over TLS with tonic clients, client certificates refused or accepted, certificate rotation
//! while a connection stays open, the admin server over HTTPS, `[::1]` listeners, and (with the
//! OTLP Python venv) the OpenTelemetry Python exporters over TLS.
//!
//! Certificates are generated here with rcgen, never committed.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use spoor_model::proto::jaeger::api_v2;
use support::otlp::trace_request;
use support::Ports;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------------
// Certificates

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let pem = issuer.pem();
        Self { issuer, pem }
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }

    fn server(&self) -> Leaf {
        self.leaf(&["localhost", "127.0.0.1", "::1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self) -> Leaf {
        self.leaf(&["spoor-test-client"], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The test PKI on disk: a CA, Spoor's certificate and key, a client certificate from the same CA
/// and one from another CA.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Leaf,
    client: Leaf,
    foreign_client: Leaf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::new("Spoor test CA");
        let (server, client) = (ca.server(), ca.client());
        let foreign_client = Ca::new("another CA").client();
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).expect("write");
        std::fs::write(dir.path().join("server.pem"), &server.cert_pem).expect("write");
        std::fs::write(dir.path().join("server-key.pem"), &server.key_pem).expect("write");
        std::fs::write(dir.path().join("client.pem"), &client.cert_pem).expect("write");
        std::fs::write(dir.path().join("client-key.pem"), &client.key_pem).expect("write");
        Self { dir, ca, server, client, foreign_client }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().expect("utf-8 path").to_owned()
    }

    /// `--<prefix>.tls.enabled true --<prefix>.tls.cert ... --<prefix>.tls.key ...`
    fn tls_args(&self, prefix: &str) -> Vec<String> {
        vec![
            format!("--{prefix}.tls.enabled=true"),
            format!("--{prefix}.tls.cert={}", self.path("server.pem")),
            format!("--{prefix}.tls.key={}", self.path("server-key.pem")),
        ]
    }

    fn mtls_args(&self, prefix: &str) -> Vec<String> {
        let mut args = self.tls_args(prefix);
        args.push(format!("--{prefix}.tls.client-ca={}", self.path("ca.pem")));
        args
    }

    fn client_config(&self, identity: Option<&Leaf>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(self.ca.pem.as_bytes()).expect("CA PEM")).expect("CA");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let mut config = match identity {
            Some(leaf) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(leaf.der.clone())],
                    PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM"),
                )
                .expect("client identity"),
            None => builder.with_no_client_auth(),
        };
        // Every connection makes a full handshake, so it sees the certificate served now.
        config.resumption = rustls::client::Resumption::disabled();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Arc::new(config)
    }
}

fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

// ---------------------------------------------------------------------------------------------
// Running the binary

struct Running {
    child: Child,
    ports: Ports,
    log_path: PathBuf,
    _data: tempfile::TempDir,
}

impl Running {
    /// `spoor all-in-one` on free 127.0.0.1 ports plus `extra` arguments; waits for "ready".
    async fn start(extra: &[String]) -> Self {
        let ports = Ports::free();
        let local = |port: u16| format!("127.0.0.1:{port}");
        let mut args: Vec<String> = vec![
            "all-in-one".into(),
            "--span-storage.type=memory".into(),
            format!("--collector.otlp.grpc.host-port={}", local(ports.otlp_grpc)),
            format!("--collector.otlp.http.host-port={}", local(ports.otlp_http)),
            format!("--query.grpc-server.host-port={}", local(ports.query_grpc)),
            format!("--remote-storage.grpc.host-port={}", local(ports.remote_storage)),
            format!("--sampling.http.host-port={}", local(ports.sampling_http)),
            format!("--sampling.grpc.host-port={}", local(ports.sampling_grpc)),
            format!("--collector.grpc-server.host-port={}", local(ports.jaeger_grpc)),
            format!("--collector.http-server.host-port={}", local(ports.jaeger_http)),
            format!("--collector.zipkin.host-port={}", local(ports.zipkin)),
            format!("--processor.jaeger-compact.server-host-port={}", local(ports.agent_compact)),
            format!("--processor.jaeger-binary.server-host-port={}", local(ports.agent_binary)),
        ];
        // The query HTTP and admin addresses may be given by the test (IPv6).
        if !extra.iter().any(|arg| arg.starts_with("--query.http-server.host-port")) {
            args.push(format!("--query.http-server.host-port={}", local(ports.query_http)));
        }
        if !extra.iter().any(|arg| arg.starts_with("--admin.http.host-port")) {
            args.push(format!("--admin.http.host-port={}", local(ports.admin)));
        }
        args.extend(extra.iter().cloned());
        let data = tempfile::tempdir().expect("temp dir");
        let log_path = data.path().join("spoor.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .args(&args)
            .arg(format!("--data-dir={}", data.path().join("data").display()))
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting spoor");
        let mut running = Self { child, ports, log_path, _data: data };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !running.log().contains("spoor all-in-one ready") {
            if let Some(status) = running.child.try_wait().expect("polling spoor") {
                panic!("spoor exited with {status}; log:\n{}", running.log());
            }
            assert!(Instant::now() < deadline, "spoor not ready; log:\n{}", running.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn local(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

async fn tls_connect(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    tokio_rustls::TlsConnector::from(config).connect(ServerName::try_from("localhost").expect("name"), tcp).await
}

/// One HTTP/1.1 GET over TLS (`Connection: close`): (status, body).
async fn https_get(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = tls_connect(address, config).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(parse_http_response(&String::from_utf8_lossy(&response)))
}

fn parse_http_response(text: &str) -> (u16, String) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return (status, body.to_owned());
    }
    let mut rest = body;
    let mut decoded = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        decoded.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    (status, decoded)
}

/// A tonic channel over TLS on one HTTP/2 connection; `connections` counts TLS connections made.
async fn grpc_channel(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    connections: Arc<AtomicUsize>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let (config, connections) = (Arc::clone(&config), Arc::clone(&connections));
        async move {
            let stream = tls_connect(address, config).await?;
            connections.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    // The connector does TLS itself; tonic (without its TLS feature) sees a plain URI.
    tonic::transport::Endpoint::from_shared(format!("http://localhost:{}", address.port()))
        .expect("endpoint")
        .connect_with_connector(connector)
        .await
}

const H2: &[&[u8]] = &[b"h2"];
const HTTP1: &[&[u8]] = &[b"http/1.1"];

async fn wait_for_trace(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    trace_id: &str,
    log: impl Fn() -> String,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) =
            https_get(address, Arc::clone(&config), &format!("/api/traces/{trace_id}")).await.expect("GET over TLS");
        if status == 200 {
            return serde_json::from_str(&body).expect("JSON");
        }
        assert!(Instant::now() < deadline, "trace {trace_id} not found over HTTPS ({status}: {body}); log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_over_tls_is_stored_and_the_https_query_api_returns_it() {
    let pki = Pki::new();
    let args = [pki.tls_args("collector.otlp.grpc"), pki.tls_args("query.http")].concat();
    let spoor = Running::start(&args).await;

    let channel = grpc_channel(spoor.local(spoor.ports.otlp_grpc), pki.client_config(None, H2), Arc::default())
        .await
        .expect("TLS channel to the OTLP receiver");
    TraceServiceClient::new(channel).export(trace_request("tls-otlp", 0x7151, 3)).await.expect("export over TLS");

    let query = spoor.local(spoor.ports.query_http);
    let json =
        wait_for_trace(query, pki.client_config(None, HTTP1), "00000000000000000000000000007151", || spoor.log()).await;
    assert_eq!(json["data"][0]["spans"].as_array().map(Vec::len), Some(3), "{json}");

    // No plaintext on a TLS port: a plain HTTP request gets no HTTP answer.
    let mut plain = TcpStream::connect(query).await.expect("connect");
    plain.write_all(b"GET /api/services HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).starts_with("HTTP/"), "plaintext answered on a TLS port");
    // A client that does not trust the CA is refused.
    let untrusting = Pki::new().client_config(None, HTTP1);
    assert!(https_get(query, untrusting, "/api/services").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_grpc_and_query_grpc_over_tls() {
    let pki = Pki::new();
    let args = [pki.tls_args("collector.grpc"), pki.tls_args("query.grpc"), pki.tls_args("query.http")].concat();
    let spoor = Running::start(&args).await;

    let channel = grpc_channel(spoor.local(spoor.ports.jaeger_grpc), pki.client_config(None, H2), Arc::default())
        .await
        .expect("TLS channel to the Jaeger receiver");
    let now = support::otlp::now_nanos();
    let span = api_v2::Span {
        trace_id: 0x7152u128.to_be_bytes().to_vec(),
        span_id: 1u64.to_be_bytes().to_vec(),
        operation_name: "jaeger-over-tls".into(),
        start_time: Some(spoor_model::jaeger_proto::timestamp_from_nanos(now)),
        duration: Some(spoor_model::jaeger_proto::duration_from_nanos(1_000_000)),
        ..Default::default()
    };
    let batch = api_v2::Batch {
        spans: vec![span],
        process: Some(api_v2::Process { service_name: "tls-jaeger".into(), ..Default::default() }),
    };
    api_v2::collector_service_client::CollectorServiceClient::new(channel)
        .post_spans(api_v2::PostSpansRequest { batch: Some(batch) })
        .await
        .expect("PostSpans over TLS");

    let query = spoor.local(spoor.ports.query_http);
    wait_for_trace(query, pki.client_config(None, HTTP1), "00000000000000000000000000007152", || spoor.log()).await;
    let channel = grpc_channel(spoor.local(spoor.ports.query_grpc), pki.client_config(None, H2), Arc::default())
        .await
        .expect("TLS channel to the query gRPC API");
    let services = api_v2::query_service_client::QueryServiceClient::new(channel)
        .get_services(api_v2::GetServicesRequest {})
        .await
        .expect("GetServices over TLS")
        .into_inner()
        .services;
    assert!(services.contains(&"tls-jaeger".to_owned()), "{services:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refuses_clients_without_a_certificate_or_from_another_ca() {
    let pki = Pki::new();
    let args = [pki.mtls_args("collector.otlp.grpc"), pki.mtls_args("query.http")].concat();
    let spoor = Running::start(&args).await;
    let (otlp, query) = (spoor.local(spoor.ports.otlp_grpc), spoor.local(spoor.ports.query_http));

    for (who, identity) in [("no certificate", None), ("another CA's certificate", Some(&pki.foreign_client))] {
        let refused = https_get(query, pki.client_config(identity, HTTP1), "/api/services").await;
        assert!(refused.is_err(), "HTTPS client with {who} got in: {refused:?}");
        let channel = grpc_channel(otlp, pki.client_config(identity, H2), Arc::default()).await;
        let exported = match channel {
            Ok(channel) => TraceServiceClient::new(channel)
                .export(trace_request("intruder", 0x7153, 1))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        assert!(exported.is_err(), "gRPC client with {who} got in");
    }

    let channel =
        grpc_channel(otlp, pki.client_config(Some(&pki.client), H2), Arc::default()).await.expect("mTLS channel");
    TraceServiceClient::new(channel)
        .export(trace_request("mtls", 0x7154, 1))
        .await
        .expect("export with a client certificate");
    let (status, body) = https_get(query, pki.client_config(Some(&pki.client), HTTP1), "/api/services")
        .await
        .expect("GET with a client certificate");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_is_served_within_10s_and_open_connections_keep_working() {
    let pki = Pki::new();
    let args = [pki.tls_args("query.grpc"), pki.tls_args("collector.otlp.grpc")].concat();
    let spoor = Running::start(&args).await;
    let (query_grpc, otlp) = (spoor.local(spoor.ports.query_grpc), spoor.local(spoor.ports.otlp_grpc));
    let served = |address| {
        let config = pki.client_config(None, H2);
        async move {
            let stream = tls_connect(address, config).await.expect("TLS connect");
            fingerprint(stream.get_ref().1.peer_certificates().expect("server certificate")[0].as_ref())
        }
    };
    assert_eq!(served(query_grpc).await, fingerprint(&pki.server.der));

    // An established HTTP/2 connection, with a stream in use before and after the rotation.
    let connections = Arc::new(AtomicUsize::new(0));
    let channel = grpc_channel(otlp, pki.client_config(None, H2), Arc::clone(&connections)).await.expect("channel");
    let mut client = TraceServiceClient::new(channel);
    client.export(trace_request("before-rotation", 0x7155, 1)).await.expect("export before rotation");

    // A broken key first: refused, logged without its content, the old certificate stays.
    let secret_line = "U1BPT1ItU0VDUkVULURPLU5PVC1MT0c";
    std::fs::write(pki.path("server-key.pem"), format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !spoor.log().contains("refused") {
        assert!(Instant::now() < deadline, "broken key not reported; log:\n{}", spoor.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!spoor.log().contains(secret_line), "the key's content was logged:\n{}", spoor.log());
    assert_eq!(served(query_grpc).await, fingerprint(&pki.server.der), "the old certificate stays");

    // The real rotation: a new certificate and key.
    let rotated = pki.ca.server();
    std::fs::write(pki.path("server.pem"), &rotated.cert_pem).expect("write");
    std::fs::write(pki.path("server-key.pem"), &rotated.key_pem).expect("write");
    let rotated_at = Instant::now();
    let new_fingerprint = fingerprint(&rotated.der);
    while served(query_grpc).await != new_fingerprint {
        assert!(
            rotated_at.elapsed() < Duration::from_secs(10),
            "new certificate not served within 10s; log:\n{}",
            spoor.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(served(otlp).await, new_fingerprint, "every listener with these files rotates");

    client.export(trace_request("after-rotation", 0x7156, 1)).await.expect("export on the established connection");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "the established connection was not cut and re-made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_admin_answer_on_ipv6_loopback_and_admin_serves_https() {
    let pki = Pki::new();
    let ports = Ports::free();
    let args = [
        vec![
            format!("--query.http-server.host-port=[::1]:{}", ports.spare),
            format!("--admin.http.host-port=[::1]:{}", ports.admin),
        ],
        pki.tls_args("admin.http"),
    ]
    .concat();
    let spoor = Running::start(&args).await;

    let query = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, ports.spare));
    let mut stream = TcpStream::connect(query).await.expect("query on [::1]");
    stream.write_all(b"GET /api/services HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    assert_eq!(parse_http_response(&String::from_utf8_lossy(&response)).0, 200);

    let admin = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, ports.admin));
    let (status, body) =
        https_get(admin, pki.client_config(None, HTTP1), "/").await.expect("admin over HTTPS on [::1]");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Server available"), "{body}");
    let (status, _) = https_get(admin, pki.client_config(None, HTTP1), "/metrics").await.expect("metrics over HTTPS");
    assert_eq!(status, 200);
    drop(spoor);
}

#[test]
fn a_certificate_option_without_tls_enabled_fails_start_up() {
    let output = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["all-in-one", "--span-storage.type=memory", "--query.http.tls.cert=/tmp/nowhere.pem"])
        .output()
        .expect("running spoor");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
    assert!(stderr.contains("--query.http.tls.enabled is false"), "{stderr}");
}

fn otlp_python() -> String {
    std::env::var("OTLP_PYTHON").expect("OTLP_PYTHON must name the otlp venv's python (tests/clients/setup-python)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the OTLP Python venv (tests/clients/setup-python)"]
async fn opentelemetry_python_exporters_send_over_tls_and_mtls() {
    let pki = Pki::new();
    let args = [pki.tls_args("collector.otlp.grpc"), pki.mtls_args("collector.otlp.http"), pki.tls_args("query.http")]
        .concat();
    let spoor = Running::start(&args).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python/send_otlp.py");
    for (protocol, port) in [("grpc", spoor.ports.otlp_grpc), ("http", spoor.ports.otlp_http)] {
        let service = format!("python-tls-{protocol}");
        let mut command = Command::new(otlp_python());
        command
            .args([
                script,
                "--verbose",
                "--protocol",
                protocol,
                "--endpoint",
                &format!("https://127.0.0.1:{port}"),
                "--service",
                &service,
            ])
            .env("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem"))
            // `requests` lets these override the exporter's CA file (session-level `verify`).
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE");
        if protocol == "http" {
            // The HTTP receiver requires a client certificate (mTLS).
            command
                .env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.path("client.pem"))
                .env("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.path("client-key.pem"));
        }
        let output = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("send_otlp.py");
        assert!(
            output.status.success(),
            "send_otlp.py over TLS ({protocol}) failed: {}\n{}\nspoor log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout),
            spoor.log()
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        let trace_id = report["trace_id"].as_str().expect("trace_id").to_owned();
        let json =
            wait_for_trace(spoor.local(spoor.ports.query_http), pki.client_config(None, HTTP1), &trace_id, || {
                spoor.log()
            })
            .await;
        assert_eq!(json["data"][0]["spans"].as_array().map(Vec::len), Some(3), "{json}");
    }
}
