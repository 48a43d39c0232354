// The dependency graph page: `GET /api/dependencies` (`[{parent, child, callCount}]`) drawn as a
// layered left-to-right SVG graph. A 404 means this server does not compute dependencies.

import { fetchDependencies } from './api.js';
import { navigate } from './nav.js';
import { h, notice, s, serviceColor } from './util.js';

const LOOKBACKS = [
  ['3600000', 'Last hour'],
  ['21600000', 'Last 6 hours'],
  ['86400000', 'Last 24 hours'],
  ['172800000', 'Last 2 days'],
  ['604800000', 'Last 7 days'],
];
const NODE_HEIGHT = 38;
const COLUMN_GAP = 150;
const ROW_GAP = 30;
/** Between rows when self calls loop above their nodes. */
const ROW_GAP_WITH_LOOPS = 56;
const MARGIN = 24;
/** Room for the loops of self calls above the nodes and of back edges below them. */
const LOOP_ROOM = 48;

/** Renders the dependencies page into `root`; returns a cleanup function. */
export function renderDependencies(root, params) {
  const controller = new AbortController();
  const lookback = LOOKBACKS.some(([value]) => value === params.get('lookback')) ? params.get('lookback') : '86400000';
  const lookbackSelect = h('select', { id: 'deps-lookback', 'aria-label': 'Lookback' },
    LOOKBACKS.map(([value, label]) => h('option', { value, selected: value === lookback, text: label })));
  lookbackSelect.addEventListener('change', () => navigate(`dependencies?lookback=${lookbackSelect.value}`, { replace: true }));
  const body = h('div', { class: 'deps-body', id: 'deps' }, notice('loading', 'Loading dependencies…'));
  root.replaceChildren(h('div', { class: 'deps-page' },
    h('div', { class: 'deps-toolbar' }, h('h1', { class: 'page-title', text: 'Service Dependencies' }), lookbackSelect),
    body));

  fetchDependencies(Date.now(), Number(lookback), controller.signal)
    .then((links) => {
      if (!links.length) {
        body.replaceChildren(notice('empty', 'No dependencies found',
          'Calls between services appear here once traces spanning several services are stored.'));
        return;
      }
      body.replaceChildren(dependencyGraph(links));
    })
    .catch((error) => {
      if (error.name === 'AbortError') return;
      if (error.status === 404) {
        body.replaceChildren(notice('empty', 'The dependency graph is not available',
          'This query service does not serve /api/dependencies yet.'));
        return;
      }
      body.replaceChildren(notice('error', 'Cannot load dependencies', error.message));
    });
  return () => controller.abort();
}

/**
 * Layers: the longest path from a source over the graph without its back edges (found by a
 * depth-first search), then a few barycenter sweeps to reduce crossings.
 */
export function layout(links) {
  const names = [...new Set(links.flatMap((link) => [link.parent, link.child]))].sort();
  const index = new Map(names.map((name, i) => [name, i]));
  const out = names.map(() => []);
  const inc = names.map(() => []);
  for (const link of links) {
    if (link.parent === link.child) continue;
    out[index.get(link.parent)].push(index.get(link.child));
    inc[index.get(link.child)].push(index.get(link.parent));
  }
  // back edges: an edge to a node still on the DFS stack
  const state = new Uint8Array(names.length); // 0 new, 1 on stack, 2 done
  const back = new Set();
  for (let start = 0; start < names.length; start++) {
    if (state[start]) continue;
    const stack = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [node, k] = top;
      if (k < out[node].length) {
        top[1]++;
        const next = out[node][k];
        if (state[next] === 1) back.add(`${node}>${next}`);
        else if (state[next] === 0) {
          state[next] = 1;
          stack.push([next, 0]);
        }
      } else {
        state[node] = 2;
        stack.pop();
      }
    }
  }
  const forward = (from, to) => !back.has(`${from}>${to}`);
  // longest path layering (Kahn's order over forward edges)
  const indegree = names.map((_, i) => inc[i].filter((p) => forward(p, i)).length);
  const layer = new Array(names.length).fill(0);
  const queue = names.map((_, i) => i).filter((i) => indegree[i] === 0);
  while (queue.length) {
    const node = queue.shift();
    for (const next of out[node]) {
      if (!forward(node, next)) continue;
      layer[next] = Math.max(layer[next], layer[node] + 1);
      if (--indegree[next] === 0) queue.push(next);
    }
  }
  const layers = [];
  names.forEach((_, i) => (layers[layer[i]] ||= []).push(i));
  const position = new Array(names.length);
  const setPositions = () => layers.forEach((nodes) => nodes.forEach((node, k) => { position[node] = k; }));
  setPositions();
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const sequence = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const nodes of sequence) {
      const weight = (node) => {
        const neighbours = down ? inc[node] : out[node];
        return neighbours.length ? neighbours.reduce((sum, n) => sum + position[n], 0) / neighbours.length : position[node];
      };
      nodes.sort((a, b) => weight(a) - weight(b));
      nodes.forEach((node, k) => { position[node] = k; });
    }
  }
  setPositions();
  return { names, layer, position, layers };
}

