//! Helpers for end-to-end tests that run the real `spoor` binary.
#![allow(dead_code)]

pub mod otlp;
pub mod roles;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ports one all-in-one instance listens on.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub otlp_grpc: u16,
    pub otlp_http: u16,
    pub query_http: u16,
    pub query_grpc: u16,
    pub remote_storage: u16,
    pub sampling_http: u16,
    pub sampling_grpc: u16,
    pub jaeger_grpc: u16,
    pub jaeger_http: u16,
    pub zipkin: u16,
    pub agent_compact: u16,
    pub agent_binary: u16,
    pub admin: u16,
    /// Not used by Spoor's defaults: for a test that turns on one more listener.
    pub spare: u16,
}

impl Ports {
    pub fn free() -> Self {
        // Every socket stays bound until all ports are chosen (releasing each one before asking for
        // the next lets the OS hand out the same port twice), and no port is handed out twice in this
        // process (tests run in parallel: one test's released ports could go to another).
        static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tcp: Vec<TcpListener> = Vec::new();
        while tcp.len() < 12 {
            let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
            let port = listener.local_addr().expect("local addr").port();
            if !handed_out.contains(&port) {
                handed_out.push(port);
                tcp.push(listener);
            }
        }
        let mut udp: Vec<std::net::UdpSocket> = Vec::new();
        while udp.len() < 2 {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("binding a free UDP port");
            let port = socket.local_addr().expect("local addr").port();
            if !handed_out.contains(&port) {
                handed_out.push(port);
                udp.push(socket);
            }
        }
        let t = |i: usize| tcp[i].local_addr().expect("local addr").port();
        let u = |i: usize| udp[i].local_addr().expect("local addr").port();
        Self {
            otlp_grpc: t(0),
            otlp_http: t(1),
            query_http: t(2),
            query_grpc: t(3),
            remote_storage: t(4),
            sampling_http: t(5),
            sampling_grpc: t(6),
            jaeger_grpc: t(7),
            jaeger_http: t(8),
            zipkin: t(9),
            agent_compact: u(0),
            agent_binary: u(1),
            admin: t(10),
            spare: t(11),
        }
    }
}

/// A running `spoor all-in-one`, killed (SIGKILL) when dropped.
pub struct Spoor {
    pub child: Child,
    pub ports: Ports,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
}

impl Spoor {
    /// Starts `spoor all-in-one` on free ports with its store under `data_dir`, and waits until
    /// its admin health answers 200.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::start_on(data_dir, Ports::free(), extra_args)
    }

    pub fn start_on(data_dir: &Path, ports: Ports, extra_args: &[&str]) -> Self {
        let log_path = data_dir.with_extension(format!("log-{}", ports.admin));
        let log = std::fs::File::create(&log_path).expect("creating the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg("all-in-one")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--collector.otlp.grpc.host-port", &format!("127.0.0.1:{}", ports.otlp_grpc)])
            .args(["--collector.otlp.http.host-port", &format!("127.0.0.1:{}", ports.otlp_http)])
            .args(["--query.http-server.host-port", &format!("127.0.0.1:{}", ports.query_http)])
            .args(["--query.grpc-server.host-port", &format!("127.0.0.1:{}", ports.query_grpc)])
            .args(["--remote-storage.grpc.host-port", &format!("127.0.0.1:{}", ports.remote_storage)])
            .args(["--sampling.http.host-port", &format!("127.0.0.1:{}", ports.sampling_http)])
            .args(["--sampling.grpc.host-port", &format!("127.0.0.1:{}", ports.sampling_grpc)])
            .args(["--collector.grpc-server.host-port", &format!("127.0.0.1:{}", ports.jaeger_grpc)])
            .args(["--collector.http-server.host-port", &format!("127.0.0.1:{}", ports.jaeger_http)])
            .args(["--collector.zipkin.host-port", &format!("127.0.0.1:{}", ports.zipkin)])
            .args(["--processor.jaeger-compact.server-host-port", &format!("127.0.0.1:{}", ports.agent_compact)])
            .args(["--processor.jaeger-binary.server-host-port", &format!("127.0.0.1:{}", ports.agent_binary)])
            .args(["--admin.http.host-port", &format!("127.0.0.1:{}", ports.admin)])
            .args(extra_args)
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting spoor");
        let mut spoor = Self { child, ports, data_dir: data_dir.to_owned(), log_path };
        spoor.wait_healthy(Duration::from_secs(60));
        spoor
    }

    fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let url = format!("http://127.0.0.1:{}/", self.ports.admin);
        loop {
            if let Some(status) = self.child.try_wait().expect("polling spoor") {
                panic!("spoor exited with {status} before becoming healthy; log:\n{}", self.log());
            }
            if let Ok(response) = ureq::get(&url).call() {
                if response.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("spoor not healthy within {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_grpc)
    }

    pub fn otlp_http_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.ports.otlp_http)
    }

    pub fn query_url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.ports.query_http, path_and_query)
    }

    /// GET on the query port; returns (status, body) whatever the status.
    pub fn query(&self, path_and_query: &str) -> (u16, String) {
        http_get(&self.query_url(path_and_query))
    }

    /// GET returning the JSON body, panicking on a non-200.
    pub fn query_json(&self, path_and_query: &str) -> serde_json::Value {
        let (status, body) = self.query(path_and_query);
        assert_eq!(status, 200, "GET {path_and_query} -> {status}: {body}");
        serde_json::from_str(&body).expect("query response is JSON")
    }

    /// SIGKILL, no chance to flush.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaping spoor");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("polling spoor").is_none()
    }
}

impl Drop for Spoor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET without failing on 4xx/5xx: (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

/// POST raw bytes with headers: (status, body).
pub fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    // Lossy: OTLP answers protobuf requests with a protobuf `Status`, whose message is still text.
    let bytes = response.body_mut().read_to_vec().unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Polls `f` until it returns `Some` or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POST over a raw socket that keeps reading the answer even when the server stops reading the
/// body early (a 413 for an oversized body closes the connection mid-upload): (status, response).
pub fn http_post_tolerant(host_port: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host_port).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body); // may fail with EPIPE once the server answered
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}
