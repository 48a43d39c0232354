#!/usr/bin/env python3
"""Send many spans with the real OpenTelemetry Python SDK and its OTLP gRPC exporter (load for end-to-end tests).

    $OTLP_PYTHON tests/clients/python/load_otlp.py --endpoint http://127.0.0.1:4317 \
        --traces 1000 --spans-per-trace 100 --service checkout --namespace bookinfo

Each trace is a root span with (spans-per-trace - 1) children, each child carrying Envoy-like attributes.
The resource carries service.name and, with --namespace, k8s.namespace.name (how Spoor attributes spans to
namespaces). The SDK's BatchSpanProcessor is sized so that it never drops a span (its default queue of 2048
drops silently under load); the exporter retries retryable answers (RESOURCE_EXHAUSTED, UNAVAILABLE) itself.

--rate N paces the sender at about N spans/s (0 = as fast as it goes); --duration S repeats batches of traces
until S seconds passed instead of a fixed --traces count.

stdout: one JSON object {"ok", "spans", "traces", "trace_ids": [...32 hex...], "exports": {"requests",
"failed"}, "seconds"}. Exit status 0 when every export succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="OTLP gRPC endpoint, e.g. http://127.0.0.1:4317")
    p.add_argument("--traces", type=int, default=100)
    p.add_argument("--spans-per-trace", type=int, default=10)
    p.add_argument("--service", default="spoor-load")
    p.add_argument("--namespace", default=None, help="resource attribute k8s.namespace.name")
    p.add_argument("--rate", type=float, default=0.0, help="spans per second, 0 = unpaced")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to keep sending (overrides --traces)")
    p.add_argument("--timeout", type=float, default=30.0, help="exporter timeout per request, seconds")
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    class CountingExporter(SpanExporter):
        def __init__(self, inner):
            self.inner = inner
            self.requests = 0
            self.failed = 0

        def export(self, spans):
            result = self.inner.export(spans)
            self.requests += 1
            if result != SpanExportResult.SUCCESS:
                self.failed += 1
            return result

        def shutdown(self):
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return self.inner.force_flush(timeout_millis)

    attributes = {"service.name": args.service}
    if args.namespace:
        attributes["k8s.namespace.name"] = args.namespace
    exporter = CountingExporter(OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=args.timeout))
    provider = TracerProvider(resource=Resource.create(attributes))
    processor = BatchSpanProcessor(
        exporter, max_queue_size=1_000_000, max_export_batch_size=512, schedule_delay_millis=200
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("spoor.test.load_otlp", "1.0.0")

    trace_ids = []
    spans = 0
    started = time.monotonic()
    n = 0
    while True:
        if args.duration > 0:
            if time.monotonic() - started >= args.duration:
                break
        elif n >= args.traces:
            break
        with tracer.start_as_current_span(f"GET /load/{n % 7}", kind=SpanKind.SERVER) as root:
            trace_ids.append(format(root.get_span_context().trace_id, "032x"))
            for i in range(args.spans_per_trace - 1):
                with tracer.start_as_current_span(f"egress {i % 5}", kind=SpanKind.CLIENT) as child:
                    child.set_attribute("http.url", f"http://reviews.bookinfo:9080/reviews/{n}?i={i}")
                    child.set_attribute("http.method", "GET")
                    child.set_attribute("http.status_code", "200")
                    child.set_attribute("upstream_cluster", "outbound|9080||reviews.bookinfo.svc.cluster.local")
                    child.set_attribute("node_id", "sidecar~10.0.0.1~productpage-v1.bookinfo~bookinfo.svc.cluster.local")
                    child.set_attribute("guid:x-request-id", f"{n:08x}-{i:04x}-4f1e-9b7a-5c3d2e1f0a9b")
                    child.set_attribute("component", "proxy")
        spans += args.spans_per_trace
        n += 1
        if args.rate > 0:
            ahead = spans / args.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    flushed = provider.force_flush(timeout_millis=600_000)
    provider.shutdown()
    seconds = time.monotonic() - started
    ok = flushed and exporter.failed == 0
    print(json.dumps({
        "ok": ok,
        "spans": spans,
        "traces": len(trace_ids),
        "trace_ids": trace_ids,
        "exports": {"requests": exporter.requests, "failed": exporter.failed},
        "seconds": round(seconds, 3),
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
