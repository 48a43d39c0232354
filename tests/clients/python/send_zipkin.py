#!/usr/bin/env python3
"""Send the known 3-span trace of send_otlp.py with the real OpenTelemetry Zipkin exporters.

Run it with the interpreter of the 'zipkin' venv (tests/clients/setup-python prints ZIPKIN_PYTHON=...):

    $ZIPKIN_PYTHON tests/clients/python/send_zipkin.py --format json  --endpoint http://127.0.0.1:9411/api/v2/spans
    $ZIPKIN_PYTHON tests/clients/python/send_zipkin.py --format proto --endpoint http://127.0.0.1:9411/api/v2/spans
    $ZIPKIN_PYTHON tests/clients/python/send_zipkin.py --format json --json-version v1 \\
        --endpoint http://127.0.0.1:9411/api/v1/spans

json: opentelemetry-exporter-zipkin-json (Zipkin v2 JSON, or v1 JSON with --json-version v1);
proto: opentelemetry-exporter-zipkin-proto-http (zipkin.proto3.ListOfSpans, application/x-protobuf).
The trace and its constants are those of send_otlp.py (see three_span_trace.py). Zipkin has no links: the
exporters drop the link; the event becomes an annotation whose value is a JSON object; every attribute
becomes a string tag; the error status becomes the tags otel.status_code=ERROR and error=<description>.

stdout: one JSON object {"ok", "format", "endpoint", "service", "trace_id", "spans": [...], "exports":
{"requests", "failed"}, "error"?}. Exit status 0 when every export succeeded (the collector answered 2xx),
1 when one failed or nothing listens at the endpoint, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Sequence
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from three_span_trace import send_trace, tcp_preflight  # noqa: E402

SERVICE_DEFAULT = "spoor-test-zipkin-python"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=["json", "proto"], required=True)
    p.add_argument("--json-version", choices=["v1", "v2"], default="v2", help="Zipkin JSON version (--format json)")
    p.add_argument("--endpoint", help="full URL (default http://127.0.0.1:9411/api/v2/spans, /api/v1/spans for v1)")
    p.add_argument("--service", default=SERVICE_DEFAULT, help="resource service.name")
    p.add_argument("--trace-id", help="32 hex digits to use as the trace id (default: random)")
    p.add_argument("--processor", choices=["simple", "batch"], default="simple")
    p.add_argument("--timeout", type=int, default=5, help="exporter timeout per request, seconds")
    p.add_argument("--verbose", action="store_true", help="show the SDK's own log messages")
    args = p.parse_args(argv)
    if args.format == "proto" and args.json_version != "v2":
        p.error("--json-version applies to --format json only")
    if args.endpoint is None:
        path = "/api/v1/spans" if args.json_version == "v1" else "/api/v2/spans"
        args.endpoint = "http://127.0.0.1:9411" + path
    if urlparse(args.endpoint).scheme not in ("http", "https"):
        p.error("--endpoint must start with http:// or https://")
    if args.trace_id is not None:
        t = args.trace_id.lower()
        if len(t) != 32 or any(c not in "0123456789abcdef" for c in t) or int(t, 16) == 0:
            p.error("--trace-id must be 32 hex digits, not all zero")
        args.trace_id = t
    return args


def make_exporter(args: argparse.Namespace):
    if args.format == "proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

        return ZipkinExporter(endpoint=args.endpoint, timeout=args.timeout)
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.exporter.zipkin.encoder import Protocol

    if args.json_version == "v1":
        # 1.45.1's v1 encoder compares every tag's length with max_tag_value_length and fails on its default
        # (None), so it needs a number; 64 KiB truncates nothing of this trace.
        return ZipkinExporter(
            version=Protocol.V1, endpoint=args.endpoint, timeout=args.timeout, max_tag_value_length=64 * 1024
        )
    return ZipkinExporter(version=Protocol.V2, endpoint=args.endpoint, timeout=args.timeout)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.ERROR,
        format="[send_zipkin %(levelname)s %(name)s] %(message)s",
    )
    label = f"zipkin-{args.format}" + (f"-{args.json_version}" if args.format == "json" else "")
    u = urlparse(args.endpoint)
    reason = tcp_preflight(u.hostname or "127.0.0.1", u.port or 80, args.timeout, "Zipkin")
    if reason is not None:
        print(f"send_zipkin: ERROR: {reason}", file=sys.stderr)
        print(json.dumps({"ok": False, "format": label, "endpoint": args.endpoint, "error": reason}, sort_keys=True))
        return 1
    out = send_trace(
        lambda: make_exporter(args),
        service=args.service,
        tracer_name="spoor.test.send_zipkin",
        trace_id=args.trace_id,
        processor=args.processor,
    )
    out.update({"format": label, "endpoint": args.endpoint})
    if not out["ok"]:
        out["error"] = (
            f"{out['exports']['failed']} of {out['exports']['requests']} Zipkin {label} export request(s) to "
            f"{args.endpoint} failed"
        )
        print(f"send_zipkin: ERROR: {out['error']}", file=sys.stderr)
    print(json.dumps(out, sort_keys=True))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
