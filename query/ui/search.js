// The search page: the form (service, operation, tags, time range, durations, limit), the duration
// scatter plot and the result list. The form's state lives in the URL (`search?service=…`), so a
// search can be shared, reloaded and reached with Back.

import { fetchOperations, fetchServices, searchTraces } from './api.js';
import { summarize } from './model.js';
import { navigate, traceHref } from './nav.js';
import { scatterPlot } from './scatter.js';
import {
  formatAgo, formatDuration, formatTimestamp, h, notice, serviceColor, shortId,
} from './util.js';

const LOOKBACKS = [
  ['5m', 'Last 5 minutes', 5 * 60],
  ['15m', 'Last 15 minutes', 15 * 60],
  ['1h', 'Last hour', 3600],
  ['2h', 'Last 2 hours', 2 * 3600],
  ['6h', 'Last 6 hours', 6 * 3600],
  ['12h', 'Last 12 hours', 12 * 3600],
  ['24h', 'Last 24 hours', 24 * 3600],
  ['2d', 'Last 2 days', 48 * 3600],
  ['7d', 'Last 7 days', 7 * 24 * 3600],
  ['custom', 'Custom time range', 0],
];
const DEFAULT_LOOKBACK = '1h';
const DEFAULT_LIMIT = 20;
const SORTS = {
  recent: ['Most recent', (a, b) => b.startTime - a.startTime],
  longest: ['Longest first', (a, b) => b.duration - a.duration],
  shortest: ['Shortest first', (a, b) => a.duration - b.duration],
  spans: ['Most spans', (a, b) => b.spanCount - a.spanCount],
  errors: ['Most errors', (a, b) => b.errorCount - a.errorCount || b.startTime - a.startTime],
};
const LAST_SERVICE_KEY = 'spoor.lastService';
const GO_DURATION = /^\d+(\.\d+)?(ns|us|µs|μs|ms|s|m|h)$/;

/**
 * Parses logfmt-like tags: `error=true http.status_code=500 note="a b"` into `{key: value}`.
 * Throws an Error naming the first malformed pair.
 */
export function parseTags(text) {
  const tags = {};
  const pattern = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
  let rest = text.trim();
  while (rest.length) {
    pattern.lastIndex = 0;
    const match = pattern.exec(rest);
    if (!match) throw new Error(`tags: expected key=value at "${rest.split(/\s/)[0]}"`);
    tags[match[1]] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3];
    rest = rest.slice(pattern.lastIndex).trim();
  }
  return tags;
}

/** `datetime-local` value <-> µs since the epoch. */
const toLocalInput = (micros) => {
  const d = new Date(micros / 1000 - new Date(micros / 1000).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
};
const fromLocalInput = (value) => (value ? new Date(value).getTime() * 1000 : NaN);

function field(label, control, hint = null) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label', text: label }), control,
    hint ? h('span', { class: 'field-hint', text: hint }) : null);
}

function select(name, options, value) {
  const el = h('select', { name, id: `search-${name}` });
  for (const [optionValue, label] of options) {
    el.append(h('option', { value: optionValue, selected: optionValue === value, text: label }));
  }
  return el;
}

