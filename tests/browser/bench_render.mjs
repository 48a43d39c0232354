#!/usr/bin/env node
// Benchmark: time for the built-in trace viewer to render a 5,000-span trace, end to end.
//
//   node tests/browser/bench_render.mjs        (or tests/browser/bench-render, which runs setup first)
//
//   1. starts `spoor all-in-one` ($SPOOR_BIN, default target/release/spoor) with a fresh temp data dir,
//      query and OTLP/HTTP on free loopback ports, OTLP/gRPC and admin on free ports, every other
//      listener off (the same flags as tests/browser/run)
//   2. sends one trace of $SPOOR_BENCH_SPANS spans (default 5000: a tree of depth 6, fan-out 4..8,
//      Envoy/Istio-like tags, 12 services) with OTLP/HTTP JSON in 5 requests, waits until it reads back
//   3. in headless chromium opens `<base>trace/<id>` $SPOOR_BENCH_RUNS times (default 5; the first in a
//      fresh profile = cold, the rest in the same tab = warm) and measures, from navigation start
//      (performance.timeOrigin) in the page itself:
//        render_ms  until the viewer's own "rendered" marker (.trace-page[data-render-ms], set on the
//                   first paint after the tree was built and the rows were put in the DOM), checked
//                   with: window.spoorTraceTiming.spans == N, the virtual canvas is N rows tall, the
//                   root row is shown and the Total Spans stat says N
//        first_row_ms until the first .tl-row is in the DOM
//   4. measures collapse / expand of the root and collapse all / expand all (click to next paint)
//   5. prints the JS heap after rendering (CDP Runtime.getHeapUsage after a forced GC)
// Output: `render_ms p50=.. min=.. max=..` and the other lines; exits 1 on failure.
//
// Environment: SPOOR_BIN, SPOOR_TEST_NODE, SPOOR_CHROMIUM, SPOOR_BENCH_SPANS, SPOOR_BENCH_RUNS,
// SPOOR_BENCH_BASE_PATH (default /), SPOOR_BENCH_KEEP (keep the temp dir with spoor.log).

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const spoorBin = path.resolve(ROOT, process.env.SPOOR_BIN || 'target/release/spoor');
const nodeDir = process.env.SPOOR_TEST_NODE || path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'spoor-test', 'node');
const chromiumPath = process.env.SPOOR_CHROMIUM || '/usr/bin/chromium';
const N = Number(process.env.SPOOR_BENCH_SPANS || 5000);
const RUNS = Number(process.env.SPOOR_BENCH_RUNS || 5);
const basePath = (process.env.SPOOR_BENCH_BASE_PATH || '/').replace(/\/*$/, '/');
const ROW_HEIGHT = 26; // query/ui/trace.js
const TRACE_ID = 'be4c5000be4c5000be4c5000be4c5000';

const { chromium } = createRequire(path.join(nodeDir, 'package.json'))('playwright-core');

const work = mkdtempSync(path.join(tmpdir(), 'spoor-bench-render-'));
let spoor = null;
let context = null;
async function cleanup() {
  await context?.close().catch(() => {});
  if (spoor && spoor.exitCode === null) {
    spoor.kill('SIGTERM');
    await new Promise((resolve) => { spoor.once('exit', resolve); setTimeout(resolve, 5000); });
  }
  if (!process.env.SPOOR_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => cleanup().then(() => process.exit(130)));
function fail(message) {
  console.error(`FAIL ${message}`);
  return cleanup().then(() => process.exit(1));
}

async function freePorts(count) {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

// ---- the trace: seeded, depth 6 (root + 5 levels), Envoy/Istio sidecar-like tags ----
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function buildTrace(n) {
  const rand = rng(5000);
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const hex = (digits) => Array.from({ length: digits }, () => '0123456789abcdef'[int(0, 15)]).join('');
  const services = ['istio-ingressgateway', 'frontend', 'checkout', 'cart', 'catalog', 'pricing', 'inventory', 'payments',
    'shipping', 'recommendations', 'users', 'currency'];
  const paths = ['/api/cart', '/api/checkout', '/api/products/{id}', '/api/prices', '/api/stock', '/api/ship/quote',
    '/hipstershop.CartService/GetCart', '/hipstershop.CurrencyService/Convert', '/api/users/me', '/api/recommend'];
  const requestId = `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  const attr = (key, value) => (typeof value === 'number'
    ? { key, value: { intValue: String(value) } } : { key, value: { stringValue: String(value) } });
  const envoyTags = (service, upstream, method, url, status, kind) => [
    attr('component', 'proxy'), attr('node_id', `sidecar~10.4.${int(0, 255)}.${int(1, 254)}~${service}-${hex(10)}-${hex(5)}.prod~prod.svc.cluster.local`),
    attr('zone', pick(['us-east1-b', 'us-east1-c', 'us-east1-d'])), attr('guid:x-request-id', requestId),
    attr('http.url', `http://${upstream}.prod.svc.cluster.local:8080${url}`), attr('http.method', method),
    attr('downstream_cluster', '-'), attr('user_agent', 'grpc-go/1.58.3'), attr('http.protocol', pick(['HTTP/1.1', 'HTTP/2'])),
    attr('peer.address', `10.4.${int(0, 255)}.${int(1, 254)}`), attr('request_size', int(0, 4096)),
    attr('upstream_cluster', `outbound|8080||${upstream}.prod.svc.cluster.local`),
    attr('upstream_cluster.name', `outbound|8080||${upstream}.prod.svc.cluster.local`),
    attr('http.status_code', status), attr('response_size', int(40, 65536)), attr('response_flags', status >= 500 ? 'UF' : '-'),
    attr('istio.canonical_service', service), attr('istio.canonical_revision', 'v1'), attr('istio.mesh_id', 'cluster.local'),
    // no `istio.namespace` tag: spoor files a span carrying one under that namespace (the query API
    // serves namespace "default"), so the trace would never read back
    attr('span.kind', kind === 2 ? 'server' : 'client'),
  ];
  const ms = 1_000_000n;
  const start = BigInt(Date.now() - 120_000) * ms;
  const spans = []; // {service, span}
  const add = (service, parent, startNs, durNs, depth) => {
    const upstream = pick(services);
    const method = pick(['GET', 'GET', 'GET', 'POST']);
    const url = pick(paths);
    const error = rand() < 0.01;
    const status = error ? 503 : 200;
    const kind = depth % 2 === 0 ? 2 : 3;
    const span = {
      traceId: TRACE_ID, spanId: hex(16), name: `${upstream}.prod.svc.cluster.local:8080/*`, kind,
      startTimeUnixNano: String(startNs), endTimeUnixNano: String(startNs + durNs),
      attributes: envoyTags(service, upstream, method, url, status, kind),
      ...(parent ? { parentSpanId: parent.span.spanId } : {}),
      ...(error ? { status: { code: 2, message: 'upstream connect error' } } : {}),
    };
    const node = { service, span, startNs, durNs, depth };
    spans.push(node);
    return node;
  };
  const root = add(services[0], null, start, 3_000n * ms, 0);
  const MAX_DEPTH = 5; // levels 0..5 = depth 6
  let next = 0;
  while (spans.length < n) {
    let parent;
    let fanOut;
    if (next < spans.length) {
      parent = spans[next++];
      fanOut = parent.depth < MAX_DEPTH ? int(4, 8) : 0;
    } else {
      do parent = pick(spans); while (parent.depth >= MAX_DEPTH);
      fanOut = 1;
    }
    for (let k = 0; k < fanOut && spans.length < n; k++) {
      const dur = BigInt(Math.max(50_000, Math.floor(Number(parent.durNs) * (0.1 + rand() * 0.6))));
      const offset = BigInt(Math.floor(Number(parent.durNs - dur) * rand()));
      add(pick(services), parent, parent.startNs + offset, dur, parent.depth + 1);
    }
  }
  void root;
  return spans;
}

function otlpBody(nodes) {
  const byService = new Map();
  for (const { service, span } of nodes) {
    if (!byService.has(service)) byService.set(service, []);
    byService.get(service).push(span);
  }
  return JSON.stringify({
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } },
        { key: 'host.name', value: { stringValue: `${service}-7d9f` } }] },
      scopeSpans: [{ scope: { name: 'envoy' }, spans }],
    })),
  });
}

// ---- 1. spoor ----
try {
  accessSync(spoorBin, constants.X_OK);
} catch {
  await fail(`no spoor binary at ${spoorBin} (set SPOOR_BIN)`);
}
const [pGrpc, pHttp, pQuery, pAdmin] = await freePorts(4);
const logPath = path.join(work, 'spoor.log');
const logFd = openSync(logPath, 'w');
spoor = spawn(spoorBin, ['all-in-one', '--data-dir', path.join(work, 'data'),
  '--collector.otlp.grpc.host-port', `127.0.0.1:${pGrpc}`,
  '--collector.otlp.http.host-port', `127.0.0.1:${pHttp}`,
  '--query.http-server.host-port', `127.0.0.1:${pQuery}`,
  '--admin.http.host-port', `127.0.0.1:${pAdmin}`,
  '--query.grpc-server.host-port', '', '--remote-storage.grpc.host-port', '',
  '--collector.grpc-server.host-port', '', '--collector.http-server.host-port', '', '--collector.zipkin.host-port', '',
  '--processor.jaeger-compact.server-host-port', '', '--processor.jaeger-binary.server-host-port', '',
  '--sampling.http.host-port', '', '--sampling.grpc.host-port', '',
  '--query.base-path', basePath], { stdio: ['ignore', logFd, logFd] });
const queryUrl = `http://127.0.0.1:${pQuery}${basePath}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let up = false;
for (let k = 0; k < 200 && !up; k++) {
  if (spoor.exitCode !== null) await fail(`spoor exited at start: ${readFileSync(logPath, 'utf8').split('\n').slice(-5).join('\n')}`);
  up = await fetch(`${queryUrl}api/services`).then((r) => r.ok, () => false);
  if (!up) await sleep(100);
}
if (!up) await fail(`the query service does not answer at ${queryUrl}`);
console.log(`spoor ${spoorBin} pid=${spoor.pid} query=${queryUrl} otlp-http=127.0.0.1:${pHttp}`);

// ---- 2. the trace ----
const nodes = buildTrace(N);
if (process.env.SPOOR_BENCH_DUMP) writeFileSync(process.env.SPOOR_BENCH_DUMP, otlpBody(nodes.slice(0, 3)));
const REQUESTS = 5;
const sendStarted = Date.now();
for (let r = 0; r < REQUESTS; r++) {
  const part = nodes.slice(Math.floor((r * N) / REQUESTS), Math.floor(((r + 1) * N) / REQUESTS));
  const response = await fetch(`http://127.0.0.1:${pHttp}/v1/traces`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: otlpBody(part),
  });
  const answer = await response.text();
  if (!response.ok || (answer.trim() !== "{}" && answer.trim() !== "")) console.log(`OTLP/HTTP request ${r + 1}: ${response.status} ${answer.slice(0, 300)}`);
  if (!response.ok) await fail("OTLP/HTTP request failed");
}
let stored = 0;
let traceJsonBytes = 0;
let lastAnswer = '';
for (let k = 0; k < 300 && stored !== N; k++) {
  const response = await fetch(`${queryUrl}api/traces/${TRACE_ID}`).catch((e) => ({ ok: false, status: String(e) }));
  lastAnswer = `${response.status}`;
  if (response.ok) {
    const text = await response.text();
    traceJsonBytes = text.length;
    stored = JSON.parse(text).data?.[0]?.spans?.length || 0;
  }
  if (stored !== N) await sleep(100);
}
if (stored !== N) await fail(`the trace reads back with ${stored} spans, not ${N} (last answer: ${lastAnswer})`);
const maxDepth = Math.max(...nodes.map((x) => x.depth)) + 1;
console.log(`trace ${TRACE_ID}: ${N} spans, depth ${maxDepth}, ${nodes[0].span.attributes.length} tags/span, `
  + `sent in ${REQUESTS} OTLP/HTTP JSON requests, stored+readable after ${Date.now() - sendStarted} ms, `
  + `api/traces JSON ${(traceJsonBytes / 1e6).toFixed(1)} MB`);

// ---- 3. the browser ----
const userDataDir = path.join(work, 'chromium');
context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: chromiumPath, headless: true, chromiumSandbox: false, viewport: { width: 1440, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(120_000);
const problems = [];
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
// record, relative to navigation start, when the first row appears and when the viewer marks the trace rendered
await context.addInitScript(() => {
  const marks = { firstRowMs: null, renderedMs: null };
  window.__bench = marks;
  new MutationObserver((_, observer) => {
    if (marks.firstRowMs === null && document.querySelector('#timeline .tl-row')) marks.firstRowMs = performance.now();
    if (marks.renderedMs === null && document.querySelector('.trace-page[data-render-ms]')) {
      marks.renderedMs = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-render-ms'] });
});
const cdp = await context.newCDPSession(page);
const traceUrl = `${queryUrl}trace/${TRACE_ID}`;

const runs = [];
for (let run = 0; run < RUNS; run++) {
  await page.goto(traceUrl, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.__bench?.renderedMs != null, null, { timeout: 120_000, polling: 50 });
  const m = await page.evaluate((rowHeight) => {
    const t = window.spoorTraceTiming || {};
    const canvas = document.querySelector('.tl-canvas');
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/traces/'));
    return {
      ...window.__bench, spans: t.spans, fetchMs: t.fetchMs, domMs: t.renderMs, paintMs: t.paintMs,
      canvasRows: canvas ? parseFloat(canvas.style.height) / rowHeight : 0,
      domRows: document.querySelectorAll('#timeline .tl-row').length,
      rootLevel: document.querySelector('#timeline .tl-row')?.getAttribute('aria-level'),
      stats: document.querySelector('.trace-stats')?.innerText || '',
      domContentLoadedMs: nav?.domContentLoadedEventEnd, apiRequestStartMs: res?.requestStart, apiResponseEndMs: res?.responseEnd,
    };
  }, ROW_HEIGHT);
  if (m.spans !== N || m.canvasRows !== N || m.rootLevel !== '1'
      || !m.stats.replace(/\s+/g, ' ').includes(`Total Spans ${N}`)) {
    await fail(`run ${run + 1}: not fully rendered: ${JSON.stringify(m)}`);
  }
  runs.push(m);
  const f = (x) => (x == null ? '-' : x.toFixed(0));
  console.log(`run ${run + 1} (${run === 0 ? 'cold' : 'warm'}): render_ms=${f(m.renderedMs)} first_row_ms=${f(m.firstRowMs)} `
    + `dcl_ms=${f(m.domContentLoadedMs)} api=${f(m.apiRequestStartMs)}..${f(m.apiResponseEndMs)} `
    + `fetch+parse_ms=${f(m.fetchMs)} tree+dom_ms=${m.domMs.toFixed(1)} to_paint_ms=${f(m.paintMs)} dom_rows=${m.domRows}`);
}
const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50=${sorted[Math.floor((sorted.length - 1) / 2)].toFixed(0)} min=${sorted[0].toFixed(0)} max=${sorted[sorted.length - 1].toFixed(0)}`;
};
const warm = runs.slice(1);

// ---- 4. heap after rendering ----
await cdp.send('HeapProfiler.collectGarbage');
const heap = await cdp.send('Runtime.getHeapUsage');
const perfMetrics = Object.fromEntries((await cdp.send('Performance.enable').then(() => cdp.send('Performance.getMetrics'))).metrics
  .map((x) => [x.name, x.value]));

// ---- 5. collapse / expand (click to next paint, measured in the page) ----
const timeClick = (selector) => page.evaluate(async (sel) => {
  const t0 = performance.now();
  document.querySelector(sel).click();
  void document.body.offsetHeight; // force style/layout
  const sync = performance.now() - t0;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return { sync, paint: performance.now() - t0, rows: parseFloat(document.querySelector('.tl-canvas').style.height) / 26 };
}, selector);
const toggles = { collapseRoot: [], expandRoot: [], collapseAll: [], expandAll: [] };
const rootToggle = '#timeline .tl-row[aria-level="1"] button.tl-toggle';
for (let k = 0; k < 5; k++) {
  const c = await timeClick(rootToggle);
  if (c.rows !== 1) await fail(`collapsing the root left ${c.rows} rows`);
  const e = await timeClick(rootToggle);
  if (e.rows !== N) await fail(`expanding the root shows ${e.rows} rows`);
  const ca = await timeClick('#collapse-all');
  const ea = await timeClick('#expand-all');
  if (ca.rows !== 1 || ea.rows !== N) await fail(`collapse all/expand all: ${ca.rows}/${ea.rows} rows`);
  toggles.collapseRoot.push(c.paint); toggles.expandRoot.push(e.paint);
  toggles.collapseAll.push(ca.paint); toggles.expandAll.push(ea.paint);
}
// scroll to the end: the last row must be reachable (virtualized list)
const lastTop = await page.evaluate(async () => {
  const s = document.querySelector('.tl-scroll');
  s.scrollTop = s.scrollHeight;
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return Math.max(...[...document.querySelectorAll('#timeline .tl-row')].map((el) => parseFloat(el.style.top)));
});

console.log('');
console.log(`spans=${N} runs=${RUNS} (1 cold in a fresh profile + ${RUNS - 1} warm), measured from navigation start to the viewer's rendered marker`);
console.log(`render_ms ${stats(runs.map((r) => r.renderedMs))}`);
console.log(`render_ms_cold=${runs[0].renderedMs.toFixed(0)} render_ms_warm ${stats(warm.map((r) => r.renderedMs))}`);
console.log(`first_row_ms ${stats(runs.map((r) => r.firstRowMs))}`);
console.log(`breakdown (p50 over all runs): fetch+parse_ms ${stats(runs.map((r) => r.fetchMs))} | tree+dom_ms ${stats(runs.map((r) => r.domMs))} `
  + `| fetched_to_paint_ms ${stats(runs.map((r) => r.paintMs))}`);
console.log(`js_heap_used_mb=${(heap.usedSize / 1048576).toFixed(1)} js_heap_total_mb=${(heap.totalSize / 1048576).toFixed(1)} `
  + `(after GC) dom_nodes=${perfMetrics.Nodes} dom_rows=${runs[runs.length - 1].domRows}`);
console.log(`collapse_root_ms ${stats(toggles.collapseRoot)} expand_root_ms ${stats(toggles.expandRoot)}`);
console.log(`collapse_all_ms ${stats(toggles.collapseAll)} expand_all_ms ${stats(toggles.expandAll)} (click to next paint, 5 each)`);
console.log(`scroll_to_end last_row_top=${lastTop}px expected=${(N - 1) * ROW_HEIGHT}px`);
if (problems.length) console.log(`page problems: ${problems.join('; ')}`);
await cleanup();
if (lastTop !== (N - 1) * ROW_HEIGHT || problems.length) process.exit(1);
