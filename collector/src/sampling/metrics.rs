//! Every Prometheus metric of remote sampling, declared here and registered into the registry the
//! binary passes in. Jaeger v2's HTTP counters keep their names (the `remote_sampling` extension
//! registers `http-server.requests` and `http-server.errors` under `jaeger_remote_sampling`), so
//! existing dashboards work; prometheus-client appends `_total` to counters itself.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The transport a sampling request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingTransport {
    Http,
    Grpc,
}

impl SamplingTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Grpc => "grpc",
        }
    }
}

/// How a sampling request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestResult {
    /// A strategy was sent.
    Ok,
    /// The request was malformed (HTTP 400).
    BadRequest,
    /// The strategy could not be encoded (HTTP 500).
    Error,
}

impl RequestResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadRequest => "bad_request",
            Self::Error => "error",
        }
    }
}

/// The JSON form an HTTP answer was sent in, Jaeger's `type` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpEncoding {
    /// Proto-JSON, enum names (`type="sampling"`).
    ProtoJson,
    /// The legacy Thrift 0.9.2 form with numeric `strategyType` (`type="sampling-legacy"`).
    Legacy,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub transport: &'static str,
    pub result: &'static str,
}

/// Jaeger's `type` label (`sampling`, `sampling-legacy`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JaegerTypeLabel {
    pub r#type: &'static str,
}

/// Jaeger's labels of `http-server.errors`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpErrorLabels {
    pub source: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: &'static str,
}

/// The remote-sampling metrics. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug, Default)]
pub struct SamplingMetrics {
    requests: Family<RequestLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    jaeger_http_requests: Family<JaegerTypeLabel, Counter>,
    jaeger_http_errors: Family<HttpErrorLabels, Counter>,
}

impl SamplingMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "spoor_sampling_requests",
            "Sampling strategy requests, by transport (http, grpc) and result (ok, bad_request, error)",
            metrics.requests.clone(),
        );
        registry.register(
            "spoor_sampling_reloads",
            "Changes of the sampling strategies file seen by the reloader: ok (now in use) or failed \
             (unreadable or invalid; the previous strategies stay in use)",
            metrics.reloads.clone(),
        );
        registry.register(
            "jaeger_remote_sampling_http_server_requests",
            "Sampling strategies served over HTTP, by JSON form (sampling, sampling-legacy)",
            metrics.jaeger_http_requests.clone(),
        );
        registry.register(
            "jaeger_remote_sampling_http_server_errors",
            "Sampling HTTP requests that failed: 4xx from source all (bad query), 5xx from source thrift \
             (the legacy form cannot carry the strategy)",
            metrics.jaeger_http_errors.clone(),
        );
        metrics
    }

    /// Creates metrics that no registry exports (tests, tools).
    pub fn unregistered() -> Self {
        Self::default()
    }

    pub fn record_grpc_request(&self) {
        self.count_request(SamplingTransport::Grpc, RequestResult::Ok);
    }

    pub fn record_http_served(&self, encoding: HttpEncoding) {
        self.count_request(SamplingTransport::Http, RequestResult::Ok);
        let r#type = match encoding {
            HttpEncoding::ProtoJson => "sampling",
            HttpEncoding::Legacy => "sampling-legacy",
        };
        self.jaeger_http_requests.get_or_create(&JaegerTypeLabel { r#type }).inc();
    }

    pub fn record_http_bad_request(&self) {
        self.count_request(SamplingTransport::Http, RequestResult::BadRequest);
        self.jaeger_http_errors.get_or_create(&HttpErrorLabels { source: "all", status: "4xx" }).inc();
    }

    /// The strategy could not be encoded in the requested form (the legacy form's `i16` limit).
    pub fn record_http_encoding_failed(&self, encoding: HttpEncoding) {
        self.count_request(SamplingTransport::Http, RequestResult::Error);
        let source = match encoding {
            HttpEncoding::ProtoJson => "proto",
            HttpEncoding::Legacy => "thrift",
        };
        self.jaeger_http_errors.get_or_create(&HttpErrorLabels { source, status: "5xx" }).inc();
    }

    pub fn record_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// Requests so far with this transport and result (for tests and health checks).
    pub fn requests(&self, transport: SamplingTransport, result: RequestResult) -> u64 {
        self.requests.get_or_create(&RequestLabels { transport: transport.as_str(), result: result.as_str() }).get()
    }

    /// Reloads so far with this outcome (for tests and health checks).
    pub fn reloads(&self, ok: bool) -> u64 {
        self.reloads.get_or_create(&ReloadLabels { result: if ok { "ok" } else { "failed" } }).get()
    }

    fn count_request(&self, transport: SamplingTransport, result: RequestResult) {
        let labels = RequestLabels { transport: transport.as_str(), result: result.as_str() };
        self.requests.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn registered_metrics_keep_jaeger_names_for_http_counters() {
        let mut registry = Registry::default();
        let metrics = SamplingMetrics::register(&mut registry);
        metrics.record_http_served(HttpEncoding::Legacy);
        metrics.record_http_bad_request();
        metrics.record_grpc_request();
        metrics.record_reload(false);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"jaeger_remote_sampling_http_server_requests_total{type="sampling-legacy"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"jaeger_remote_sampling_http_server_errors_total{source="all",status="4xx"} 1"#));
        assert!(text.contains(r#"spoor_sampling_requests_total{transport="grpc",result="ok"} 1"#));
        assert!(text.contains(r#"spoor_sampling_requests_total{transport="http",result="bad_request"} 1"#));
        assert!(text.contains(r#"spoor_sampling_reloads_total{result="failed"} 1"#));
    }
}
