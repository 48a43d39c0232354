// Small helpers shared by the pages: DOM construction, formatting, service colours.
// Everything that shows data goes through textContent or attributes, never innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function appendAll(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) appendAll(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h('a', {href: 'x', class: 'y'}, 'text', otherNode). */
export function h(tag, props = null, ...children) {
  const el = document.createElement(tag);
  if (props) applyProps(el, props);
  appendAll(el, children);
  return el;
}

/** An SVG element, same shape as h(). */
export function s(tag, props = null, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (props) applyProps(el, props);
  appendAll(el, children);
  return el;
}

/** Rounds to at most `digits` decimals and drops trailing zeros. */
function trim(value, digits) {
  return String(Number(value.toFixed(digits)));
}

/** A duration in microseconds as Jaeger shows it: 850μs, 12.35ms, 1.2s, 2m 5s, 1h 3m. */
export function formatDuration(micros) {
  if (!Number.isFinite(micros)) return '–';
  const abs = Math.abs(micros);
  if (abs < 1_000) return `${trim(micros, 0)}μs`;
  if (abs < 1_000_000) return `${trim(micros / 1_000, 2)}ms`;
  if (abs < 60_000_000) return `${trim(micros / 1_000_000, 2)}s`;
  const totalSeconds = Math.round(micros / 1_000_000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
  return seconds ? `${minutes}m ${seconds}s` : `${minutes}m`;
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** Microseconds since the epoch as local `YYYY-MM-DD HH:MM:SS.mmm`. */
export function formatTimestamp(micros) {
  const d = new Date(micros / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` + formatClock(micros, true);
}

/** Microseconds since the epoch as local `HH:MM:SS` (with `.mmm` when asked). */
export function formatClock(micros, withMillis = false) {
  const d = new Date(micros / 1000);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${clock}.${pad(d.getMilliseconds(), 3)}` : clock;
}

/** "just now", "5 minutes ago", "3 days ago". */
export function formatAgo(micros, nowMillis = Date.now()) {
  const seconds = Math.round((nowMillis - micros / 1000) / 1000);
  if (seconds < 0) return 'in the future';
  if (seconds < 45) return 'just now';
  const units = [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  for (const [name, size] of units) {
    if (seconds >= size * 0.75 || name === 'minute') {
      const n = Math.max(1, Math.round(seconds / size));
      return `${n} ${name}${n === 1 ? '' : 's'} ago`;
    }
  }
  return '';
}

// 20 mid-tone colours, distinguishable as bars on white; reds are left to errors.
const PALETTE = [
  '#17b8be', '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#d4a72c', '#9c755f', '#829ae3', '#e79fd5',
  '#1e96be', '#4dc19c', '#ef8d5e', '#6f63c9', '#8cb369', '#da70bf', '#125c77', '#c98b2c', '#5b8f8f', '#a05195',
];
const serviceColors = new Map();
const usedColors = new Set();

/**
 * A colour per service name: the palette slot of a hash of the name, or the next slot not taken
 * yet in this page's life, so the first 20 services seen get distinct colours.
 */
export function serviceColor(name) {
  let color = serviceColors.get(name);
  if (color) return color;
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  const slot = (hash >>> 0) % PALETTE.length;
  color = PALETTE[slot];
  for (let k = 0; k < PALETTE.length && usedColors.size < PALETTE.length; k++) {
    const candidate = PALETTE[(slot + k) % PALETTE.length];
    if (!usedColors.has(candidate)) {
      color = candidate;
      break;
    }
  }
  usedColors.add(color);
  serviceColors.set(name, color);
  return color;
}

/** The value of a tag (or log field) as text. */
export function valueText(keyValue) {
  const value = keyValue.value;
  if (value == null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** True for Jaeger's `error=true` tag and OpenTelemetry's `otel.status_code=ERROR`. */
export function isErrorSpan(span) {
  for (const tag of span.tags || []) {
    if (tag.key === 'error' && (tag.value === true || tag.value === 'true')) return true;
    if (tag.key === 'otel.status_code' && tag.value === 'ERROR') return true;
  }
  return false;
}

/** Shortens a trace id to 7 characters, as Jaeger UI does. */
export function shortId(id) {
  return (id || '').replace(/^0+(?=.{16})/, '').slice(0, 7);
}

/** A "loading", "empty" or "error" message block. */
export function notice(kind, title, detail = null) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'notice-title', text: title }),
    detail ? h('div', { class: 'notice-detail', text: detail }) : null);
}

/** A key/value table for tags and log fields. */
export function keyValueTable(keyValues) {
  const body = h('tbody');
  for (const kv of keyValues) {
    const typeClass = kv.type && kv.type !== 'string' ? ` kv-${kv.type}` : '';
    body.append(h('tr', null,
      h('th', { scope: 'row', text: kv.key }),
      h('td', { class: `kv-value${typeClass}`, title: kv.type === 'binary' ? 'binary, base64' : null, text: valueText(kv) })));
  }
  return h('table', { class: 'kv' }, body);
}
