//! The built-in trace viewer: the static files of `query/ui/` (plain HTML, CSS and ES modules, no
//! build step), embedded in the binary with `include_bytes!` and served under the base path next
//! to the `/api/*` routes. Nothing is fetched from elsewhere at run time, so it works air-gapped.
//!
//! - `{base}/` and every other path under the base that is not `/api/*` or `/static/*` (the
//!   viewer's own routes such as `{base}/trace/<id>`) serve `index.html`, whose `<base href>` is
//!   set to the base path so the viewer's relative URLs resolve under it.
//! - `{base}/static/<file>` serves an asset with its content type.
//! - Unknown `/api/*` paths answer with Jaeger's JSON error envelope, never with `index.html`.
//!
//! Asset names are not fingerprinted, so every response says `Cache-Control: no-cache` and carries
//! an `ETag`: browsers revalidate on each load and get `304 Not Modified` until the binary changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::http::{error_response, QueryHttpConfig};

/// The `<base>` element of `index.html` that [`router`] rewrites to the base path.
const BASE_ELEMENT: &str = r#"<base href="/" data-inject-target="BASE_URL">"#;

const INDEX_HTML: &str = include_str!("../ui/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Restricts the page to its own origin: no inline script, nothing loaded from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset { name: $name, content_type: $content_type, body: include_bytes!(concat!("../ui/", $name)) }
    };
}

