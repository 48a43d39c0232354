#!/usr/bin/env python3
"""Send the known 3-span trace of send_otlp.py with the real OpenTelemetry Jaeger exporters (1.21.0, their last).

Run it with the interpreter of the 'jaeger' venv (tests/clients/setup-python prints JAEGER_PYTHON=...):

    $JAEGER_PYTHON tests/clients/python/send_jaeger.py --transport agent-udp      --endpoint 127.0.0.1:6831
    $JAEGER_PYTHON tests/clients/python/send_jaeger.py --transport collector-http --endpoint http://127.0.0.1:14268/api/traces
    $JAEGER_PYTHON tests/clients/python/send_jaeger.py --transport grpc           --endpoint 127.0.0.1:14250

agent-udp: opentelemetry-exporter-jaeger-thrift, Agent.emitBatch in Thrift compact, one datagram per export;
collector-http: the same exporter with collector_endpoint, a Thrift binary Batch POSTed with application/x-thrift;
grpc: opentelemetry-exporter-jaeger-proto-grpc, jaeger.api_v2.CollectorService/PostSpans (insecure).
The trace and its constants are those of send_otlp.py (see three_span_trace.py). What the exporters send: typed
tags (bool, int64, float64, string; sequences as their Python text), resource attributes as span tags, span.kind,
otel.status_code / otel.status_description and error=true, the event as a log with a 'message' field, the link
as a FOLLOWS_FROM reference, and the parent as parentSpanId (Thrift) or a CHILD_OF reference (proto).

stdout: one JSON object {"ok", "transport", "endpoint", "service", "trace_id", "spans": [...], "exports":
{"requests", "failed"}, "error"?}. Exit status 0 when every export succeeded, 1 when one failed or nothing listens
at a TCP endpoint, 2 on bad arguments. UDP has no answer: agent-udp can only fail to send, never learn that the
collector dropped a datagram.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from typing import Sequence
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from three_span_trace import send_trace, tcp_preflight  # noqa: E402

SERVICE_DEFAULT = "spoor-test-jaeger-python"
DEFAULTS = {
    "agent-udp": "127.0.0.1:6831",
    "collector-http": "http://127.0.0.1:14268/api/traces",
    "grpc": "127.0.0.1:14250",
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transport", choices=sorted(DEFAULTS), required=True)
    p.add_argument("--endpoint", help="agent-udp and grpc: HOST:PORT; collector-http: full URL")
    p.add_argument("--service", default=SERVICE_DEFAULT, help="resource service.name")
    p.add_argument("--trace-id", help="32 hex digits to use as the trace id (default: random)")
    p.add_argument("--processor", choices=["simple", "batch"], default="simple")
    p.add_argument("--timeout", type=int, default=5, help="exporter timeout per request, seconds")
    p.add_argument("--verbose", action="store_true", help="show the SDK's own log messages")
    args = p.parse_args(argv)
    args.endpoint = args.endpoint or DEFAULTS[args.transport]
    if args.transport == "collector-http":
        if urlparse(args.endpoint).scheme not in ("http", "https"):
            p.error("--endpoint for collector-http must start with http:// or https://")
    elif "://" in args.endpoint or ":" not in args.endpoint:
        p.error(f"--endpoint for {args.transport} must be HOST:PORT")
    if args.trace_id is not None:
        t = args.trace_id.lower()
        if len(t) != 32 or any(c not in "0123456789abcdef" for c in t) or int(t, 16) == 0:
            p.error("--trace-id must be 32 hex digits, not all zero")
        args.trace_id = t
    return args


def host_port(endpoint: str) -> tuple[str, int]:
    u = urlparse(endpoint if "://" in endpoint else "//" + endpoint)
    return u.hostname or "127.0.0.1", u.port or 80


def make_exporter(args: argparse.Namespace):
    if args.transport == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        return JaegerExporter(collector_endpoint=args.endpoint, insecure=True, timeout=args.timeout)
    from opentelemetry.exporter.jaeger.thrift import JaegerExporter

    if args.transport == "collector-http":
        return JaegerExporter(collector_endpoint=args.endpoint, timeout=args.timeout)
    host, port = host_port(args.endpoint)
    return JaegerExporter(agent_host_name=host, agent_port=port, timeout=args.timeout)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.ERROR,
        format="[send_jaeger %(levelname)s %(name)s] %(message)s",
    )
    # the exporters are deprecated (and say so on every construction)
    warnings.simplefilter("ignore", DeprecationWarning)
    if args.transport != "agent-udp":
        host, port = host_port(args.endpoint)
        reason = tcp_preflight(host, port, args.timeout, f"Jaeger {args.transport}")
        if reason is not None:
            print(f"send_jaeger: ERROR: {reason}", file=sys.stderr)
            print(json.dumps({"ok": False, "transport": args.transport, "endpoint": args.endpoint, "error": reason}))
            return 1
    out = send_trace(
        lambda: make_exporter(args),
        service=args.service,
        tracer_name="spoor.test.send_jaeger",
        trace_id=args.trace_id,
        processor=args.processor,
    )
    out.update({"transport": args.transport, "endpoint": args.endpoint})
    if not out["ok"]:
        out["error"] = (
            f"{out['exports']['failed']} of {out['exports']['requests']} Jaeger {args.transport} export(s) to "
            f"{args.endpoint} failed"
        )
        print(f"send_jaeger: ERROR: {out['error']}", file=sys.stderr)
    print(json.dumps(out, sort_keys=True))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
