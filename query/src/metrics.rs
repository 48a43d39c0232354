//! Every Prometheus metric of the query service, declared in one place. Names and labels are
//! Jaeger's (`jaeger_query_requests_total`, `jaeger_query_latency`) so its dashboards keep working.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A storage read the query service makes (the `operation` label; Jaeger's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadOperation {
    GetTrace,
    /// A trace read from archive storage (a `GetTrace` the primary storage could not answer).
    GetArchiveTrace,
    FindTraces,
    FindTraceIds,
    GetServices,
    GetOperations,
    GetDependencies,
}

impl ReadOperation {
    fn label(self) -> &'static str {
        match self {
            Self::GetTrace => "get_trace",
            Self::GetArchiveTrace => "get_archive_trace",
            Self::FindTraces => "find_traces",
            Self::FindTraceIds => "find_trace_ids",
            Self::GetServices => "get_services",
            Self::GetOperations => "get_operations",
            Self::GetDependencies => "get_dependencies",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    operation: &'static str,
    /// `ok` or `err`. A trace that is not found is `ok`: the storage answered.
    result: &'static str,
}

fn latency_histogram() -> Histogram {
    // Prometheus' default buckets, as Jaeger's query latency uses.
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

/// The query service's metrics. Cheap to clone (handles to shared families).
#[derive(Clone, Debug)]
pub struct QueryMetrics {
    requests: Family<ReadLabels, Counter>,
    latency: Family<ReadLabels, Histogram, fn() -> Histogram>,
}

impl Default for QueryMetrics {
    fn default() -> Self {
        Self::unregistered()
    }
}

impl QueryMetrics {
    /// Creates the metrics and registers them into `registry`, which should carry no prefix so
    /// the names stay Jaeger's: `jaeger_query_requests_total{operation,result}` and the histogram
    /// `jaeger_query_latency{operation,result}` in seconds.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "jaeger_query_requests",
            "Storage reads made by the query service, by operation and result",
            metrics.requests.clone(),
        );
        registry.register(
            "jaeger_query_latency",
            "Latency of the query service's storage reads, in seconds",
            metrics.latency.clone(),
        );
        metrics
    }

    /// Metrics that are recorded but exported nowhere (tests, embedding without Prometheus).
    pub fn unregistered() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        }
    }

    pub(crate) fn record(&self, operation: ReadOperation, succeeded: bool, elapsed: Duration) {
        let labels = ReadLabels { operation: operation.label(), result: if succeeded { "ok" } else { "err" } };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn exports_jaeger_metric_names_with_operation_and_result_labels() {
        let mut registry = Registry::default();
        let metrics = QueryMetrics::register(&mut registry);
        metrics.record(ReadOperation::GetTrace, true, Duration::from_millis(3));
        metrics.record(ReadOperation::FindTraces, false, Duration::from_millis(30));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(r#"jaeger_query_requests_total{operation="get_trace",result="ok"} 1"#), "{text}");
        assert!(text.contains(r#"jaeger_query_requests_total{operation="find_traces",result="err"} 1"#), "{text}");
        assert!(
            text.contains(r#"jaeger_query_latency_bucket{le="0.005",operation="get_trace",result="ok"} 1"#)
                || text.contains(r#"jaeger_query_latency_bucket{operation="get_trace",result="ok",le="0.005"} 1"#)
        );
        assert!(text.contains("# TYPE jaeger_query_latency histogram"), "{text}");
    }
}