function dependencyGraph(links) {
  const { names, layer, position, layers } = layout(links);
  const label = (name) => (name.length > 28 ? `${name.slice(0, 27)}…` : name);
  const nodeWidth = Math.min(220, Math.max(110, ...names.map((name) => label(name).length * 7.8 + 46)));
  const tallest = Math.max(...layers.map((nodes) => nodes.length));
  const selfCalls = links.some((link) => link.parent === link.child);
  const backEdges = links.some((link) => link.parent !== link.child
    && layer[names.indexOf(link.child)] <= layer[names.indexOf(link.parent)]);
  const rowGap = selfCalls ? ROW_GAP_WITH_LOOPS : ROW_GAP;
  const top = MARGIN + (selfCalls ? LOOP_ROOM : 0);
  const columnHeight = tallest * NODE_HEIGHT + (tallest - 1) * rowGap;
  const height = top + columnHeight + MARGIN + (backEdges ? LOOP_ROOM : 0);
  const width = MARGIN * 2 + layers.length * nodeWidth + (layers.length - 1) * COLUMN_GAP;
  const xy = names.map((_, i) => {
    const count = layers[layer[i]].length;
    const offset = top + (columnHeight - (count * NODE_HEIGHT + (count - 1) * rowGap)) / 2;
    return { x: MARGIN + layer[i] * (nodeWidth + COLUMN_GAP), y: offset + position[i] * (NODE_HEIGHT + rowGap) };
  });
  const index = new Map(names.map((name, i) => [name, i]));
  const maxCalls = Math.max(...links.map((link) => link.callCount), 1);

  const svg = s('svg', { class: 'deps-graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Service dependency graph' });
  const edges = s('g', { class: 'deps-edges' });
  const labels = s('g', { class: 'deps-labels' });
  for (const link of links) {
    const from = xy[index.get(link.parent)];
    const to = xy[index.get(link.child)];
    const strokeWidth = 1.2 + 2.8 * (Math.log1p(link.callCount) / Math.log1p(maxCalls));
    let path;
    let mid;
    let tip;
    if (link.parent === link.child) {
      // a self call: a loop above the node
      const cx = from.x + nodeWidth / 2;
      path = `M${cx - 14},${from.y} C${cx - 30},${from.y - 36} ${cx + 30},${from.y - 36} ${cx + 14},${from.y}`;
      mid = { x: cx, y: from.y - 30 };
      tip = { x: cx + 14, y: from.y, angle: Math.atan2(36, -16) };
    } else if (to.x > from.x) {
      const x1 = from.x + nodeWidth;
      const y1 = from.y + NODE_HEIGHT / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_HEIGHT / 2;
      const bend = (x2 - x1) / 2;
      path = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
      mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
      tip = { x: x2, y: y2, angle: 0 };
    } else {
      // a back edge (cycle): leave from the bottom, curve under and come back into the bottom
      const x1 = from.x + nodeWidth / 2;
      const y1 = from.y + NODE_HEIGHT;
      const x2 = to.x + nodeWidth / 2 + 10;
      const y2 = to.y + NODE_HEIGHT;
      const dip = Math.max(y1, y2) + 40;
      path = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
      mid = { x: (x1 + x2) / 2, y: dip - 10 };
      tip = { x: x2, y: y2, angle: -Math.PI / 2 };
    }
    const title = s('title', { text: `${link.parent} → ${link.child}: ${link.callCount} calls` });
    edges.append(s('path', { d: path, class: 'deps-edge', 'stroke-width': strokeWidth.toFixed(2) }, title), arrow(tip));
    const text = String(link.callCount);
    labels.append(s('g', { class: 'deps-count' },
      s('rect', { x: mid.x - text.length * 3.6 - 5, y: mid.y - 9, width: text.length * 7.2 + 10, height: 18, rx: 9 }),
      s('text', { x: mid.x, y: mid.y + 4, 'text-anchor': 'middle', text })));
  }
  const nodes = s('g', { class: 'deps-nodes' });
  names.forEach((name, i) => {
    const { x, y } = xy[i];
    const node = s('g', { class: 'deps-node', tabindex: 0, role: 'link', 'aria-label': `Search traces of ${name}` },
      s('title', { text: `${name}\nclick to search its traces` }),
      s('rect', { x, y, width: nodeWidth, height: NODE_HEIGHT, rx: 6 }),
      s('circle', { class: 'deps-node-swatch', cx: x + 15, cy: y + NODE_HEIGHT / 2, r: 5, fill: serviceColor(name) }),
      s('text', { x: x + 28, y: y + NODE_HEIGHT / 2 + 4.5, text: label(name) }));
    const open = () => navigate(`search?service=${encodeURIComponent(name)}`);
    node.addEventListener('click', open);
    node.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') open();
    });
    nodes.append(node);
  });
  svg.append(edges, nodes, labels);
  return h('div', { class: 'deps-scroll' }, svg);
}

/** A filled arrow head with its tip at (x, y), pointing along `angle` (radians, 0 = right). */
function arrow({ x, y, angle }) {
  const size = 8;
  const point = (dx, dy) => {
    const px = x + dx * Math.cos(angle) - dy * Math.sin(angle);
    const py = y + dx * Math.sin(angle) + dy * Math.cos(angle);
    return `${px.toFixed(1)},${py.toFixed(1)}`;
  };
  return s('polygon', { class: 'deps-arrow', points: `${point(0, 0)} ${point(-size, -size / 2)} ${point(-size, size / 2)}` });
}
