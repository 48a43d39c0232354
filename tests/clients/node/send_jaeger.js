#!/usr/bin/env node
// Sends a known 3-span trace with the real Node jaeger-client 3.19 (Thrift binary: Agent.emitBatch over UDP, or a
// Batch POSTed to /api/traces), the same trace as tests/clients/python/send_otlp.py as far as OpenTracing can say it.
//
//   node tests/clients/node/send_jaeger.js --transport udp  --endpoint 127.0.0.1:6832
//   node tests/clients/node/send_jaeger.js --transport http --endpoint http://127.0.0.1:14268/api/traces
//
// jaeger-client is loaded from $SPOOR_NODE_CLIENTS/node_modules (tests/clients/setup-node installs it there),
// or from NODE_PATH.
//
//   spoor-test-root      span.kind=server  0 .. 100 ms  tags of every JavaScript type (numbers go out as doubles)
//   └ spoor-test-client  span.kind=client 10 ..  90 ms  a log (event spoor.test.event) at +15 ms, and a
//     │                                                 FOLLOWS_FROM reference to LINK_TRACE_ID/LINK_SPAN_ID
//     └ spoor-test-internal             20 .. 80 ms     error=true and an error log 'spoor test failure'
//
// Process: service (--service, default spoor-test-jaeger-node) with tag spoor.test.process=node, plus the client's
// own jaeger.version, hostname, ip. Trace ids are 64-bit (jaeger-client's default).
//
// stdout: one JSON object {"ok", "transport", "endpoint", "service", "trace_id" (16 hex), "spans": [{"name",
// "span_id", "parent_span_id"}], "errors": [...]}. Exit 0 when the client reported no error, 1 otherwise, 2 on bad
// arguments. UDP has no answer: a UDP send can only fail locally.
'use strict';

const path = require('path');

function load(name) {
  const dir = process.env.SPOOR_NODE_CLIENTS;
  if (dir) {
    try {
      return require(path.join(dir, 'node_modules', name));
    } catch (error) {
      // fall back to NODE_PATH below
    }
  }
  return require(name);
}

const SERVICE_DEFAULT = 'spoor-test-jaeger-node';
const ROOT_TAGS = {
  'spoor.test.str': 'hello spoor',
  'spoor.test.bool': true,
  'spoor.test.int': 42,
  'spoor.test.negative_int': -7,
  'spoor.test.float': 3.25,
  'http.request.method': 'GET',
  'url.path': '/spoor/test',
  'http.response.status_code': 200,
};
const CLIENT_TAGS = { 'peer.service': 'spoor-test-downstream', 'server.address': 'downstream.invalid', 'server.port': 8080 };
const INTERNAL_TAGS = { 'spoor.test.step': 'compute', 'error.type': 'SpoorTestError' };
const EVENT_NAME = 'spoor.test.event';
const EVENT_FIELDS = { 'event.str': 'something happened', 'event.int': 7, 'event.bool': false, 'event.float': 0.25 };
const LINK_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const LINK_SPAN_ID = 'b7ad6b7169203331';
const ERROR_DESCRIPTION = 'spoor test failure';
// (name, span.kind, start offset ms, end offset ms)
const SPANS = [
  ['spoor-test-root', 'server', 0, 100],
  ['spoor-test-client', 'client', 10, 90],
  ['spoor-test-internal', null, 20, 80],
];
const EVENT_OFFSET_MS = 15;

function usage(message) {
  process.stderr.write(`send_jaeger.js: ${message}\nusage: send_jaeger.js --transport udp|http [--endpoint E] [--service S]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { transport: null, endpoint: null, service: SERVICE_DEFAULT };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${key} needs a value`);
    if (key === '--transport') args.transport = value;
    else if (key === '--endpoint') args.endpoint = value;
    else if (key === '--service') args.service = value;
    else usage(`unknown option ${key}`);
  }
  if (args.transport !== 'udp' && args.transport !== 'http') usage('--transport must be udp or http');
  if (!args.endpoint) {
    args.endpoint = args.transport === 'udp' ? '127.0.0.1:6832' : 'http://127.0.0.1:14268/api/traces';
  }
  if (args.transport === 'udp' && !/^[^/]+:\d+$/.test(args.endpoint)) usage('--endpoint for udp must be HOST:PORT');
  if (args.transport === 'http' && !/^https?:\/\//.test(args.endpoint)) usage('--endpoint for http must be a URL');
  return args;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const { initTracer } = load('jaeger-client');
  const opentracing = load('opentracing');

  const errors = [];
  const logger = {
    info() {},
    error(message) {
      errors.push(String(message));
    },
  };
  let reporter;
  if (args.transport === 'udp') {
    const split = args.endpoint.lastIndexOf(':');
    reporter = { agentHost: args.endpoint.slice(0, split), agentPort: Number(args.endpoint.slice(split + 1)) };
  } else {
    reporter = { collectorEndpoint: args.endpoint };
  }
  reporter.flushIntervalMs = 100;
  const tracer = initTracer(
    { serviceName: args.service, sampler: { type: 'const', param: 1 }, reporter },
    { logger, tags: { 'spoor.test.process': 'node' } },
  );

  // whole milliseconds (jaeger-client's clock), 200 ms ago
  const base = Date.now() - 200;
  const [[rn, rk, rs, re], [cn, ck, cs, ce], [gn, , gs, ge]] = SPANS;
  const root = tracer.startSpan(rn, { startTime: base + rs, tags: { ...ROOT_TAGS, 'span.kind': rk } });
  const link = tracer.extract(opentracing.FORMAT_TEXT_MAP, { 'uber-trace-id': `${LINK_TRACE_ID}:${LINK_SPAN_ID}:0:1` });
  const client = tracer.startSpan(cn, {
    startTime: base + cs,
    references: [opentracing.childOf(root.context()), opentracing.followsFrom(link)],
    tags: { ...CLIENT_TAGS, 'span.kind': ck },
  });
  client.log({ event: EVENT_NAME, ...EVENT_FIELDS }, base + EVENT_OFFSET_MS);
  const internal = tracer.startSpan(gn, { startTime: base + gs, childOf: client.context(), tags: INTERNAL_TAGS });
  internal.setTag('error', true);
  internal.log({ event: 'error', message: ERROR_DESCRIPTION }, base + ge - 1);
  internal.finish(base + ge);
  client.finish(base + ce);
  root.finish(base + re);

  const spans = [root, client, internal].map((span, index) => ({
    name: SPANS[index][0],
    span_id: span.context().toSpanId(),
    parent_span_id: index === 0 ? null : [root, client][index - 1].context().toSpanId(),
  }));
  tracer.close(() => {
    const out = {
      ok: errors.length === 0,
      transport: args.transport,
      endpoint: args.endpoint,
      service: args.service,
      trace_id: root.context().toTraceId(),
      spans,
      errors,
    };
    if (!out.ok) process.stderr.write(`send_jaeger.js: ERROR: ${errors.join('; ')}\n`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exitCode = out.ok ? 0 : 1;
  });
}

main();
