#!/usr/bin/env python3
"""Sends the browser test's traces to a collector with OTLP/HTTP JSON (stdlib only).

    tests/browser/send_traces.py http://127.0.0.1:4318 [--big-spans 5000]

Sends, all starting in the last few minutes:
  - the "dispatch" trace: 14 spans over 5 services (frontend, customer, driver, redis, mysql) with tags,
    events (logs), process attributes and one error span;
  - 8 smaller frontend traces of varying durations (for the scatter plot and sorting);
  - a "bulk" trace of --big-spans spans (default 5000) over 8 services, a tree of fan-out 1..6 and depth 9.
Prints `TRACE_ID=<dispatch trace>`, `BIG_TRACE_ID=<bulk trace>` and `SERVICE=frontend` on stdout.
"""

import argparse
import json
import random
import sys
import time
import urllib.request

SERVER, CLIENT, INTERNAL = 2, 3, 1  # OTLP span kinds
STATUS_ERROR = 2


def attr(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


class TraceBuilder:
    """Collects spans per service and renders OTLP `resourceSpans`."""

    def __init__(self, trace_id, rng):
        self.trace_id = trace_id
        self.rng = rng
        self.by_service = {}

    def span_id(self):
        return "%016x" % self.rng.getrandbits(64)

    def add(self, service, name, start_ns, duration_ns, parent=None, kind=INTERNAL, attributes=(), events=(), error=None):
        span_id = self.span_id()
        span = {
            "traceId": self.trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + duration_ns),
            "attributes": [attr(k, v) for k, v in attributes],
            "events": [
                {"timeUnixNano": str(t), "name": event_name, "attributes": [attr(k, v) for k, v in fields]}
                for t, event_name, fields in events
            ],
        }
        if parent:
            span["parentSpanId"] = parent
        if error:
            span["status"] = {"code": STATUS_ERROR, "message": error}
        self.by_service.setdefault(service, []).append(span)
        return span_id

    def resource_spans(self):
        out = []
        for service, spans in self.by_service.items():
            resource = [attr("service.name", service), attr("host.name", f"{service}-7d9f"), attr("process.pid", 4200 + len(service))]
            out.append({"resource": {"attributes": resource}, "scopeSpans": [{"scope": {"name": "spoor-browser-test"}, "spans": spans}]})
        return out


def dispatch_trace(trace_id, start_ns, rng):
    ms = 1_000_000
    t = TraceBuilder(trace_id, rng)
    root = t.add("frontend", "HTTP GET /dispatch", start_ns, 730 * ms, kind=SERVER,
                 attributes=[("http.method", "GET"), ("http.url", "/dispatch?customer=123"), ("http.status_code", 200)],
                 events=[(start_ns + 1 * ms, "request received", [("customer_id", "123")])])
    cust = t.add("frontend", "HTTP GET /customer", start_ns + 2 * ms, 290 * ms, parent=root, kind=CLIENT,
                 attributes=[("http.method", "GET"), ("peer.service", "customer")])
    cust_srv = t.add("customer", "HTTP GET /customer", start_ns + 3 * ms, 287 * ms, parent=cust, kind=SERVER,
                     attributes=[("http.method", "GET"), ("http.status_code", 200)])
    t.add("mysql", "SQL SELECT", start_ns + 4 * ms, 284 * ms, parent=cust_srv, kind=CLIENT,
          attributes=[("db.system", "mysql"), ("db.statement", "SELECT * FROM customer WHERE customer_id=123")],
          events=[(start_ns + 5 * ms, "acquired lock", [("lock.wait_ms", 3.5)]),
                  (start_ns + 280 * ms, "query done", [("rows", 1)])])
    find = t.add("driver", "/driver.DriverService/FindNearest", start_ns + 295 * ms, 210 * ms, parent=root, kind=SERVER,
                 attributes=[("rpc.system", "grpc"), ("rpc.service", "driver.DriverService")])
    for k in range(6):
        failed = k == 2
        t.add("redis", "GetDriver", start_ns + (297 + k * 34) * ms, 31 * ms, parent=find, kind=CLIENT,
              attributes=[("db.system", "redis"), ("driver_id", f"T7{k:02d}")],
              events=[(start_ns + (297 + k * 34 + 30) * ms, "exception",
                       [("exception.type", "redis.TimeoutError"), ("exception.message", "redis timeout")])] if failed else [],
              error="redis timeout" if failed else None)
    route = t.add("frontend", "HTTP GET /route", start_ns + 510 * ms, 200 * ms, parent=root, kind=CLIENT,
                  attributes=[("http.method", "GET")])
    t.add("frontend", "compute ETA", start_ns + 712 * ms, 15 * ms, parent=root)
    t.add("frontend", "render response", start_ns + 720 * ms, 9 * ms, parent=root)
    _ = route
    return t