/** Renders the search page into `root`; returns a cleanup function. */
export function renderSearch(root, params) {
  const controller = new AbortController();
  const { signal } = controller;
  const state = {
    service: params.get('service') || localStorage.getItem(LAST_SERVICE_KEY) || '',
    operation: params.get('operation') || '',
    tags: params.get('tags') || '',
    lookback: params.get('lookback') || DEFAULT_LOOKBACK,
    start: Number(params.get('start')) || 0,
    end: Number(params.get('end')) || 0,
    minDuration: params.get('minDuration') || '',
    maxDuration: params.get('maxDuration') || '',
    limit: Number(params.get('limit')) || DEFAULT_LIMIT,
    sort: params.get('sort') in SORTS ? params.get('sort') : 'recent',
  };

  const serviceSelect = h('select', { name: 'service', id: 'search-service', required: true },
    h('option', { value: '', text: 'Loading services…' }));
  const operationSelect = h('select', { name: 'operation', id: 'search-operation' },
    h('option', { value: '', text: 'all' }));
  const tagsInput = h('input', {
    name: 'tags', id: 'search-tags', type: 'text', value: state.tags, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'http.status_code=500 error=true',
  });
  const lookbackSelect = select('lookback', LOOKBACKS.map(([v, l]) => [v, l]), state.lookback);
  const now = Date.now() * 1000;
  const startInput = h('input', {
    type: 'datetime-local', name: 'start', id: 'search-start', value: toLocalInput(state.start || now - 3600e6),
  });
  const endInput = h('input', { type: 'datetime-local', name: 'end', id: 'search-end', value: toLocalInput(state.end || now) });
  const customRange = h('div', { class: 'field-row custom-range', hidden: state.lookback !== 'custom' },
    field('Start', startInput), field('End', endInput));
  const minInput = h('input', {
    name: 'minDuration', id: 'search-min-duration', type: 'text', value: state.minDuration, placeholder: 'e.g. 100ms',
    autocomplete: 'off',
  });
  const maxInput = h('input', {
    name: 'maxDuration', id: 'search-max-duration', type: 'text', value: state.maxDuration, placeholder: 'e.g. 1.2s',
    autocomplete: 'off',
  });
  const limitInput = h('input', {
    name: 'limit', id: 'search-limit', type: 'number', min: 1, max: 1500, value: state.limit,
  });
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'search-submit', text: 'Find Traces' });

  const form = h('form', { class: 'search-form', id: 'search-form', novalidate: true },
    h('h2', { class: 'panel-title', text: 'Search' }),
    field('Service', serviceSelect),
    field('Operation', operationSelect),
    field('Tags', tagsInput, 'logfmt: key=value pairs, values with spaces in "quotes"'),
    field('Lookback', lookbackSelect),
    customRange,
    h('div', { class: 'field-row' }, field('Min Duration', minInput), field('Max Duration', maxInput)),
    field('Limit Results', limitInput),
    formError,
    submit);

  const plot = h('div', { class: 'scatter-wrap', id: 'scatter' });
  const resultsHeader = h('div', { class: 'results-header' });
  const resultsBody = h('div', { class: 'results-body', id: 'results' });
  const results = h('section', { class: 'results' }, plot, resultsHeader, resultsBody);
  root.replaceChildren(h('div', { class: 'search-page' }, h('aside', { class: 'panel search-panel' }, form), results));

  let summaries = [];
  let resizeObserver = null;

  function showError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }

  async function loadOperations(service, selected) {
    operationSelect.replaceChildren(h('option', { value: '', text: 'all' }));
    if (!service) return;
    try {
      for (const name of await fetchOperations(service, signal)) {
        operationSelect.append(h('option', { value: name, selected: name === selected, text: name }));
      }
    } catch (error) {
      if (error.name !== 'AbortError') showError(`Cannot load operations: ${error.message}`);
    }
  }

  async function loadServices() {
    let services;
    try {
      services = await fetchServices(signal);
    } catch (error) {
      if (error.name === 'AbortError') return;
      serviceSelect.replaceChildren(h('option', { value: '', text: 'unavailable' }));
      showError(`Cannot load services: ${error.message}`);
      return;
    }
    services.sort((a, b) => a.localeCompare(b));
    serviceSelect.replaceChildren(h('option', { value: '', text: services.length ? 'Select a service' : 'No services yet' }));
    for (const name of services) serviceSelect.append(h('option', { value: name, text: name }));
    if (state.service && !services.includes(state.service) && params.get('service')) {
      serviceSelect.append(h('option', { value: state.service, text: `${state.service} (not found)` }));
    }
    serviceSelect.value = services.includes(state.service) || params.get('service') ? state.service : '';
    if (!serviceSelect.value && services.length === 1) serviceSelect.value = services[0];
    await loadOperations(serviceSelect.value, state.operation);
    if (!services.length && !params.get('service')) {
      resultsBody.replaceChildren(notice('empty', 'No services have reported traces yet',
        'Send spans to the collector (OTLP on 4317/4318, Jaeger, Zipkin), then reload this page.'));
    }
  }

  serviceSelect.addEventListener('change', () => {
    state.operation = '';
    loadOperations(serviceSelect.value, '');
  });
  lookbackSelect.addEventListener('change', () => {
    customRange.hidden = lookbackSelect.value !== 'custom';
  });

  /** Reads the form into URL parameters; returns null (after showing why) when invalid. */
  function formParams() {
    const out = new URLSearchParams();
    const service = serviceSelect.value;
    if (!service) return showError('Select a service.'), null;
    out.set('service', service);
    if (operationSelect.value) out.set('operation', operationSelect.value);
    const tags = tagsInput.value.trim();
    if (tags) {
      try {
        parseTags(tags);
      } catch (error) {
        return showError(error.message), null;
      }
      out.set('tags', tags);
    }
    out.set('lookback', lookbackSelect.value);
    if (lookbackSelect.value === 'custom') {
      const start = fromLocalInput(startInput.value);
      const end = fromLocalInput(endInput.value);
      if (!Number.isFinite(start) || !Number.isFinite(end)) return showError('Enter a start and an end time.'), null;
      if (end <= start) return showError('The end time must be after the start time.'), null;
      out.set('start', String(start));
      out.set('end', String(end));
    }
    for (const [input, name] of [[minInput, 'minDuration'], [maxInput, 'maxDuration']]) {
      const value = input.value.trim();
      if (!value) continue;
      if (!GO_DURATION.test(value)) return showError(`${name}: use a number with a unit, e.g. 150ms, 1.2s, 500us.`), null;
      out.set(name, value);
    }
    const limit = Math.trunc(Number(limitInput.value));
    if (!(limit >= 1 && limit <= 1500)) return showError('Limit: a number from 1 to 1500.'), null;
    out.set('limit', String(limit));
    if (state.sort !== 'recent') out.set('sort', state.sort);
    showError('');
    return out;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const out = formParams();
    if (!out) return;
    localStorage.setItem(LAST_SERVICE_KEY, out.get('service'));
    navigate(`search?${out}`);
  });

  /** The /api/traces parameters (µs times, tags as JSON) of a search URL. */
  function apiParams(urlParams) {
    const lookback = LOOKBACKS.find(([value]) => value === urlParams.get('lookback'));
    let end = Date.now() * 1000;
    let start = end - (lookback && lookback[2] ? lookback[2] : 3600) * 1e6;
    if (urlParams.get('lookback') === 'custom') {
      start = Number(urlParams.get('start')) || start;
      end = Number(urlParams.get('end')) || end;
    }
    const tags = urlParams.get('tags');
    return {
      service: urlParams.get('service'),
      operation: urlParams.get('operation'),
      tags: tags ? JSON.stringify(parseTags(tags)) : null,
      start: Math.floor(start),
      end: Math.ceil(end),
      lookback: urlParams.get('lookback'),
      minDuration: urlParams.get('minDuration'),
      maxDuration: urlParams.get('maxDuration'),
      limit: urlParams.get('limit') || DEFAULT_LIMIT,
    };
  }

  function renderResults() {
    const sorted = [...summaries].sort(SORTS[state.sort][1]);
    const sortSelect = select('sort', Object.entries(SORTS).map(([k, [label]]) => [k, label]), state.sort);
    sortSelect.addEventListener('change', () => {
      state.sort = sortSelect.value;
      const url = new URL(location.href);
      if (state.sort === 'recent') url.searchParams.delete('sort');
      else url.searchParams.set('sort', state.sort);
      history.replaceState(null, '', url);
      renderResults();
    });
    resultsHeader.replaceChildren(
      h('h2', { class: 'results-count', text: `${summaries.length} Trace${summaries.length === 1 ? '' : 's'}` }),
      h('label', { class: 'sort' }, h('span', { text: 'Sort:' }), sortSelect));
    if (!summaries.length) {
      resultsBody.replaceChildren(notice('empty', 'No traces found',
        'Try a longer lookback, fewer tags or another operation.'));
      return;
    }
    const maxDuration = Math.max(...summaries.map((summary) => summary.duration), 1);
    const list = h('ol', { class: 'result-list' });
    const nowMillis = Date.now();
    for (const summary of sorted) list.append(resultRow(summary, maxDuration, nowMillis));
    resultsBody.replaceChildren(list);
  }

  function renderPlot() {
    if (!summaries.length) {
      plot.replaceChildren();
      plot.hidden = true;
      return;
    }
    plot.hidden = false;
    plot.replaceChildren(scatterPlot(summaries, plot.clientWidth || 800, (traceId) => navigate(traceHref(traceId))));
  }

  async function runSearch() {
    if (!params.get('service')) {
      plot.hidden = true;
      return;
    }
    plot.hidden = true;
    resultsHeader.replaceChildren();
    resultsBody.replaceChildren(notice('loading', 'Searching…'));
    submit.disabled = true;
    try {
      const { traces, errors } = await searchTraces(apiParams(params), signal);
      summaries = traces.map(summarize);
      renderPlot();
      renderResults();
      if (errors.length) resultsBody.prepend(notice('error', errors.map((e) => e.msg).join('; ')));
      resizeObserver = new ResizeObserver(() => {
        if (plot.firstChild && Math.abs(plot.firstChild.getAttribute('width') - plot.clientWidth) > 2) renderPlot();
      });
      resizeObserver.observe(plot);
    } catch (error) {
      if (error.name === 'AbortError') return;
      resultsBody.replaceChildren(notice('error', 'Search failed', error.message));
    } finally {
      submit.disabled = false;
    }
  }

  loadServices();
  runSearch();
  return () => {
    controller.abort();
    resizeObserver?.disconnect();
  };
}

