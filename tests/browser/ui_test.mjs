#!/usr/bin/env node
// Browser test of Spoor's built-in trace viewer, driven by playwright-core and Debian's chromium.
//
//   node tests/browser/ui_test.mjs <query-url> <trace-id> <screenshot-path> [<big-trace-id>]
//
//   query-url      where the viewer is served, with the base path: http://127.0.0.1:16686/jaeger/
//   trace-id       a stored trace of several services (send_traces.py's TRACE_ID)
//   screenshot     PNG of the trace page with span details open; `-search.png` and `-deps.png`
//                  siblings are saved too (and `-failure.png` when a step fails)
//   big-trace-id   optional: a stored trace of ~5,000 spans whose render time is measured and printed
//                  as `render_5000_spans_ms=<n>`
//
// Environment: SPOOR_TEST_NODE (where tests/browser/setup installed playwright-core, default
// ~/.cache/spoor-test/node), SPOOR_CHROMIUM (default /usr/bin/chromium), SPOOR_RENDER_BUDGET_MS
// (the most the 5,000-span render may take, default 3000).
// Exits 0 when every step passed; otherwise prints `FAIL <step>: <why>` and exits 1.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';

const [queryArg, traceId, screenshotPath, bigTraceId] = process.argv.slice(2);
if (!queryArg || !traceId || !screenshotPath) {
  console.error('usage: ui_test.mjs <query-url> <trace-id> <screenshot-path> [<big-trace-id>]');
  process.exit(2);
}
const baseUrl = new URL(queryArg.endsWith('/') ? queryArg : `${queryArg}/`);
const nodeDir = process.env.SPOOR_TEST_NODE || path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'spoor-test', 'node');
const chromiumPath = process.env.SPOOR_CHROMIUM || '/usr/bin/chromium';
const renderBudgetMs = Number(process.env.SPOOR_RENDER_BUDGET_MS || 3000);
const sibling = (suffix) => screenshotPath.replace(/(\.png)?$/i, `${suffix}.png`);

let chromium;
try {
  ({ chromium } = createRequire(path.join(nodeDir, 'package.json'))('playwright-core'));
} catch (error) {
  console.error(`FAIL setup: cannot load playwright-core from ${nodeDir} (run tests/browser/setup): ${error.message}`);
  process.exit(1);
}

class StepFailure extends Error {}
const check = (condition, message) => {
  if (!condition) throw new StepFailure(message);
};

// What the trace looks like, from the API itself (the test then expects the UI to show it).
async function expectedTrace(id) {
  const response = await fetch(new URL(`api/traces/${id}`, baseUrl));
  if (!response.ok) throw new StepFailure(`GET api/traces/${id} answered ${response.status}: is the trace stored?`);
  const trace = (await response.json()).data[0];
  const ids = new Set(trace.spans.map((span) => span.spanID));
  const parentOf = (span) => (span.references || []).find((ref) => ref.refType === 'CHILD_OF' && ids.has(ref.spanID))?.spanID;
  const children = new Map();
  for (const span of trace.spans) {
    const parent = parentOf(span);
    if (parent) children.set(parent, [...(children.get(parent) || []), span]);
  }
  const descendants = (spanId) => (children.get(spanId) || []).reduce((n, child) => n + 1 + descendants(child.spanID), 0);
  const root = trace.spans.filter((span) => !parentOf(span)).sort((a, b) => a.startTime - b.startTime)[0];
  return { trace, root, children, descendants, service: trace.processes[root.processID].serviceName };
}

const userDataDir = mkdtempSync(path.join(tmpdir(), 'spoor-chromium-'));
let context;
let page;
const problems = [];
const foreignRequests = [];

async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    const why = error instanceof StepFailure ? error.message : (error.stack || String(error)).split('\n').slice(0, 4).join('\n');
    console.error(`FAIL ${name}: ${why}`);
    if (page) await page.screenshot({ path: sibling('-failure'), fullPage: false }).catch(() => {});
    if (page) console.error(`     page: ${page.url()}  (screenshot: ${sibling('-failure')})`);
    await shutdown();
    process.exit(1);
  }
}

