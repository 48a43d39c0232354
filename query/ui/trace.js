// The trace page: summary header, the span timeline (a collapsible tree whose rows are virtualized,
// so a trace of many thousands of spans renders only the rows in view) and the span details pane.

import { fetchTrace } from './api.js';
import { buildTree } from './model.js';
import { replaceParams, traceHref } from './nav.js';
import { renderSpanDetail } from './span-detail.js';
import { formatDuration, formatTimestamp, h, notice, serviceColor, shortId } from './util.js';

const ROW_HEIGHT = 26;
const OVERSCAN_ROWS = 15;
const INDENT_PX = 14;
/** Deeper levels stop indenting, so a long chain does not push names out of the column. */
const MAX_INDENT_LEVELS = 24;
const NAME_WIDTH_KEY = 'spoor.nameColumnWidth';

/** Renders `trace/<id>` into `root`; returns a cleanup function. */
export function renderTrace(root, traceId, params) {
  const controller = new AbortController();
  let view = null;
  root.replaceChildren(notice('loading', `Loading trace ${traceId}…`));
  const requested = performance.now();
  fetchTrace(traceId, controller.signal)
    .then((trace) => {
      const fetched = performance.now();
      view = new TraceView(root, trace, params.get('span'));
      const rendered = performance.now();
      // what the browser test reads: fetch+parse, tree+DOM (layout forced), and until the next paint
      const timing = {
        traceId, spans: trace.spans.length, fetchMs: fetched - requested, renderMs: rendered - fetched,
      };
      window.spoorTraceTiming = timing;
      requestAnimationFrame(() => setTimeout(() => {
        timing.paintMs = performance.now() - fetched;
        root.querySelector('.trace-page')?.setAttribute('data-render-ms', timing.paintMs.toFixed(1));
      }, 0));
    })
    .catch((error) => {
      if (error.name === 'AbortError') return;
      const title = error.status === 404 ? `Trace ${traceId} not found` : `Cannot load trace ${traceId}`;
      const detail = error.status === 404 ? 'It may be older than the retention period, or not written yet.' : error.message;
      root.replaceChildren(h('div', { class: 'page-message' }, notice('error', title, detail),
        h('a', { class: 'btn', href: 'search', text: 'Back to search' })));
    });
  return () => {
    controller.abort();
    view?.destroy();
  };
}

class TraceView {
  constructor(root, trace, selectedSpanId) {
    this.trace = trace;
    this.tree = buildTree(trace);
    const n = this.tree.spans.length;
    this.collapsed = new Uint8Array(n);
    this.visible = new Int32Array(n);
    this.visibleCount = 0;
    this.selected = -1;
    this.matches = null;
    this.matchCursor = -1;
    this.windowKey = '';
    this.frame = 0;

    this.canvas = h('div', { class: 'tl-canvas', role: 'tree', 'aria-label': 'Spans' });
    this.scroller = h('div', { class: 'tl-scroll', tabindex: 0 }, this.canvas);
    this.detail = h('aside', { class: 'span-detail', id: 'span-detail', hidden: true });
    this.findCount = h('span', { class: 'find-count' });
    this.page = h('div', { class: 'trace-page' },
      this.header(),
      h('div', { class: 'trace-body' },
        h('div', { class: 'timeline', id: 'timeline' }, this.timelineHeader(), this.scroller),
        this.detail));
    const nameWidth = localStorage.getItem(NAME_WIDTH_KEY);
    if (nameWidth && /^\d+(\.\d+)?%$/.test(nameWidth)) this.page.querySelector('.timeline').style.setProperty('--name-width', nameWidth);
    root.replaceChildren(this.page);

    this.canvas.addEventListener('click', (event) => this.onClick(event));
    this.scroller.addEventListener('scroll', () => this.scheduleWindow());
    this.scroller.addEventListener('keydown', (event) => this.onKey(event));
    this.resizeObserver = new ResizeObserver(() => this.scheduleWindow());
    this.resizeObserver.observe(this.scroller);

    this.recompute();
    const preselected = selectedSpanId ? this.indexOfSpan(selectedSpanId) : -1;
    if (preselected >= 0) this.select(preselected, { reveal: true });
    this.renderWindow();
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }

  indexOfSpan(spanId) {
    return this.tree.spans.findIndex((span) => span.spanID === spanId);
  }

