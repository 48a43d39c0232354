// The span details pane: timing, tags, process, logs (timestamps relative to the trace start),
// references and warnings of one span.

import { formatDuration, formatTimestamp, h, keyValueTable, serviceColor } from './util.js';

function section(title, count, body, { open = true, cls = '' } = {}) {
  return h('details', { class: `sd-section ${cls}`, open },
    h('summary', null, h('span', { text: title }), h('span', { class: 'sd-count', text: String(count) })),
    body);
}

const relative = (micros) => `+${formatDuration(micros)}`;

/**
 * Fills `el` with the details of span `i` of `tree`. `actions`: `onClose()`, `onSelectSpan(spanId)`
 * (a reference to a span of this trace), `traceHref(traceId, spanId)` (one of another trace).
 */
export function renderSpanDetail(el, tree, i, actions) {
  const span = tree.spans[i];
  const service = tree.services[i];
  const process = tree.processes?.[span.processID];
  const kind = (span.tags || []).find((tag) => tag.key === 'span.kind')?.value;
  const parent = tree.parent[i];

  const meta = h('dl', { class: 'sd-meta' },
    h('dt', { text: 'Service' }), h('dd', null, h('span', { class: 'swatch', style: { background: serviceColor(service) } }), service),
    h('dt', { text: 'Duration' }), h('dd', { text: formatDuration(span.duration) }),
    h('dt', { text: 'Start' }), h('dd', { text: `${relative(span.startTime - tree.start)}  (${formatTimestamp(span.startTime)})` }),
    kind ? [h('dt', { text: 'Kind' }), h('dd', { text: String(kind) })] : null,
    h('dt', { text: 'Span ID' }), h('dd', { class: 'mono', text: span.spanID }),
    parent >= 0
      ? [h('dt', { text: 'Parent' }), h('dd', null, spanLink(tree.spans[parent], tree.services[parent], actions))]
      : null,
    tree.children[i].length ? [h('dt', { text: 'Children' }), h('dd', { text: String(tree.children[i].length) })] : null);

  const sections = [];
  const warnings = span.warnings || [];
  if (warnings.length) {
    sections.push(section('Warnings', warnings.length, h('ul', { class: 'sd-warnings' }, warnings.map((w) => h('li', { text: w }))),
      { cls: 'sd-warn' }));
  }
  const tags = span.tags || [];
  sections.push(section('Tags', tags.length, tags.length ? keyValueTable(tags) : h('p', { class: 'muted', text: 'No tags' })));
  const processTags = process?.tags || [];
  sections.push(section('Process', processTags.length,
    keyValueTable([{ key: 'service.name', type: 'string', value: process?.serviceName ?? service }, ...processTags]),
    { open: false }));
  const logs = span.logs || [];
  if (logs.length) {
    const list = h('ol', { class: 'sd-logs' });
    for (const log of [...logs].sort((a, b) => a.timestamp - b.timestamp)) {
      list.append(h('li', { class: 'sd-log' },
        h('div', { class: 'sd-log-time', title: formatTimestamp(log.timestamp), text: relative(log.timestamp - tree.start) }),
        keyValueTable(log.fields || [])));
    }
    sections.push(section('Logs', logs.length, list));
  }
  const references = span.references || [];
  if (references.length) {
    const body = h('tbody');
    for (const ref of references) {
      const index = tree.spans.findIndex((candidate) => candidate.spanID === ref.spanID);
      const sameTrace = ref.traceID === span.traceID;
      let target;
      if (index >= 0) target = spanLink(tree.spans[index], tree.services[index], actions);
      else if (!sameTrace) target = h('a', { href: actions.traceHref(ref.traceID, ref.spanID), class: 'mono', text: `${ref.traceID} / ${ref.spanID}` });
      else target = h('span', null, h('span', { class: 'mono', text: ref.spanID }), h('span', { class: 'muted', text: ' (not in this trace)' }));
      body.append(h('tr', null, h('th', { scope: 'row', text: ref.refType }), h('td', null, target)));
    }
    sections.push(section('References', references.length, h('table', { class: 'kv' }, body), { open: false }));
  }

  const head = h('div', { class: 'sd-head' },
    h('h2', { class: 'sd-title', title: span.operationName, text: span.operationName }),
    h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': 'Close span details', title: 'Close', text: '×', onclick: actions.onClose }));
  const banner = tree.error[i] ? h('div', { class: 'sd-error-banner', text: 'This span recorded an error' }) : null;
  el.replaceChildren(...[head, banner, meta, ...sections].filter(Boolean));
}

function spanLink(span, service, actions) {
  return h('button', {
    type: 'button', class: 'link-button', title: span.spanID,
    onclick: () => actions.onSelectSpan(span.spanID), text: `${service}: ${span.operationName}`,
  });
}