async function shutdown() {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

const MISSING_TRACE_ID = '00000000000000000000000000abcdef';
const rows = () => page.locator('#timeline .tl-row');
const row = (spanId) => page.locator(`#timeline .tl-row[data-span-id="${spanId}"]`);

await step('launch chromium', async () => {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    chromiumSandbox: false,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  // the viewer must work air-gapped: any request leaving the query service fails the test
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === baseUrl.origin || url.protocol === 'data:') return route.continue();
    foreignRequests.push(url.href);
    return route.abort();
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // failed loads are judged by the response handler below, which knows which ones are expected
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    const url = response.url();
    // expected: the unknown trace looked up on purpose, and /api/dependencies while it does not exist
    if (response.status() < 400 || url.includes(MISSING_TRACE_ID) || url.includes('/api/dependencies?')) return;
    problems.push(`HTTP ${response.status()} for ${url}`);
  });
});

let expected;
await step('read the expected trace from the API', async () => {
  expected = await expectedTrace(traceId);
  check(expected.trace.spans.length >= 3, `trace ${traceId} has ${expected.trace.spans.length} spans; the test needs 3 or more`);
});

await step('open the viewer and list services', async () => {
  const response = await page.goto(baseUrl.href);
  check(response.ok(), `GET ${baseUrl.href} answered ${response.status()}`);
  check((await response.headerValue('content-type'))?.startsWith('text/html'), 'the viewer is not served as HTML');
  await page.locator(`#search-service option[value="${expected.service}"]`).waitFor({ state: 'attached' });
  check((await page.title()).includes('Spoor'), `unexpected title ${await page.title()}`);
});

await step('search the service and see the trace in the results and the scatter plot', async () => {
  await page.selectOption('#search-service', expected.service);
  await page.selectOption('#search-lookback', '2d');
  await page.click('#search-submit');
  await page.waitForURL((url) => url.searchParams.get('service') === expected.service);
  const result = page.locator(`.result[data-trace-id="${expected.trace.traceID}"]`);
  await result.waitFor();
  const title = await result.locator('.result-title').innerText();
  check(title.includes(`${expected.service}: ${expected.root.operationName}`), `result title is "${title}"`);
  const counts = await result.locator('.result-counts').innerText();
  check(counts.includes(`${expected.trace.spans.length} Spans`), `result counts say "${counts}"`);
  await page.locator(`#scatter circle.dot[data-trace-id="${expected.trace.traceID}"]`).waitFor();
  const dots = await page.locator('#scatter circle.dot').count();
  const results = await page.locator('.result').count();
  check(dots === results, `${dots} dots for ${results} results`);
  const header = await page.locator('.results-count').innerText();
  check(header === `${results} Trace${results === 1 ? '' : 's'}`, `results header says "${header}"`);
});

await step('sort the results by duration and by span count', async () => {
  await page.selectOption('select[name=sort]', 'longest');
  const durations = await page.locator('.result').evaluateAll((items) =>
    items.map((item) => item.querySelector('.result-bar').style.width).map(parseFloat));
  check(durations.every((d, i) => i === 0 || durations[i - 1] >= d), `not longest first: ${durations.join(', ')}`);
  await page.selectOption('select[name=sort]', 'spans');
  const spans = await page.locator('.result .result-counts .badge:first-child').allInnerTexts();
  const numbers = spans.map((text) => parseInt(text, 10));
  check(numbers.every((n, i) => i === 0 || numbers[i - 1] >= n), `not most spans first: ${numbers.join(', ')}`);
  check(new URL(page.url()).searchParams.get('sort') === 'spans', 'the sort order is not kept in the URL');
  await page.screenshot({ path: sibling('-search') });
});