  header() {
    const { tree, trace } = this;
    const root = tree.roots.length ? tree.spans[tree.roots[0]] : null;
    const services = new Set(tree.services);
    const duration = tree.end - tree.start;
    const stat = (label, value, cls = null) =>
      h('div', { class: `stat${cls ? ` ${cls}` : ''}` }, h('dt', { text: label }), h('dd', { text: value }));
    const find = h('input', {
      type: 'search', class: 'find-input', id: 'trace-find', placeholder: 'Find spans…', autocomplete: 'off',
      spellcheck: 'false', 'aria-label': 'Find spans by service, operation, span id or tag',
    });
    find.addEventListener('input', () => this.find(find.value));
    find.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.nextMatch(event.shiftKey ? -1 : 1);
    });
    const button = (label, id, onclick) => h('button', { type: 'button', class: 'btn btn-small', id, text: label, onclick });
    const warnings = trace.warnings || [];
    return h('div', { class: 'trace-header' },
      h('div', { class: 'trace-title-row' },
        h('h1', { class: 'trace-title' },
          root ? h('span', { class: 'swatch', style: { background: serviceColor(tree.services[tree.roots[0]]) } }) : null,
          h('span', { class: 'trace-root', text: root ? `${tree.services[tree.roots[0]]}: ${root.operationName}` : 'Empty trace' }),
          h('span', { class: 'trace-id', title: trace.traceID, text: shortId(trace.traceID) })),
        h('div', { class: 'trace-actions' },
          find, this.findCount,
          button('Expand all', 'expand-all', () => this.setAllCollapsed(false)),
          button('Collapse all', 'collapse-all', () => this.setAllCollapsed(true)),
          h('a', {
            class: 'btn btn-small', href: `api/traces/${encodeURIComponent(trace.traceID)}?prettyPrint=true`,
            target: '_blank', rel: 'noopener', text: 'JSON',
          }))),
      h('dl', { class: 'trace-stats' },
        stat('Trace Start', tree.spans.length ? formatTimestamp(tree.start) : '–'),
        stat('Duration', formatDuration(duration)),
        stat('Services', String(services.size)),
        stat('Depth', String(tree.spans.length ? tree.maxDepth + 1 : 0)),
        stat('Total Spans', String(tree.spans.length)),
        stat('Errors', String(tree.errorCount), tree.errorCount ? 'stat-error' : null),
        tree.orphans ? stat('Missing Parents', String(tree.orphans), 'stat-warn') : null),
      warnings.length
        ? h('ul', { class: 'trace-warnings', role: 'alert' }, warnings.map((w) => h('li', { text: w })))
        : null);
  }

  timelineHeader() {
    const duration = this.tree.end - this.tree.start;
    const ticks = h('div', { class: 'tl-ticks' });
    for (let k = 0; k <= 4; k++) {
      ticks.append(h('span', { class: 'tl-tick', style: { left: `${k * 25}%` }, text: formatDuration((duration * k) / 4) }));
    }
    const divider = h('div', { class: 'tl-divider', title: 'Drag to resize', 'aria-hidden': 'true' });
    divider.addEventListener('pointerdown', (event) => this.startResize(event, divider));
    return h('div', { class: 'tl-header' },
      h('div', { class: 'tl-name tl-header-name' }, 'Service & Operation', divider),
      h('div', { class: 'tl-track tl-header-track' }, ticks));
  }

  /** Drags the border between the name column and the bars (10% to 70% of the timeline). */
  startResize(event, divider) {
    event.preventDefault();
    const timeline = this.page.querySelector('.timeline');
    const bounds = timeline.getBoundingClientRect();
    divider.setPointerCapture(event.pointerId);
    const move = (moved) => {
      const share = Math.min(70, Math.max(10, ((moved.clientX - bounds.left) / bounds.width) * 100));
      timeline.style.setProperty('--name-width', `${share.toFixed(1)}%`);
    };
    const stop = () => {
      divider.removeEventListener('pointermove', move);
      divider.removeEventListener('pointerup', stop);
      localStorage.setItem(NAME_WIDTH_KEY, timeline.style.getPropertyValue('--name-width'));
    };
    divider.addEventListener('pointermove', move);
    divider.addEventListener('pointerup', stop);
  }

  /** Rebuilds the list of visible rows: the depth-first order, skipping collapsed subtrees. */
  recompute() {
    const { order, descendants } = this.tree;
    let count = 0;
    for (let k = 0; k < order.length;) {
      const i = order[k];
      this.visible[count++] = i;
      k += this.collapsed[i] ? descendants[i] + 1 : 1;
    }
    this.visibleCount = count;
    this.canvas.style.height = `${count * ROW_HEIGHT}px`;
    this.windowKey = '';
  }

  scheduleWindow() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderWindow();
    });
  }

  /** Puts the rows in (and near) the viewport into the DOM, in one DocumentFragment. */
  renderWindow() {
    const viewport = this.scroller.clientHeight || window.innerHeight;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT) - OVERSCAN_ROWS);
    const last = Math.min(this.visibleCount, Math.ceil((this.scroller.scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN_ROWS);
    const key = `${first}:${last}`;
    if (key === this.windowKey) return;
    this.windowKey = key;
    const fragment = document.createDocumentFragment();
    for (let r = first; r < last; r++) fragment.append(this.row(r));
    this.canvas.replaceChildren(fragment);
  }

  row(r) {
    const { tree } = this;
    const i = this.visible[r];
    const span = tree.spans[i];
    const service = tree.services[i];
    const color = serviceColor(service);
    const total = Math.max(tree.end - tree.start, 1);
    const left = ((span.startTime - tree.start) / total) * 100;
    const width = (span.duration / total) * 100;
    const hasChildren = tree.children[i].length > 0;
    const collapsed = this.collapsed[i] === 1;
    const classes = ['tl-row'];
    if (tree.error[i]) classes.push('is-error');
    if (i === this.selected) classes.push('is-selected');
    if (this.matches && this.matches.has(i)) classes.push('is-match');

    const name = h('div', { class: 'tl-name', style: { paddingLeft: `${6 + Math.min(tree.depth[i], MAX_INDENT_LEVELS) * INDENT_PX}px` } },
      hasChildren
        ? h('button', {
          type: 'button', class: 'tl-toggle', 'aria-expanded': String(!collapsed),
          'aria-label': collapsed ? 'Expand' : 'Collapse', text: collapsed ? '▸' : '▾',
        })
        : h('span', { class: 'tl-toggle tl-leaf' }),
      h('span', { class: 'swatch', style: { background: color } }),
      tree.error[i] ? h('span', { class: 'tl-err', title: 'error', text: '!' }) : null,
      h('span', { class: 'tl-svc', text: service }),
      h('span', { class: 'tl-op', text: span.operationName }),
      collapsed ? h('span', { class: 'tl-hidden', title: 'hidden descendants', text: `+${tree.descendants[i]}` }) : null);
    name.title = `${service}: ${span.operationName}${tree.depth[i] > MAX_INDENT_LEVELS ? ` (depth ${tree.depth[i]})` : ''}`;

    const track = h('div', { class: 'tl-track' },
      h('div', { class: 'tl-bar', style: { left: `${left}%`, width: `max(${width}%, 2px)`, background: color } }));
    const logs = span.logs || [];
    for (let k = 0; k < logs.length && k < 20; k++) {
      const at = ((logs[k].timestamp - tree.start) / total) * 100;
      track.append(h('div', { class: 'tl-log', style: { left: `${at}%` } }));
    }
    // right of the bar: the track keeps a margin on its right for the label of a bar that ends there
    const label = h('span', { class: 'tl-dur', style: { left: `${left + width}%` }, text: formatDuration(span.duration) });
    track.append(label);

    const row = h('div', {
      class: classes.join(' '), role: 'treeitem', 'aria-level': tree.depth[i] + 1,
      'aria-selected': String(i === this.selected), 'aria-expanded': hasChildren ? String(!collapsed) : null,
      dataset: { index: i, spanId: span.spanID },
      style: { top: `${r * ROW_HEIGHT}px` },
    }, name, track);
    return row;
  }

  onClick(event) {
    const row = event.target.closest('.tl-row');
    if (!row) return;
    const i = Number(row.dataset.index);
    if (event.target.closest('.tl-toggle:not(.tl-leaf)')) {
      this.toggle(i);
      return;
    }
    this.select(i === this.selected ? -1 : i);
    this.scroller.focus({ preventScroll: true });
  }

  onKey(event) {
    if (event.target !== this.scroller || !this.visibleCount) return;
    const r = this.rowOf(this.selected);
    const move = (to) => {
      event.preventDefault();
      this.select(this.visible[Math.max(0, Math.min(this.visibleCount - 1, to))], { reveal: true });
    };
    switch (event.key) {
      case 'ArrowDown': return move(r < 0 ? 0 : r + 1);
      case 'ArrowUp': return move(r < 0 ? 0 : r - 1);
      case 'ArrowRight':
        if (this.selected >= 0 && this.collapsed[this.selected]) this.toggle(this.selected);
        return event.preventDefault();
      case 'ArrowLeft':
        if (this.selected < 0) return undefined;
        event.preventDefault();
        if (this.tree.children[this.selected].length && !this.collapsed[this.selected]) return this.toggle(this.selected);
        if (this.tree.parent[this.selected] >= 0) return this.select(this.tree.parent[this.selected], { reveal: true });
        return undefined;
      case 'Escape': return this.select(-1);
      default: return undefined;
    }
  }

  rowOf(i) {
    if (i < 0) return -1;
    for (let r = 0; r < this.visibleCount; r++) if (this.visible[r] === i) return r;
    return -1;
  }

  toggle(i) {
    this.collapsed[i] ^= 1;
    this.recompute();
    this.renderWindow();
  }

  setAllCollapsed(collapse) {
    const { children } = this.tree;
    for (let i = 0; i < children.length; i++) this.collapsed[i] = collapse && children[i].length > 0 ? 1 : 0;
    if (collapse && this.selected >= 0) this.select(this.tree.roots.includes(this.selected) ? this.selected : -1);
    this.recompute();
    this.scroller.scrollTop = 0;
    this.renderWindow();
  }

  /** Opens the ancestors of span `i` and scrolls its row into view. */
  reveal(i) {
    let changed = false;
    for (let p = this.tree.parent[i]; p >= 0; p = this.tree.parent[p]) {
      if (this.collapsed[p]) {
        this.collapsed[p] = 0;
        changed = true;
      }
    }
    if (changed) this.recompute();
    const r = this.rowOf(i);
    const viewport = this.scroller.clientHeight;
    const top = r * ROW_HEIGHT;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + viewport) this.scroller.scrollTop = top + ROW_HEIGHT - viewport;
  }

  select(i, { reveal = false } = {}) {
    this.selected = i;
    if (i >= 0 && reveal) this.reveal(i);
    const params = new URLSearchParams(location.search);
    if (i >= 0) params.set('span', this.tree.spans[i].spanID);
    else params.delete('span');
    replaceParams(params);
    this.windowKey = '';
    this.renderWindow();
    if (i < 0) {
      this.detail.hidden = true;
      this.detail.replaceChildren();
      return;
    }
    this.detail.hidden = false;
    renderSpanDetail(this.detail, this.tree, i, {
      onClose: () => this.select(-1),
      onSelectSpan: (spanId) => {
        const index = this.indexOfSpan(spanId);
        if (index >= 0) this.select(index, { reveal: true });
      },
      traceHref,
    });
  }

  /** Highlights spans whose service, operation, span id or a `key=value` tag contains `text`. */
  find(text) {
    const needle = text.trim().toLowerCase();
    this.matchCursor = -1;
    if (!needle) {
      this.matches = null;
      this.findCount.textContent = '';
    } else {
      const { spans, services } = this.tree;
      this.matches = new Set();
      for (let i = 0; i < spans.length; i++) {
        const span = spans[i];
        const hit = services[i].toLowerCase().includes(needle)
          || span.operationName.toLowerCase().includes(needle)
          || span.spanID.includes(needle)
          || (span.tags || []).some((tag) => `${tag.key}=${tag.value}`.toLowerCase().includes(needle));
        if (hit) this.matches.add(i);
      }
      this.findCount.textContent = `${this.matches.size} match${this.matches.size === 1 ? '' : 'es'}`;
    }
    this.windowKey = '';
    this.renderWindow();
  }

  nextMatch(step) {
    if (!this.matches || !this.matches.size) return;
    const ordered = this.tree.order.filter((i) => this.matches.has(i));
    this.matchCursor = (this.matchCursor + step + ordered.length) % ordered.length;
    this.select(ordered[this.matchCursor], { reveal: true });
  }
}