/// Every file under `{base}/static/`.
const ASSETS: &[Asset] = &[
    asset!("app.js", JAVASCRIPT),
    asset!("api.js", JAVASCRIPT),
    asset!("deps.js", JAVASCRIPT),
    asset!("model.js", JAVASCRIPT),
    asset!("nav.js", JAVASCRIPT),
    asset!("scatter.js", JAVASCRIPT),
    asset!("search.js", JAVASCRIPT),
    asset!("span-detail.js", JAVASCRIPT),
    asset!("trace.js", JAVASCRIPT),
    asset!("util.js", JAVASCRIPT),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// A response body with its validator, computed once when the router is built.
struct Served {
    content_type: &'static str,
    body: Bytes,
    etag: HeaderValue,
}

impl Served {
    fn new(content_type: &'static str, body: Bytes) -> Self {
        let etag = HeaderValue::try_from(format!("\"{:016x}\"", fnv1a(&body)))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Self { content_type, body, etag }
    }

    fn respond(&self, request_headers: &HeaderMap, extra: &[(header::HeaderName, &'static str)]) -> Response {
        let mut response = if etag_matches(request_headers, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, self.content_type)], self.body.clone()).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        for (name, value) in extra {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
        response
    }
}

struct UiFiles {
    /// The route prefix without a trailing slash; empty at the root.
    prefix: String,
    index: Served,
    assets: Vec<(&'static str, Served)>,
}

impl UiFiles {
    fn new(prefix: String) -> Self {
        let index = INDEX_HTML.replacen(BASE_ELEMENT, &base_element(&prefix), 1);
        let assets = ASSETS
            .iter()
            .map(|asset| (asset.name, Served::new(asset.content_type, Bytes::from_static(asset.body))))
            .collect();
        Self { index: Served::new("text/html; charset=utf-8", Bytes::from(index)), assets, prefix }
    }

    /// The part of `path` under the base path (starting with '/'), or `None` outside it.
    fn under_base<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        rest.starts_with('/').then_some(rest)
    }

    fn index(&self, request_headers: &HeaderMap) -> Response {
        self.index.respond(
            request_headers,
            &[(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY), (header::REFERRER_POLICY, "same-origin")],
        )
    }
}

/// `<base href="{prefix}/">`, the prefix escaped for an HTML attribute.
fn base_element(prefix: &str) -> String {
    let mut href = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        match character {
            '&' => href.push_str("&amp;"),
            '"' => href.push_str("&quot;"),
            '<' => href.push_str("&lt;"),
            '>' => href.push_str("&gt;"),
            other => href.push(other),
        }
    }
    href.push('/');
    format!(r#"<base href="{href}">"#)
}

/// The viewer's routes for `config.base_path`, with the fallback that serves `index.html` for the
/// viewer's own paths and Jaeger's JSON 404 for unknown `/api/*` paths. Merged into
/// [`crate::http::router`]; it is the only fallback of that router.
pub fn router(config: &QueryHttpConfig) -> Router {
    let prefix = config.route_prefix().unwrap_or_default();
    let files = Arc::new(UiFiles::new(prefix.clone()));
    let mut ui =
        Router::new().route(&format!("{prefix}/"), get(index)).route(&format!("{prefix}/static/{{*file}}"), get(asset));
    if !prefix.is_empty() {
        // the bare prefix and the root lead to the viewer
        let home = format!("{prefix}/");
        let to_home = move || {
            let home = home.clone();
            async move { Redirect::temporary(&home) }
        };
        ui = ui.route(&prefix, get(to_home.clone())).route("/", get(to_home));
    }
    ui.fallback(fallback).with_state(files)
}

async fn index(State(files): State<Arc<UiFiles>>, headers: HeaderMap) -> Response {
    files.index(&headers)
}

async fn asset(State(files): State<Arc<UiFiles>>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    match files.assets.iter().find(|(name, _)| *name == file) {
        Some((_, served)) => served.respond(&headers, &[]),
        None => not_found(),
    }
}

async fn fallback(State(files): State<Arc<UiFiles>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let under_base = files.under_base(path);
    if is_api_path(path) || under_base.is_some_and(is_api_path) {
        return error_response(StatusCode::NOT_FOUND, format!("no API endpoint {method} {path}"));
    }
    let Some(rest) = under_base else { return not_found() };
    if rest.starts_with("/static/") {
        return not_found();
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    files.index(&headers)
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Go's `http.NotFound`, as Jaeger answers a path it does not serve.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "404 page not found\n")
        .into_response()
}

/// `If-None-Match` lists `etag` (or is `*`).
fn etag_matches(request_headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else { return false };
    request_headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').map(|candidate| candidate.trim().trim_start_matches("W/")).any(|tag| tag == etag || tag == "*")
    })
}

/// 64-bit FNV-1a: a stable fingerprint of a file's bytes for its `ETag`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueryMetrics, QueryService, QueryServiceOptions};
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use spoor_storage::MemoryStore;
    use tower::ServiceExt;

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    impl Reply {
        fn header(&self, name: header::HeaderName) -> &str {
            self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
        }
    }

    /// The whole query router (API and viewer), as the binary serves it.
    fn query_router(base_path: &str) -> Router {
        let reader = Arc::new(MemoryStore::new());
        let service = QueryService::new(reader, QueryServiceOptions::default(), QueryMetrics::unregistered());
        let config = QueryHttpConfig { base_path: base_path.into(), ..Default::default() };
        crate::http::router(Arc::new(service), &config)
    }

    async fn request(router: &Router, method: Method, uri: &str, headers: &[(header::HeaderName, &str)]) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(name, *value);
        }
        let response = router.clone().oneshot(builder.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        Reply { status, headers, body }
    }

    async fn get(router: &Router, uri: &str) -> Reply {
        request(router, Method::GET, uri, &[]).await
    }

    #[tokio::test]
    async fn index_is_served_at_the_root_with_a_root_base_href() {
        let reply = get(&query_router("/"), "/").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(reply.header(header::CACHE_CONTROL), "no-cache");
        assert!(reply.header(header::CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
        assert!(reply.body.contains(r#"<base href="/">"#), "{}", reply.body);
        assert!(reply.body.contains(r#"src="static/app.js""#));
    }

    #[tokio::test]
    async fn index_under_a_base_path_carries_that_base_href() {
        let router = query_router("/jaeger/");
        for uri in ["/jaeger/", "/jaeger/search?service=a", "/jaeger/trace/abc", "/jaeger/dependencies"] {
            let reply = get(&router, uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}");
            assert!(reply.body.contains(r#"<base href="/jaeger/">"#), "{uri}");
        }
        let bare = get(&router, "/jaeger").await;
        assert_eq!(bare.status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(bare.header(header::LOCATION), "/jaeger/");
        assert_eq!(get(&router, "/").await.header(header::LOCATION), "/jaeger/");
        assert_eq!(get(&router, "/trace/abc").await.status, StatusCode::NOT_FOUND, "outside the base path");
    }

    #[tokio::test]
    async fn base_path_is_escaped_in_the_base_href() {
        assert_eq!(base_element(r#"/a"b<c>&d"#), r#"<base href="/a&quot;b&lt;c&gt;&amp;d/">"#);
        assert_eq!(base_element(""), r#"<base href="/">"#);
    }

    #[tokio::test]
    async fn scripts_styles_and_icons_have_their_content_types() {
        for base in ["/", "/jaeger"] {
            let router = query_router(base);
            let prefix = base.trim_end_matches('/');
            let js = get(&router, &format!("{prefix}/static/app.js")).await;
            assert_eq!(js.status, StatusCode::OK);
            assert_eq!(js.header(header::CONTENT_TYPE), "text/javascript; charset=utf-8");
            assert_eq!(js.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert!(js.body.contains("import"));
            let css = get(&router, &format!("{prefix}/static/style.css")).await;
            assert_eq!(css.header(header::CONTENT_TYPE), "text/css; charset=utf-8");
            let svg = get(&router, &format!("{prefix}/static/favicon.svg")).await;
            assert_eq!(svg.header(header::CONTENT_TYPE), "image/svg+xml");
        }
    }

    #[tokio::test]
    async fn unknown_static_files_are_404_not_index_html() {
        let reply = get(&query_router("/"), "/static/missing.js").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(!reply.body.contains("<html"));
    }

    #[tokio::test]
    async fn viewer_paths_fall_back_to_index_html() {
        let router = query_router("/");
        for uri in ["/trace/abc", "/search?service=x", "/dependencies", "/some/deep/path"] {
            let reply = get(&router, uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}");
            assert_eq!(reply.header(header::CONTENT_TYPE), "text/html; charset=utf-8", "{uri}");
            assert!(reply.body.contains("<!doctype html>"), "{uri}");
        }
        let post = request(&router, Method::POST, "/trace/abc", &[]).await;
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn unknown_api_paths_are_json_404_envelopes() {
        for (base, uri) in [
            ("/", "/api/nope"),
            ("/", "/api/metrics/calls?service=x&endTs=1"),
            ("/", "/api"),
            ("/jaeger", "/jaeger/api/nope"),
            ("/jaeger", "/api/nope"),
        ] {
            let reply = get(&query_router(base), uri).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
            let envelope: serde_json::Value = serde_json::from_str(&reply.body).expect("a JSON envelope");
            assert_eq!(envelope["data"], serde_json::Value::Null, "{uri}");
            assert_eq!(envelope["errors"][0]["code"], 404, "{uri}");
        }
    }

    #[tokio::test]
    async fn api_routes_still_answer_next_to_the_viewer() {
        for (router, uri) in [(query_router("/"), "/api/services"), (query_router("/jaeger"), "/jaeger/api/services")] {
            let reply = get(&router, uri).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.header(header::CONTENT_TYPE), "application/json");
            assert_eq!(reply.body, r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#);
        }
    }

    #[tokio::test]
    async fn a_matching_etag_is_answered_with_304() {
        let router = query_router("/");
        let first = get(&router, "/static/trace.js").await;
        let etag = first.header(header::ETAG).to_owned();
        assert!(etag.starts_with('"'));
        let again = request(&router, Method::GET, "/static/trace.js", &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        let index_etag = get(&router, "/").await.header(header::ETAG).to_owned();
        let index_again = request(&router, Method::GET, "/trace/x", &[(header::IF_NONE_MATCH, &index_etag)]).await;
        assert_eq!(index_again.status, StatusCode::NOT_MODIFIED);
        let other = request(&router, Method::GET, "/", &[(header::IF_NONE_MATCH, "\"other\"")]).await;
        assert_eq!(other.status, StatusCode::OK);
    }

    #[test]
    fn index_html_has_the_base_element_to_rewrite() {
        assert_eq!(INDEX_HTML.matches(BASE_ELEMENT).count(), 1);
    }

    /// Every `static/…` file that index.html names, and every module a script imports, is embedded.
    #[test]
    fn every_referenced_file_is_embedded() {
        let embedded: Vec<&str> = ASSETS.iter().map(|asset| asset.name).collect();
        let mut referenced: Vec<String> = INDEX_HTML
            .split("static/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
            .collect();
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let source = std::str::from_utf8(asset.body).unwrap();
            for line in source.lines().filter(|line| line.starts_with("import ") || line.starts_with("} from ")) {
                if let Some(module) = line.split("from './").nth(1) {
                    referenced.push(module.trim_end_matches("';").to_owned());
                }
            }
        }
        assert!(referenced.len() > ASSETS.len(), "found {referenced:?}");
        for name in referenced {
            assert!(embedded.contains(&name.as_str()), "{name} is referenced but not embedded");
        }
    }
}