await step('filter by tags, minimum duration and a custom time range', async () => {
  const { trace, root } = expected;
  const tag = root.tags.find((t) => t.type === 'string' && !/\s/.test(t.value) && !t.key.startsWith('otel.'))
    || root.tags.find((t) => t.type === 'string' && !/\s/.test(t.value));
  check(tag, 'the root span has no plain string tag to filter by');
  const traceDuration = Math.max(...trace.spans.map((s) => s.startTime + s.duration)) - root.startTime;
  const minMs = Math.max(1, Math.floor(traceDuration / 1000) - 1);
  await page.fill('#search-tags', `${tag.key}=${tag.value}`);
  await page.fill('#search-min-duration', `${minMs}ms`);
  await page.selectOption('#search-lookback', 'custom');
  // datetime-local inputs take the browser's local time, to the minute
  const local = (micros) => page.evaluate((ms) => {
    const d = new Date(ms);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  }, micros / 1000);
  await page.fill('#search-start', await local(root.startTime - 10 * 60e6));
  await page.fill('#search-end', await local(root.startTime + 10 * 60e6));
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/traces?')),
    page.click('#search-submit'),
  ]);
  const asked = new URL(request.url()).searchParams;
  check(asked.get('tags') === JSON.stringify({ [tag.key]: tag.value }), `tags sent as ${asked.get('tags')}`);
  check(asked.get('minDuration') === `${minMs}ms`, `minDuration sent as ${asked.get('minDuration')}`);
  const start = Number(asked.get('start'));
  const end = Number(asked.get('end'));
  check(start <= root.startTime && root.startTime <= end && end - start <= 21 * 60e6,
    `custom range sent as start=${start} end=${end} (µs), trace starts at ${root.startTime}`);
  await page.locator(`.result[data-trace-id="${trace.traceID}"]`).waitFor();
  const durations = await page.locator('.result .result-duration').allInnerTexts();
  const micros = (text) => {
    const [, value, unit] = /^([\d.]+)(μs|ms|s)$/.exec(text) || [];
    return Number(value) * { μs: 1, ms: 1e3, s: 1e6 }[unit];
  };
  check(durations.every((d) => micros(d) >= minMs * 1000), `results shorter than ${minMs}ms: ${durations.join(', ')}`);
  const params = new URL(page.url()).searchParams;
  check(params.get('lookback') === 'custom' && params.get('tags') === `${tag.key}=${tag.value}`, `URL is ${page.url()}`);
});

await step('open the trace from its scatter-plot dot', async () => {
  await page.locator(`#scatter circle.dot[data-trace-id="${expected.trace.traceID}"]`).click();
  await page.waitForURL((url) => url.pathname.endsWith(`/trace/${expected.trace.traceID}`));
  await rows().first().waitFor();
  check(new URL(page.url()).pathname.startsWith(baseUrl.pathname), `left the base path: ${page.url()}`);
});

await step('go back to the results and open the trace from its row', async () => {
  await page.goBack();
  await page.locator(`.result[data-trace-id="${expected.trace.traceID}"] a.result-head`).click();
  await page.waitForURL((url) => url.pathname.endsWith(`/trace/${expected.trace.traceID}`));
  await rows().first().waitFor();
});

await step('see the timeline with the expected spans', async () => {
  const { trace, root, service } = expected;
  const shown = await rows().count();
  check(shown === trace.spans.length, `${shown} rows for ${trace.spans.length} spans`);
  for (const span of trace.spans) {
    check(await row(span.spanID).count() === 1, `span ${span.spanID} (${span.operationName}) has no row`);
  }
  const first = await rows().first().getAttribute('data-span-id');
  check(first === root.spanID, `the first row is ${first}, not the root span ${root.spanID}`);
  const rootText = await row(root.spanID).locator('.tl-name').innerText();
  check(rootText.includes(service) && rootText.includes(root.operationName), `root row says "${rootText}"`);
  const stats = await page.locator('.trace-stats').innerText();
  check(stats.includes(`Total Spans\n${trace.spans.length}`) || stats.includes(`Total Spans ${trace.spans.length}`),
    `trace header says "${stats}"`);
  // children sit one level deeper than their parent, right after it, sorted by start
  const kids = expected.children.get(root.spanID) || [];
  for (const kid of kids) {
    const level = await row(kid.spanID).getAttribute('aria-level');
    check(level === '2', `child ${kid.operationName} is at level ${level}`);
  }
  const errorRows = await page.locator('#timeline .tl-row.is-error').count();
  const errorSpans = trace.spans.filter((span) => span.tags.some((tag) => (tag.key === 'error' && tag.value === true)
    || (tag.key === 'otel.status_code' && tag.value === 'ERROR'))).length;
  check(errorRows === errorSpans, `${errorRows} rows marked as errors for ${errorSpans} error spans`);
});

