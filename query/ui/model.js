// Turns a UI trace (`{traceID, spans, processes, warnings}`, times in µs) into what the pages show:
// a search-result summary, and the span tree of the timeline.

import { isErrorSpan } from './util.js';

/**
 * The parent of a span: its first CHILD_OF reference to a span of this trace, else its first
 * FOLLOWS_FROM reference to one (Jaeger UI draws both kinds as the tree edge).
 */
function parentIndex(span, indexById) {
  let followsFrom = -1;
  for (const ref of span.references || []) {
    const index = indexById.get(ref.spanID);
    if (index === undefined) continue;
    if (ref.refType === 'CHILD_OF') return index;
    if (followsFrom < 0) followsFrom = index;
  }
  return followsFrom;
}

/**
 * The span tree, in arrays for speed (a trace may hold many thousands of spans).
 *
 * Returns `{spans, processes, services, parent, children, depth, descendants, error, order, roots, start, end,
 * maxDepth, errorCount, orphans}` where `order` lists span indexes depth-first with children sorted
 * by start time; `orphans` counts spans whose referenced parent is missing from the trace.
 */
export function buildTree(trace) {
  const spans = trace.spans || [];
  const n = spans.length;
  const processes = trace.processes || {};
  const indexById = new Map();
  for (let i = 0; i < n; i++) {
    // a repeated span id keeps its first span as the tree node
    if (!indexById.has(spans[i].spanID)) indexById.set(spans[i].spanID, i);
  }
  const parent = new Int32Array(n).fill(-1);
  const children = new Array(n);
  const services = new Array(n);
  const error = new Uint8Array(n);
  let start = Infinity;
  let end = -Infinity;
  let errorCount = 0;
  let orphans = 0;
  for (let i = 0; i < n; i++) {
    const span = spans[i];
    children[i] = [];
    services[i] = processes[span.processID]?.serviceName ?? span.processID ?? 'unknown';
    if (isErrorSpan(span)) {
      error[i] = 1;
      errorCount++;
    }
    start = Math.min(start, span.startTime);
    end = Math.max(end, span.startTime + span.duration);
    const p = parentIndex(span, indexById);
    if (p >= 0 && p !== i) parent[i] = p;
    else if ((span.references || []).length > 0) orphans++;
  }
  const byStart = (a, b) => spans[a].startTime - spans[b].startTime || a - b;
  const roots = [];
  for (let i = 0; i < n; i++) {
    if (parent[i] >= 0) children[parent[i]].push(i);
    else roots.push(i);
  }
  for (let i = 0; i < n; i++) if (children[i].length > 1) children[i].sort(byStart);
  roots.sort(byStart);

  const depth = new Int32Array(n);
  const descendants = new Int32Array(n);
  const visited = new Uint8Array(n);
  const order = [];
  let maxDepth = 0;
  const walk = (root) => {
    // iterative depth-first walk: traces can be deeper than the JS call stack
    const stack = [root];
    depth[root] = 0;
    while (stack.length) {
      const i = stack.pop();
      if (visited[i]) continue;
      visited[i] = 1;
      order.push(i);
      maxDepth = Math.max(maxDepth, depth[i]);
      const kids = children[i];
      for (let k = kids.length - 1; k >= 0; k--) {
        depth[kids[k]] = depth[i] + 1;
        stack.push(kids[k]);
      }
    }
  };
  for (const root of roots) walk(root);
  // spans in a reference cycle are reachable from no root: show each cycle from its earliest span
  if (order.length < n) {
    const rest = [];
    for (let i = 0; i < n; i++) if (!visited[i]) rest.push(i);
    rest.sort(byStart);
    for (const i of rest) {
      if (visited[i]) continue;
      const siblings = children[parent[i]];
      siblings.splice(siblings.indexOf(i), 1);
      parent[i] = -1;
      roots.push(i);
      walk(i);
    }
  }
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k];
    if (parent[i] >= 0) descendants[parent[i]] += descendants[i] + 1;
  }
  if (n === 0) start = end = 0;
  return {
    spans, processes, services, parent, children, depth, descendants, error, order, roots, start, end,
    maxDepth, errorCount, orphans,
  };
}

/** The span that names the trace: the earliest span without a parent in the trace. */
function rootSpanIndex(spans, indexById) {
  let best = -1;
  for (let i = 0; i < spans.length; i++) {
    if (parentIndex(spans[i], indexById) >= 0) continue;
    if (best < 0 || spans[i].startTime < spans[best].startTime) best = i;
  }
  return best >= 0 ? best : 0;
}

/**
 * A search result row: `{traceID, rootService, rootOperation, spanCount, errorCount, services:
 * [{name, count, errors}], startTime, duration, missingRoot}`.
 */
export function summarize(trace) {
  const spans = trace.spans || [];
  const processes = trace.processes || {};
  const indexById = new Map(spans.map((span, i) => [span.spanID, i]));
  const perService = new Map();
  let start = Infinity;
  let end = -Infinity;
  let errorCount = 0;
  for (const span of spans) {
    const name = processes[span.processID]?.serviceName ?? 'unknown';
    const entry = perService.get(name) || { name, count: 0, errors: 0 };
    entry.count++;
    if (isErrorSpan(span)) {
      entry.errors++;
      errorCount++;
    }
    perService.set(name, entry);
    start = Math.min(start, span.startTime);
    end = Math.max(end, span.startTime + span.duration);
  }
  const root = spans.length ? spans[rootSpanIndex(spans, indexById)] : null;
  return {
    traceID: trace.traceID,
    rootService: root ? processes[root.processID]?.serviceName ?? 'unknown' : 'unknown',
    rootOperation: root ? root.operationName : '(no spans)',
    missingRoot: root ? (root.references || []).length > 0 : true,
    spanCount: spans.length,
    errorCount,
    services: [...perService.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
    startTime: spans.length ? start : 0,
    duration: spans.length ? end - start : 0,
  };
}
