#!/usr/bin/env python3
"""A minimal OTLP trace receiver (gRPC and/or HTTP protobuf) that prints what it gets, for testing the
client harness itself (send_otlp.py) without a Spoor server. Run with the 'otlp' venv's interpreter:

    $OTLP_PYTHON tests/clients/python/otlp_sink.py --grpc 127.0.0.1:14317 --http 127.0.0.1:14318 \
        --expect-spans 3 --timeout 30

Every received span is printed to stdout as one JSON line (trace_id, span_id, parent_span_id, name, kind,
status, attributes, events, links, resource attributes, request number). It exits 0 once --expect-spans spans
have arrived, 1 on --timeout. Loopback only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_lock = threading.Lock()
_count = 0
_requests = 0
_done = threading.Event()
_expect = 0


def any_value(v: AnyValue):
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def record(req: trace_service_pb2.ExportTraceServiceRequest, transport: str) -> None:
    global _count, _requests
    with _lock:
        _requests += 1
        n = _requests
        for rs in req.resource_spans:
            res = attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out = {
                        "transport": transport,
                        "request": n,
                        "resource": res,
                        "scope": {"name": ss.scope.name, "version": ss.scope.version},
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex() or None,
                        "name": s.name,
                        "kind": Span.SpanKind.Name(s.kind),
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "end_time_unix_nano": s.end_time_unix_nano,
                        "status": {"code": Status.StatusCode.Name(s.status.code), "message": s.status.message},
                        "attributes": attrs(s.attributes),
                        "events": [
                            {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": attrs(e.attributes)}
                            for e in s.events
                        ],
                        "links": [
                            {"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(), "attributes": attrs(l.attributes)}
                            for l in s.links
                        ],
                    }
                    print(json.dumps(out, sort_keys=True), flush=True)
                    _count += 1
        if _expect and _count >= _expect:
            _done.set()


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):  # noqa: N802 (gRPC naming)
        record(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


class HttpHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or "protobuf" not in (self.headers.get("Content-Type") or ""):
            self.send_response(404 if self.path != "/v1/traces" else 415)
            self.end_headers()
            return
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(body)
        record(req, "http")
        data = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def loopback(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise SystemExit(f"otlp_sink: refusing non-loopback address {addr}")
    return host, int(port)


def main() -> int:
    global _expect
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grpc", metavar="HOST:PORT")
    p.add_argument("--http", metavar="HOST:PORT")
    p.add_argument("--expect-spans", type=int, default=0, help="exit 0 after this many spans (0: run until timeout)")
    p.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args()
    if not a.grpc and not a.http:
        p.error("give --grpc and/or --http")
    _expect = a.expect_spans
    servers = []
    if a.grpc:
        loopback(a.grpc)
        g = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), g)
        if g.add_insecure_port(a.grpc) == 0:
            raise SystemExit(f"otlp_sink: cannot listen on {a.grpc}")
        g.start()
        servers.append(lambda: g.stop(0))
    if a.http:
        h = ThreadingHTTPServer(loopback(a.http), HttpHandler)
        threading.Thread(target=h.serve_forever, daemon=True).start()
        servers.append(h.shutdown)
    print(json.dumps({"listening": {"grpc": a.grpc, "http": a.http}}), file=sys.stderr, flush=True)
    ok = _done.wait(a.timeout)
    time.sleep(0.2)
    for stop in servers:
        stop()
    if _expect and not ok:
        print(f"otlp_sink: timed out with {_count} of {_expect} spans", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