await step('collapse and expand a node', async () => {
  const { trace, root, children, descendants } = expected;
  const parent = (children.get(root.spanID) || []).find((kid) => children.has(kid.spanID)) || root;
  const hidden = descendants(parent.spanID);
  const toggle = row(parent.spanID).locator('button.tl-toggle');
  check(await toggle.getAttribute('aria-expanded') === 'true', 'the node does not start expanded');
  await toggle.click();
  check(await rows().count() === trace.spans.length - hidden, `collapsing ${parent.operationName} should hide ${hidden} rows`);
  check(await row(parent.spanID).locator('.tl-hidden').innerText() === `+${hidden}`, 'no "+N" badge on the collapsed node');
  check(await row(parent.spanID).locator('button.tl-toggle').getAttribute('aria-expanded') === 'false', 'aria-expanded not false');
  await row(parent.spanID).locator('button.tl-toggle').click();
  check(await rows().count() === trace.spans.length, 'expanding did not bring the rows back');
  await page.click('#collapse-all');
  check(await rows().count() === 1, `collapse all leaves ${await rows().count()} rows`);
  await page.click('#expand-all');
  check(await rows().count() === trace.spans.length, 'expand all did not show every row');
});

await step('open span details', async () => {
  const { trace } = expected;
  const span = trace.spans.find((s) => s.logs.length && s.tags.length) || trace.spans.find((s) => s.tags.length) || trace.spans[0];
  await row(span.spanID).locator('.tl-op').click();
  const detail = page.locator('#span-detail');
  await detail.waitFor({ state: 'visible' });
  check((await detail.locator('.sd-title').innerText()) === span.operationName, 'details show another span');
  check(new URL(page.url()).searchParams.get('span') === span.spanID, 'the selected span is not in the URL');
  const tagKeys = await detail.locator('.sd-section').first().locator('table.kv th').allInnerTexts();
  for (const tag of span.tags) check(tagKeys.includes(tag.key), `tag ${tag.key} missing from the details`);
  if (span.logs.length) {
    const logTimes = await detail.locator('.sd-log-time').allInnerTexts();
    check(logTimes.length === span.logs.length, `${logTimes.length} logs shown for ${span.logs.length}`);
    check(logTimes.every((t) => t.startsWith('+')), `log times are not relative: ${logTimes.join(', ')}`);
  }
  const service = trace.processes[span.processID].serviceName;
  await detail.locator('summary', { hasText: 'Process' }).click();
  const processText = await detail.locator('.sd-section', { hasText: 'Process' }).innerText();
  check(processText.includes(service), `process section lacks ${service}`);
  check(await row(span.spanID).getAttribute('aria-selected') === 'true', 'the row is not marked selected');
  await page.screenshot({ path: screenshotPath });
});

await step('look a trace up by id from the header', async () => {
  await page.goto(new URL('search', baseUrl).href);
  await page.fill('.lookup input', expected.trace.traceID);
  await page.press('.lookup input', 'Enter');
  await page.waitForURL((url) => url.pathname.endsWith(`/trace/${expected.trace.traceID}`));
  await rows().first().waitFor();
  await page.goto(new URL(`#/trace/${expected.trace.traceID}`, baseUrl).href);
  await page.waitForURL((url) => url.pathname.endsWith(`/trace/${expected.trace.traceID}`));
  await rows().first().waitFor();
  await page.goto(new URL(`trace/${MISSING_TRACE_ID}`, baseUrl).href);
  await page.locator('.notice-error', { hasText: 'not found' }).waitFor();
});

await step('show the dependency graph page', async () => {
  await page.goto(new URL('dependencies', baseUrl).href);
  await page.locator('#deps .notice:not(.notice-loading), #deps svg.deps-graph').first().waitFor();
  const text = await page.locator('#deps').innerText();
  const graph = await page.locator('#deps svg.deps-graph').count();
  check(graph === 1 || /not available|No dependencies/.test(text), `unexpected dependencies page: ${text}`);
  console.log(`     dependencies: ${graph ? 'graph shown' : text.split('\n')[0]}`);
});