function resultRow(summary, maxDuration, nowMillis) {
  const href = traceHref(summary.traceID);
  const services = h('ul', { class: 'result-services' });
  for (const service of summary.services) {
    services.append(h('li', { class: 'service-tag', style: { borderLeftColor: serviceColor(service.name) } },
      service.name, h('span', { class: 'count', text: ` ${service.count}` }),
      service.errors
        ? h('span', { class: 'err-count', title: `${service.errors} error span${service.errors === 1 ? '' : 's'}`, text: `${service.errors} err` })
        : null));
  }
  return h('li', { class: 'result', dataset: { traceId: summary.traceID } },
    h('a', { class: 'result-head', href },
      h('span', { class: 'result-bar', style: { width: `${(summary.duration / maxDuration) * 100}%` } }),
      h('span', { class: 'result-title' },
        h('span', { class: 'result-service', text: summary.rootService }), ': ',
        h('span', { class: 'result-op', text: summary.rootOperation }),
        h('span', { class: 'trace-id', title: summary.traceID, text: shortId(summary.traceID) })),
      h('span', { class: 'result-duration', text: formatDuration(summary.duration) })),
    h('div', { class: 'result-body' },
      h('div', { class: 'result-counts' },
        h('span', { class: 'badge', text: `${summary.spanCount} Span${summary.spanCount === 1 ? '' : 's'}` }),
        summary.errorCount
          ? h('span', { class: 'badge badge-error', text: `${summary.errorCount} Error${summary.errorCount === 1 ? '' : 's'}` })
          : null,
        summary.missingRoot ? h('span', { class: 'badge badge-warn', title: 'the root span is not in the trace', text: 'Missing root' }) : null),
      services,
      h('div', { class: 'result-time' },
        h('div', { text: formatTimestamp(summary.startTime).slice(0, 19) }),
        h('div', { class: 'muted', text: formatAgo(summary.startTime, nowMillis) }))));
}