def small_trace(trace_id, start_ns, duration_ms, rng, error):
    ms = 1_000_000
    t = TraceBuilder(trace_id, rng)
    root = t.add("frontend", rng.choice(["HTTP GET /config", "HTTP GET /dispatch", "HTTP POST /order"]), start_ns,
                 duration_ms * ms, kind=SERVER, attributes=[("http.status_code", 500 if error else 200)],
                 error="internal error" if error else None)
    child = t.add("customer", "HTTP GET /customer", start_ns + ms, (duration_ms - 2) * ms, parent=root, kind=SERVER)
    t.add("mysql", "SQL SELECT", start_ns + 2 * ms, (duration_ms - 4) * ms, parent=child, kind=CLIENT)
    return t


def big_trace(trace_id, start_ns, span_count, rng):
    """A tree of exactly span_count spans: breadth-first, fan-out 1..6, depth capped at 9."""
    services = [f"bulk-{name}" for name in ("gateway", "orders", "inventory", "pricing", "payments", "shipping", "search", "cache")]
    t = TraceBuilder(trace_id, rng)
    us = 1_000
    total_us = 4_000_000
    root = t.add(services[0], "HTTP POST /bulk/import", start_ns, total_us * us, kind=SERVER,
                 attributes=[("http.method", "POST"), ("items", span_count)])
    nodes = [(root, start_ns, total_us, 0)]
    made = 1
    next_parent = 0
    while made < span_count:
        if next_parent < len(nodes):
            parent, p_start, p_dur_us, depth = nodes[next_parent]
            next_parent += 1
            fan_out = rng.randint(1, 6) if depth < 8 else 0
        else:  # breadth-first ran out of parents below the depth cap: add single children anywhere
            parent, p_start, p_dur_us, depth = rng.choice([node for node in nodes if node[3] < 8])
            fan_out = 1
        for k in range(min(fan_out, span_count - made)):
            offset = rng.randint(0, max(1, p_dur_us // 2))
            duration = max(5, rng.randint(p_dur_us // 20 + 1, max(p_dur_us // 20 + 2, p_dur_us - offset)))
            service = rng.choice(services)
            error = rng.random() < 0.01
            child = t.add(service, f"{service.split('-')[1]}.step{k}", p_start + offset * us, duration * us,
                          parent=parent, kind=rng.choice([CLIENT, SERVER, INTERNAL]),
                          attributes=[("item.index", made), ("depth", depth + 1)],
                          error="step failed" if error else None)
            made += 1
            nodes.append((child, p_start + offset * us, duration, depth + 1))
    return t


def post(url, builder):
    body = json.dumps({"resourceSpans": builder.resource_spans()}).encode()
    request = urllib.request.Request(url.rstrip("/") + "/v1/traces", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            sys.exit(f"send_traces: {url} answered {response.status}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("otlp_http_url", help="e.g. http://127.0.0.1:4318")
    parser.add_argument("--big-spans", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now_ns = time.time_ns()
    minute = 60 * 1_000_000_000

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    post(args.otlp_http_url, dispatch_trace(trace_id, now_ns - 3 * minute, rng))
    for k in range(8):
        small_id = "%032x" % rng.getrandbits(128)
        post(args.otlp_http_url, small_trace(small_id, now_ns - (k * 5 + 1) * minute, rng.randint(20, 900), rng, k in (1, 5)))
    big_id = "b16b16b16b16b16b16b16b16b16b1600"
    post(args.otlp_http_url, big_trace(big_id, now_ns - 2 * minute, args.big_spans, rng))
    print(f"TRACE_ID={trace_id}")
    print(f"BIG_TRACE_ID={big_id}")
    print("SERVICE=frontend")


if __name__ == "__main__":
    main()
