//! Running Spoor's separate roles (`collector`, `ingester`, `query`) and the real services they use,
//! for end-to-end tests of the streaming deployment.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, never handed out twice in this process.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        let port = listener.local_addr().expect("local addr").port();
        // Ports::free() uses its own list; stay clear of the range it is likely to use by also
        // remembering ours.
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// A name unique to this test run, lowercase (index names must be), for topics, groups and prefixes.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn es_url() -> String {
    std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_owned())
}

pub fn opensearch_url() -> String {
    std::env::var("OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned())
}

pub fn infra_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/infra").join(name)
}

/// One `spoor <role>` process, killed (SIGKILL) when dropped.
pub struct RoleProcess {
    pub role: String,
    pub args: Vec<String>,
    pub admin_port: u16,
    pub child: Child,
    pub log_path: PathBuf,
}

impl RoleProcess {
    /// Starts `spoor <role> <args> --admin.http.host-port 127.0.0.1:<admin_port>` and waits until
    /// its health answers 200.
    pub fn start(role: &str, args: &[String], log_dir: &Path) -> Self {
        let admin_port = free_port();
        Self::start_on(role, args, admin_port, log_dir)
    }

    pub fn start_on(role: &str, args: &[String], admin_port: u16, log_dir: &Path) -> Self {
        let log_path = log_dir.join(format!("{role}-{admin_port}-{}.log", unique("run")));
        let log = std::fs::File::create(&log_path).expect("creating the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg(role)
            .args(args)
            .args(["--admin.http.host-port", &format!("127.0.0.1:{admin_port}")])
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting spoor");
        let mut process = Self { role: role.to_owned(), args: args.to_vec(), admin_port, child, log_path };
        process.wait_healthy(Duration::from_secs(120));
        process
    }

    /// The same role with the same arguments and admin port (e.g. after a kill -9).
    pub fn restart(self, log_dir: &Path) -> Self {
        let (role, args, admin_port) = (self.role.clone(), self.args.clone(), self.admin_port);
        drop(self);
        Self::start_on(&role, &args, admin_port, log_dir)
    }

    fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let url = format!("http://127.0.0.1:{}/", self.admin_port);
        loop {
            if let Some(status) = self.child.try_wait().expect("polling spoor") {
                panic!("spoor {} exited with {status} before becoming healthy; log:\n{}", self.role, self.log());
            }
            if let Ok(response) = ureq::get(&url).call() {
                if response.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("spoor {} not healthy within {timeout:?}; log:\n{}", self.role, self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `GET /` of the admin port: the health JSON.
    pub fn health(&self) -> serde_json::Value {
        let (_, body) = super::http_get(&format!("http://127.0.0.1:{}/", self.admin_port));
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    /// `GET /metrics` of the admin port.
    pub fn metrics(&self) -> String {
        super::http_get(&format!("http://127.0.0.1:{}/metrics", self.admin_port)).1
    }

    /// The sum of every sample of metric `name` whose labels contain all of `labels` (`k="v"`).
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> f64 {
        metric_sum(&self.metrics(), name, labels)
    }

    /// SIGKILL: no flush, no commit.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit (graceful shutdown).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("polling spoor").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill_9();
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of every sample of `name` (exact metric name, e.g. `foo_total`) with all of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            let metric = line.split(['{', ' ']).next().unwrap_or("");
            metric == name && labels.iter().all(|label| line.contains(label))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The arguments that turn off every receiver of a collector except OTLP gRPC on `otlp_port`.
pub fn collector_otlp_only(otlp_port: u16) -> Vec<String> {
    let mut args = vec!["--collector.otlp.grpc.host-port".to_owned(), format!("127.0.0.1:{otlp_port}")];
    for key in [
        "collector.otlp.http.host-port",
        "collector.grpc-server.host-port",
        "collector.http-server.host-port",
        "collector.zipkin.host-port",
        "processor.jaeger-compact.server-host-port",
        "processor.jaeger-binary.server-host-port",
        "sampling.http.host-port",
        "sampling.grpc.host-port",
    ] {
        args.push(format!("--{key}="));
    }
    args
}

/// The arguments of a query role on `http_port` only (gRPC and remote storage off).
pub fn query_http_only(http_port: u16) -> Vec<String> {
    vec![
        "--query.http-server.host-port".to_owned(),
        format!("127.0.0.1:{http_port}"),
        "--query.grpc-server.host-port=".to_owned(),
        "--remote-storage.grpc.host-port=".to_owned(),
    ]
}

/// A private instance of a tests/infra service (its own port and state directory), for tests
/// that stop and start it; stopped when dropped.
pub struct PrivateService {
    pub name: &'static str,
    pub env: Vec<(String, String)>,
    pub url: String,
}

impl PrivateService {
    /// `kafka` or `elasticsearch`, on free ports, state under `dir`.
    pub fn start(name: &'static str, dir: &Path) -> Self {
        Self::start_with(name, dir, Vec::new())
    }

    /// [`PrivateService::start`] with more environment for the script (e.g. `SPOOR_KAFKA_TLS_PORT`).
    pub fn start_with(name: &'static str, dir: &Path, extra_env: Vec<(String, String)>) -> Self {
        let port = free_port();
        let mut env = vec![("SPOOR_INFRA_RUN".to_owned(), dir.display().to_string())];
        env.extend(extra_env);
        match name {
            "kafka" => {
                env.push(("SPOOR_KAFKA_PORT".to_owned(), port.to_string()));
                env.push(("SPOOR_KAFKA_CONTROLLER_PORT".to_owned(), free_port().to_string()));
            }
            "elasticsearch" => {
                env.push(("SPOOR_ES_PORT".to_owned(), port.to_string()));
                env.push(("SPOOR_ES_TRANSPORT_PORT".to_owned(), free_port().to_string()));
            }
            other => panic!("no private instance of {other}"),
        }
        let mut service = Self { name, env, url: String::new() };
        service.url = service.run("start");
        service
    }

    /// Runs `tests/infra/<name> <action>` with this instance's environment; returns the value of
    /// its last `KEY=value` line.
    pub fn run(&self, action: &str) -> String {
        let output = Command::new(infra_script(self.name))
            .arg(action)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(Stdio::inherit())
            .output()
            .expect("running the infra script");
        assert!(output.status.success(), "tests/infra/{} {action} failed", self.name);
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout.lines().last().and_then(|line| line.split_once('=')).map(|(_, v)| v.to_owned()).unwrap_or_default()
    }
}

impl Drop for PrivateService {
    fn drop(&mut self) {
        let _ = Command::new(infra_script(self.name))
            .arg("clean")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output();
    }
}

/// Span documents under an index prefix (after a refresh, so everything acknowledged is counted).
pub fn span_documents(es: &str, prefix: &str) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let _ = agent.post(&format!("{es}/{prefix}-jaeger-span-*/_refresh")).send_empty();
    let (status, body) = super::http_get(&format!("{es}/{prefix}-jaeger-span-*/_count"));
    if status != 200 {
        return 0;
    }
    serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["count"].as_u64()).unwrap_or(0)
}
