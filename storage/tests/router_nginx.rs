//! The namespace router against a real Elasticsearch behind two real nginx reverse proxies
//! (`tests/infra/nginx`), one per namespace, each demanding its own credential:
//!
//! - `bookinfo` goes through proxy A, which demands basic auth (`username` + `password_file`);
//! - `payments` goes through proxy B, TLS with a client certificate from B's own CA
//!   (`tls.ca_file`, `tls.cert_file`, `tls.key_file`);
//! - `shop` and `[default]` go straight to Elasticsearch, on other index prefixes.
//!
//! The test writes and reads through one [`NamespaceRouter`] built from a real namespaces file,
//! then reads the proxies' access logs to prove that each proxy only ever saw its own namespace's
//! credential. It replaces the secret files with wrong ones (a clear error, no restart) and back
//! (works again, same router).
//!
//! Needs `tests/infra/elasticsearch start` (ES_URL, default http://127.0.0.1:9200); the test starts
//! and stops its own nginx instances.

mod es_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use es_common::{es_url, unique_prefix, Admin};
use spoor_model::{KeyValue, Namespace, Process, Span, SpanBatch, SpanId, TraceId};
use spoor_storage::elasticsearch::{ElasticsearchStore, EsTarget};
use spoor_storage::router::{Backend, NamespaceRouter, NamespacesFile};
use spoor_storage::{GetTraceRequest, SpanReader, SpanWriter, StorageError, TraceQuery};

const SECRET_RELOAD: Duration = Duration::from_millis(200);
/// Long enough for the reloader (every 200 ms) to have seen a changed file.
const RELOAD_WAIT: Duration = Duration::from_millis(1_500);

