"""The 3-span trace of send_otlp.py, sent through any OpenTelemetry SpanExporter.

send_zipkin.py and send_jaeger.py use it so that every real client sends the same trace: the names, kinds,
attributes, event, link and error status are the constants of send_otlp.py (imported from it). It works with
opentelemetry-sdk 1.21 (the 'jaeger' venv) and 1.45 (the 'zipkin' venv).

    spoor-test-root      SERVER    0 .. 100 ms   ROOT_ATTRIBUTES (every attribute type)
    └ spoor-test-client  CLIENT   10 ..  90 ms   event EVENT_NAME at +15 ms, a link to LINK_TRACE_ID/LINK_SPAN_ID
      └ spoor-test-internal INTERNAL 20 .. 80 ms status ERROR ERROR_DESCRIPTION
"""

from __future__ import annotations

import logging
import random
import socket
import time
from typing import Callable

from send_otlp import (  # noqa: F401  (re-exported for the senders)
    CLIENT_ATTRIBUTES,
    ERROR_DESCRIPTION,
    EVENT_ATTRIBUTES,
    EVENT_NAME,
    EVENT_OFFSET_MS,
    INTERNAL_ATTRIBUTES,
    LINK_ATTRIBUTES,
    LINK_SPAN_ID,
    LINK_TRACE_ID,
    RESOURCE_ATTRIBUTES,
    ROOT_ATTRIBUTES,
    SPANS,
)


def tcp_preflight(host: str, port: int, timeout: float, what: str) -> str | None:
    """None when something accepts TCP connections at host:port, else a one-line reason."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 3.0)):
            return None
    except OSError as e:
        return f"cannot connect to {host}:{port} for {what} ({e.strerror or e}); is a collector listening there?"


class _ErrorCounter(logging.Handler):
    """Counts ERROR records of the exporters' loggers: some exporters log a failed request instead of
    returning FAILURE (the Jaeger Thrift HTTP one does)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def send_trace(
    make_exporter: Callable[[], object],
    *,
    service: str,
    tracer_name: str,
    trace_id: str | None = None,
    processor: str = "simple",
) -> dict:
    """Emits the trace through the exporter `make_exporter` returns and reports what was sent.

    The tracer provider is made global before the exporter is built: the Jaeger exporters read the service
    name from it. Returns {"ok", "service", "trace_id", "spans": [...], "exports": {"requests", "failed"}}."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    class FixedTraceIdGenerator(IdGenerator):
        def __init__(self, fixed: int | None):
            self._fixed = fixed
            self._rng = random.SystemRandom()

        def generate_span_id(self) -> int:
            while True:
                v = self._rng.getrandbits(64)
                if v:
                    return v

        def generate_trace_id(self) -> int:
            if self._fixed is not None:
                return self._fixed
            while True:
                v = self._rng.getrandbits(128)
                if v:
                    return v

    class RecordingExporter(SpanExporter):
        def __init__(self, inner):
            self.inner = inner
            self.requests = 0
            self.failed = 0

        def export(self, spans):
            self.requests += 1
            try:
                result = self.inner.export(spans)
            except Exception as e:  # the SDK would swallow it; we want to report it
                logging.getLogger("spoor.sender").error("export raised %r", e)
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                self.failed += 1
            return result

        def shutdown(self):
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return getattr(self.inner, "force_flush", lambda *_: True)(timeout_millis)

    errors = _ErrorCounter()
    logging.getLogger("opentelemetry.exporter").addHandler(errors)

    resource = Resource.create({"service.name": service, **RESOURCE_ATTRIBUTES})
    provider = TracerProvider(
        resource=resource,
        id_generator=FixedTraceIdGenerator(int(trace_id, 16) if trace_id else None),
    )
    trace.set_tracer_provider(provider)
    recorder = RecordingExporter(make_exporter())
    span_processor = SimpleSpanProcessor(recorder) if processor == "simple" else BatchSpanProcessor(recorder)
    provider.add_span_processor(span_processor)
    tracer = provider.get_tracer(tracer_name, "1.0.0")

    # whole microseconds, so the stored values compare equal in Jaeger's microsecond model
    base = (time.time_ns() // 1_000) * 1_000 - 200_000_000
    ms = 1_000_000
    kinds = {"SERVER": SpanKind.SERVER, "CLIENT": SpanKind.CLIENT, "INTERNAL": SpanKind.INTERNAL}
    link = Link(
        SpanContext(
            trace_id=int(LINK_TRACE_ID, 16),
            span_id=int(LINK_SPAN_ID, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        ),
        attributes=LINK_ATTRIBUTES,
    )
    (rn, rk, rs, re_), (cn, ck, cs, ce), (gn, gk, gs, ge) = SPANS
    root = tracer.start_span(rn, kind=kinds[rk], attributes=ROOT_ATTRIBUTES, start_time=base + rs * ms)
    client = tracer.start_span(
        cn,
        context=trace.set_span_in_context(root),
        kind=kinds[ck],
        attributes=CLIENT_ATTRIBUTES,
        links=[link],
        start_time=base + cs * ms,
    )
    client.add_event(EVENT_NAME, attributes=EVENT_ATTRIBUTES, timestamp=base + EVENT_OFFSET_MS * ms)
    internal = tracer.start_span(
        gn,
        context=trace.set_span_in_context(client),
        kind=kinds[gk],
        attributes=INTERNAL_ATTRIBUTES,
        start_time=base + gs * ms,
    )
    internal.set_status(Status(StatusCode.ERROR, ERROR_DESCRIPTION))
    # children end first, as in real code; with SimpleSpanProcessor each end() is one export request
    internal.end(end_time=base + ge * ms)
    client.end(end_time=base + ce * ms)
    root.end(end_time=base + re_ * ms)
    provider.force_flush()
    provider.shutdown()

    def hex_span(s) -> str:
        return format(s.get_span_context().span_id, "016x")

    failed = max(recorder.failed, min(errors.count, recorder.requests))
    return {
        "ok": failed == 0 and recorder.requests > 0,
        "service": service,
        "trace_id": format(root.get_span_context().trace_id, "032x"),
        "spans": [
            {
                "name": n,
                "span_id": hex_span(s),
                "parent_span_id": parent,
                "kind": k,
                "status": st,
                "start_time_unix_nano": base + a * ms,
                "end_time_unix_nano": base + b * ms,
            }
            for (n, k, a, b), s, parent, st in zip(
                SPANS,
                (root, client, internal),
                (None, hex_span(root), hex_span(client)),
                ("UNSET", "UNSET", "ERROR"),
            )
        ],
        "exports": {"requests": recorder.requests, "failed": failed},
    }