await step('draw a dependency graph (API answer stubbed in the browser)', async () => {
  const links = [
    { parent: 'frontend', child: 'customer', callCount: 120 },
    { parent: 'frontend', child: 'driver', callCount: 118 },
    { parent: 'frontend', child: 'route', callCount: 1180 },
    { parent: 'customer', child: 'mysql', callCount: 120 },
    { parent: 'driver', child: 'redis', callCount: 1410 },
    { parent: 'redis', child: 'driver', callCount: 3 },
  ];
  let asked = null;
  await page.route('**/api/dependencies?*', (route) => {
    asked = new URL(route.request().url());
    return route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ data: links, total: 0, limit: 0, offset: 0, errors: null }),
    });
  });
  await page.goto(new URL('dependencies', baseUrl).href);
  await page.locator('#deps svg.deps-graph').waitFor();
  check(asked && Number(asked.searchParams.get('lookback')) === 86_400_000 && Number(asked.searchParams.get('endTs')) > 1e12,
    `dependencies asked with ${asked?.search}`);
  check(asked.pathname.startsWith(baseUrl.pathname), `dependencies fetched outside the base path: ${asked.pathname}`);
  const nodes = await page.locator('#deps .deps-node').count();
  const edges = await page.locator('#deps path.deps-edge').count();
  check(nodes === 6 && edges === links.length, `${nodes} nodes and ${edges} edges drawn`);
  await page.screenshot({ path: sibling('-deps') });
  await page.unroute('**/api/dependencies?*');
});

if (bigTraceId) {
  await step('render a 5,000-span trace', async () => {
    const big = await expectedTrace(bigTraceId);
    const n = big.trace.spans.length;
    const runs = [];
    for (let run = 0; run < 3; run++) {
      await page.goto(new URL('search', baseUrl).href);
      await page.fill('.lookup input', bigTraceId);
      const started = Date.now();
      await page.press('.lookup input', 'Enter');
      await page.locator('.trace-page[data-render-ms]').waitFor({ timeout: 60_000 });
      const opened = Date.now() - started;
      const timing = await page.evaluate(() => window.spoorTraceTiming);
      check(timing.spans === n, `rendered ${timing.spans} spans, expected ${n}`);
      runs.push({ ...timing, openMs: opened });
    }
    const median = (key) => runs.map((r) => r[key]).sort((a, b) => a - b)[1];
    const domRows = await rows().count();
    check(domRows < 200, `${domRows} rows in the DOM for ${n} spans: rows are not virtualized`);
    // scroll to the end: the last span's row must appear
    const toggleStart = Date.now();
    await page.click('#collapse-all');
    await page.click('#expand-all');
    const toggleMs = Date.now() - toggleStart;
    await page.locator('.tl-scroll').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.waitForTimeout(100);
    const lastRowTop = await rows().evaluateAll((els) => Math.max(...els.map((el) => parseFloat(el.style.top))));
    check(lastRowTop === (n - 1) * 26, `after scrolling to the end the last row is at ${lastRowTop}px`);
    const render = median('paintMs');
    console.log(`     spans=${n} fetch_ms=${median('fetchMs').toFixed(0)} dom_ms=${median('renderMs').toFixed(1)} `
      + `open_ms=${median('openMs')} collapse_expand_all_ms=${toggleMs} dom_rows=${domRows}`);
    console.log(`render_${n}_spans_ms=${render.toFixed(0)}`);
    check(render <= renderBudgetMs, `rendering ${n} spans took ${render.toFixed(0)} ms (budget ${renderBudgetMs} ms)`);
  });
} else {
  console.log('skip render a 5,000-span trace (no big-trace-id given)');
}

await step('no script errors and nothing fetched from outside', async () => {
  check(foreignRequests.length === 0, `requests left the query service: ${foreignRequests.join(', ')}`);
  check(problems.length === 0, problems.join('\n'));
});

await shutdown();
console.log(`screenshot: ${screenshotPath}`);
console.log('browser test passed');