fn nginx_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/infra/nginx")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Runs `tests/infra/nginx ARGS`; returns its `KEY=value` stdout lines.
fn nginx(args: &[&str]) -> Vec<(String, String)> {
    let output = Command::new(nginx_script()).args(args).output().expect("run tests/infra/nginx");
    assert!(
        output.status.success(),
        "tests/infra/nginx {:?} failed: {}\n{}",
        args.first(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn value(lines: &[(String, String)], key: &str) -> String {
    lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

/// A started nginx instance, stopped and removed on drop.
struct Proxy {
    name: String,
    url: String,
    access_log: PathBuf,
}

impl Proxy {
    fn start(name: String, args: &[&str]) -> Self {
        let mut all = vec!["start", name.as_str()];
        all.extend_from_slice(args);
        let lines = nginx(&all);
        Self { url: value(&lines, "NGINX_URL"), access_log: PathBuf::from(value(&lines, "NGINX_ACCESS_LOG")), name }
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.access_log).expect("read access log").lines().map(str::to_owned).collect()
    }

    /// Waits (up to 5 s) until at least `count` access-log lines satisfy `matches`. nginx writes a
    /// request's line after it has sent the response, so the client can see the answer first.
    async fn wait_for_log_lines(&self, count: usize, matches: impl Fn(&str) -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if self.log_lines().iter().filter(|line| matches(line)).count() >= count {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new(nginx_script()).args(["clean", &self.name]).output();
    }
}

/// Replaces `path` atomically (write + rename), as a Kubernetes secret volume update does.
fn replace_file(path: &Path, contents: &[u8]) {
    let temp = path.with_extension("new");
    std::fs::write(&temp, contents).expect("write secret");
    std::fs::rename(&temp, path).expect("rename secret");
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

fn batch(trace: u64, service: &str) -> SpanBatch {
    let process = Arc::new(Process { service_name: service.to_owned(), tags: vec![] });
    SpanBatch::new(vec![Span {
        trace_id: TraceId::new(0x5eed, trace),
        span_id: SpanId(trace),
        operation_name: format!("GET /{service}"),
        references: vec![],
        flags: 1,
        start_time_unix_nano: now_nanos() - 1_000_000_000,
        duration_nanos: 1_000_000,
        tags: vec![KeyValue::string("span.kind", "server")],
        logs: vec![],
        process,
        warnings: vec![],
        scope_attributes: Vec::new(),
    }])
}

fn request(trace: u64) -> GetTraceRequest {
    GetTraceRequest::new(TraceId::new(0x5eed, trace))
}

struct Setup {
    router: NamespaceRouter,
    admin: Admin,
    prefix: String,
    basic: Proxy,
    mtls: Proxy,
    secrets: tempfile::TempDir,
    basic_user: String,
    mtls_subject: String,
}

impl Setup {
    async fn write_and_refresh(&self, ns: &str, trace: u64, service: &str) -> Result<(), StorageError> {
        self.router.write(&Namespace::new(ns), batch(trace, service)).await?;
        // straight to Elasticsearch, not through a proxy: the proxies' logs stay the router's
        self.admin.refresh(&format!("{}-{ns}", self.prefix)).await;
        Ok(())
    }

    fn password_file(&self) -> PathBuf {
        self.secrets.path().join("bookinfo/password")
    }
}

async fn setup() -> Setup {
    let es = es_url();
    let run = format!("{}-{}", std::process::id(), now_nanos() % 1_000_000);
    let secrets = tempfile::tempdir().expect("temp dir");
    let dir = secrets.path();

    // proxy A: basic auth with its own user
    let basic_user = format!("writer-{run}");
    let password = format!("pw-{run}-bookinfo");
    let basic_port = free_port().to_string();
    let basic = Proxy::start(format!("router-basic-{run}"), &[&es, &basic_port, "basic", &basic_user, &password]);
    std::fs::create_dir_all(dir.join("bookinfo")).expect("secrets dir");
    // a trailing newline, as `kubectl create secret --from-file` and editors leave it
    std::fs::write(dir.join("bookinfo/password"), format!("{password}\n")).expect("password file");

    // proxy B: mTLS with a client certificate from its own CA
    let ca_dir = dir.join("payments-ca");
    let mtls_name = format!("router-mtls-{run}");
    let mtls_port = free_port().to_string();
    let mtls = Proxy::start(mtls_name.clone(), &[&es, &mtls_port, "mtls", ca_dir.to_str().expect("UTF-8 temp dir")]);
    std::fs::create_dir_all(dir.join("payments")).expect("secrets dir");
    for file in ["client.crt", "client.key"] {
        std::fs::copy(ca_dir.join(file), dir.join("payments").join(file)).expect("copy client certificate");
    }
    let mtls_subject = format!("CN=spoor-{mtls_name}-client,O=spoor-test");

    let prefix = unique_prefix("router");
    let common = format!(
        "shards = 1\nreplicas = 0\nsecret_reload_interval = \"{}ms\"\ntimeout = \"10s\"\n\
         bulk.max_retries = 1\nbulk.retry_initial_backoff = \"50ms\"\n",
        SECRET_RELOAD.as_millis()
    );
    let file_text = format!(
        r#"unknown_namespaces = "default"

[default]
server_urls = ["{es}"]
index_prefix = "{prefix}-default"
{common}
[shop]
server_urls = ["{es}"]
index_prefix = "{prefix}-shop"
{common}
[bookinfo]
server_urls = ["{basic_url}"]
index_prefix = "{prefix}-bookinfo"
username = "{basic_user}"
password_file = "{dir}/bookinfo/password"
{common}
[payments]
server_urls = ["{mtls_url}"]
index_prefix = "{prefix}-payments"
tls.ca_file = "{ca}/ca.crt"
tls.cert_file = "{dir}/payments/client.crt"
tls.key_file = "{dir}/payments/client.key"
{common}"#,
        basic_url = basic.url,
        mtls_url = mtls.url,
        dir = dir.display(),
        ca = ca_dir.display(),
    );
    let path = dir.join("namespaces.toml");
    std::fs::write(&path, file_text).expect("namespaces file");
    let file = NamespacesFile::<EsTarget>::from_path(&path).expect("valid namespaces file");
    let router = NamespaceRouter::build(file, |ns, target| async move {
        let store = ElasticsearchStore::connect(ns.as_str(), target, None).await?;
        Ok(Arc::new(store) as Arc<dyn Backend>)
    })
    .await
    .expect("router over four Elasticsearch targets");
    Setup { router, admin: Admin::new(&es), prefix, basic, mtls, secrets, basic_user, mtls_subject }
}

/// Every line of proxy A's log carries A's user and no client certificate; every line of proxy B's
/// log carries B's client certificate and no user; neither ever saw the other's credential.
fn assert_each_proxy_saw_only_its_own_credential(setup: &Setup) {
    let user_field = format!("user=\"{}\"", setup.basic_user);
    let subject_field = format!("client_dn=\"{}\"", setup.mtls_subject);
    let basic_lines = setup.basic.log_lines();
    let mtls_lines = setup.mtls.log_lines();
    assert!(!basic_lines.is_empty() && !mtls_lines.is_empty(), "both proxies were used");
    for line in &basic_lines {
        assert!(line.contains(&user_field) && line.contains("client_dn=\"-\""), "proxy A saw: {line}");
        assert!(!line.contains("spoor-router-mtls"), "proxy A saw B's certificate: {line}");
    }
    for line in &mtls_lines {
        assert!(line.contains("user=\"-\""), "proxy B saw a basic-auth user: {line}");
        assert!(!line.contains(&setup.basic_user), "proxy B saw A's user: {line}");
    }
    let verified: Vec<&String> = mtls_lines.iter().filter(|line| line.contains("verify=SUCCESS")).collect();
    assert!(!verified.is_empty(), "proxy B verified no client certificate");
    for line in verified {
        assert!(line.contains(&subject_field), "proxy B verified another certificate: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Elasticsearch and nginx (tests/infra/elasticsearch, tests/infra/nginx)"]
async fn each_namespace_reaches_elasticsearch_with_its_own_credentials() {
    let setup = setup().await;
    let router = &setup.router;
    let (bookinfo, payments, shop) = (Namespace::new("bookinfo"), Namespace::new("payments"), Namespace::new("shop"));

    // writes and reads through both proxies and straight to Elasticsearch
    setup.write_and_refresh("bookinfo", 1, "reviews.bookinfo").await.expect("write through the basic-auth proxy");
    setup.write_and_refresh("payments", 2, "ledger.payments").await.expect("write through the mTLS proxy");
    setup.write_and_refresh("shop", 3, "cart.shop").await.expect("write straight to Elasticsearch");
    setup.write_and_refresh("default", 4, "istio-ingressgateway").await.expect("write to the default target");

    assert_eq!(router.services(&bookinfo).await.unwrap(), ["reviews.bookinfo"]);
    assert_eq!(router.services(&payments).await.unwrap(), ["ledger.payments"]);
    assert_eq!(router.services(&shop).await.unwrap(), ["cart.shop"]);
    assert!(router.get_trace(&bookinfo, request(1)).await.unwrap().is_some());
    assert!(router.get_trace(&payments, request(2)).await.unwrap().is_some());
    // each namespace reads only its own indices
    assert!(router.get_trace(&payments, request(1)).await.unwrap().is_none());
    assert!(router.get_trace(&bookinfo, request(2)).await.unwrap().is_none());
    assert!(router.get_trace(&shop, request(1)).await.unwrap().is_none());
    let query = TraceQuery { service_name: Some("ledger.payments".into()), ..TraceQuery::default() };
    assert_eq!(router.find_traces(&payments, &query).await.unwrap().len(), 1);
    assert!(router.find_traces(&bookinfo, &query).await.unwrap().is_empty());

    // direct namespaces never go through a proxy
    let (basic_before, mtls_before) = (setup.basic.log_lines().len(), setup.mtls.log_lines().len());
    setup.write_and_refresh("shop", 5, "cart.shop").await.unwrap();
    router.services(&Namespace::new("unknown-ns")).await.unwrap();
    assert_eq!((setup.basic.log_lines().len(), setup.mtls.log_lines().len()), (basic_before, mtls_before));

    assert_each_proxy_saw_only_its_own_credential(&setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Elasticsearch and nginx (tests/infra/elasticsearch, tests/infra/nginx)"]
async fn replaced_secret_files_take_effect_without_a_restart() {
    let setup = setup().await;
    let router = &setup.router;
    let bookinfo = Namespace::new("bookinfo");
    let payments = Namespace::new("payments");
    setup.write_and_refresh("bookinfo", 11, "reviews.bookinfo").await.expect("first write");
    setup.write_and_refresh("payments", 12, "ledger.payments").await.expect("first write");

    // a wrong password: a clear, retryable error that does not echo the secret
    let good_password = std::fs::read(setup.password_file()).unwrap();
    replace_file(&setup.password_file(), b"wrong-password-xyzzy\n");
    tokio::time::sleep(RELOAD_WAIT).await;
    let write_error = router.write(&bookinfo, batch(13, "reviews.bookinfo")).await.expect_err("wrong password");
    let read_error = router.services(&bookinfo).await.expect_err("wrong password");
    for error in [&write_error, &read_error] {
        let text = error.to_string();
        assert!(error.kind().is_retryable(), "{text}");
        assert!(text.contains("authentication failed") && text.contains(&setup.basic.url), "{text}");
        assert!(!text.contains("xyzzy") && !text.contains("pw-"), "the error echoes a secret: {text}");
    }
    // the other namespaces are not affected
    setup.write_and_refresh("payments", 14, "ledger.payments").await.expect("payments unaffected");
    setup.write_and_refresh("shop", 15, "cart.shop").await.expect("shop unaffected");
    assert!(
        setup.basic.wait_for_log_lines(2, |line| line.contains("\" 401 ")).await,
        "proxy A refused the wrong password"
    );

    // the right password again: the same router works
    replace_file(&setup.password_file(), &good_password);
    tokio::time::sleep(RELOAD_WAIT).await;
    setup.write_and_refresh("bookinfo", 16, "reviews.bookinfo").await.expect("write after the fix");
    assert!(router.get_trace(&bookinfo, request(16)).await.unwrap().is_some());

    // a client certificate from another CA: refused by proxy B, then healed the same way
    let rogue = setup.secrets.path().join("rogue-ca");
    nginx(&["certs", rogue.to_str().unwrap(), "rogue"]);
    let cert_path = setup.secrets.path().join("payments/client.crt");
    let key_path = setup.secrets.path().join("payments/client.key");
    let (good_cert, good_key) = (std::fs::read(&cert_path).unwrap(), std::fs::read(&key_path).unwrap());
    replace_file(&key_path, &std::fs::read(rogue.join("client.key")).unwrap());
    replace_file(&cert_path, &std::fs::read(rogue.join("client.crt")).unwrap());
    tokio::time::sleep(RELOAD_WAIT).await;
    // nginx completes the handshake and answers `400 The SSL certificate error`; the Elasticsearch
    // client maps that 400 like any other (not retryable, no hint at the certificate), so only the
    // failure and the target are asserted here.
    let error = router.write(&payments, batch(17, "ledger.payments")).await.expect_err("rogue certificate");
    let text = error.to_string();
    assert!(text.contains(&setup.mtls.url), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    eprintln!("wrong client certificate -> {:?}: {text}", error.kind());
    assert!(
        setup.mtls.wait_for_log_lines(1, |line| line.contains("CN=spoor-rogue-client")).await,
        "proxy B saw the rogue cert"
    );

    replace_file(&key_path, &good_key);
    replace_file(&cert_path, &good_cert);
    tokio::time::sleep(RELOAD_WAIT).await;
    setup.write_and_refresh("payments", 18, "ledger.payments").await.expect("write after the certificate fix");
    assert!(router.get_trace(&payments, request(18)).await.unwrap().is_some());

    // through all of it, neither proxy saw the other namespace's credential
    for line in setup.basic.log_lines() {
        assert!(!line.contains("spoor-router-mtls") && !line.contains("rogue"), "proxy A saw: {line}");
    }
    for line in setup.mtls.log_lines() {
        assert!(!line.contains(&setup.basic_user), "proxy B saw: {line}");
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let prefix = self.prefix.clone();
        let cleanup = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(admin.delete_prefix(&prefix));
            }
        });
        let _ = cleanup.join();
    }
}
