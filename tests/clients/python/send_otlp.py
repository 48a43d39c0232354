#!/usr/bin/env python3
"""Send one known 3-span trace with the real OpenTelemetry Python SDK and OTLP exporter.

Run it with the interpreter of the 'otlp' venv (tests/clients/setup-python prints OTLP_PYTHON=...):

    $OTLP_PYTHON tests/clients/python/send_otlp.py --protocol grpc --endpoint http://127.0.0.1:4317
    $OTLP_PYTHON tests/clients/python/send_otlp.py --protocol http --endpoint http://127.0.0.1:4318

The trace (names, kinds, attributes and relative timings are fixed, so tests can assert on them):

    spoor-test-root      SERVER    0 .. 100 ms   attributes of every OTLP type (see ROOT_ATTRIBUTES)
    └ spoor-test-client  CLIENT   10 ..  90 ms   an event 'spoor.test.event' at +15 ms with attributes,
      │                                          a link to LINK_TRACE_ID/LINK_SPAN_ID with attributes
      └ spoor-test-internal INTERNAL 20 .. 80 ms status ERROR 'spoor test failure'

Resource: service.name (--service, default spoor-test-otlp-python), service.version 1.2.3, plus RESOURCE_ATTRIBUTES.
Scope: spoor.test.send_otlp 1.0.0. All timestamps are whole microseconds (Jaeger's resolution).

With --processor simple (the default) every span goes out in its own export request, so the server has to
assemble the trace from three requests; --processor batch sends all three in one request.

stdout: one JSON object: {"ok", "protocol", "endpoint", "service", "trace_id" (32 hex), "spans": [{"name",
"span_id" (16 hex), "parent_span_id", "kind", "status", "start_time_unix_nano", "end_time_unix_nano"}],
"exports": {"requests", "failed"}, "error"?}. Exit status 0 when every export succeeded, 1 when one failed
(e.g. nothing listens at the endpoint: the error says so on stderr), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import sys
import time
from typing import Sequence
from urllib.parse import urlparse

SERVICE_DEFAULT = "spoor-test-otlp-python"
TRACER_NAME = "spoor.test.send_otlp"
TRACER_VERSION = "1.0.0"

ROOT_ATTRIBUTES = {
    "spoor.test.str": "hello spoor",
    "spoor.test.bool": True,
    "spoor.test.int": 42,
    "spoor.test.negative_int": -7,
    "spoor.test.float": 3.25,
    "spoor.test.str_list": ["alpha", "beta", "gamma"],
    "spoor.test.int_list": [1, 2, 3],
    "spoor.test.float_list": [0.5, 1.5],
    "spoor.test.bool_list": [True, False],
    "http.request.method": "GET",
    "url.path": "/spoor/test",
    "http.response.status_code": 200,
}
CLIENT_ATTRIBUTES = {
    "peer.service": "spoor-test-downstream",
    "server.address": "downstream.invalid",
    "server.port": 8080,
}
INTERNAL_ATTRIBUTES = {
    "spoor.test.step": "compute",
    "error.type": "SpoorTestError",
}
EVENT_NAME = "spoor.test.event"
EVENT_ATTRIBUTES = {
    "event.str": "something happened",
    "event.int": 7,
    "event.bool": False,
    "event.float": 0.25,
    "event.str_list": ["x", "y"],
}
LINK_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
LINK_SPAN_ID = "b7ad6b7169203331"
LINK_ATTRIBUTES = {"spoor.test.link": "follows-from", "spoor.test.link_index": 1}
RESOURCE_ATTRIBUTES = {
    "service.version": "1.2.3",
    "service.namespace": "spoor-test",
    "service.instance.id": "spoor-test-instance-1",
    "host.name": "spoor-test-host",
    "deployment.environment.name": "test",
}
ERROR_DESCRIPTION = "spoor test failure"

# (name, kind, start offset ms, end offset ms)
SPANS = [
    ("spoor-test-root", "SERVER", 0, 100),
    ("spoor-test-client", "CLIENT", 10, 90),
    ("spoor-test-internal", "INTERNAL", 20, 80),
]
EVENT_OFFSET_MS = 15


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument(
        "--endpoint",
        help="grpc: http://HOST:PORT (default http://127.0.0.1:4317); "
        "http: base URL or full URL (default http://127.0.0.1:4318; /v1/traces is appended when the URL has no path)",
    )
    p.add_argument("--service", default=SERVICE_DEFAULT, help="resource service.name")
    p.add_argument("--trace-id", help="32 hex digits to use as the trace id (default: random)")
    p.add_argument("--processor", choices=["simple", "batch"], default="simple")
    p.add_argument("--timeout", type=float, default=5.0, help="exporter timeout per request, seconds")
    p.add_argument("--compression", choices=["none", "gzip"], default="none")
    p.add_argument("--header", action="append", default=[], metavar="K=V", help="extra request header/metadata")
    p.add_argument("--verbose", action="store_true", help="show the SDK's own log messages")
    p.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the TCP connect check that fails fast when nothing listens at the endpoint",
    )
    args = p.parse_args(argv)
    if args.trace_id is not None:
        t = args.trace_id.lower()
        if len(t) != 32 or any(c not in "0123456789abcdef" for c in t) or int(t, 16) == 0:
            p.error("--trace-id must be 32 hex digits, not all zero")
        args.trace_id = t
    for h in args.header:
        if "=" not in h:
            p.error(f"--header {h!r}: expected K=V")
    if args.endpoint is None:
        args.endpoint = "http://127.0.0.1:4317" if args.protocol == "grpc" else "http://127.0.0.1:4318"
    if args.protocol == "http":
        u = urlparse(args.endpoint)
        if u.scheme not in ("http", "https"):
            p.error("--endpoint for http must start with http:// or https://")
        if u.path in ("", "/"):
            args.endpoint = args.endpoint.rstrip("/") + "/v1/traces"
    return args


def host_port(endpoint: str, protocol: str) -> tuple[str, int]:
    u = urlparse(endpoint if "://" in endpoint else "http://" + endpoint)
    default = 443 if u.scheme == "https" else (4317 if protocol == "grpc" else 80)
    return u.hostname or "127.0.0.1", u.port or default


def preflight(args: argparse.Namespace) -> str | None:
    """None when something accepts TCP connections at the endpoint, else a one-line reason."""
    host, port = host_port(args.endpoint, args.protocol)
    try:
        with socket.create_connection((host, port), timeout=min(args.timeout, 3.0)):
            return None
    except OSError as e:
        return f"cannot connect to {host}:{port} for OTLP/{args.protocol} ({e.strerror or e}); is a collector listening there?"


def build_exporter(args: argparse.Namespace):
    headers = dict(h.split("=", 1) for h in args.header) or None
    if args.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        ep = args.endpoint
        insecure = not ep.startswith("https://")
        return OTLPSpanExporter(
            endpoint=ep,
            insecure=insecure,
            timeout=args.timeout,
            headers=headers,
            compression=grpc.Compression.Gzip if args.compression == "gzip" else grpc.Compression.NoCompression,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=args.endpoint,
        timeout=args.timeout,
        headers=headers,
        compression=Compression.Gzip if args.compression == "gzip" else Compression.NoCompression,
    )


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.ERROR,
        format="[send_otlp %(levelname)s %(name)s] %(message)s",
    )

    if not args.no_preflight:
        reason = preflight(args)
        if reason is not None:
            print(f"send_otlp: ERROR: {reason}", file=sys.stderr)
            print(
                json.dumps(
                    {
                        "ok": False,
                        "protocol": args.protocol,
                        "endpoint": args.endpoint,
                        "service": args.service,
                        "error": reason,
                        "exports": {"requests": 0, "failed": 0},
                    },
                    sort_keys=True,
                )
            )
            return 1

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
        """Random span ids; the trace id given on the command line (or a random one)."""

        def __init__(self, trace_id: int | None):
            self._trace_id = trace_id
            self._rng = random.SystemRandom()

        def generate_span_id(self) -> int:
            while True:
                v = self._rng.getrandbits(64)
                if v:
                    return v

        def generate_trace_id(self) -> int:
            if self._trace_id is not None:
                return self._trace_id
            while True:
                v = self._rng.getrandbits(128)
                if v:
                    return v

    class RecordingExporter(SpanExporter):
        """Delegates to the real exporter and remembers whether each export request succeeded."""

        def __init__(self, inner: SpanExporter):
            self.inner = inner
            self.requests = 0
            self.failed = 0

        def export(self, spans):
            self.requests += 1
            try:
                result = self.inner.export(spans)
            except Exception as e:  # the SDK would swallow it; we want to report it
                logging.getLogger("send_otlp").error("export raised %r", e)
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                self.failed += 1
            return result

        def shutdown(self):
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return getattr(self.inner, "force_flush", lambda *_: True)(timeout_millis)

    recorder = RecordingExporter(build_exporter(args))
    resource = Resource.create({"service.name": args.service, **RESOURCE_ATTRIBUTES})
    provider = TracerProvider(
        resource=resource,
        id_generator=FixedTraceIdGenerator(int(args.trace_id, 16) if args.trace_id else None),
    )
    processor = SimpleSpanProcessor(recorder) if args.processor == "simple" else BatchSpanProcessor(recorder)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer(TRACER_NAME, TRACER_VERSION)

    # whole microseconds, so the stored values compare equal in Jaeger's microsecond model
    base = (time.time_ns() // 1_000) * 1_000 - 200_000_000  # 200 ms ago
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
    root_ctx = trace.set_span_in_context(root)
    client = tracer.start_span(
        cn, context=root_ctx, kind=kinds[ck], attributes=CLIENT_ATTRIBUTES, links=[link], start_time=base + cs * ms
    )
    client.add_event(EVENT_NAME, attributes=EVENT_ATTRIBUTES, timestamp=base + EVENT_OFFSET_MS * ms)
    client_ctx = trace.set_span_in_context(client)
    internal = tracer.start_span(
        gn, context=client_ctx, kind=kinds[gk], attributes=INTERNAL_ATTRIBUTES, start_time=base + gs * ms
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

    trace_id = format(root.get_span_context().trace_id, "032x")
    out = {
        "ok": recorder.failed == 0 and recorder.requests > 0,
        "protocol": args.protocol,
        "endpoint": args.endpoint,
        "service": args.service,
        "trace_id": trace_id,
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
        "exports": {"requests": recorder.requests, "failed": recorder.failed},
    }
    if not out["ok"]:
        out["error"] = (
            f"{recorder.failed} of {recorder.requests} OTLP/{args.protocol} export request(s) to {args.endpoint} "
            f"failed (is a collector listening there?)"
        )
        print(f"send_otlp: ERROR: {out['error']}", file=sys.stderr)
    print(json.dumps(out, sort_keys=True))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
